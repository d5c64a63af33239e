//! The SFU's door asks the API's store: the seam where the two meet
//! without importing each other.

use std::sync::Arc;

use async_trait::async_trait;
use onair_api::admission::{
    call_status, media_admission, MediaAdmission, MediaRefusal, TokenFacts,
};
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
        answer(media_admission(self.0.as_ref(), entry.cid, entry.user, token).await)
    }

    async fn status(&self, cid: &str) -> Result<CallStatus, Refusal> {
        answer(call_status(self.0.as_ref(), cid).await)
    }
}

/// The API's answer in the SFU's terms.
fn answer(admission: Result<MediaAdmission, MediaRefusal>) -> Result<CallStatus, Refusal> {
    match admission {
        Ok(a) => Ok(CallStatus {
            backstage: a.backstage,
            max_participants: a.max_participants,
            metadata: a.metadata,
        }),
        Err(MediaRefusal::NoCall) => Err(Refusal::NoCall),
        Err(MediaRefusal::Ended) => Err(Refusal::Ended),
        Err(MediaRefusal::SessionEnded) => Err(Refusal::SessionEnded),
        Err(MediaRefusal::Blocked) => Err(Refusal::Blocked),
        Err(MediaRefusal::Kicked) => Err(Refusal::Kicked),
        Err(MediaRefusal::Unavailable(why)) => Err(Refusal::Unavailable(why)),
    }
}
