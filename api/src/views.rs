//! The JSON shapes the API answers with (documented in OpenAPI), built from
//! domain values only: handlers fetch what a view needs (counts, signed
//! links) and hand it over.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::lifecycle;
use crate::domain::{Call, CallSettings, CallType, Egress, EgressState, Member, Session, User};

/// A user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// User id.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// Avatar URL.
    pub image: Option<String>,
    /// Global role.
    pub role: String,
    /// App-defined data.
    #[schema(value_type = Object)]
    pub custom: Value,
    /// First seen.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            name: u.name,
            image: u.image,
            role: u.role,
            custom: u.custom,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// A session: one live occurrence of a call.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// Session id.
    pub id: String,
    /// First join.
    pub started_at: DateTime<Utc>,
    /// When it ended, if it did.
    pub ended_at: Option<DateTime<Utc>>,
    /// Last time the call went live during the session.
    pub live_started_at: Option<DateTime<Utc>>,
    /// Last time the call went back to backstage during the session.
    pub live_ended_at: Option<DateTime<Utc>>,
    /// Connected to the call's media now (the current session only).
    pub participants_count: usize,
    /// The same, by role (a member's role in the call, else `user`).
    pub participants_count_by_role: BTreeMap<String, usize>,
    /// Of the call's latest ring: who accepted, and when.
    pub accepted_by: BTreeMap<String, DateTime<Utc>>,
    /// Who rejected (or was rejected on their behalf), and when.
    pub rejected_by: BTreeMap<String, DateTime<Utc>>,
    /// Who missed it (never answered), and when the ring ended for them.
    pub missed_by: BTreeMap<String, DateTime<Utc>>,
}

impl From<Session> for SessionView {
    fn from(s: Session) -> Self {
        Self {
            id: s.id,
            started_at: s.started_at,
            ended_at: s.ended_at,
            live_started_at: s.live_started_at,
            live_ended_at: s.live_ended_at,
            participants_count: 0,
            participants_count_by_role: BTreeMap::new(),
            accepted_by: BTreeMap::new(),
            rejected_by: BTreeMap::new(),
            missed_by: BTreeMap::new(),
        }
    }
}

impl SessionView {
    /// Fills in who answered `ring` how.
    pub fn add_ring(&mut self, ring: &crate::domain::ring::Ring) {
        use crate::domain::ring::CalleeState;
        for c in &ring.callees {
            let at = c.answered_at.unwrap_or(ring.started_at);
            let missed = matches!(c.reason.as_deref(), Some("timeout" | "cancel"));
            match c.state {
                CalleeState::Accepted => {
                    self.accepted_by.insert(c.user_id.clone(), at);
                }
                CalleeState::Rejected => {
                    self.rejected_by.insert(c.user_id.clone(), at);
                }
                CalleeState::Ringing => {}
            }
            if ring.missed_done && (missed || c.state == CalleeState::Ringing) {
                self.missed_by.insert(c.user_id.clone(), at);
            }
        }
    }
}

/// A call.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallView {
    /// `type:id`.
    pub cid: String,
    /// Call type.
    #[serde(rename = "type")]
    pub call_type: String,
    /// Call id.
    pub id: String,
    /// Who created it (absent when created with a server token).
    pub created_by: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Scheduled start.
    pub starts_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// In backstage: only `join-backstage` holders join and publish.
    pub backstage: bool,
    /// App-defined data.
    #[schema(value_type = Object)]
    pub custom: Value,
    /// Effective settings (call type's with the call's override).
    pub settings: CallSettings,
    /// The current or last session.
    pub session: Option<SessionView>,
    /// Number of members.
    pub member_count: i64,
    /// Egress running for the call.
    pub egress: EgressSummary,
    /// Where media from outside (OBS) enters the call.
    pub ingress: IngressView,
}

/// Where media from outside enters a call.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct IngressView {
    /// RTMP (OBS, ffmpeg), when the server takes it.
    pub rtmp: Option<RtmpIngress>,
    /// WHIP (OBS 30+, browsers), when the server takes it.
    pub whip: Option<WhipIngress>,
}

/// The WHIP endpoint of a call.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhipIngress {
    /// `POST` an SDP offer here with a user token as bearer.
    pub url: String,
}

