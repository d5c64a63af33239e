//! A client of the app's events socket (`/v1/connect`) for tests.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An open events socket.
pub struct Socket {
    ws: Ws,
    /// Its `connection.ok` message.
    pub ok: Value,
}

impl Socket {
    /// Connects to `base` (`http://…`) with `token`: in the `Authorization`
    /// header when `header`, else as the first message; resumes after `after`.
    pub async fn open(
        base: &str,
        token: &str,
        after: Option<&str>,
        header: bool,
    ) -> Result<Socket, Value> {
        let mut url = format!("{}/v1/connect", base.replacen("http", "ws", 1));
        if let Some(after) = after {
            url.push_str(&format!("?after={after}"));
        }
        let mut req = url.into_client_request().unwrap();
        if header {
            let value = format!("Bearer {token}").parse().unwrap();
            req.headers_mut().insert("authorization", value);
        }
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        if !header {
            let first = json!({"token": token}).to_string();
            ws.send(Message::Text(first.into())).await.unwrap();
        }
        let mut socket = Socket {
            ws,
            ok: Value::Null,
        };
        let first = socket
            .next(Duration::from_secs(10))
            .await
            .expect("a first message");
        if first["type"] != "connection.ok" {
            return Err(first);
        }
        socket.ok = first;
        Ok(socket)
    }

    /// The next message other than a health check, or `None` within `within`
    /// (or when the socket closed).
    pub async fn next(&mut self, within: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()??;
            let Ok(Message::Text(text)) = msg else {
                if matches!(msg, Ok(Message::Close(_)) | Err(_)) {
                    return None;
                }
                continue;
            };
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["type"] != "health.check" {
                return Some(v);
            }
        }
    }

    /// Events until one of `event_type` arrives (within `within`); all of
    /// them, that one last. Panics if it does not come.
    pub async fn until(&mut self, event_type: &str, within: Duration) -> Vec<Value> {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(v) = self.next(left).await else {
                let types: Vec<&Value> = seen.iter().map(|v: &Value| &v["type"]).collect();
                panic!("no {event_type} within {within:?}; saw {types:?}");
            };
            let done = v["type"] == event_type;
            seen.push(v);
            if done {
                return seen;
            }
        }
    }

    /// Everything that arrives within `within`.
    pub async fn drain(&mut self, within: Duration) -> Vec<Value> {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + within;
        while let Some(v) = self
            .next(deadline.saturating_duration_since(tokio::time::Instant::now()))
            .await
        {
            seen.push(v);
        }
        seen
    }

    /// Sends a text message.
    pub async fn say(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.to_owned().into()))
            .await
            .unwrap();
    }
}
