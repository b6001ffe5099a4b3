//! What can go wrong on a WebSocket.

use http::StatusCode;
use tokio_tungstenite::tungstenite;

/// An error of a [`WebSocket`](super::WebSocket), or of the in-process handshake
/// ([`connect_in_process`](super::connect_in_process)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebSocketError {
    /// The connection is closed: the close handshake is over, or the peer went away.
    #[error("the WebSocket connection is closed")]
    Closed,
    /// The peer broke the protocol, or the connection failed (the message says how).
    #[error("the WebSocket connection failed: {0}")]
    Protocol(#[source] tungstenite::Error),
    /// The in-process handshake was answered with something else than `101`.
    #[error("the WebSocket handshake was refused with {status}: {body}")]
    Refused {
        /// The status of the answer.
        status: StatusCode,
        /// Its body, as text.
        body: String,
    },
}

impl From<tungstenite::Error> for WebSocketError {
    fn from(error: tungstenite::Error) -> Self {
        match error {
            tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
                Self::Closed
            }
            error => Self::Protocol(error),
        }
    }
}
