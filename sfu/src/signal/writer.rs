//! The task that writes a client's [`Outbox`](crate::outbox::Outbox) to its
//! current WebSocket, and the one-off writes made before a session owns a
//! socket. A participant outlives its socket: on a resume the writer is
//! handed the new one and goes on where it stopped.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures::stream::SplitSink;
use futures::SinkExt;
use livekit_protocol as lk;
use lk::signal_response::Message as Out;
use prost::Message as _;
use tokio::sync::mpsc;

use crate::outbox::OutboxReader;

/// A write to the client that takes longer means its connection is dead.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// The write half of a client's WebSocket.
pub type Sink = SplitSink<WebSocket, Message>;

/// Writes everything for the client, in order, to its current socket. A
/// socket that fails is dropped; messages wait for the resumed one.
pub async fn writer(mut out: OutboxReader, mut sinks: mpsc::UnboundedReceiver<Sink>) {
    let mut sink: Option<Sink> = None;
    // Once the session is gone no socket will come again, but what it
    // queued (a leave, say) still goes out on the current one.
    let mut resumable = true;
    loop {
        tokio::select! {
            biased;
            new = sinks.recv(), if resumable => match new {
                Some(new) => {
                    sink = Some(new);
                    out.set_connected(true);
                }
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
                        out.set_connected(false);
                        continue;
                    }
                }
                if leaving {
                    let _ = s.close().await;
                    return;
                }
            }
            // No socket, and none will come: the session is over.
            else => return,
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
