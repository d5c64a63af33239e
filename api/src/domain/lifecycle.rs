//! The call state machine and the join rule, pure and tested without I/O.
//!
//! ```text
//!   backstage ──go_live──► live ──end──► ended
//!       ▲                   │              (joins need join-ended-call)
//!       └─────stop_live─────┘
//! ```
//! A call of a type without backstage starts live. While in backstage only
//! `join-backstage` holders may join and publish; others may join (and wait,
//! receiving no host media) from `join_ahead_time_seconds` before `starts_at`.

use chrono::{DateTime, Duration, Utc};
use onair_auth::Capability;

use super::call::Call;
use super::settings::CallSettings;

/// Where a call stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallState {
    /// Hosts only.
    Backstage,
    /// Everyone who may join gets media.
    Live,
    /// Over.
    Ended,
}

/// The state of `call` under `settings`.
pub fn state(call: &Call, settings: &CallSettings) -> CallState {
    if call.ended_at.is_some() {
        CallState::Ended
    } else if settings.backstage.enabled && call.backstage {
        CallState::Backstage
    } else {
        CallState::Live
    }
}

/// A join that may go ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admission {
    /// May publish now (not a waiting viewer in backstage).
    pub may_publish: bool,
    /// Joined ahead of a backstage call: no host media until `go_live`.
    pub waiting: bool,
}

/// Why a join is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Lacks `join-call`.
    NoJoinCapability,
    /// The call ended and the user lacks `join-ended-call`.
    Ended,
    /// In backstage, the user lacks `join-backstage`, and it is too early to wait.
    Backstage {
        /// From when the user may join and wait, if the call is scheduled.
        join_from: Option<DateTime<Utc>>,
    },
}

/// Decides whether a user holding `caps` may join `call` at `now`.
pub fn admit(
    call: &Call,
    settings: &CallSettings,
    caps: &[Capability],
    now: DateTime<Utc>,
) -> Result<Admission, Refusal> {
    let has = |c| caps.contains(&c);
    if !has(Capability::JoinCall) {
        return Err(Refusal::NoJoinCapability);
    }
    match state(call, settings) {
        CallState::Ended if !has(Capability::JoinEndedCall) => Err(Refusal::Ended),
        CallState::Ended | CallState::Live => Ok(Admission {
            may_publish: true,
            waiting: false,
        }),
        CallState::Backstage if has(Capability::JoinBackstage) => Ok(Admission {
            may_publish: true,
            waiting: false,
        }),
        CallState::Backstage => {
            let ahead = Duration::seconds(i64::from(settings.backstage.join_ahead_time_seconds));
            let join_from = call.starts_at.map(|s| s - ahead);
            match join_from {
                Some(from) if now >= from => Ok(Admission {
                    may_publish: false,
                    waiting: true,
                }),
                _ => Err(Refusal::Backstage { join_from }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::CallCid;
    use serde_json::json;
    use Capability::*;

    fn call(backstage: bool) -> Call {
        let now = Utc::now();
        Call {
            cid: CallCid::new("livestream", "x").unwrap(),
            created_by: None,
            created_at: now,
            updated_at: now,
            starts_at: None,
            ended_at: None,
            backstage,
            custom: json!({}),
            settings_override: json!({}),
            current_session_id: None,
        }
    }

    fn backstage_settings(ahead: u32) -> CallSettings {
        CallSettings::default()
            .merged(&json!({"backstage": {"enabled": true, "join_ahead_time_seconds": ahead}}))
            .unwrap()
    }

    const VIEWER: &[Capability] = &[JoinCall, ReadCall];
    const HOST: &[Capability] = &[JoinCall, ReadCall, JoinBackstage, SendVideo];

    #[test]
    fn backstage_admits_hosts_only() {
        let s = backstage_settings(0);
        let c = call(true);
        assert_eq!(state(&c, &s), CallState::Backstage);
        assert_eq!(
            admit(&c, &s, HOST, Utc::now()),
            Ok(Admission {
                may_publish: true,
                waiting: false
            })
        );
        assert_eq!(
            admit(&c, &s, VIEWER, Utc::now()),
            Err(Refusal::Backstage { join_from: None })
        );
    }

    #[test]
    fn viewers_may_wait_within_join_ahead_time() {
        let s = backstage_settings(300);
        let now = Utc::now();
        let mut c = call(true);
        c.starts_at = Some(now + Duration::seconds(200));
        assert_eq!(
            admit(&c, &s, VIEWER, now),
            Ok(Admission {
                may_publish: false,
                waiting: true
            })
        );
        c.starts_at = Some(now + Duration::seconds(400));
        assert_eq!(
            admit(&c, &s, VIEWER, now),
            Err(Refusal::Backstage {
                join_from: Some(now + Duration::seconds(100))
            })
        );
    }

    #[test]
    fn live_admits_everyone_with_join_call() {
        let s = backstage_settings(0);
        let c = call(false);
        assert_eq!(state(&c, &s), CallState::Live);
        assert!(admit(&c, &s, VIEWER, Utc::now()).is_ok());
        assert_eq!(
            admit(&c, &s, &[ReadCall], Utc::now()),
            Err(Refusal::NoJoinCapability)
        );
        // Backstage flag is ignored when the settings disable backstage.
        assert_eq!(
            state(&call(true), &CallSettings::default()),
            CallState::Live
        );
    }

    #[test]
    fn ended_needs_join_ended_call() {
        let s = CallSettings::default();
        let mut c = call(false);
        c.ended_at = Some(Utc::now());
        assert_eq!(state(&c, &s), CallState::Ended);
        assert_eq!(admit(&c, &s, HOST, Utc::now()), Err(Refusal::Ended));
        assert!(admit(&c, &s, &[JoinCall, JoinEndedCall], Utc::now()).is_ok());
    }
}
