//! Jobs: work that exactly one node must do, handed out at least once.
//!
//! An event tells every node what happened, now; a node that is not
//! listening misses nothing it had to do. A job (an egress recording) is
//! different: it must reach one worker even if none is connected when it
//! is offered, and it must move to another worker if its taker dies. So a
//! taker holds a [`Lease`] on the job, renews it while it works and lets
//! go when it is done; a job whose lease lapsed goes to the next worker
//! that asks, and its `attempt` tells that worker it continues someone
//! else's work. Handlers are idempotent by the job's own id.

use std::time::Duration;

use crate::Event;

/// The queue of egress jobs (recordings, HLS, RTMP pushes).
pub const EGRESS: &str = "egress";

/// A job taken this many times without being finished is dropped (logged):
/// a job that kills every worker that takes it must not go round forever.
pub const MAX_ATTEMPTS: u32 = 5;

/// How old a job may be and still be taken: jobs wait in their queue while
/// no worker is up, and are taken over hours into a recording.
pub const JOB_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// A job one worker holds until it finishes it or stops renewing.
#[derive(Clone, Debug, PartialEq)]
pub struct Lease {
    /// The queue it came from.
    pub queue: String,
    /// Its place in the queue (the transport's entry id).
    pub entry: String,
    /// The worker holding it.
    pub worker: String,
    /// How long it stays held without a renewal.
    pub ttl: Duration,
    /// 1 for a job never taken before; more when taken over.
    pub attempt: u32,
    /// The job.
    pub job: Event,
}
