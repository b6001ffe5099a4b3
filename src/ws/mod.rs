//! WebSockets: the [`WebSocketUpgrade`] extractor checks the handshake, and
//! [`WebSocketUpgrade::on_upgrade`] answers `101 Switching Protocols` and runs the route's
//! task on the upgraded connection, with a [`WebSocket`] to receive and send [`Message`]s.
//!
//! The protocol is `tungstenite`'s (through `tokio-tungstenite`): [`Message`] and
//! [`CloseFrame`] are its own types, re-exported.
//!
//! Every socket task is counted by the running app. When the app stops, each task sees
//! [`WebSocket::shutdown_requested`] resolve; a socket still open when the grace period is
//! over is sent Close `1001` ("going away") by roadie and its task is dropped (aborted a
//! second later if it does not yield). The teardown runs once every task has ended, so
//! what a task holds (a `Res<T>`, a `Dep<T>`) is released first.
//!
//! ```
//! use roadie::prelude::*;
//! use roadie::ws::{Message, WebSocketUpgrade};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let app = App::new().get("/echo", |ws: WebSocketUpgrade| async move {
//!     ws.on_upgrade(|mut socket| async move {
//!         while let Some(Ok(message)) = socket.recv().await {
//!             if socket.send(message).await.is_err() {
//!                 break;
//!             }
//!         }
//!     })
//! });
//!
//! // In-process: the handshake goes through `execute`, the socket over an in-memory pipe.
//! let running = app.start().await?;
//! let mut client = roadie::ws::connect_in_process(&running, Request::get("/echo")).await?;
//! client.send(Message::text("hello")).await?;
//! assert_eq!(client.recv().await.unwrap()?, Message::text("hello"));
//! running.shutdown().await?;
//! # Ok(())
//! # }
//! ```

mod error;
mod in_process;
mod socket;
mod upgrade;

pub use self::error::WebSocketError;
pub use self::in_process::connect_in_process;
pub use self::socket::WebSocket;
pub use self::upgrade::WebSocketUpgrade;
pub use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
pub use tokio_tungstenite::tungstenite::protocol::CloseFrame;
pub use tokio_tungstenite::tungstenite::Message;
