//! The call state machine, its transitions and the join rule, pure and
//! tested without I/O (the `lifecycle` service writes and announces what
//! these functions decide).
//!
//! ```text
//!   backstage ──go_live──► live ──end──► ended
//!       ▲                   │              (joins need join-ended-call)
//!       └─────stop_live─────┘
//! ```
//! A call of a type without backstage starts live. While in backstage only
//! `join-backstage` holders may join and publish; others may join (and wait,
//! receiving no host media) from `join_ahead_time_seconds` before `starts_at`.
//! `go_live` and `stop_live` are refused once the call ended, `end` on a
//! call that ended already; anything else goes (going live twice, or
//! `stop_live` on a type without backstage, which is recorded but changes
//! nothing until the settings enable backstage).

use chrono::{DateTime, Duration, Utc};
use onair_auth::Capability;
use onair_bus::EventKind;

use super::call::{Call, Session};
use super::ids::CallCid;
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

/// Whether `call` is held in backstage: the flag, where the settings enable
/// backstage (an ended call keeps its flag).
pub fn in_backstage(call: &Call, settings: &CallSettings) -> bool {
    settings.backstage.enabled && call.backstage
}

/// A transition the call's state refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// `go_live` or `stop_live` on a call that has ended.
    #[error("call `{0}` has ended")]
    Ended(CallCid),
    /// `end` on a call that has ended already.
    #[error("call `{0}` has ended already")]
    AlreadyEnded(CallCid),
}

/// What a transition writes on the call's open session, if it has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionMark {
    /// The call went live at this time.
    LiveStarted(DateTime<Utc>),
    /// The call went back to backstage at this time.
    LiveEnded(DateTime<Utc>),
    /// The session ended with the call at this time.
    Ended(DateTime<Utc>),
}

impl SessionMark {
    /// Writes the mark on `session`; returns what to announce of the
    /// session itself (that it ended), if anything.
    pub fn apply(self, session: &mut Session) -> Option<EventKind> {
        match self {
            SessionMark::LiveStarted(at) => {
                session.live_started_at = Some(at);
                None
            }
            SessionMark::LiveEnded(at) => {
                session.live_ended_at = Some(at);
                None
            }
            SessionMark::Ended(at) => {
                session.ended_at = Some(at);
                Some(EventKind::SessionEnded {
                    session_id: session.id.clone(),
                })
            }
        }
    }
}

/// A transition that may go ahead: the call after it, what it marks on
/// the call's open session, and what to announce of the call.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    /// The call after the transition.
    pub call: Call,
    /// What the open session records of it.
    pub session: SessionMark,
    /// The call's event.
    pub event: EventKind,
}

/// Leaves backstage at `now`: everyone who may join gets the hosts' media.
pub fn go_live(
    call: &Call,
    settings: &CallSettings,
    now: DateTime<Utc>,
) -> Result<Transition, LifecycleError> {
    set_live(call, settings, true, now)
}

/// Goes back to backstage at `now`: only `join-backstage` holders publish.
pub fn stop_live(
    call: &Call,
    settings: &CallSettings,
    now: DateTime<Utc>,
) -> Result<Transition, LifecycleError> {
    set_live(call, settings, false, now)
}

fn set_live(
    call: &Call,
    settings: &CallSettings,
    live: bool,
    now: DateTime<Utc>,
) -> Result<Transition, LifecycleError> {
    if state(call, settings) == CallState::Ended {
        return Err(LifecycleError::Ended(call.cid.clone()));
    }
    let call = Call {
        backstage: !live,
        updated_at: now,
        ..call.clone()
    };
    Ok(if live {
        Transition {
            call,
            session: SessionMark::LiveStarted(now),
            event: EventKind::LiveStarted,
        }
    } else {
        Transition {
            call,
            session: SessionMark::LiveEnded(now),
            event: EventKind::LiveStopped,
        }
    })
}

/// Ends the call and its open session at `now` (`reason` when it ended by
/// itself, e.g. `max_duration`).
pub fn end(
    call: &Call,
    now: DateTime<Utc>,
    reason: Option<&str>,
) -> Result<Transition, LifecycleError> {
    if call.ended_at.is_some() {
        return Err(LifecycleError::AlreadyEnded(call.cid.clone()));
    }
    Ok(Transition {
        call: Call {
            ended_at: Some(now),
            updated_at: now,
            ..call.clone()
        },
        session: SessionMark::Ended(now),
        event: EventKind::CallEnded {
            reason: reason.map(str::to_owned),
        },
    })
}

