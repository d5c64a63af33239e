//! Several `onair serve` nodes on one Redis: an API node and SFU nodes,
//! each SFU in a network namespace of its own with its own address on a
//! bridge, as on separate machines (where namespaces cannot be made, not
//! root, they run on loopback and the test says so).

use std::time::{Duration, Instant};

use onair_auth::ApiKey;
use onair_client::api;
use onair_testkit::netns::{Network, Space};
use onair_testkit::redis::Redis;
use reqwest::Method;
use serde_json::Value;

use super::call::request;
use super::nodes::{config, config_at, KEY, SECRET};
use super::Onair;

/// An API node and SFU nodes on one Redis and one data dir.
pub struct Cluster {
    pub data: tempfile::TempDir,
    pub api: Onair,
    /// The SFU nodes' signal URLs, and the nodes (`None` once killed).
    pub sfus: Vec<(String, Option<Onair>)>,
    /// Then the bus.
    pub redis: Redis,
    /// Last, once the nodes in it are gone: the namespaces, if any.
    _network: Option<Network>,
}

/// Where the SFU nodes run: namespaces on a bridge (Redis on the bridge's
/// address), else loopback.
fn network(sfu_count: usize) -> (Option<Network>, Vec<Option<Space>>, String) {
    let made = Network::create().and_then(|mut network| {
        let spaces = (0..sfu_count)
            .map(|_| network.add().map(Some))
            .collect::<Result<_, _>>()?;
        Ok((network, spaces))
    });
    match made {
        Ok((network, spaces)) => {
            let host = network.host_ip();
            (Some(network), spaces, host)
        }
        Err(why) => {
            println!("scale-out: no network namespaces here ({why}); the nodes run on loopback");
            (None, vec![None; sfu_count], "127.0.0.1".into())
        }
    }
}

impl Cluster {
    /// The cluster with `sfu_count` SFU nodes, each one's config given `sfu_extra`.
    pub async fn start(sfu_count: usize, sfu_extra: &'static str) -> Cluster {
        Cluster::start_with(sfu_count, sfu_extra, "").await
    }

    /// The same, the API node's config given `api_extra` too.
    pub async fn start_with(
        sfu_count: usize,
        sfu_extra: &'static str,
        api_extra: &'static str,
    ) -> Cluster {
        let (network, spaces, host) = network(sfu_count);
        let redis = Redis::start_on(&host);
        let data = tempfile::tempdir().unwrap();
        let bus = format!("redis_url = \"{}\"", redis.url());
        let dir = data.path().to_owned();
        let (api, sfus) = tokio::task::spawn_blocking(move || {
            let port = onair_testkit::free_port();
            // On all addresses: a client signalling through it (`signal_proxy`)
            // sends its media from the address it reaches the API at, so that
            // must be the bridge's, not loopback.
            let api_extra =
                (api_extra.replace("{port}", &port.to_string())).replace("{host}", &host);
            let extra = format!("{bus}\n{api_extra}");
            let config = config_at(&dir, "api", ("0.0.0.0", port), &extra);
            let api = super::serve_roles(&config, port, Some("api"), None);
            let sfus = spaces
                .iter()
                .enumerate()
                .map(|(i, space)| {
                    let ip = space.as_ref().map_or("127.0.0.1", |s| s.ip.as_str());
                    let port = onair_testkit::free_port();
                    let url = format!("ws://{ip}:{port}");
                    let extra = format!("signal_url = \"{url}\"\n{bus}\n{sfu_extra}");
                    let config = config_at(&dir, &format!("sfu{i}"), (ip, port), &extra);
                    let node = super::serve_in(space.as_ref(), &config, port, Some("sfu"), None);
                    (url, Some(node))
                })
                .collect();
            (api, sfus)
        })
        .await
        .unwrap();
        let cluster = Cluster {
            redis,
            data,
            api,
            sfus,
            _network: network,
        };
        // Both nodes announced: a new call goes to one of them.
        cluster
            .placed_within("default:warmup", Duration::from_secs(10), |_| true)
            .await;
        cluster
    }

    /// Where the API sends `user` joining `cid`: (signal URL, token).
    pub async fn join(&self, user: &str, cid: &str) -> api::Credentials {
        let token = super::tokens::user(&ApiKey::new(KEY, SECRET), user);
        api::join(&self.api.url, &token, cid, true).await.unwrap()
    }

    /// How many are in call `cid` now, as the API counts them.
    pub async fn participants(&self, cid: &str) -> u64 {
        let server = super::tokens::server(&ApiKey::new(KEY, SECRET));
        let path = format!("/calls/{}", cid.replace(':', "/"));
        let (status, body) = request(&self.api.url, &server, Method::GET, &path, Value::Null).await;
        assert_eq!(status, 200, "{body}");
        body["call"]["session"]["participants_count"]
            .as_u64()
            .unwrap_or(0)
    }

    /// The SFU registry, as the API reads it off the bus.
    pub async fn registry(&self) -> Vec<onair_bus::SfuNode> {
        use onair_bus::Bus;
        let key = onair_bus::BusKey::derive(SECRET);
        let bus = onair_bus::RedisBus::connect(&self.redis.url(), key).await;
        bus.unwrap().sfu_nodes().await.unwrap()
    }

    /// An egress node on loopback that joins calls at SFU node `sfu` unless
    /// the registry says another hosts the call.
    pub fn egress(&self, sfu: usize) -> super::Onair {
        let port = onair_testkit::free_port();
        let extra = format!(
            "signal_url = \"{}\"\napi_url = \"{}\"\nredis_url = \"{}\"",
            self.sfus[sfu].0,
            self.api.url,
            self.redis.url()
        );
        let config = config(self.data.path(), "egress", port, &extra);
        super::serve_roles(&config, port, Some("egress"), None)
    }

    /// Which SFU node (index) a URL is.
    pub fn node(&self, url: &str) -> usize {
        self.sfus
            .iter()
            .position(|(u, _)| u == url)
            .unwrap_or_else(|| panic!("{url} is no SFU node of the cluster"))
    }

    /// The SFU node's own URL for a URL a join handed out: itself, or,
    /// through an API node's `signal_proxy` (`…/sfu/{node}`), the URL that
    /// node announces.
    pub async fn own_url(&self, url: &str) -> String {
        let Some((_, id)) = url.split_once("/sfu/") else {
            return url.to_owned();
        };
        let registry = self.registry().await;
        let node = registry.into_iter().find(|n| n.id == id);
        node.map_or_else(|| url.to_owned(), |n| n.url)
    }

    /// Joins `cid` until the API places the participant by `ok`; the node.
    pub async fn placed_within(
        &self,
        cid: &str,
        within: Duration,
        ok: impl Fn(usize) -> bool,
    ) -> usize {
        let deadline = Instant::now() + within;
        loop {
            let url = self.own_url(&self.join("probe", cid).await.url).await;
            if let Some(node) = self.sfus.iter().position(|(u, _)| *u == url) {
                if ok(node) {
                    return node;
                }
            }
            assert!(Instant::now() < deadline, "{cid} still placed on {url}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Waits up to 10 s until `ready` holds; `not_yet` says what did not happen.
pub async fn within_10s(ready: impl Fn() -> bool, not_yet: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready() {
        assert!(Instant::now() < deadline, "{}", not_yet());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
