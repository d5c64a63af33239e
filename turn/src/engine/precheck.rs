//! OnAir's rules in front of the TURN core: credentials (expired or
//! forged), the per-participant quota, and which peers may be relayed to.
//! A request that breaks one is answered here; the core never sees it.

use super::*;

/// A request whose credentials checked out.
struct Signed {
    username: String,
    participant: String,
    expires_at_unix: u64,
    key: LongTermKeyCredentials,
    algo: IntegrityAlgorithm,
}

impl Engine {
    /// OnAir's rules in front of the core. Requests without
    /// MESSAGE-INTEGRITY go through (the core answers 401 with REALM and
    /// NONCE), as do Binding requests and responses.
    pub(super) fn precheck(
        &mut self,
        proto: Proto,
        from: SocketAddr,
        msg: &Message<'_>,
    ) -> Verdict {
        let method = msg.method();
        if msg.has_class(MessageClass::Indication) {
            if method == SEND {
                if let Some(peer) = self.forbidden_peer(msg) {
                    debug!(%from, %peer, "turn: Send indication toward a refused peer");
                    self.stats.refuse(RefuseReason::ForbiddenPeer);
                    return Verdict::Drop;
                }
            }
            return Verdict::Pass;
        }
        if !msg.has_class(MessageClass::Request) || method == BINDING {
            return Verdict::Pass;
        }
        if !msg.has_attribute(MessageIntegrity::TYPE)
            && !msg.has_attribute(MessageIntegritySha256::TYPE)
        {
            return Verdict::Pass;
        }
        let Some(username) = self.username_of(msg) else {
            // An unknown USERHASH or none at all: the core refuses it.
            self.stats.refuse(RefuseReason::BadUsername);
            return Verdict::Pass;
        };
        let Some(parsed) = parse_username(&username) else {
            debug!(%from, "turn: refusing a malformed username");
            self.stats.refuse(RefuseReason::BadUsername);
            return Verdict::Pass; // unknown to the core: 401
        };
        let expires_at_unix = parsed.expires_at_unix;
        let participant = parsed.participant.to_owned();
        let password = password_for(&self.cfg.secret, &username);
        let key =
            LongTermKeyCredentials::new(username.clone(), password.clone(), self.cfg.realm.clone());
        let algo = match msg.validate_integrity(&key.clone().into()) {
            Ok(algo) => algo,
            Err(_) => {
                debug!(%from, username, "turn: refusing a wrong password");
                self.stats.refuse(RefuseReason::BadCredentials);
                return Verdict::Pass; // the core's integrity check fails too: 401
            }
        };
        if !self.users.contains_key(&username) {
            if self.users.len() >= MAX_USERS {
                warn!("turn: {MAX_USERS} usernames in use; refusing new ones until some expire");
                self.stats.refuse(RefuseReason::Capacity);
                let code = ErrorCode::INSUFFICIENT_CAPACITY;
                return Verdict::Reply(error_reply(msg, code, &key, algo));
            }
            self.core_add_user(&username, &password, expires_at_unix);
        }
        let signed = Signed {
            username,
            participant,
            expires_at_unix,
            key,
            algo,
        };
        if method == ALLOCATE {
            return self.precheck_allocate(msg, (proto, from), signed);
        }
        if method == CREATE_PERMISSION || method == CHANNEL_BIND {
            if let Some(peer) = self.forbidden_peer(msg) {
                debug!(%from, %peer, "turn: refusing a permission toward a refused peer");
                self.stats.refuse(RefuseReason::ForbiddenPeer);
                let reply = error_reply(msg, ErrorCode::FORBIDDEN, &signed.key, signed.algo);
                return Verdict::Reply(reply);
            }
        }
        Verdict::Pass
    }