/// The session `id` that the first join of a live period opens at `now`
/// (live from the start unless the call is in backstage).
pub fn open_session(
    call: &Call,
    settings: &CallSettings,
    id: String,
    now: DateTime<Utc>,
) -> Session {
    Session {
        id,
        call_cid: call.cid.to_string(),
        started_at: now,
        ended_at: None,
        live_started_at: (!in_backstage(call, settings)).then_some(now),
        live_ended_at: None,
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Lacks `join-call`.
    #[error("joining needs the `join-call` capability")]
    NoJoinCapability,
    /// The call ended and the user lacks `join-ended-call`.
    #[error("the call has ended")]
    Ended,
    /// In backstage, the user lacks `join-backstage`, and it is too early to wait.
    #[error("the call is in backstage")]
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
    use serde_json::json;
    use Capability::*;

    fn call(backstage: bool) -> Call {
        Call {
            backstage,
            ..Call::fixture("livestream", "x", Utc::now())
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

    fn session() -> Session {
        Session {
            id: "s1".into(),
            call_cid: "livestream:x".into(),
            started_at: Utc::now(),
            ended_at: None,
            live_started_at: None,
            live_ended_at: None,
        }
    }

    #[test]
    fn go_live_leaves_backstage_and_marks_the_session() {
        let s = backstage_settings(0);
        let now = Utc::now();
        let t = go_live(&call(true), &s, now).unwrap();
        assert!(!t.call.backstage);
        assert_eq!(t.call.updated_at, now);
        assert_eq!(state(&t.call, &s), CallState::Live);
        assert_eq!(t.event, EventKind::LiveStarted);
        let mut open = session();
        assert_eq!(t.session.apply(&mut open), None);
        assert_eq!(open.live_started_at, Some(now));
        // Going live twice is allowed (and announced again).
        assert!(go_live(&t.call, &s, now).is_ok());
    }

    #[test]
    fn stop_live_goes_back_to_backstage() {
        let s = backstage_settings(0);
        let now = Utc::now();
        let t = stop_live(&call(false), &s, now).unwrap();
        assert!(t.call.backstage);
        assert_eq!(state(&t.call, &s), CallState::Backstage);
        assert_eq!(t.event, EventKind::LiveStopped);
        let mut open = session();
        assert_eq!(t.session.apply(&mut open), None);
        assert_eq!(open.live_ended_at, Some(now));
    }

    #[test]
    fn stop_live_without_backstage_is_recorded_but_stays_live() {
        let s = CallSettings::default();
        let t = stop_live(&call(false), &s, Utc::now()).unwrap();
        assert!(t.call.backstage);
        assert_eq!(state(&t.call, &s), CallState::Live);
    }

    #[test]
    fn ended_calls_neither_go_live_nor_stop_live() {
        let s = backstage_settings(0);
        let mut c = call(true);
        c.ended_at = Some(Utc::now());
        let refused = LifecycleError::Ended(c.cid.clone());
        assert_eq!(go_live(&c, &s, Utc::now()), Err(refused.clone()));
        assert_eq!(stop_live(&c, &s, Utc::now()), Err(refused.clone()));
        assert_eq!(refused.to_string(), "call `livestream:x` has ended");
    }

    #[test]
    fn end_ends_the_call_and_its_session_once() {
        let now = Utc::now();
        for backstage in [true, false] {
            let t = end(&call(backstage), now, Some("max_duration")).unwrap();
            assert_eq!(t.call.ended_at, Some(now));
            assert_eq!(state(&t.call, &backstage_settings(0)), CallState::Ended);
            assert_eq!(
                t.event,
                EventKind::CallEnded {
                    reason: Some("max_duration".into())
                }
            );
            let mut open = session();
            assert_eq!(
                t.session.apply(&mut open),
                Some(EventKind::SessionEnded {
                    session_id: "s1".into()
                })
            );
            assert_eq!(open.ended_at, Some(now));
            let again = end(&t.call, now, None).unwrap_err();
            assert_eq!(again, LifecycleError::AlreadyEnded(t.call.cid.clone()));
            assert_eq!(again.to_string(), "call `livestream:x` has ended already");
        }
    }

    #[test]
    fn sessions_open_live_unless_in_backstage() {
        let now = Utc::now();
        let s = backstage_settings(0);
        let held = open_session(&call(true), &s, "a".into(), now);
        assert_eq!(
            (held.live_started_at, held.call_cid.as_str()),
            (None, "livestream:x")
        );
        let live = open_session(&call(false), &s, "b".into(), now);
        assert_eq!(live.live_started_at, Some(now));
        let no_backstage = open_session(&call(true), &CallSettings::default(), "c".into(), now);
        assert_eq!(no_backstage.live_started_at, Some(now));
    }
}
