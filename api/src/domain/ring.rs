//! Ringing as a state machine, with no I/O: a caller rings callees; each
//! accepts, rejects or times out; the ring ends when the caller cancels,
//! when every callee said no, or when nobody accepted in time; callees who
//! never answered missed the call. Every step returns the events it
//! causes; the caller of these functions stores both at once, and the
//! timers are plain times in the ring, so a restarted server fires them.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::settings::RingSettings;

/// Where a ring is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingState {
    /// Nobody accepted yet.
    Ringing,
    /// Someone accepted; others may still be ringing.
    Accepted,
    /// Over: cancelled, rejected by all, or timed out.
    Ended,
}

/// Where one callee is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CalleeState {
    /// Their phone rings.
    Ringing,
    /// They accepted.
    Accepted,
    /// They rejected (or were rejected on their behalf).
    Rejected,
}

impl RingState {
    /// Its name in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            RingState::Ringing => "ringing",
            RingState::Accepted => "accepted",
            RingState::Ended => "ended",
        }
    }
}

impl CalleeState {
    /// Its name in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            CalleeState::Ringing => "ringing",
            CalleeState::Accepted => "accepted",
            CalleeState::Rejected => "rejected",
        }
    }
}

/// Why someone rejected.
pub const REASONS: [&str; 4] = ["decline", "busy", "cancel", "timeout"];

/// One callee of a ring.
#[derive(Clone, Debug, PartialEq)]
pub struct Callee {
    /// The user.
    pub user_id: String,
    /// Where they are.
    pub state: CalleeState,
    /// Why they rejected.
    pub reason: Option<String>,
    /// When they are rejected with `timeout` if still ringing.
    pub timeout_at: DateTime<Utc>,
    /// When they answered.
    pub answered_at: Option<DateTime<Utc>>,
}

/// One ring of a call.
#[derive(Clone, Debug, PartialEq)]
pub struct Ring {
    /// Its id.
    pub id: String,
    /// The call.
    pub call_cid: String,
    /// Who rings.
    pub caller_id: String,
    /// A video call (phones show it so).
    pub video: bool,
    /// Where it is.
    pub state: RingState,
    /// Why it ended.
    pub ended_reason: Option<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ends if nobody accepted.
    pub auto_cancel_at: DateTime<Utc>,
    /// When callees still ringing missed the call.
    pub missed_at: DateTime<Utc>,
    /// `call.missed` was sent.
    pub missed_done: bool,
    /// When the first callee accepted.
    pub accepted_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// Bumped by every stored change (optimistic concurrency).
    pub version: i64,
    /// Who is rung.
    pub callees: Vec<Callee>,
}

/// An event a step causes: its type and fields.
pub type Told = (&'static str, Value);

/// Why a request about a ring is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    /// The user is neither the caller nor a callee still to answer.
    #[error("you are not being rung by this call")]
    NotRung,
    /// The ring is over.
    #[error("the ring has ended")]
    Ended,
}

impl Ring {
    /// A new ring from `caller_id` to `callees` (with whether each is busy
    /// elsewhere); busy callees answer `busy` at once when the settings say so.
    pub fn start(
        id: String,
        call_cid: &str,
        caller_id: &str,
        video: bool,
        callees: &[(String, bool)],
        settings: &RingSettings,
        now: DateTime<Utc>,
    ) -> (Ring, Vec<Told>) {
        let ms = |t: u32| now + Duration::milliseconds(t.into());
        let mut ring = Ring {
            id,
            call_cid: call_cid.to_owned(),
            caller_id: caller_id.to_owned(),
            video,
            state: RingState::Ringing,
            ended_reason: None,
            started_at: now,
            auto_cancel_at: ms(settings.auto_cancel_timeout_ms),
            missed_at: ms(settings.missed_call_timeout_ms),
            missed_done: false,
            accepted_at: None,
            ended_at: None,
            version: 0,
            callees: callees
                .iter()
                .map(|(user_id, _)| Callee {
                    user_id: user_id.clone(),
                    state: CalleeState::Ringing,
                    reason: None,
                    timeout_at: ms(settings.incoming_call_timeout_ms),
                    answered_at: None,
                })
                .collect(),
        };
        let mut busy = Vec::new();
        for (user, is_busy) in callees {
            if *is_busy && settings.reject_when_busy {
                busy.extend(ring.reject_callee(user, "busy", now));
            }
        }
        // `members`: everyone rung; `ringing`: whose phones ring (not busy).
        let members: Vec<&str> = callees.iter().map(|(u, _)| u.as_str()).collect();
        let ringing: Vec<&str> = ring
            .callees
            .iter()
            .filter(|c| c.state == CalleeState::Ringing)
            .map(|c| c.user_id.as_str())
            .collect();
        let fields = json!({"ring_id": ring.id, "user_id": caller_id, "members": members,
            "ringing": ringing, "video": video});
        let mut told = vec![("call.ring", fields)];
        told.extend(busy);
        (ring, told)
    }