    /// The user a signed request names: USERNAME, or a USERHASH seen before.
    fn username_of(&self, msg: &Message<'_>) -> Option<String> {
        match msg.attribute::<Username>() {
            Ok(u) => Some(u.username().to_owned()),
            Err(_) => msg
                .attribute::<Userhash>()
                .ok()
                .and_then(|h| self.userhash.get(h.hash()).cloned()),
        }
    }

    /// An Allocate with valid credentials: refused when they expired, for
    /// a TCP relay, or over the participant's quota.
    fn precheck_allocate(
        &mut self,
        msg: &Message<'_>,
        client: (Proto, SocketAddr),
        signed: Signed,
    ) -> Verdict {
        let from = client.1;
        if self.allocations.contains_key(&client) {
            return Verdict::Pass; // retransmission or 437, the core's call
        }
        if signed.expires_at_unix < unix_now() {
            debug!(%from, username = signed.username, "turn: refusing an expired username");
            self.stats.refuse(RefuseReason::Expired);
            return Verdict::Reply(unauthorized_reply(msg, &self.cfg.realm));
        }
        if let Ok(rt) = msg.attribute::<RequestedTransport>() {
            if rt.protocol() != RequestedTransport::UDP {
                self.stats.refuse(RefuseReason::Unsupported);
                let code = ErrorCode::UNSUPPORTED_TRANSPORT_PROTOCOL;
                return Verdict::Reply(error_reply(msg, code, &signed.key, signed.algo));
            }
        }
        let held = self
            .per_participant
            .get(&signed.participant)
            .copied()
            .unwrap_or(0);
        if held >= self.cfg.max_allocations_per_user {
            debug!(%from, participant = signed.participant, held, "turn: allocation quota reached");
            self.stats.refuse(RefuseReason::Quota);
            let code = ErrorCode::ALLOCATION_QUOTA_REACHED;
            return Verdict::Reply(error_reply(msg, code, &signed.key, signed.algo));
        }
        self.pending = Some((client, signed.username, signed.participant));
        Verdict::Pass
    }

    /// The first XOR-PEER-ADDRESS of `msg` that the policy refuses.
    fn forbidden_peer(&self, msg: &Message<'_>) -> Option<SocketAddr> {
        let tid = msg.transaction_id();
        msg.iter_attributes()
            .filter(|(_, raw)| raw.get_type() == XorPeerAddress::TYPE)
            .filter_map(|(_, raw)| XorPeerAddress::from_raw(raw).ok())
            .map(|a| a.addr(tid))
            .find(|peer| !self.cfg.policy.allows(*peer))
    }
}

/// 401 for a request we refuse before the core sees it (an expired
/// username): REALM and NONCE, no MESSAGE-INTEGRITY (RFC 8489 §9.2.4). The
/// nonce is the one the client sent, which the core had accepted.
fn unauthorized_reply(msg: &Message<'_>, realm: &str) -> Vec<u8> {
    let mut b = Message::builder_error(msg, MessageWriteVec::with_capacity(128));
    if let Ok(err) = ErrorCode::builder(ErrorCode::UNAUTHORIZED).build() {
        let _ = b.add_attribute(&err);
    }
    if let Ok(realm) = Realm::new(realm) {
        let _ = b.add_attribute(&realm);
    }
    if let Ok(nonce) = msg.attribute::<Nonce>() {
        let _ = b.add_attribute(&nonce);
    }
    let _ = b.add_fingerprint();
    b.finish()
}

/// An error response signed with the requester's key (RFC 8656 §6: responses
/// to authenticated requests carry MESSAGE-INTEGRITY).
fn error_reply(
    msg: &Message<'_>,
    code: u16,
    key: &LongTermKeyCredentials,
    algo: IntegrityAlgorithm,
) -> Vec<u8> {
    let mut b = Message::builder_error(msg, MessageWriteVec::with_capacity(128));
    if let Ok(err) = ErrorCode::builder(code).build() {
        let _ = b.add_attribute(&err);
    }
    let _ = b.add_message_integrity(&key.clone().into(), algo);
    let _ = b.add_fingerprint();
    b.finish()
}
