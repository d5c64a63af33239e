//! What `onair_flutter` itself sends, read from its shared fixture
//! (`sdk-clients/flutter/test/fixtures/wire.json`, which the Dart tests
//! hold the Dart code to): every REST request, and the events socket as
//! `lib/src/core/events/event_socket.dart` speaks it.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The fixture, and which of its requests were sent.
pub struct Wire {
    pub fixture: Value,
    base: String,
    used: Mutex<BTreeSet<String>>,
}

impl Wire {
    /// The fixture, for the server at `base` (`http://…`).
    pub fn load(base: &str) -> Wire {
        let path = super::support::repo().join("sdk-clients/flutter/test/fixtures/wire.json");
        let fixture = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        Wire {
            fixture,
            base: base.to_owned(),
            used: Mutex::new(BTreeSet::new()),
        }
    }

    /// Sends request `name` as the Dart package does, with `token` and the
    /// placeholders in `vars` (`type`, `id`, `connection_id`, `rtmp_url`);
    /// the status and the JSON answer.
    pub async fn send(&self, name: &str, token: &str, vars: &[(&str, &str)]) -> (u16, Value) {
        let entry = &self.fixture["requests"][name];
        assert!(entry.is_object(), "no request `{name}` in wire.json");
        self.used.lock().unwrap().insert(name.to_owned());
        let mut vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (format!("{{{k}}}"), v.to_string()))
            .collect();
        vars.push(("{token}".into(), token.into()));
        let entry = fill(entry, &vars);
        let method: reqwest::Method = entry["method"].as_str().unwrap().parse().unwrap();
        let mut req = reqwest::Client::new().request(
            method,
            format!("{}{}", self.base, entry["path"].as_str().unwrap()),
        );
        if let Some(query) = entry["query"].as_object() {
            let pairs: Vec<(&String, &str)> = query
                .iter()
                .map(|(k, v)| (k, v.as_str().unwrap()))
                .collect();
            req = req.query(&pairs);
        }
        for (k, v) in fill(&self.fixture["headers"], &vars).as_object().unwrap() {
            req = req.header(k.as_str(), v.as_str().unwrap());
        }
        if let Some(body) = entry.get("body") {
            let content_type = self.fixture["json_content_type"].as_str().unwrap();
            req = req
                .header("content-type", content_type)
                .body(body.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or_default())
    }

    /// Requests of the fixture never sent.
    pub fn unused(&self) -> Vec<String> {
        let used = self.used.lock().unwrap();
        self.fixture["requests"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| !used.contains(*k))
            .cloned()
            .collect()
    }
}

/// `value` with every `{placeholder}` of `vars` replaced in its strings.
fn fill(value: &Value, vars: &[(String, String)]) -> Value {
    match value {
        Value::String(s) => Value::String(vars.iter().fold(s.clone(), |s, (k, v)| s.replace(k, v))),
        Value::Array(a) => Value::Array(a.iter().map(|v| fill(v, vars)).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), fill(v, vars))).collect())
        }
        other => other.clone(),
    }
}

/// An events socket as `EventSocket` keeps it: the token as the first
/// message, `?after=` on resume, and a listener that answers every
/// `health.check` as it arrives (as the Dart `messages.listen` callback
/// does), whether or not the test is reading events.
pub struct DartSocket {
    frames: tokio::sync::mpsc::UnboundedReceiver<Value>,
    out: tokio::sync::mpsc::UnboundedSender<Message>,
    replies: std::sync::Arc<std::sync::atomic::AtomicU32>,
    task: tokio::task::JoinHandle<()>,
    /// `connection.ok`.
    pub ok: Value,
    /// The last event id delivered.
    pub last: Option<String>,
    pub opened: std::time::Instant,
}

