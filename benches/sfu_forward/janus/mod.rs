//! Janus 1.1.2 (Debian's package) with its VideoRoom plugin, as an
//! open-source SFU measured side by side with OnAir under the same ramp.
//! Janus leaves loopback out of its ICE candidates, so it runs in a network
//! namespace the bench creates, joined to this one by a veth pair; the
//! bench's str0m peers use the host end. The whole Janus process is pinned
//! to the SFU's core, and its CPU is that of the whole process.

mod api;
mod peer;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use onair_client::files::{ivf, ogg_opus};
use serde_json::json;
use tokio::task::JoinHandle;

use crate::saturation::Target;
use crate::{cpu_seconds, Publish};
use api::Handle;
use peer::{Layer, Peer};

/// The VideoRoom room the bench uses.
const ROOM: u64 = 1;

/// A running Janus in its own network namespace; dropping it stops Janus
/// and removes the namespace.
pub struct Janus {
    child: Child,
    netns: String,
    /// Our end of the veth pair.
    host_ip: IpAddr,
    /// `http://<janus ip>:8088/janus`.
    base: String,
    _config: tempfile::TempDir,
}

impl Janus {
    /// Starts Janus pinned to `core`; None (with the reason printed) if it
    /// is not installed or cannot run here.
    pub async fn start(core: usize) -> Option<Janus> {
        if Command::new("janus").arg("--version").output().is_err() {
            println!(" janus: not installed (apt-get install janus), skipped");
            return None;
        }
        let id = std::process::id();
        let netns = format!("onair-janus-{id}");
        let subnet = 1 + id % 250;
        let (host, inner) = (format!("ojh{id}"), format!("ojn{id}"));
        let host_ip = Ipv4Addr::new(10, 203, subnet as u8, 1);
        let janus_ip = Ipv4Addr::new(10, 203, subnet as u8, 2);
        let script = format!(
            "ip netns add {netns} && ip link add {host} type veth peer name {inner} && \
             ip link set {inner} netns {netns} && ip addr add {host_ip}/30 dev {host} && ip link set {host} up && \
             ip -n {netns} addr add {janus_ip}/30 dev {inner} && ip -n {netns} link set {inner} up && \
             ip -n {netns} link set lo up && ip -n {netns} route add default via {host_ip}"
        );
        if !sh(&script) {
            println!(" janus: cannot create a network namespace here (needs root), skipped");
            sh(&format!("ip netns del {netns} 2>/dev/null"));
            return None;
        }
        let config = tempfile::tempdir().ok()?;
        write_config(config.path(), &janus_ip.to_string()).ok()?;
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &netns,
                "taskset",
                "-c",
                &core.to_string(),
                "janus",
            ])
            .arg("-F")
            .arg(config.path())
            .arg("-C")
            .arg(config.path().join("janus.jcfg"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let janus = Janus {
            child,
            netns,
            host_ip: IpAddr::V4(host_ip),
            base: format!("http://{janus_ip}:8088/janus"),
            _config: config,
        };
        let http = reqwest::Client::new();
        for _ in 0..50 {
            let info = http.get(format!("{}/info", janus.base)).send().await;
            if info.is_ok_and(|r| r.status().is_success()) {
                return Some(janus);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        println!(" janus: did not answer on {}, skipped", janus.base);
        None
    }

    /// The room under load, empty.
    pub fn load(&self, dir: &Path, what: Publish) -> JanusLoad<'_> {
        JanusLoad {
            janus: self,
            http: reqwest::Client::new(),
            dir: dir.to_owned(),
            what,
            publishers: Vec::new(),
            subscribers: Vec::new(),
        }
    }
}

impl Drop for Janus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        sh(&format!("ip netns del {}", self.netns));
    }
}

/// Runs `script` with sh; whether it succeeded.
fn sh(script: &str) -> bool {
    Command::new("sh")
        .args(["-c", script])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Janus's configuration: the HTTP transport and the VideoRoom plugin only,
/// ICE on `ip`, one open room for up to 200 publishers.
fn write_config(dir: &Path, ip: &str) -> std::io::Result<()> {
    let plugins = "/usr/lib/x86_64-linux-gnu/janus";
    let others = [
        "audiobridge",
        "duktape",
        "echotest",
        "lua",
        "nosip",
        "recordplay",
        "sip",
        "streaming",
        "textroom",
        "videocall",
        "voicemail",
    ];
    let disabled: Vec<String> = others.iter().map(|p| format!("libjanus_{p}.so")).collect();
    let transports = ["mqtt", "nanomsg", "pfunix", "rabbitmq", "websockets"];
    let transports: Vec<String> = transports
        .iter()
        .map(|t| format!("libjanus_{t}.so"))
        .collect();
    std::fs::write(
        dir.join("janus.jcfg"),
        format!(
            "general: {{\n configs_folder = \"{}\"\n plugins_folder = \"{plugins}/plugins\"\n transports_folder = \"{plugins}/transports\"\n debug_level = 2\n session_timeout = 0\n}}\n\
             nat: {{\n ice_enforce_list = \"{ip}\"\n}}\n\
             plugins: {{\n disable = \"{}\"\n}}\n\
             transports: {{\n disable = \"{}\"\n}}\n",
            dir.display(),
            disabled.join(","),
            transports.join(","),
        ),
    )?;
    std::fs::write(
        dir.join("janus.transport.http.jcfg"),
        "general: {\n json = \"plain\"\n base_path = \"/janus\"\n http = true\n port = 8088\n}\nadmin: {\n admin_http = false\n}\n",
    )?;
    std::fs::write(
        dir.join("janus.plugin.videoroom.jcfg"),
        format!("general: {{\n}}\nroom-{ROOM}: {{\n description = \"bench\"\n publishers = 200\n bitrate = 0\n audiocodec = \"opus\"\n videocodec = \"vp8\"\n}}\n"),
    )
}

/// The Janus room under load: publishers (with their feed ids) and
/// counting subscribers, each a str0m peer in its own task.
pub struct JanusLoad<'a> {
    janus: &'a Janus,
    http: reqwest::Client,
    dir: std::path::PathBuf,
    what: Publish,
    /// Each with its feed id and the task that sends.
    publishers: Vec<(Handle, u64, JoinHandle<()>)>,
    subscribers: Vec<Subscriber>,
}

