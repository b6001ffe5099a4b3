//! The in-process WebSocket client: the handshake through `Running::execute`, the socket over
//! an in-memory pipe.

use std::sync::{Arc, Mutex};

use http::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

use super::upgrade::InProcessUpgrade;
use super::{WebSocket, WebSocketError};
use crate::lifecycle::Running;
use crate::request::Request;

/// Opens a WebSocket to a route of a running app in-process, for tests: no socket.
///
/// `request` (usually `Request::get("/path")`, with any headers the route reads) gets the
/// handshake's headers where it has none, goes through [`Running::execute`] like any request
/// (middleware, layers, extractors), and the route's socket task runs over an in-memory pipe.
/// The client end comes back as a [`WebSocket`]. A route that refuses the handshake gives
/// [`WebSocketError::Refused`] with its status and body.
///
/// The app's shutdown treats this socket like one over the network: the route's task is
/// told to end, then the socket is closed with `1001`.
pub async fn connect_in_process(
    running: &Running,
    request: impl Into<Request>,
) -> Result<WebSocket, WebSocketError> {
    let mut request: Request = request.into();
    let key = generate_key();
    let headers = request.headers_mut();
    let defaults = [
        (UPGRADE, "websocket"),
        (CONNECTION, "upgrade"),
        (SEC_WEBSOCKET_VERSION, "13"),
    ];
    for (name, value) in defaults {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    if let Ok(value) = HeaderValue::from_str(&key) {
        headers.entry(SEC_WEBSOCKET_KEY).or_insert(value);
    }
    let sent_key = headers
        .get(SEC_WEBSOCKET_KEY)
        .map(|key| key.as_bytes().to_vec())
        .unwrap_or_default();
    let (client, server) = tokio::io::duplex(64 * 1024);
    request
        .extensions_mut()
        .insert(InProcessUpgrade(Arc::new(Mutex::new(Some(server)))));
    let response = running.execute(request).await;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Err(WebSocketError::Refused {
            status: response.status(),
            body: response.text(),
        });
    }
    if response.header(SEC_WEBSOCKET_ACCEPT) != Some(derive_accept_key(&sent_key).as_str()) {
        return Err(WebSocketError::Refused {
            status: response.status(),
            body: "the answer's `Sec-WebSocket-Accept` does not match the key".to_owned(),
        });
    }
    let stream =
        WebSocketStream::from_raw_socket(Box::new(client) as Box<_>, Role::Client, None).await;
    Ok(WebSocket::new(stream, None, None))
}
