//! `POST {c}/join`: admit a user into a call and hand them what the SFU needs.

use axum::extract::State;
use chrono::{DateTime, Utc};
use onair_auth::token::mint;
use onair_auth::{Capability, JoinClaims, OnAirGrant, UserClaims, VideoGrant};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::calls::create::{get_or_create_call, CallData};
use super::calls::view::{call_view, roster};
use crate::context::{self, CallContext};
use crate::domain::lifecycle::{self, admit, CallState, Refusal};
use crate::domain::CallCid;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{CallPath, Caller, OptionalJson};
use crate::state::{AppState, IceServer};
use crate::views::{CallView, MemberView};

/// `POST {c}/join` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// Create the call if it does not exist (needs `create-call`).
    #[serde(default)]
    pub create: bool,
    /// Data for the call if this creates it.
    pub data: Option<CallData>,
    /// Where the participant is (a region label, e.g. `eu-west`): an SFU
    /// node of that region is chosen first. At most 64 characters.
    #[serde(default)]
    pub location: Option<String>,
}

/// How to reach the SFU.
#[derive(Debug, Serialize, ToSchema)]
pub struct Credentials {
    /// Signal URL: pass it with `token` to `livekit-client`'s `room.connect(url, token)`.
    pub url: String,
    /// Join token (LiveKit-compatible claims).
    pub token: String,
    /// STUN/TURN servers.
    pub ice_servers: Vec<IceServer>,
}

/// `POST {c}/join` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct JoinResponse {
    /// The call.
    pub call: CallView,
    /// Its members.
    pub members: Vec<MemberView>,
    /// How to connect.
    pub credentials: Credentials,
    /// The caller's role in the call (member role, else global role).
    pub role: String,
    /// What the caller may do.
    #[schema(value_type = Vec<String>)]
    pub own_capabilities: Vec<Capability>,
    /// Joined ahead of a call still in backstage: connected and counted, but
    /// no host media arrives until `go_live`.
    pub waiting: bool,
}

/// Join a call: returns the SFU URL, a join token and ICE servers.
#[utoipa::path(post, path = "/v1/calls/{type}/{id}/join", tag = "calls", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)),
    request_body = JoinRequest,
    responses((status = 200, body = JoinResponse),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "missing capability, or in backstage"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "the call ended"),
        (status = 422, body = ErrorBody)))]
pub async fn join(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
    OptionalJson(req): OptionalJson<JoinRequest>,
) -> ApiResult<axum::Json<JoinResponse>> {
    state.refuse_if_draining()?;
    let Some(user) = caller.user().cloned() else {
        return Err(ApiError::forbidden(
            "user_token_required",
            "joining needs a user token",
        ));
    };
    let location = checked_location(req.location)?;
    let mut ctx = if req.create {
        get_or_create_call(&state, &caller, &cid, req.data.unwrap_or_default())
            .await?
            .0
    } else {
        context::load(&state, &caller, &cid).await?
    };
    let now = Utc::now();
    let admission =
        admit(&ctx.call, &ctx.settings, &ctx.caps, now).map_err(|r| refusal(&cid, r))?;
    refuse_blocked_or_full(&state, &ctx, &user.sub).await?;
    crate::lifecycle::ensure_session(&state, &mut ctx).await?;
    let role = match &ctx.member {
        Some(m) => m.role.clone(),
        None => context::global_role(&state, &caller).await?,
    };
    let mut credentials = credentials(&state, &ctx, &user, &role, admission.may_publish, now)?;
    credentials.url =
        crate::placement::signal_url(&state, &cid.to_string(), location.as_deref()).await;
    tracing::info!(call_cid = %cid, user = %user.sub, waiting = admission.waiting, "join admitted");
    Ok(axum::Json(JoinResponse {
        call: call_view(&state, &ctx).await?,
        members: roster(&state, &ctx, &caller).await?,
        credentials,
        role,
        own_capabilities: ctx.caps,
        waiting: admission.waiting,
    }))
}

