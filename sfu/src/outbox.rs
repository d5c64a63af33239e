//! The queue of signal messages toward one client: its room and its
//! session put messages in ([`Outbox`]), the socket writer of
//! [`crate::signal`] takes them out ([`OutboxReader`]).
//!
//! It sits below both the rooms and the signal sessions so neither has to
//! reach into the other for it. The queue is bounded: a client that stops
//! reading its socket while the room keeps talking to it would otherwise
//! grow it without end. When it is full the client is disconnected (its
//! session ends, its memory is freed) rather than slowing the room down or
//! dropping messages silently.
//!
//! Participant updates coalesce: a queued update about a participant is
//! replaced by a newer one about the same participant with the same
//! tracks (each carries the whole participant), so a burst of mutes or
//! metadata changes costs one update, not one per change. Updates that
//! add or remove tracks, or say the participant left, are never merged
//! away: clients learn from them which tracks came and went.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use livekit_protocol as lk;
use lk::signal_response::Message as Out;
use tokio::sync::Notify;

/// What the senders and the writer of one client's queue share.
#[derive(Debug)]
struct Queue {
    items: Mutex<VecDeque<Out>>,
    capacity: usize,
    /// Something was queued, or the last sender left.
    ready: Notify,
    /// A message found the queue full.
    overflow: Notify,
    senders: AtomicUsize,
    /// The client has a socket. Without one (between a lost connection and
    /// its resume) a full queue drops what comes: the resume sends the room
    /// again, and a client is not sent away for the room's chatter meanwhile.
    connected: AtomicBool,
}

impl Queue {
    fn items(&self) -> std::sync::MutexGuard<'_, VecDeque<Out>> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Where signal messages for one client go. Cloned by its session and its room.
#[derive(Debug)]
pub struct Outbox {
    queue: Arc<Queue>,
}

/// The receiving end of an [`Outbox`], read by the client's socket writer.
#[derive(Debug)]
pub struct OutboxReader {
    queue: Arc<Queue>,
}

impl Clone for Outbox {
    fn clone(&self) -> Self {
        self.queue.senders.fetch_add(1, Ordering::AcqRel);
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        if self.queue.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.queue.ready.notify_one();
        }
    }
}

/// The one participant a participant update is about, if it is about one.
fn subject(msg: &Out) -> Option<&lk::ParticipantInfo> {
    match msg {
        Out::Update(u) if u.participants.len() == 1 => u.participants.first(),
        _ => None,
    }
}

/// Whether update `newer` may replace the queued `older`: the same
/// participant, still there, with the same tracks.
fn supersedes(newer: &lk::ParticipantInfo, older: &lk::ParticipantInfo) -> bool {
    let gone = newer.state == lk::participant_info::State::Disconnected as i32;
    let track_sids =
        |p: &lk::ParticipantInfo| p.tracks.iter().map(|t| t.sid.clone()).collect::<Vec<_>>();
    newer.sid == older.sid && !gone && track_sids(newer) == track_sids(older)
}

impl Outbox {
    /// A queue of `capacity` messages, and its receiving end.
    pub fn new(capacity: usize) -> (Self, OutboxReader) {
        let queue = Arc::new(Queue {
            items: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            ready: Notify::new(),
            overflow: Notify::new(),
            senders: AtomicUsize::new(1),
            connected: AtomicBool::new(true),
        });
        let reader = OutboxReader {
            queue: queue.clone(),
        };
        (Self { queue }, reader)
    }

    /// Queues `msg`, or replaces a queued update about the same participant
    /// with it. A full queue means the client does not read: its session is
    /// told to disconnect it.
    pub fn send(&self, msg: Out) {
        let mut items = self.queue.items();
        if let Some(newer) = subject(&msg) {
            let older = items
                .iter_mut()
                .rev()
                .find(|m| subject(m).is_some_and(|o| o.sid == newer.sid));
            if let Some(queued) = older.filter(|q| subject(q).is_some_and(|o| supersedes(newer, o)))
            {
                *queued = msg;
                return;
            }
        }
        if items.len() >= self.queue.capacity {
            drop(items);
            if self.queue.connected.load(Ordering::Acquire) {
                self.queue.overflow.notify_one();
            }
            return;
        }
        items.push_back(msg);
        drop(items);
        self.queue.ready.notify_one();
    }

    /// Resolves once a message found the queue full.
    pub async fn overflowed(&self) {
        self.queue.overflow.notified().await
    }
}

