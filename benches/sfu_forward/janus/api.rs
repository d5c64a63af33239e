//! Janus's HTTP API, as much as the bench needs: a session with one
//! VideoRoom handle, requests sent to it, and its events read by long poll.

use std::time::Duration;

use serde_json::{json, Value};

/// One Janus session with one VideoRoom plugin handle.
pub struct Handle {
    http: reqwest::Client,
    /// `http://host:port/janus/<session>`.
    session: String,
    /// `…/<session>/<handle>`.
    handle: String,
}

impl Handle {
    /// Creates a session on the Janus at `base` (`http://host:port/janus`)
    /// and attaches the VideoRoom plugin.
    pub async fn attach(http: &reqwest::Client, base: &str) -> Result<Self, String> {
        let created = post(http, base, json!({"janus": "create"})).await?;
        let session = format!("{base}/{}", id_of(&created)?);
        let attached = post(
            http,
            &session,
            json!({"janus": "attach", "plugin": "janus.plugin.videoroom"}),
        )
        .await?;
        let handle = format!("{session}/{}", id_of(&attached)?);
        Ok(Self {
            http: http.clone(),
            session,
            handle,
        })
    }

    /// Sends `body` (and `jsep`, if any) to the plugin and waits for the
    /// plugin's event that answers it: its `plugindata.data` and its jsep.
    pub async fn request(
        &self,
        body: Value,
        jsep: Option<Value>,
    ) -> Result<(Value, Option<Value>), String> {
        let mut message = json!({"janus": "message", "body": body});
        if let Some(jsep) = jsep {
            message["jsep"] = jsep;
        }
        let transaction = post(&self.http, &self.handle, message).await?["transaction"].clone();
        for _ in 0..20 {
            // A long poll: Janus answers within 30 s, with up to 10 events.
            let url = format!("{}?maxev=10", self.session);
            let events = json_of(self.http.get(url).timeout(Duration::from_secs(40))).await?;
            let events = match events {
                Value::Array(events) => events,
                event => vec![event],
            };
            for event in events {
                if event["janus"] == "event" && event["transaction"] == transaction {
                    let data = event["plugindata"]["data"].clone();
                    if let Some(error) = data.get("error") {
                        return Err(format!("janus: {error}"));
                    }
                    return Ok((data, event.get("jsep").cloned()));
                }
            }
        }
        Err("janus: no answer".into())
    }

    /// Ends the session (and the handle's peer connection).
    pub async fn destroy(&self) {
        let _ = post(&self.http, &self.session, json!({"janus": "destroy"})).await;
    }
}

/// Posts one request with a fresh transaction; its reply, if not an error.
async fn post(http: &reqwest::Client, url: &str, mut request: Value) -> Result<Value, String> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let transaction = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    request["transaction"] = json!(transaction.to_string());
    let reply = json_of(http.post(url).json(&request)).await?;
    match reply["janus"].as_str() {
        Some("success") | Some("ack") => Ok(reply),
        _ => Err(format!("janus: {reply}")),
    }
}

/// Sends `request`; the JSON it answers with.
async fn json_of(request: reqwest::RequestBuilder) -> Result<Value, String> {
    let reply = request.send().await.map_err(|e| e.to_string())?;
    reply.json().await.map_err(|e| e.to_string())
}

/// The `data.id` of a `success` reply.
fn id_of(reply: &Value) -> Result<u64, String> {
    reply["data"]["id"]
        .as_u64()
        .ok_or_else(|| format!("janus: no id in {reply}"))
}