/// The RTMP ingest address of a call.
#[derive(Debug, Serialize, ToSchema)]
pub struct RtmpIngress {
    /// The server URL to paste into OBS (`rtmp://host:1935/live/type:id`);
    /// the stream key is a user token of someone who may publish.
    pub address: String,
}

impl IngressView {
    /// The ingress of call `cid` on a server that takes RTMP under
    /// `rtmp_base` and WHIP under `whip_base` (each if it runs).
    pub fn new(rtmp_base: Option<&str>, whip_base: Option<&str>, cid: &str) -> Self {
        Self {
            rtmp: rtmp_base.map(|base| RtmpIngress {
                address: format!("{}/{cid}", base.trim_end_matches('/')),
            }),
            whip: whip_base.map(|base| WhipIngress {
                url: format!("{}/{cid}", base.trim_end_matches('/')),
            }),
        }
    }
}

/// What leaves the call right now.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct EgressSummary {
    /// The running recording, if any.
    pub recording: Option<EgressStatus>,
    /// The running HLS broadcast, if any, with its playlist.
    pub hls: Option<HlsView>,
    /// Running RTMP pushes.
    pub rtmps: Vec<RtmpView>,
}

/// An HLS broadcast.
#[derive(Debug, Serialize, ToSchema)]
pub struct HlsView {
    /// The job id.
    pub id: String,
    /// `starting`, `active`, `ending`, `complete` or `failed`.
    pub state: EgressState,
    /// Why it failed.
    pub error: Option<String>,
    /// The live playlist, once the broadcast has one (a signed link; its
    /// segments are reached relative to it).
    pub playlist_url: Option<String>,
}

impl HlsView {
    /// The view of job `e`, whose playlist is reached at `playlist_url`.
    pub fn new(e: Egress, playlist_url: Option<String>) -> Self {
        Self {
            playlist_url,
            id: e.id,
            state: e.state,
            error: e.error,
        }
    }
}

/// An RTMP push.
#[derive(Debug, Serialize, ToSchema)]
pub struct RtmpView {
    /// Its name in the call.
    pub name: String,
    /// The job id.
    pub id: String,
    /// `starting`, `active`, `ending`, `complete` or `failed`.
    pub state: EgressState,
    /// Why it failed.
    pub error: Option<String>,
}

impl From<Egress> for RtmpView {
    fn from(e: Egress) -> Self {
        Self {
            name: e.name.unwrap_or_default(),
            id: e.id,
            state: e.state,
            error: e.error,
        }
    }
}

/// A running egress job.
#[derive(Debug, Serialize, ToSchema)]
pub struct EgressStatus {
    /// The job (recording id).
    pub id: String,
    /// `starting`, `active` or `ending`.
    pub state: EgressState,
}

impl CallView {
    /// The view of `call`.
    pub fn new(
        call: Call,
        settings: CallSettings,
        session: Option<SessionView>,
        member_count: i64,
        egress: EgressSummary,
        ingress: IngressView,
    ) -> Self {
        Self {
            cid: call.cid.to_string(),
            backstage: lifecycle::in_backstage(&call, &settings),
            call_type: call.cid.call_type,
            id: call.cid.id,
            created_by: call.created_by,
            created_at: call.created_at,
            updated_at: call.updated_at,
            starts_at: call.starts_at,
            ended_at: call.ended_at,
            custom: call.custom,
            settings,
            session,
            member_count,
            egress,
            ingress,
        }
    }
}

/// A call member.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    /// The member's user id.
    pub user_id: String,
    /// The user.
    pub user: Option<UserView>,
    /// Role in this call.
    pub role: String,
    /// App-defined data.
    #[schema(value_type = Object)]
    pub custom: Value,
    /// Added.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl MemberView {
    /// The view of `m`, with its user when known.
    pub fn new(m: Member, user: Option<User>) -> Self {
        Self {
            user_id: m.user_id,
            user: user.map(UserView::from),
            role: m.role,
            custom: m.custom,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A call type.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallTypeView {
    /// Name.
    pub name: String,
    /// Role → capabilities.
    #[schema(value_type = std::collections::BTreeMap<String, Vec<String>>)]
    pub grants: onair_auth::Grants,
    /// Settings of new calls.
    pub settings: CallSettings,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<CallType> for CallTypeView {
    fn from(t: CallType) -> Self {
        Self {
            name: t.name,
            grants: t.grants,
            settings: t.settings,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}
