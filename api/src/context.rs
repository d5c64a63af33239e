//! Loading a call with everything needed to decide what the caller may do.
//! Every call route starts here, so that all of them judge a caller by the
//! same call type, settings and membership.

use onair_auth::capability::{capabilities_in_call, ROLE_USER};
use onair_auth::{AuthError, Capability};
use onair_bus::{Event, EventKind};

use crate::domain::{Call, CallCid, CallSettings, CallType, Member};
use crate::error::{ApiError, ApiResult};
use crate::extract::Caller;
use crate::state::AppState;

/// A call as seen by one caller.
pub struct CallContext {
    /// The call.
    pub call: Call,
    /// Its type.
    pub call_type: CallType,
    /// The type's settings with the call's override applied.
    pub settings: CallSettings,
    /// The caller's membership, if any.
    pub member: Option<Member>,
    /// What the caller may do (every capability for a server token).
    pub caps: Vec<Capability>,
}

impl CallContext {
    /// Refuses with 403 unless the caller holds `cap`.
    pub fn require(&self, cap: Capability) -> ApiResult<()> {
        if self.caps.contains(&cap) {
            Ok(())
        } else {
            Err(ApiError::missing(cap))
        }
    }

    /// The capabilities `role` carries in this call (grants, then settings).
    pub fn role_capabilities(&self, role: &str) -> Vec<Capability> {
        capabilities_in_call(&self.call_type.grants, role, None, &self.settings.gate())
    }

    /// Refuses (403) letting the caller give `role`, or change a member who
    /// holds it, when it carries a capability the caller lacks: nobody
    /// hands out more than they hold.
    pub fn require_grantable(&self, role: &str) -> ApiResult<()> {
        let beyond: Vec<&str> = self
            .role_capabilities(role)
            .into_iter()
            .filter(|c| !self.caps.contains(c))
            .map(Capability::as_str)
            .collect();
        if beyond.is_empty() {
            return Ok(());
        }
        Err(ApiError::forbidden(
            "role_exceeds_own_capabilities",
            format!(
                "role `{role}` carries capabilities you do not hold: {}",
                beyond.join(", ")
            ),
        ))
    }

    /// Members, sessions and participants of a private call are for its
    /// members (and server tokens); of another call, for `read-call` holders.
    pub fn require_roster(&self, caller: &Caller) -> ApiResult<()> {
        if caller.is_server() || self.member.is_some() {
            return Ok(());
        }
        self.require(Capability::ReadCall)?;
        if self.settings.private {
            return Err(ApiError::forbidden(
                "members_only",
                format!(
                    "call `{}` is private: only its members see this",
                    self.call.cid
                ),
            ));
        }
        Ok(())
    }

    /// Whether the caller may see the roster (see [`Self::require_roster`]).
    pub fn sees_roster(&self, caller: &Caller) -> bool {
        self.require_roster(caller).is_ok()
    }
}

/// Refuses a user token scoped to other calls (401 `wrong_call`).
pub fn check_scope(caller: &Caller, cid: &CallCid) -> ApiResult<()> {
    match caller.user() {
        Some(u) if !u.allows_call(&cid.to_string()) => {
            Err(AuthError::WrongCall(cid.to_string()).into())
        }
        _ => Ok(()),
    }
}

/// The call type named `name`, or 404.
pub async fn call_type(state: &AppState, name: &str) -> ApiResult<CallType> {
    state
        .store
        .get_call_type(name)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("call type `{name}`")))
}

/// The caller's global role: the token's `role`, else the stored user's, else `user`.
pub async fn global_role(state: &AppState, caller: &Caller) -> ApiResult<String> {
    let Some(user) = caller.user() else {
        return Ok(String::new());
    };
    if let Some(role) = &user.role {
        return Ok(role.clone());
    }
    let stored = state
        .store
        .get_users(std::slice::from_ref(&user.sub))
        .await?;
    Ok(stored
        .into_iter()
        .next()
        .map_or_else(|| ROLE_USER.to_owned(), |u| u.role))
}

/// What `caller` may do in a call of `call_type` with `settings`, given their membership.
pub async fn capabilities(
    state: &AppState,
    caller: &Caller,
    call_type: &CallType,
    settings: &CallSettings,
    member: Option<&Member>,
) -> ApiResult<Vec<Capability>> {
    if caller.is_server() {
        return Ok(Capability::ALL.to_vec());
    }
    let role = global_role(state, caller).await?;
    let member_role = member.map(|m| m.role.as_str());
    Ok(capabilities_in_call(
        &call_type.grants,
        &role,
        member_role,
        &settings.gate(),
    ))
}

/// What user `user_id`, of `global_role` and membership `member`, may do in
/// `call`: what the roles give under the call's settings, with the grants
/// and revokes stored for that user in this call (settings still win).
pub async fn user_capabilities(
    state: &AppState,
    call: &Call,
    (call_type, settings): (&CallType, &CallSettings),
    user_id: &str,
    global_role: &str,
    member: Option<&Member>,
) -> ApiResult<Vec<Capability>> {
    let gate = settings.gate();
    let member_role = member.map(|m| m.role.as_str());
    let caps = capabilities_in_call(&call_type.grants, global_role, member_role, &gate);
    let overrides = state
        .store
        .user_permissions(&call.cid.to_string(), user_id)
        .await?;
    Ok(overrides.apply(caps, |c| gate.allows(c)))
}

/// Loads call `cid` for `caller` (404 if absent).
pub async fn load(state: &AppState, caller: &Caller, cid: &CallCid) -> ApiResult<CallContext> {
    check_scope(caller, cid)?;
    let call = state
        .store
        .get_call(&cid.to_string())
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("call `{cid}`")))?;
    with_call(state, caller, call).await
}

/// Builds the context of an already loaded call.
pub async fn with_call(state: &AppState, caller: &Caller, call: Call) -> ApiResult<CallContext> {
    let call_type = call_type(state, &call.cid.call_type).await?;
    let settings = effective_settings(&call_type, &call);
    let member = match caller.user() {
        Some(u) => {
            state
                .store
                .get_member(&call.cid.to_string(), &u.sub)
                .await?
        }
        None => None,
    };
    let caps = match caller.user() {
        Some(user) => {
            let role = global_role(state, caller).await?;
            let of_type = (&call_type, &settings);
            user_capabilities(state, &call, of_type, &user.sub, &role, member.as_ref()).await?
        }
        None => Capability::ALL.to_vec(),
    };
    Ok(CallContext {
        call,
        call_type,
        settings,
        member,
        caps,
    })
}

/// The call type's settings with the call's override on top.
pub fn effective_settings(call_type: &CallType, call: &Call) -> CallSettings {
    // The override was validated when stored; a failure here means the call
    // type changed under it. Fall back to the type's settings, loudly.
    call_type.settings.merged(&call.settings_override).unwrap_or_else(|e| {
        tracing::warn!(call_cid = %call.cid, error = %e, "settings override no longer valid; ignoring it");
        call_type.settings.clone()
    })
}

/// Announces `kind` for `cid` on the bus; a bus failure is logged, not fatal.
pub async fn publish(state: &AppState, cid: &CallCid, kind: EventKind) {
    let event = Event::new(cid.to_string(), onair_auth::clock::unix_ms(), kind);
    if let Err(e) = state.bus.publish(event).await {
        tracing::warn!(call_cid = %cid, error = %e, "bus publish failed");
    }
}