/// Refuses (403) a user blocked from the call, or one who would be more
/// than its `max_participants`.
async fn refuse_blocked_or_full(state: &AppState, ctx: &CallContext, user: &str) -> ApiResult<()> {
    let cid = &ctx.call.cid;
    if state.store.is_blocked(&cid.to_string(), user).await? {
        tracing::info!(call_cid = %cid, user, "join refused: blocked");
        return Err(ApiError::forbidden(
            "blocked",
            format!("you are blocked from call `{cid}`"),
        ));
    }
    if let Some(max) = ctx.settings.limits.max_participants {
        let others = others_connected(state, cid, user).await?;
        if others >= max as usize {
            tracing::info!(call_cid = %cid, user, max, "join refused: call full");
            return Err(ApiError::forbidden(
                "call_full",
                format!("call `{cid}` has its {max} participants"),
            ));
        }
    }
    Ok(())
}

/// How to reach the SFU, with a join token for `user` (in the call as
/// `role`) signed by the primary API key (503 without one).
fn credentials(
    state: &AppState,
    ctx: &CallContext,
    user: &UserClaims,
    role: &str,
    may_publish: bool,
    now: DateTime<Utc>,
) -> ApiResult<Credentials> {
    let key = state.keys.primary().ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "no_api_key",
            "no API key configured",
        )
    })?;
    let iat = now.timestamp().max(0) as u64;
    let metadata = serde_json::json!({ "role": role, "image": user.image }).to_string();
    let claims = JoinClaims {
        iss: key.key.clone(),
        sub: user.sub.clone(),
        exp: iat + state.config.join_token_ttl.as_secs(),
        nbf: iat.saturating_sub(10), // tolerate small clock skew between API and SFU
        name: user.name.clone().unwrap_or_else(|| user.sub.clone()),
        metadata,
        video: VideoGrant::for_capabilities(&ctx.call.cid.to_string(), &ctx.caps, may_publish),
        onair: Some(OnAirGrant {
            backstage: lifecycle::state(&ctx.call, &ctx.settings) == CallState::Backstage,
            session: ctx.call.current_session_id.clone(),
            minted_at_ms: Some(now.timestamp_millis()),
            relay: None,
        }),
    };
    Ok(Credentials {
        url: state.config.signal_url.clone(),
        token: mint(key, &claims),
        ice_servers: ice_servers(state, &user.sub, iat),
    })
}

/// The participant's `location`, at most 64 characters (422 otherwise).
fn checked_location(location: Option<String>) -> ApiResult<Option<String>> {
    match location {
        Some(l) if l.chars().count() > 64 => Err(ApiError::invalid(
            "invalid_location",
            "location is at most 64 characters",
        )),
        other => Ok(other),
    }
}

/// How long TURN credentials work at least (an allocation made with them
/// may be refreshed after; new ones need fresh credentials).
const TURN_CREDENTIALS_TTL: u64 = 3600;

/// The configured ICE servers, and the embedded TURN server with
/// credentials for `user` from `now` (Unix seconds).
fn ice_servers(state: &AppState, user: &str, now: u64) -> Vec<IceServer> {
    let mut servers = state.config.ice_servers.clone();
    if let Some(turn) = &state.config.turn {
        let ttl = state
            .config
            .join_token_ttl
            .as_secs()
            .max(TURN_CREDENTIALS_TTL);
        let (username, password) = onair_turn::credentials(&turn.secret, user, now + ttl);
        servers.push(IceServer {
            urls: turn.urls.clone(),
            username: Some(username),
            password: Some(password),
        });
    }
    servers
}

/// How many users other than `user` are connected to the call's media (an
/// ingest session `{user}:ingest` counts as its user).
async fn others_connected(state: &AppState, cid: &CallCid, user: &str) -> ApiResult<usize> {
    let connected = state.store.connected_participants(&cid.to_string()).await?;
    let users: std::collections::BTreeSet<&str> = connected
        .iter()
        .map(|p| p.user_id.split(':').next().unwrap_or(&p.user_id))
        .filter(|u| *u != user)
        .collect();
    Ok(users.len())
}

fn refusal(cid: &CallCid, r: Refusal) -> ApiError {
    match r {
        Refusal::NoJoinCapability => ApiError::missing(Capability::JoinCall),
        Refusal::Ended => ApiError::conflict("call_ended", format!("call `{cid}` has ended")),
        Refusal::Backstage { join_from } => {
            let message = match join_from {
                Some(t) => format!(
                    "call `{cid}` is in backstage; you may join from {}",
                    t.to_rfc3339()
                ),
                None => format!("call `{cid}` is in backstage; wait until it goes live"),
            };
            ApiError::forbidden("backstage", message)
                .with_details(serde_json::json!({ "join_from": join_from.map(|t| t.to_rfc3339()) }))
        }
    }
}
