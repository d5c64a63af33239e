//! RTMP pushes to YouTube/Twitch-like targets: add one by name
//! (`POST {c}/rtmp_broadcasts`), remove it (`DELETE {c}/rtmp_broadcasts/{name}`);
//! the others keep streaming. The call lists them in `egress.rtmps`.

use axum::extract::State;
use axum::http::StatusCode;
use onair_auth::Capability;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::context;
use crate::domain::{ids, EgressKind};
use crate::egress::{self, Subject};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{CallPath, Caller, Json, NamePath};
use crate::state::AppState;
use crate::views::RtmpView;

/// `POST {c}/rtmp_broadcasts` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddRtmpRequest {
    /// The target's name in this call (`[A-Za-z0-9_-]{1,64}`).
    pub name: String,
    /// The ingest URL, e.g. `rtmp://a.rtmp.youtube.com/live2`.
    pub stream_url: String,
    /// The stream key (kept only by the worker that pushes).
    pub stream_key: String,
    /// `360p`, `720p` or `1080p` (default: the call's recording quality).
    pub preset: Option<String>,
}

/// `{rtmp}` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct RtmpResponse {
    /// The push.
    pub rtmp: RtmpView,
}

/// `rtmp(s)://host[:port]/app…` and a key without spaces, joined as RTMP
/// clients do (`URL/KEY`).
fn target(url: &str, key: &str) -> ApiResult<String> {
    let url = url.trim().trim_end_matches('/');
    let host = url
        .strip_prefix("rtmp://")
        .or_else(|| url.strip_prefix("rtmps://"))
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("");
    if host.is_empty() || url.chars().any(char::is_whitespace) {
        return Err(ApiError::invalid(
            "invalid_stream_url",
            "stream_url must look like rtmp://host/app or rtmps://host/app",
        ));
    }
    if key.is_empty() || key.len() > 512 || key.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ApiError::invalid(
            "invalid_stream_key",
            "stream_key must be 1-512 characters without spaces",
        ));
    }
    Ok(format!("{url}/{key}"))
}

/// Refuses a target host that resolves to an address OnAir must not
/// connect to for a user (loopback, private, link-local, its own), unless
/// the deployment allows private targets.
async fn check_reachable(state: &AppState, url: &str) -> ApiResult<()> {
    if state.config.egress.allow_private_targets {
        return Ok(());
    }
    let (host, port) = onair_auth::net::rtmp_host_port(url);
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|_| ApiError::invalid("unresolvable_target", format!("cannot resolve `{host}`")))?
        .collect();
    let own = &state.config.egress.own_addresses;
    if addrs.is_empty()
        || addrs
            .iter()
            .any(|a| !onair_auth::net::is_public_target(a.ip(), own))
    {
        tracing::info!(
            host,
            "RTMP push refused: the target is not a public address"
        );
        return Err(ApiError::invalid(
            "forbidden_target",
            format!("`{host}` resolves to an address OnAir does not push to (loopback, private or its own)"),
        ));
    }
    Ok(())
}

/// Start pushing the call to an RTMP target.
#[utoipa::path(post, path = "/v1/calls/{type}/{id}/rtmp_broadcasts", tag = "broadcasts", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path)), request_body = AddRtmpRequest,
    responses((status = 201, body = RtmpResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
    Json(req): Json<AddRtmpRequest>,
) -> ApiResult<(StatusCode, axum::Json<RtmpResponse>)> {
    let ctx = context::load(&state, &caller, &cid).await?;
    ctx.require(Capability::StartBroadcastCall)?;
    ids::validate("name", &req.name)?;
    let subject = Subject {
        name: req.name,
        target: target(&req.stream_url, &req.stream_key)?,
    };
    check_reachable(&state, &req.stream_url).await?;
    let job = egress::start(&state, &ctx, EgressKind::Rtmp, req.preset, Some(subject)).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(RtmpResponse { rtmp: job.into() }),
    ))
}

/// Stop pushing to one RTMP target; the others go on.
#[utoipa::path(delete, path = "/v1/calls/{type}/{id}/rtmp_broadcasts/{name}", tag = "broadcasts", security(("token" = [])),
    params(("type" = String, Path), ("id" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = RtmpResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    CallPath(cid): CallPath,
    NamePath(name): NamePath,
) -> ApiResult<axum::Json<RtmpResponse>> {
    let ctx = context::load(&state, &caller, &cid).await?;
    ctx.require(Capability::StopBroadcastCall)?;
    let job = egress::stop(&state, &ctx, EgressKind::Rtmp, Some(&name))
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("RTMP broadcast `{name}`")))?;
    Ok(axum::Json(RtmpResponse { rtmp: job.into() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_join_url_and_key() {
        assert_eq!(
            target("rtmp://a.rtmp.youtube.com/live2/", "abcd-1234").unwrap(),
            "rtmp://a.rtmp.youtube.com/live2/abcd-1234"
        );
        assert!(target("rtmps://live.twitch.tv:443/app", "k").is_ok());
        for bad in [
            "http://x/live",
            "rtmp://",
            "rtmp:///live",
            "rtmp://h/a b",
            "",
        ] {
            assert!(target(bad, "key").is_err(), "{bad}");
        }
        for bad in ["", "a b", "a\nb"] {
            assert!(target("rtmp://h/live", bad).is_err(), "{bad:?}");
        }
    }
}
