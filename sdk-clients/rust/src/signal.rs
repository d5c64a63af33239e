//! The signal connection: LiveKit's protobuf messages over one WebSocket.
//! Both kinds of participant keep one open ([`crate::Client`] and
//! [`crate::bridge::Bridge`]), so how it opens, how a message is framed
//! and how a session says goodbye are written here once.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use livekit_protocol as lk;
use lk::signal_request::Message as Req;
use lk::signal_response::Message as Resp;
use prost::Message as _;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::ClientError;

/// The signal WebSocket.
pub(crate) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The address this machine reaches the SFU from (the signal
/// connection's own end): media goes from the same one, so an SFU on
/// another machine can answer it. Loopback when it cannot be told.
pub(crate) fn local_ip(ws: &Ws) -> std::net::IpAddr {
    let tcp = match ws.get_ref() {
        tokio_tungstenite::MaybeTlsStream::Plain(tcp) => tcp.local_addr().ok(),
        _ => None,
    };
    tcp.map_or(std::net::Ipv4Addr::LOCALHOST.into(), |a| a.ip())
}

/// Opens the signal connection at `url` (a join's `credentials.url`) with
/// join `token`; `sdk` tells the SFU what kind of client this is.
pub(crate) async fn connect(
    url: &str,
    token: &str,
    auto_subscribe: bool,
    sdk: &str,
) -> Result<Ws, ClientError> {
    let auto = u8::from(auto_subscribe);
    let ws_url = format!(
        "{}/rtc?access_token={token}&auto_subscribe={auto}&sdk={sdk}&protocol=16",
        url.trim_end_matches('/')
    );
    let (ws, _) = tokio_tungstenite::connect_async(ws_url.as_str())
        .await
        .map_err(|e| ClientError::Signal(e.to_string()))?;
    Ok(ws)
}

/// Sends one request.
pub(crate) async fn send(ws: &mut Ws, msg: Req) -> Result<(), ClientError> {
    let bytes = lk::SignalRequest { message: Some(msg) }.encode_to_vec();
    ws.send(WsMessage::Binary(bytes.into()))
        .await
        .map_err(|e| ClientError::Signal(e.to_string()))
}

/// The next response, skipping frames that carry none.
pub(crate) async fn next_response(ws: &mut Ws) -> Result<Resp, ClientError> {
    loop {
        match ws.next().await {
            Some(Ok(WsMessage::Binary(bytes))) => {
                let resp = lk::SignalResponse::decode(bytes.as_ref())
                    .map_err(|e| ClientError::Signal(e.to_string()))?;
                if let Some(m) = resp.message {
                    return Ok(m);
                }
            }
            Some(Ok(WsMessage::Close(_))) | None => {
                return Err(ClientError::Signal("closed".into()))
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(ClientError::Signal(e.to_string())),
        }
    }
}

/// The request that sends an SDP offer, numbered `id`.
pub(crate) fn offer(sdp: String, id: u32) -> Req {
    Req::Offer(session_description("offer", sdp, id))
}

/// The request that answers the SFU's SDP offer `id`.
pub(crate) fn answer(sdp: String, id: u32) -> Req {
    Req::Answer(session_description("answer", sdp, id))
}

fn session_description(kind: &str, sdp: String, id: u32) -> lk::SessionDescription {
    lk::SessionDescription {
        r#type: kind.into(),
        sdp,
        id,
        ..Default::default()
    }
}

/// Says goodbye (a client-initiated leave) and closes the connection.
/// Failures are ignored: the session is over either way.
pub(crate) async fn leave(ws: &mut Ws) {
    let leave = lk::LeaveRequest {
        reason: lk::DisconnectReason::ClientInitiated as i32,
        ..Default::default()
    };
    let _ = send(ws, Req::Leave(leave)).await;
    let _ = ws.close(None).await;
}

/// How a session the server ended reports why (`closed()` of a client or
/// bridge, and the refusal of a join).
pub(crate) fn leave_reason(leave: &lk::LeaveRequest) -> String {
    let action =
        lk::leave_request::Action::try_from(leave.action).map_or("unknown", |a| a.as_str_name());
    format!("leave: reason {}, action {action}", leave.reason)
}

/// How often to ping: as the join response asks, kept within 1 to 30 s.
pub(crate) fn ping_interval(join: &lk::JoinResponse) -> Duration {
    Duration::from_secs(join.ping_interval.clamp(1, 30) as u64)
}
