//! RTMP push targets: where a push may connect, and how it reconnects.
//!
//! A target is a URL a user typed. Its host is resolved and checked before
//! every connection (a name may point elsewhere by the next one), and a
//! target that keeps failing is retried with growing pauses, then given up.

use std::time::{Duration, Instant};

use onair_auth::net::{is_public_target, rtmp_host_port};

/// First pause before reconnecting a dropped target; it doubles up to [`MAX_PAUSE`].
pub const FIRST_PAUSE: Duration = Duration::from_secs(2);
/// Longest pause between reconnections.
pub const MAX_PAUSE: Duration = Duration::from_secs(30);
/// A connection that stayed up this long resets the pauses.
const HEALTHY: Duration = Duration::from_secs(10);

/// Why a push target was refused.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// Its host name does not resolve.
    #[error("cannot resolve the RTMP target's host: {0}")]
    Resolve(#[from] std::io::Error),
    /// It resolves to loopback, private, link-local… addresses.
    #[error("the RTMP target resolves to a private address")]
    Private,
}

/// Refuses a target that resolves to an address OnAir does not push to
/// (loopback, private, link-local…), unless `allow_private`.
pub async fn check_target(url: &str, allow_private: bool) -> Result<(), TargetError> {
    if allow_private {
        return Ok(());
    }
    let (host, port) = rtmp_host_port(url);
    let addrs: Vec<_> = tokio::net::lookup_host((host.as_str(), port))
        .await?
        .collect();
    if addrs.is_empty() || addrs.iter().any(|a| !is_public_target(a.ip(), &[])) {
        return Err(TargetError::Private);
    }
    Ok(())
}

/// When to reconnect a target that dropped, and when to give up.
#[derive(Debug)]
pub struct Backoff {
    give_up_after: Duration,
    pause: Duration,
    /// When the target was first lost in the current run of failures.
    lost_since: Option<Instant>,
    connected_at: Instant,
}

impl Backoff {
    /// A target connected at `now`, given up after `give_up_after` of failures.
    pub fn new(give_up_after: Duration, now: Instant) -> Self {
        Self {
            give_up_after,
            pause: FIRST_PAUSE,
            lost_since: None,
            connected_at: now,
        }
    }

    /// The target works at `now`: once it has held long enough, the next
    /// failure starts from the first pause again.
    pub fn healthy(&mut self, now: Instant) {
        if now.saturating_duration_since(self.connected_at) >= HEALTHY {
            self.lost_since = None;
            self.pause = FIRST_PAUSE;
        }
    }

    /// The target failed at `now`: the pause before the next try, or
    /// `None` when it has failed for too long.
    pub fn failed(&mut self, now: Instant) -> Option<Duration> {
        let since = *self.lost_since.get_or_insert(now);
        if now.saturating_duration_since(since) >= self.give_up_after {
            return None;
        }
        let pause = self.pause;
        self.pause = (self.pause * 2).min(MAX_PAUSE);
        Some(pause)
    }

    /// A new connection was made at `now`.
    pub fn reconnected(&mut self, now: Instant) {
        self.connected_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_then_the_target_is_given_up() {
        let t0 = Instant::now();
        let mut b = Backoff::new(Duration::from_secs(60), t0);
        let mut t = t0;
        let mut pauses = Vec::new();
        while let Some(p) = b.failed(t) {
            pauses.push(p.as_secs());
            t += p;
            b.reconnected(t);
            b.healthy(t + Duration::from_secs(1)); // not long enough to count
        }
        assert_eq!(pauses, [2, 4, 8, 16, 30]);
        assert!(t.duration_since(t0) >= Duration::from_secs(60));
    }

    #[test]
    fn a_target_that_held_starts_over() {
        let t0 = Instant::now();
        let mut b = Backoff::new(Duration::from_secs(60), t0);
        assert_eq!(b.failed(t0), Some(FIRST_PAUSE));
        assert_eq!(b.failed(t0), Some(FIRST_PAUSE * 2));
        b.reconnected(t0);
        b.healthy(t0 + HEALTHY);
        // Even long after the first loss: the run of failures was broken.
        assert_eq!(b.failed(t0 + Duration::from_secs(120)), Some(FIRST_PAUSE));
    }

    #[tokio::test]
    async fn private_targets_are_refused_unless_allowed() {
        assert!(check_target("rtmp://127.0.0.1:19352/live/k", false)
            .await
            .is_err());
        assert!(check_target("rtmp://[::1]/live/k", false).await.is_err());
        assert!(check_target("rtmp://localhost/live/k", false)
            .await
            .is_err());
        assert!(check_target("rtmp://127.0.0.1:19352/live/k", true)
            .await
            .is_ok());
    }
}
