//! The socket a WebSocket task holds.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;

use super::{CloseFrame, Message, WebSocketError};
use crate::long_lived::LongLived;

/// The upgraded connection, whatever it is: hyper's, or an in-memory pipe in-process.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

pub(crate) type Stream = WebSocketStream<Box<dyn Io>>;

/// Where a dropped socket's stream goes back to its task's runner, which closes it.
pub(crate) type Back = Arc<Mutex<Option<Stream>>>;

/// A WebSocket connection: receive and send [`Message`]s.
///
/// The server side is handed to the task given to
/// [`WebSocketUpgrade::on_upgrade`](super::WebSocketUpgrade::on_upgrade); a client side is
/// made in-process by [`connect_in_process`](super::connect_in_process). Ping frames are
/// answered with pongs by the protocol itself.
///
/// When the task ends (or is dropped at shutdown) with the socket still open, roadie closes
/// it: Close `1000` when the task ended, `1001` ("going away") when the app stopped it.
pub struct WebSocket {
    stream: Option<Stream>,
    back: Option<Back>,
    long_lived: Option<Arc<LongLived>>,
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("shutdown_requested", &self.is_shutdown_requested())
            .finish_non_exhaustive()
    }
}

impl WebSocket {
    pub(crate) fn new(
        stream: Stream,
        back: Option<Back>,
        long_lived: Option<Arc<LongLived>>,
    ) -> Self {
        Self {
            stream: Some(stream),
            back,
            long_lived,
        }
    }

    fn stream(&mut self) -> &mut Stream {
        match self.stream.as_mut() {
            Some(stream) => stream,
            None => unreachable!("a socket holds its stream until it is dropped"),
        }
    }

    /// The next message; `None` once the connection is closed. A Close frame from the peer
    /// comes as [`Message::Close`] (the protocol answers it), then `None`.
    pub async fn recv(&mut self) -> Option<Result<Message, WebSocketError>> {
        match self.stream().next().await {
            None => None,
            Some(Ok(message)) => Some(Ok(message)),
            Some(Err(error)) => match WebSocketError::from(error) {
                WebSocketError::Closed => None,
                error => Some(Err(error)),
            },
        }
    }

    /// Sends a message (and flushes it).
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), WebSocketError> {
        self.stream()
            .send(message.into())
            .await
            .map_err(WebSocketError::from)
    }

    /// Starts the close handshake with `frame` (a code and a reason; `None` for no code).
    /// Keep calling [`WebSocket::recv`] until it returns `None` to see the peer's answer.
    pub async fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), WebSocketError> {
        self.stream()
            .close(frame)
            .await
            .map_err(WebSocketError::from)
    }

    /// Resolves once the app begins to stop: the task should say goodbye and end. If it has
    /// not ended when the grace period is over, roadie closes the socket with `1001` and drops
    /// the task. Never resolves for a client socket.
    pub fn shutdown_requested(&self) -> impl Future<Output = ()> + Send + 'static {
        let ending = self
            .long_lived
            .as_ref()
            .map(|long_lived| long_lived.ending());
        async move {
            match ending {
                Some(ending) => ending.await,
                None => std::future::pending().await,
            }
        }
    }

    /// Whether the app has begun to stop.
    pub fn is_shutdown_requested(&self) -> bool {
        self.long_lived
            .as_ref()
            .is_some_and(|long_lived| long_lived.is_ending())
    }
}

impl Drop for WebSocket {
    /// Hands the stream back to the task's runner, which closes it properly.
    fn drop(&mut self) {
        if let (Some(stream), Some(back)) = (self.stream.take(), self.back.take()) {
            let mut back = crate::names::lock(&back);
            *back = Some(stream);
        }
    }
}
