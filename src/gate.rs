//! The SFU's door asks the API's store: the seam where the two meet
//! without importing each other.

use std::sync::Arc;

use async_trait::async_trait;
use onair_api::admission::{media_admission, MediaRefusal, TokenFacts};
use onair_api::store::Store;
use onair_sfu::{CallGate, CallStatus, Entry, Refusal};

/// Answers the SFU from the store.
pub struct StoreGate(pub Arc<dyn Store>);

#[async_trait]
impl CallGate for StoreGate {
    async fn admit(&self, entry: Entry<'_>) -> Result<CallStatus, Refusal> {
        let token = TokenFacts {
            session: entry.session,
            minted_at_ms: entry.minted_at_ms,
        };
        match media_admission(self.0.as_ref(), entry.cid, entry.user, token).await {
            Ok(a) => Ok(CallStatus {
                backstage: a.backstage,
                max_participants: a.max_participants,
            }),
            Err(MediaRefusal::NoCall) => Err(Refusal::NoCall),
            Err(MediaRefusal::Ended) => Err(Refusal::Ended),
            Err(MediaRefusal::SessionEnded) => Err(Refusal::SessionEnded),
            Err(MediaRefusal::Blocked) => Err(Refusal::Blocked),
            Err(MediaRefusal::Kicked) => Err(Refusal::Kicked),
            Err(MediaRefusal::Unavailable(why)) => Err(Refusal::Unavailable(why)),
        }
    }
}
