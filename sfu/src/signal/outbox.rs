//! The queue of signal messages toward one client, and the task that
//! writes it to the client's current WebSocket.
//!
//! The queue is bounded: a client that stops reading its socket while the
//! room keeps talking to it would otherwise grow it without end. When it is
//! full the client is disconnected (its session ends, its memory is freed)
//! rather than slowing the room down or dropping messages silently.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures::stream::SplitSink;
use futures::SinkExt;
use livekit_protocol as lk;
use lk::signal_response::Message as Out;
use prost::Message as _;
use tokio::sync::{mpsc, Notify};

/// A write to the client that takes longer means its connection is dead.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where signal messages for one client go. Cloned by its session and its room.
#[derive(Clone, Debug)]
pub struct Outbox {
    tx: mpsc::Sender<Out>,
    overflow: Arc<Notify>,
}

impl Outbox {
    /// A queue of `capacity` messages, and its receiving end.
    pub fn new(capacity: usize) -> (Self, mpsc::Receiver<Out>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let outbox = Self {
            tx,
            overflow: Arc::new(Notify::new()),
        };
        (outbox, rx)
    }

    /// Queues `msg`. A full queue means the client does not read: its
    /// session is told to disconnect it.
    pub fn send(&self, msg: Out) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(msg) {
            self.overflow.notify_one();
        }
    }

    /// Resolves once a message found the queue full.
    pub async fn overflowed(&self) {
        self.overflow.notified().await
    }
}

/// The write half of a client's WebSocket.
pub type Sink = SplitSink<WebSocket, Message>;

/// Writes everything for the client, in order, to its current socket. A
/// socket that fails is dropped; messages wait for the resumed one.
pub async fn writer(mut out: mpsc::Receiver<Out>, mut sinks: mpsc::UnboundedReceiver<Sink>) {
    let mut sink: Option<Sink> = None;
    // Once the session is gone no socket will come again, but what it
    // queued (a leave, say) still goes out on the current one.
    let mut resumable = true;
    loop {
        tokio::select! {
            biased;
            new = sinks.recv(), if resumable => match new {
                Some(new) => sink = Some(new),
                None if sink.is_some() => resumable = false,
                None => return,
            },
            msg = out.recv(), if sink.is_some() => {
                let (Some(msg), Some(s)) = (msg, sink.as_mut()) else {
                    return;
                };
                let leaving = matches!(msg, Out::Leave(_));
                match tokio::time::timeout(WRITE_TIMEOUT, s.send(encode(msg))).await {
                    Ok(Ok(())) => {}
                    _ => {
                        sink = None;
                        continue;
                    }
                }
                if leaving {
                    let _ = s.close().await;
                    return;
                }
            }
        }
    }
}

/// Writes one message straight to a socket (before a session owns it).
pub async fn send_now(socket: &mut Sink, msg: Out) -> bool {
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, socket.send(encode(msg))).await,
        Ok(Ok(()))
    )
}

/// A signal message as a WebSocket frame.
pub fn encode(msg: Out) -> Message {
    let response = lk::SignalResponse { message: Some(msg) };
    Message::Binary(response.encode_to_vec().into())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(rx.try_recv().is_err());
    }
}