    /// `user_id` accepts.
    pub fn accept(&mut self, user_id: &str, now: DateTime<Utc>) -> Result<Vec<Told>, RingError> {
        if self.state == RingState::Ended {
            return Err(RingError::Ended);
        }
        let callee = self.ringing_callee(user_id)?;
        callee.state = CalleeState::Accepted;
        callee.answered_at = Some(now);
        self.state = RingState::Accepted;
        self.accepted_at.get_or_insert(now);
        let fields = json!({"ring_id": self.id, "user_id": user_id, "stop_ringing": [user_id]});
        Ok(vec![("call.accepted", fields)])
    }

    /// `user_id` rejects with `reason`: a callee says no; the caller cancels
    /// the ring for everyone.
    pub fn reject(
        &mut self,
        user_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Told>, RingError> {
        if self.state == RingState::Ended {
            return Err(RingError::Ended);
        }
        if user_id == self.caller_id {
            return Ok(self.end(reason, user_id, now));
        }
        self.ringing_callee(user_id)?;
        Ok(self.reject_callee(user_id, reason, now))
    }

    /// Fires the timers due at `now`.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<Told> {
        let mut told = Vec::new();
        // Callees' own timeouts first: each hears why their phone stopped.
        let due: Vec<String> = self
            .callees
            .iter()
            .filter(|c| c.state == CalleeState::Ringing && c.timeout_at <= now)
            .map(|c| c.user_id.clone())
            .collect();
        for user in due {
            told.extend(self.reject_callee(&user, "timeout", now));
        }
        if self.state == RingState::Ringing && self.auto_cancel_at <= now {
            told.extend(self.end("timeout", &self.caller_id.clone(), now));
        }
        if !self.missed_done && self.missed_at <= now {
            told.extend(self.missed());
        }
        told
    }

    /// The next time a timer is due, if any.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        let ringing = self
            .callees
            .iter()
            .filter(|c| c.state == CalleeState::Ringing);
        let cancel = (self.state == RingState::Ringing).then_some(self.auto_cancel_at);
        let missed = (!self.missed_done).then_some(self.missed_at);
        ringing
            .map(|c| c.timeout_at)
            .chain(cancel)
            .chain(missed)
            .min()
    }

    fn ringing_callee(&mut self, user_id: &str) -> Result<&mut Callee, RingError> {
        self.callees
            .iter_mut()
            .find(|c| c.user_id == user_id && c.state == CalleeState::Ringing)
            .ok_or(RingError::NotRung)
    }

    /// A callee is rejected; the last "no" ends an unaccepted ring.
    fn reject_callee(&mut self, user_id: &str, reason: &str, now: DateTime<Utc>) -> Vec<Told> {
        let Ok(callee) = self.ringing_callee(user_id) else {
            return Vec::new();
        };
        callee.state = CalleeState::Rejected;
        callee.reason = Some(reason.to_owned());
        callee.answered_at = Some(now);
        let anyone_left = self
            .callees
            .iter()
            .any(|c| c.state != CalleeState::Rejected);
        let ends = self.state == RingState::Ringing && !anyone_left;
        let fields = json!({"ring_id": self.id, "user_id": user_id, "reason": reason,
            "ring_ended": ends, "stop_ringing": [user_id]});
        let mut told = vec![("call.rejected", fields)];
        if ends {
            self.state = RingState::Ended;
            let why = if reason == "timeout" {
                "timeout"
            } else {
                "rejected"
            };
            self.ended_reason = Some(why.into());
            self.ended_at = Some(now);
            told.extend(self.missed());
        }
        told
    }

    /// The ring ends for everyone (`by` cancelled it, or it timed out):
    /// every phone still ringing stops.
    fn end(&mut self, reason: &str, by: &str, now: DateTime<Utc>) -> Vec<Told> {
        let ringing: Vec<String> = self
            .callees
            .iter()
            .filter(|c| c.state == CalleeState::Ringing)
            .map(|c| c.user_id.clone())
            .collect();
        for callee in self
            .callees
            .iter_mut()
            .filter(|c| c.state == CalleeState::Ringing)
        {
            callee.state = CalleeState::Rejected;
            callee.reason = Some(reason.to_owned());
            callee.answered_at = Some(now);
        }
        self.state = RingState::Ended;
        self.ended_reason = Some(reason.to_owned());
        self.ended_at = Some(now);
        let fields = json!({"ring_id": self.id, "user_id": by, "reason": reason,
            "ring_ended": true, "stop_ringing": ringing});
        let mut told = vec![("call.rejected", fields)];
        if self.accepted_at.is_none() {
            told.extend(self.missed());
        }
        told
    }

    /// `call.missed` for the callees who never answered (still ringing,
    /// or rejected on their behalf by a timeout or a cancel), once.
    fn missed(&mut self) -> Vec<Told> {
        if self.missed_done {
            return Vec::new();
        }
        let unanswered = |c: &&Callee| match c.state {
            CalleeState::Ringing => true,
            CalleeState::Rejected => matches!(c.reason.as_deref(), Some("timeout" | "cancel")),
            CalleeState::Accepted => false,
        };
        let missed: Vec<&str> = self
            .callees
            .iter()
            .filter(unanswered)
            .map(|c| c.user_id.as_str())
            .collect();
        self.missed_done = true;
        if missed.is_empty() {
            return Vec::new();
        }
        let fields = json!({"ring_id": self.id, "user_id": self.caller_id, "members": missed,
            "video": self.video});
        vec![("call.missed", fields)]
    }
}

#[cfg(test)]
mod tests;
