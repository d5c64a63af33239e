//! A bare `/rtc` client speaking LiveKit's signal protocol by hand: for
//! probing the SFU with what a real SDK would never send.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use livekit_protocol as lk;
use lk::signal_request::Message as In;
use lk::signal_response::Message as Out;
use prost::Message as _;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A raw signal connection.
pub struct RawSignal {
    pub ws: Ws,
}

/// How the SFU answered a connection attempt.
pub enum Opened {
    /// Upgraded: the connection and its first message.
    Ws(Box<(RawSignal, Option<Out>)>),
    /// Refused before the upgrade: the HTTP status and body.
    Refused(u16, String),
}

impl Opened {
    /// The connection, or a panic naming the refusal.
    pub fn joined(self) -> (RawSignal, Option<Out>) {
        match self {
            Opened::Ws(joined) => *joined,
            Opened::Refused(status, body) => panic!("refused: {status} {body}"),
        }
    }

    /// The refusal, or a panic if it was let in.
    pub fn refused(self) -> (u16, String) {
        match self {
            Opened::Refused(status, body) => (status, body),
            Opened::Ws(joined) => panic!("let in: {:?}", joined.1),
        }
    }
}

/// Opens `/rtc?{query}` on `url`.
pub async fn open(url: &str, query: &str) -> Opened {
    open_at(url, "/rtc", query).await
}

/// Opens `/rtc/v1` on `url` with `token` and `join` as livekit-client
/// sends it (gzip'd, base64url).
pub async fn open_v1(url: &str, token: &str, join: &lk::JoinRequest) -> Opened {
    use std::io::Write;
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(&join.encode_to_vec()).unwrap();
    let wrapped = lk::WrappedJoinRequest {
        compression: lk::wrapped_join_request::Compression::Gzip as i32,
        join_request: gzip.finish().unwrap(),
    };
    use base64::Engine;
    let param = base64::engine::general_purpose::URL_SAFE.encode(wrapped.encode_to_vec());
    open_at(
        url,
        "/rtc/v1",
        &format!("access_token={token}&join_request={param}"),
    )
    .await
}

/// Opens `{path}?{query}` on `url`.
pub async fn open_at(url: &str, path: &str, query: &str) -> Opened {
    use tokio_tungstenite::tungstenite::Error;
    match tokio_tungstenite::connect_async(format!("{url}{path}?{query}")).await {
        Ok((ws, _)) => {
            let mut raw = RawSignal { ws };
            let first = raw.next(Duration::from_secs(20)).await;
            Opened::Ws(Box::new((raw, first)))
        }
        Err(Error::Http(resp)) => {
            let body = resp
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            Opened::Refused(resp.status().as_u16(), body)
        }
        Err(e) => panic!("connecting: {e}"),
    }
}

/// `/rtc` with a join token.
pub async fn join(url: &str, token: &str) -> Opened {
    open(url, &format!("access_token={token}")).await
}

impl RawSignal {
    /// The next signal message within `wait`; `None` if none came or the
    /// connection closed.
    pub async fn next(&mut self, wait: Duration) -> Option<Out> {
        loop {
            match tokio::time::timeout(wait, self.ws.next()).await {
                Ok(Some(Ok(Message::Binary(b)))) => {
                    return lk::SignalResponse::decode(b.as_ref()).ok()?.message;
                }
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => {
                    return None
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// The first message within `wait` that `pick` takes.
    pub async fn find<T>(&mut self, wait: Duration, pick: impl Fn(&Out) -> Option<T>) -> Option<T> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let msg = self.next(left).await?;
            if let Some(t) = pick(&msg) {
                return Some(t);
            }
        }
    }

    /// Whether the server closed the connection within `wait`, reading
    /// (and dropping) whatever comes before.
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => continue,
                Err(_) => return false,
            }
        }
    }

    /// Sends one request.
    pub async fn send(&mut self, msg: In) -> bool {
        let req = lk::SignalRequest { message: Some(msg) };
        self.ws
            .send(Message::Binary(req.encode_to_vec().into()))
            .await
            .is_ok()
    }
}

/// Whether `msg` asks the client to leave.
pub fn is_leave(msg: &Option<Out>) -> bool {
    matches!(msg, Some(Out::Leave(_)))
}
