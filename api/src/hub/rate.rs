//! How often one user may send custom events and reactions into one call
//! (per node): a token bucket per (user, call), so a hostile client cannot
//! flood everyone's sockets, webhooks and data channels.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Sends per second one user keeps up in one call.
const PER_SECOND: f64 = 10.0;
/// Sends one user may make at once.
const BURST: f64 = 20.0;
/// Buckets kept before the oldest are forgotten.
const MAX_BUCKETS: usize = 10_000;

/// Token buckets by key.
#[derive(Default)]
pub struct SendRate {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl SendRate {
    /// Takes one send for `key`; `false` when it is over its rate.
    pub fn allow(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(key) {
            // Full buckets refill within seconds: forgetting them is safe.
            buckets.retain(|_, (tokens, at)| {
                *tokens + at.elapsed().as_secs_f64() * PER_SECOND < BURST
            });
        }
        let (tokens, at) = buckets.entry(key.to_owned()).or_insert((BURST, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * PER_SECOND).min(BURST);
        *at = now;
        if *tokens < 1.0 {
            return false;
        }
        *tokens -= 1.0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let rate = SendRate::default();
        let passed = (0..50).filter(|_| rate.allow("alice@default:a")).count();
        assert_eq!(passed, BURST as usize);
        assert!(
            rate.allow("bob@default:a"),
            "another user has their own bucket"
        );
    }
}
