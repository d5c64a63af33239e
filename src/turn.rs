//! The embedded TURN server (`[turn]`): for clients whose network lets no
//! UDP reach the SFU (corporate firewalls, some carrier NATs). It runs on
//! nodes with the SFU and relays only to the SFU's media addresses; every
//! join carries credentials for it (`onair_api::TurnOffer`), signed with a
//! secret derived from the API secret, so any node of a cluster can issue
//! them.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;

use anyhow::{bail, Context};
use onair_api::TurnOffer;
use onair_auth::KeySet;
use onair_turn::{TurnConfig, TurnServer, TurnTls};
use serde::{Deserialize, Serialize};
use sha2::Digest;

/// `[turn]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TurnSection {
    /// TURN over UDP.
    pub udp_listen: SocketAddr,
    /// TURN over TLS (`turns:`), with the `[tls]` certificate.
    pub tls_listen: Option<SocketAddr>,
    /// The name or address clients reach the server at (in the URLs).
    pub public_host: String,
    /// The address relayed media comes from, as clients see it; default:
    /// `public_host` when it is an address.
    pub public_ip: Option<IpAddr>,
    /// Where relay sockets bind.
    pub relay_ip: IpAddr,
    /// Their ports, `"50000-60000"`.
    pub relay_ports: String,
    /// Allocations one participant may hold at once.
    pub max_allocations_per_user: usize,
}

impl Default for TurnSection {
    fn default() -> Self {
        TurnSection {
            udp_listen: ([0, 0, 0, 0], 3478).into(),
            tls_listen: None,
            public_host: String::new(),
            public_ip: None,
            relay_ip: [0, 0, 0, 0].into(),
            relay_ports: "50000-60000".into(),
            max_allocations_per_user: 10,
        }
    }
}

/// The secret TURN credentials are signed with: derived from the primary
/// API secret, which every node of a cluster shares.
fn secret(keys: &KeySet) -> anyhow::Result<Vec<u8>> {
    let key = keys.primary().context("no API key")?;
    Ok(sha2::Sha256::digest(format!("onair-turn:{}", key.secret)).to_vec())
}

/// What the API hands out with each join for `section`.
pub fn offer(section: &TurnSection, keys: &KeySet) -> anyhow::Result<TurnOffer> {
    if section.public_host.is_empty() {
        bail!("[turn] needs public_host: the name or address clients reach it at");
    }
    let host = &section.public_host;
    let mut urls = vec![format!(
        "turn:{host}:{}?transport=udp",
        section.udp_listen.port()
    )];
    if let Some(tls) = section.tls_listen {
        urls.push(format!("turns:{host}:{}?transport=tcp", tls.port()));
    }
    Ok(TurnOffer {
        urls,
        secret: secret(keys)?,
    })
}

/// Starts the server of `section`, relaying to the SFU's `media` addresses.
pub fn start(
    section: &TurnSection,
    keys: &KeySet,
    media: Vec<SocketAddr>,
    tls: Option<&crate::tls::Tls>,
) -> anyhow::Result<TurnServer> {
    let public_ip = match (section.public_ip, section.public_host.parse::<IpAddr>()) {
        (Some(ip), _) | (None, Ok(ip)) => ip,
        (None, Err(_)) => bail!("[turn] public_host is a name: set public_ip too"),
    };
    let tls = match (section.tls_listen, tls) {
        (Some(listen), Some(tls)) => Some(TurnTls {
            listen,
            config: tls.server_config(&[])?,
        }),
        (Some(_), None) => bail!("[turn] tls_listen needs the [tls] certificate"),
        (None, _) => None,
    };
    let config = TurnConfig {
        udp_listen: section.udp_listen,
        tls,
        public_ip,
        relay_ip: section.relay_ip,
        relay_ports: ports(&section.relay_ports)?,
        realm: "onair".into(),
        secret: secret(keys)?,
        allow_peers: media,
        max_allocations_per_user: section.max_allocations_per_user,
    };
    let server = TurnServer::start(config).context("starting TURN")?;
    tracing::info!(udp = %server.udp_addr(), tls = ?server.tls_addr(), "TURN listening");
    Ok(server)
}

/// `"50000-60000"` as a range.
fn ports(range: &str) -> anyhow::Result<RangeInclusive<u16>> {
    let parsed = range
        .split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
    match parsed {
        Some((low, high)) if low > 0 && low <= high => Ok(low..=high),
        _ => bail!("[turn] relay_ports must be \"LOW-HIGH\", not {range:?}"),
    }
}