impl OutboxReader {
    /// The next message; `None` once every sender is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<Out> {
        loop {
            if let Some(msg) = self.queue.items().pop_front() {
                return Some(msg);
            }
            if self.queue.senders.load(Ordering::Acquire) == 0 {
                return None;
            }
            // A permit left by a send since the check wakes this at once.
            self.queue.ready.notified().await;
        }
    }

    /// Whether the client has a socket now: without one a full queue drops
    /// what comes instead of disconnecting the client.
    pub fn set_connected(&self, connected: bool) {
        self.queue.connected.store(connected, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn update(sid: &str, version: u32) -> Out {
        with_tracks(sid, version, &["TR_1"])
    }

    fn with_tracks(sid: &str, version: u32, tracks: &[&str]) -> Out {
        Out::Update(lk::ParticipantUpdate {
            participants: vec![lk::ParticipantInfo {
                sid: sid.into(),
                version,
                tracks: tracks
                    .iter()
                    .map(|t| lk::TrackInfo {
                        sid: (*t).into(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
        })
    }

    #[tokio::test]
    async fn a_full_queue_tells_the_session() {
        let (outbox, mut rx) = Outbox::new(2);
        outbox.send(Out::Pong(1));
        outbox.send(Out::Pong(2));
        let overflowed = tokio::time::timeout(Duration::from_millis(50), outbox.overflowed());
        assert!(overflowed.await.is_err(), "not full yet");
        outbox.send(Out::Pong(3));
        let overflowed = tokio::time::timeout(Duration::from_millis(50), outbox.overflowed());
        assert!(overflowed.await.is_ok(), "full");
        // What was queued before stays, in order; the overflowing one is gone.
        assert_eq!(rx.recv().await, Some(Out::Pong(1)));
        assert_eq!(rx.recv().await, Some(Out::Pong(2)));
        drop(outbox);
        assert_eq!(rx.recv().await, None, "no sender left");
    }

    #[tokio::test]
    async fn updates_about_one_participant_coalesce() {
        let (outbox, mut rx) = Outbox::new(4);
        outbox.send(update("PA_a", 1));
        outbox.send(Out::Pong(7));
        // A burst of changes to one participant: one update, the newest,
        // where the first stood; the queue never fills.
        for v in 2..=1000 {
            outbox.send(update("PA_a", v));
        }
        outbox.send(update("PA_b", 1));
        let overflowed = tokio::time::timeout(Duration::from_millis(20), outbox.overflowed());
        assert!(overflowed.await.is_err(), "coalesced updates overflowed");
        assert_eq!(rx.recv().await, Some(update("PA_a", 1000)));
        assert_eq!(rx.recv().await, Some(Out::Pong(7)));
        assert_eq!(rx.recv().await, Some(update("PA_b", 1)));
        // Once sent, the next change is queued again.
        outbox.send(update("PA_a", 1001));
        assert_eq!(rx.recv().await, Some(update("PA_a", 1001)));
    }

    #[tokio::test]
    async fn track_changes_and_departures_are_never_merged_away() {
        let (outbox, mut rx) = Outbox::new(8);
        outbox.send(with_tracks("PA_a", 1, &[]));
        outbox.send(with_tracks("PA_a", 2, &["TR_cam"]));
        outbox.send(with_tracks("PA_a", 3, &["TR_cam"]));
        let mut gone = lk::ParticipantInfo {
            sid: "PA_a".into(),
            version: 4,
            state: lk::participant_info::State::Disconnected as i32,
            ..Default::default()
        };
        gone.tracks.push(lk::TrackInfo {
            sid: "TR_cam".into(),
            ..Default::default()
        });
        outbox.send(Out::Update(lk::ParticipantUpdate {
            participants: vec![gone.clone()],
        }));
        assert_eq!(rx.recv().await, Some(with_tracks("PA_a", 1, &[])));
        // The camera arrived (versions 2 and 3 merged), then she left.
        assert_eq!(rx.recv().await, Some(with_tracks("PA_a", 3, &["TR_cam"])));
        assert_eq!(
            rx.recv().await,
            Some(Out::Update(lk::ParticipantUpdate {
                participants: vec![gone],
            }))
        );
    }

    #[tokio::test]
    async fn the_writer_hears_of_the_last_sender_leaving() {
        let (outbox, mut rx) = Outbox::new(4);
        let other = outbox.clone();
        let waiting = tokio::spawn(async move { rx.recv().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(outbox);
        drop(other);
        let got = tokio::time::timeout(Duration::from_secs(1), waiting).await;
        assert_eq!(got.unwrap().unwrap(), None);
    }
}
