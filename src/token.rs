//! `onair token`: mint server and user tokens from the command line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use onair_auth::token::mint;
use onair_auth::{ApiKey, ServerClaims, UserClaims};

use crate::config::{dev_key, Config};

/// `onair token` options.
#[derive(Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    kind: Kind,
    /// Sign with the first key of this config file.
    #[arg(long, global = true, env = "ONAIR_CONFIG")]
    config: Option<PathBuf>,
    /// Sign with the dev key of this data dir (what `onair dev` uses).
    #[arg(
        long,
        global = true,
        env = "ONAIR_DATA_DIR",
        default_value = "onair-data"
    )]
    data_dir: PathBuf,
    /// Validity, e.g. `1h`, `30m`, `7d`.
    #[arg(long, global = true, default_value = "1h", value_parser = humantime::parse_duration)]
    ttl: Duration,
}

#[derive(Subcommand)]
enum Kind {
    /// A server token: full access to /v1.
    Server,
    /// A user token.
    User {
        /// The user id (`sub`).
        #[arg(long)]
        user: String,
        /// Global role (default: the stored user's, else `user`).
        #[arg(long)]
        role: Option<String>,
        /// Limit the token to this call (`type:id`); repeatable.
        #[arg(long = "call")]
        calls: Vec<String>,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
    },
}

/// Prints the token on stdout.
pub fn run(args: TokenArgs) -> anyhow::Result<()> {
    let key = signing_key(args.config.as_deref(), &args.data_dir)?;
    let now = onair_auth::clock::unix_secs();
    let exp = now + args.ttl.as_secs();
    let token = match args.kind {
        Kind::Server => mint(
            &key,
            &ServerClaims {
                iss: key.key.clone(),
                exp,
                iat: Some(now),
                server: true,
            },
        ),
        Kind::User {
            user,
            role,
            calls,
            name,
        } => {
            for cid in &calls {
                if !cid.contains(':') {
                    bail!("--call takes a call cid `type:id`, got `{cid}`");
                }
            }
            let claims = UserClaims {
                iss: key.key.clone(),
                sub: user,
                exp,
                iat: Some(now),
                name,
                image: None,
                role,
                call_cids: (!calls.is_empty()).then_some(calls),
            };
            mint(&key, &claims)
        }
    };
    println!("{token}");
    Ok(())
}

/// The first key of the config file `config`, else
/// `ONAIR_API_KEY`/`ONAIR_API_SECRET`, else the dev key of `data_dir`.
pub fn signing_key(config: Option<&Path>, data_dir: &Path) -> anyhow::Result<ApiKey> {
    let loaded = Config::load(config)?;
    if let Some(k) = loaded.api_keys.first() {
        return Ok(ApiKey::new(&k.key, &k.secret));
    }
    if config.is_some() {
        bail!("the config file has no [[api_keys]]");
    }
    dev_key(data_dir).context("no API key configured; reading or creating the dev key")
}
