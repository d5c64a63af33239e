//! What a node needs of its config before it opens anything, and
//! `onair serve --check-config`, which checks a config (a deploy file, say)
//! without starting.

use std::path::Path;

use anyhow::bail;
use onair_auth::KeySet;

use crate::config::Config;
use crate::Role;

/// API secrets shorter than this are refused by `onair serve`.
const MIN_SECRET_LEN: usize = 32;

/// `serve --check-config`: reads the config as `serve` would, checks what
/// needs no network, and prints what it sets up (never a secret).
pub fn check_config(file: Option<&Path>, roles: &[Role]) -> anyhow::Result<()> {
    let config = Config::load(file)?;
    let keys = config.key_set();
    check(&config, &keys, roles)?;
    let has = |role| roles.is_empty() || roles.contains(&role);
    let names: Vec<&str> = [
        (Role::Api, "api"),
        (Role::Sfu, "sfu"),
        (Role::Egress, "egress"),
        (Role::Ingest, "ingest"),
    ]
    .into_iter()
    .filter(|(role, _)| has(*role))
    .map(|(_, name)| name)
    .collect();
    let store = match config.database_url() {
        url if url.starts_with("postgres") => "postgres",
        _ => "sqlite",
    };
    let bus = if config.redis_url.is_some() {
        "redis"
    } else {
        "in process"
    };
    println!(
        "config OK: roles {}; listen {}; store {store}; bus {bus}; {} API key(s); {} webhook(s); recordings to {}",
        names.join(","),
        config.listen,
        config.api_keys.len(),
        config.webhooks.len(),
        if config.s3.is_some() { "S3" } else { "the data dir" },
    );
    Ok(())
}

/// What a node with `roles` needs of its config before it opens anything.
pub fn check(config: &Config, keys: &KeySet, roles: &[Role]) -> anyhow::Result<()> {
    check_keys(config, keys)?;
    let has = |role| roles.is_empty() || roles.contains(&role);
    let split = !(has(Role::Api) && has(Role::Sfu) && has(Role::Egress));
    if split && config.redis_url.is_none() {
        bail!("running only some roles needs a shared bus: set redis_url (ONAIR_REDIS_URL)");
    }
    if has(Role::Egress) && !has(Role::Sfu) && config.signal_url.is_none() {
        bail!("an egress node joins calls through the SFU: set signal_url (ONAIR_SIGNAL_URL)");
    }
    if config.signal_proxy && (!has(Role::Api) || has(Role::Sfu) || config.signal_url.is_none()) {
        bail!(
            "signal_proxy is for an API node without the SFU role, with signal_url its own address"
        );
    }
    if has(Role::Ingest) && !has(Role::Api) && config.api_url.is_none() {
        bail!("an ingest node checks stream keys with the API: set api_url (ONAIR_API_URL)");
    }
    if let Some(turn) = &config.turn {
        crate::turn::offer(turn, keys)?;
    }
    Ok(())
}

/// Refuses to serve without keys, or with a secret short enough to guess.
fn check_keys(config: &Config, keys: &KeySet) -> anyhow::Result<()> {
    if keys.is_empty() {
        bail!("no API keys configured: add [[api_keys]] to the config or set ONAIR_API_KEY and ONAIR_API_SECRET");
    }
    if let Some(short) = config
        .api_keys
        .iter()
        .find(|k| k.secret.len() < MIN_SECRET_LEN)
    {
        bail!(
            "the secret of API key `{}` is shorter than {MIN_SECRET_LEN} bytes: anyone could guess it; generate one with `openssl rand -hex 32`",
            short.key
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeyEntry;

    fn config(proxy: bool, signal_url: Option<&str>) -> Config {
        Config {
            signal_proxy: proxy,
            signal_url: signal_url.map(str::to_owned),
            redis_url: Some("redis://127.0.0.1:6379".into()),
            api_keys: vec![KeyEntry {
                key: "APIcheck".into(),
                secret: "s".repeat(MIN_SECRET_LEN),
            }],
            ..Config::default()
        }
    }

    #[test]
    fn signal_proxy_is_for_an_api_node_with_its_own_signal_url() {
        let keys = |c: &Config| c.key_set();
        let api = config(true, Some("wss://api.example.com"));
        assert!(check(&api, &keys(&api), &[Role::Api]).is_ok());
        let sfu = config(true, Some("wss://sfu.example.com"));
        assert!(
            check(&sfu, &keys(&sfu), &[Role::Sfu]).is_err(),
            "on an SFU node"
        );
        let all = config(true, Some("wss://all.example.com"));
        assert!(check(&all, &keys(&all), &[]).is_err(), "beside the SFU");
        let unset = config(true, None);
        assert!(
            check(&unset, &keys(&unset), &[Role::Api]).is_err(),
            "without signal_url"
        );
    }
}