impl DartSocket {
    /// Opens the socket for `token`, resuming `after`; the socket, or
    /// OnAir's first answer if it is not `connection.ok`.
    pub async fn open(wire: &Wire, token: &str, after: Option<&str>) -> Result<DartSocket, Value> {
        let socket = &wire.fixture["socket"];
        let mut url = format!(
            "{}{}",
            wire.base.replacen("http", "ws", 1),
            socket["path"].as_str().unwrap()
        );
        if let Some(after) = after {
            url.push_str(&format!(
                "?{}={after}",
                socket["resume_query"].as_str().unwrap()
            ));
        }
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let auth = fill(&socket["auth"], &[("{token}".into(), token.into())]).to_string();
        let reply = socket["health_reply"].to_string();
        let (frames_tx, frames) = tokio::sync::mpsc::unbounded_channel();
        let (out, out_rx) = tokio::sync::mpsc::unbounded_channel();
        let replies = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        out.send(Message::Text(auth.into())).unwrap();
        let task = tokio::spawn(listen(ws, frames_tx, out_rx, reply, replies.clone()));
        let mut s = DartSocket {
            frames,
            out,
            replies,
            task,
            ok: Value::Null,
            last: after.map(str::to_owned),
            opened: std::time::Instant::now(),
        };
        let first = s
            .frame(Duration::from_secs(10))
            .await
            .expect("a first message");
        if first["type"] != "connection.ok" {
            return Err(first);
        }
        if s.last.is_none() {
            s.last = first["last_event_id"].as_str().map(str::to_owned);
        }
        s.ok = first;
        Ok(s)
    }

    async fn frame(&mut self, within: Duration) -> Option<Value> {
        tokio::time::timeout(within, self.frames.recv())
            .await
            .ok()?
    }

    /// Health checks answered so far.
    pub fn health_replies(&self) -> u32 {
        self.replies.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sends the fixture's health reply now (the server takes any message
    /// as a sign of life).
    pub fn reply_health(&self, wire: &Wire) {
        let reply = wire.fixture["socket"]["health_reply"].to_string();
        self.out.send(Message::Text(reply.into())).unwrap();
    }

    /// The next event (its id after the last), or `None` within `within`.
    pub async fn next(&mut self, within: Duration) -> Option<Value> {
        let v = self.frame(within).await?;
        if let (Some(id), Some(last)) = (v["id"].as_str(), self.last.as_deref()) {
            assert!(id_after(id, last), "event {id} after {last}: {v}");
        }
        self.last = v["id"].as_str().map(str::to_owned).or(self.last.take());
        Some(v)
    }

    /// Events until one of `event_type` about `cid` arrives; that one.
    pub async fn until(&mut self, event_type: &str, cid: &str, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(v) = self.next(left).await else {
                panic!("no {event_type} of {cid} within {within:?}; saw {seen:?}");
            };
            if v["type"] == event_type && v["call_cid"] == cid {
                return v;
            }
            seen.push(format!("{} {}", v["type"], v["call_cid"]));
        }
    }

    /// Closes the connection (the app went to the background); the last
    /// event id delivered.
    pub async fn close(mut self) -> Option<String> {
        let _ = self.out.send(Message::Close(None));
        let _ = (&mut self.task).await;
        self.last.take()
    }
}

/// The socket's listener: frames to the test, health checks answered.
async fn listen(
    mut ws: Ws,
    frames: tokio::sync::mpsc::UnboundedSender<Value>,
    mut out: tokio::sync::mpsc::UnboundedReceiver<Message>,
    reply: String,
    replies: std::sync::Arc<std::sync::atomic::AtomicU32>,
) {
    loop {
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    let v: Value = serde_json::from_str(&text).unwrap();
                    if v["type"] == "health.check" {
                        if ws.send(Message::Text(reply.clone().into())).await.is_err() {
                            return;
                        }
                        replies.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    } else if frames.send(v).is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                None | Some(Err(_)) => return,
            },
            msg = out.recv() => match msg {
                Some(Message::Close(_)) | None => {
                    let _ = ws.close(None).await;
                    return;
                }
                Some(m) => {
                    if ws.send(m).await.is_err() {
                        return;
                    }
                }
            },
        }
    }
}

impl Drop for DartSocket {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `compareEventIds(id, last) > 0` (lib/src/core/events/on_air_event.dart).
pub fn id_after(id: &str, last: &str) -> bool {
    (id.len(), id) > (last.len(), last)
}