/// A counting subscriber: its handle, its count, the task that counts.
type Subscriber = (Handle, Arc<AtomicU64>, JoinHandle<()>);

impl JanusLoad<'_> {
    /// Joins one publisher sending the bench's files.
    async fn add_publisher(&mut self, name: &str) -> Result<(), String> {
        let handle = Handle::attach(&self.http, &self.janus.base).await?;
        let mut peer = Peer::bind(self.janus.host_ip).await;
        let video = matches!(self.what, Publish::Video);
        let layers = if video {
            [(320, "q"), (640, "h"), (1280, "f")]
                .iter()
                .map(|(w, rid)| Layer {
                    rid: Some(*rid),
                    frames: ivf(&self.dir.join(format!("{w}.ivf"))).unwrap_or_default(),
                })
                .collect()
        } else {
            let frames = ogg_opus(&self.dir.join("tone.ogg")).unwrap_or_default();
            vec![Layer { rid: None, frames }]
        };
        let rids: Vec<&str> = layers.iter().filter_map(|l| l.rid).collect();
        let (mid, offer, pending) = peer.offer(video, &rids);
        let join = json!({"request": "joinandconfigure", "room": ROOM, "ptype": "publisher", "display": name});
        // Our rids go lowest first; Janus assumes highest first unless told.
        let offer = json!({"type": "offer", "sdp": offer.to_sdp_string(), "rid_order": "lmh"});
        let (data, jsep) = handle.request(join, Some(offer)).await?;
        let answer = jsep
            .and_then(|j| j["sdp"].as_str().map(str::to_owned))
            .ok_or("no answer")?;
        peer.accept_answer(pending, &answer)?;
        let feed = data["id"].as_u64().ok_or("no feed id")?;
        let task = tokio::spawn(peer.publish(mid, video, layers));
        self.publishers.push((handle, feed, task));
        Ok(())
    }

    /// Joins one subscriber to every publisher's feed, counting.
    async fn add_subscriber(&self) -> Result<Subscriber, String> {
        let handle = Handle::attach(&self.http, &self.janus.base).await?;
        let mut peer = Peer::bind(self.janus.host_ip).await;
        let streams: Vec<_> = self
            .publishers
            .iter()
            .map(|(_, feed, _)| json!({"feed": feed}))
            .collect();
        let join =
            json!({"request": "join", "room": ROOM, "ptype": "subscriber", "streams": streams});
        let (_, jsep) = handle.request(join, None).await?;
        let offer = jsep
            .and_then(|j| j["sdp"].as_str().map(str::to_owned))
            .ok_or("no offer")?;
        let answer = peer.accept_offer(&offer)?;
        let answer = json!({"type": "answer", "sdp": answer});
        handle
            .request(json!({"request": "start"}), Some(answer))
            .await?;
        let counted = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(peer.count(counted.clone()));
        Ok((handle, counted, task))
    }

    async fn drop_subscribers(&mut self) {
        for (handle, _, task) in self.subscribers.drain(..) {
            task.abort();
            handle.destroy().await;
        }
    }
}

impl Target for JanusLoad<'_> {
    const IN_PROCESS: bool = false;

    async fn grow(&mut self, publishers: usize, subscribers: usize) {
        if self.publishers.len() < publishers {
            // A subscriber takes the feeds there are when it joins.
            self.drop_subscribers().await;
        }
        while self.publishers.len() < publishers {
            let name = format!("pub-{}", self.publishers.len());
            self.add_publisher(&name)
                .await
                .expect("janus publisher joins");
        }
        let mut tries = 0;
        while self.subscribers.len() < subscribers {
            match self.add_subscriber().await {
                Ok(joined) => self.subscribers.push(joined),
                // A feed is offered once its publisher's connection is up.
                Err(e) if e.contains("No such feed") && tries < 100 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("janus subscriber joins: {e}"),
            }
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }

    fn counted(&self) -> u64 {
        self.subscribers
            .iter()
            .map(|(_, c, _)| c.load(Ordering::Relaxed))
            .sum()
    }

    fn cpu(&self) -> f64 {
        cpu_seconds(self.janus.child.id())
    }

    async fn begin(&self) {}

    async fn end(&self) -> Option<(u64, u64)> {
        None
    }

    async fn leave(mut self) {
        self.drop_subscribers().await;
        for (handle, _, task) in self.publishers.drain(..) {
            task.abort();
            handle.destroy().await;
        }
    }
}
