//! The SFU role: the SFU started with its door on the store, announced in
//! the registry the API places participants with, and its relay, which
//! carries the publishers of the other nodes that host its calls.

use std::sync::Arc;

use anyhow::Context;
use onair_api::store::Store;
use onair_auth::KeySet;
use onair_bus::Bus;
use onair_sfu::{MediaConfig, Sfu, SfuConfig};

use crate::config::Config;

/// Starts the SFU, its door asking `store`.
pub fn start(
    config: &Config,
    keys: &Arc<KeySet>,
    bus: &Arc<dyn Bus>,
    store: Arc<dyn Store>,
) -> anyhow::Result<Sfu> {
    let sfu = SfuConfig {
        media: MediaConfig {
            udp_bind: config.rtc_udp,
            candidates: config.rtc_candidates.clone(),
            workers: config.rtc_workers,
        },
        participant_timeout: config.rtc_participant_timeout,
        join_token_ttl: config.join_token_lifetime(),
        limits: config.limits.clone(),
    };
    let gate = Arc::new(crate::gate::StoreGate(store));
    Sfu::start(sfu, keys.clone(), bus.clone(), gate)
        .with_context(|| format!("binding the SFU media port {}", config.rtc_udp))
}

/// Puts the SFU in the registry the API places participants with (at
/// `signal`, its clients' URL), and starts its relay: a call this node
/// hosts with others gets their publishers here (joining at `here`, this
/// node's own address). Returns its id in the registry.
pub fn announce(
    config: &Config,
    sfu: &Sfu,
    bus: &Arc<dyn Bus>,
    keys: &KeySet,
    (signal, here): (&str, &str),
) -> anyhow::Result<String> {
    let identity = onair_sfu::registry::Identity {
        id: format!("sfu-{:016x}", rand::random::<u64>()),
        url: signal.to_owned(),
        region: config.region.clone(),
        capacity: config.sfu_capacity,
    };
    let key = keys
        .primary()
        .context("no API key to sign the relay's tokens")?;
    let relay = onair_relay::RelayConfig {
        key: key.clone(),
        node: identity.id.clone(),
        url: here.to_owned(),
    };
    let id = identity.id.clone();
    sfu.announce(bus.clone(), identity);
    onair_relay::start(relay, bus.clone()).context("cannot start the relay's thread")?;
    Ok(id)
}
