//! The handshake: the `WebSocketUpgrade` extractor, the `101` answer, and the socket task's
//! runner, counted by the app and closed in order when it stops.

use std::fmt;
use std::future::{ready, Future};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use futures_util::{FutureExt, StreamExt};
use http::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderValue, Method, StatusCode, Version};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::DuplexStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use super::socket::{Back, Io, WebSocket};
use crate::extract::{Context, FromContext, Needs, Prepare};
use crate::long_lived::{Handover, LongLived, CLOSE_TIMEOUT};
use crate::response::{Rejection, Response};

/// The in-memory connection of an in-process handshake, put in the request's extensions by
/// [`connect_in_process`](super::connect_in_process).
#[derive(Clone)]
pub(crate) struct InProcessUpgrade(pub(crate) Arc<Mutex<Option<DuplexStream>>>);

/// Where the upgraded connection comes from.
enum Upgrade {
    Hyper(OnUpgrade),
    InProcess(DuplexStream),
}

/// A WebSocket handshake, checked: take it as a parameter of a `GET` route and answer with
/// [`WebSocketUpgrade::on_upgrade`].
///
/// The request must be an HTTP/1.1 `GET` with `Upgrade: websocket`, `Connection: upgrade`,
/// `Sec-WebSocket-Version: 13` and a valid `Sec-WebSocket-Key`; otherwise the route answers
/// `405` (another method), `426` (no `Upgrade: websocket`, or a connection that cannot be
/// upgraded) or `400` (the header that is wrong is named), as a [`Rejection`], and the
/// handler does not run. While the app stops, a new handshake answers `503`.
pub struct WebSocketUpgrade {
    accept: HeaderValue,
    upgrade: Upgrade,
    long_lived: Arc<LongLived>,
    max_message_size: usize,
    /// The connection's place under the server's cap, taken over by the socket.
    handover: Option<Handover>,
}

/// The largest message a socket accepts unless the route says otherwise: the same as the
/// default request body limit.
const MAX_MESSAGE_SIZE: usize = 2 * 1024 * 1024;

impl fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketUpgrade").finish_non_exhaustive()
    }
}

fn has_token(parts: &http::request::Parts, name: http::HeaderName, token: &str) -> bool {
    parts
        .headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| item.trim().eq_ignore_ascii_case(token))
}

/// A `Sec-WebSocket-Key` is 16 bytes in base64: 22 characters and `==`.
fn valid_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || *byte == b'+' || *byte == b'/')
}

fn check(
    parts: &mut http::request::Parts,
    long_lived: &Arc<LongLived>,
) -> Result<WebSocketUpgrade, Rejection> {
    if parts.method != Method::GET {
        return Err(Rejection::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "a WebSocket handshake must be a GET request",
        ));
    }
    if !has_token(parts, UPGRADE, "websocket") {
        return Err(Rejection::new(
            StatusCode::UPGRADE_REQUIRED,
            "this route speaks WebSocket: the request must carry `Upgrade: websocket`",
        )
        .with_parameter("Upgrade"));
    }
    if !has_token(parts, CONNECTION, "upgrade") {
        return Err(Rejection::bad_request("must include `upgrade`").with_parameter("Connection"));
    }
    if parts
        .headers
        .get(SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return Err(
            Rejection::bad_request("must be 13, the only version this server speaks")
                .with_parameter("Sec-WebSocket-Version"),
        );
    }
    let key = match parts.headers.get(SEC_WEBSOCKET_KEY) {
        Some(key) if valid_key(key.as_bytes()) => key,
        _ => {
            return Err(Rejection::bad_request("must be 16 random bytes in base64")
                .with_parameter("Sec-WebSocket-Key"))
        }
    };
    let accept = HeaderValue::from_str(&derive_accept_key(key.as_bytes()))
        .map_err(|_| Rejection::internal("the accept key is not a header value"))?;
    if long_lived.is_ending() {
        return Err(Rejection::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the app is shutting down",
        ));
    }
    let in_process = parts
        .extensions
        .remove::<InProcessUpgrade>()
        .and_then(|InProcessUpgrade(slot)| crate::names::lock(&slot).take());
    let upgrade = match (in_process, parts.extensions.remove::<OnUpgrade>()) {
        (Some(pipe), _) => Upgrade::InProcess(pipe),
        (None, Some(on_upgrade)) if parts.version == Version::HTTP_11 => Upgrade::Hyper(on_upgrade),
        _ => {
            return Err(Rejection::new(
                StatusCode::UPGRADE_REQUIRED,
                "this connection cannot be upgraded to a WebSocket (use HTTP/1.1; in-process, \
                 use `roadie::ws::connect_in_process`)",
            ))
        }
    };
    Ok(WebSocketUpgrade {
        accept,
        upgrade,
        long_lived: Arc::clone(long_lived),
        max_message_size: MAX_MESSAGE_SIZE,
        handover: parts.extensions.remove::<Handover>(),
    })
}

impl FromContext for WebSocketUpgrade {
    type State = ();

    fn describe(needs: &mut Needs) {
        needs.request_part("WebSocketUpgrade");
    }

    fn prepare(_cx: &Prepare<'_>) -> Self::State {}

    fn from_context<'a>(
        _state: &'a Self::State,
        cx: &'a mut Context<'_>,
    ) -> impl Future<Output = Result<Self, Rejection>> + Send + 'a {
        let long_lived = Arc::clone(cx.shutdown.long_lived());
        ready(match cx.parts_mut() {
            Some(parts) => check(parts, &long_lived),
            None => Err(Rejection::internal(
                "`WebSocketUpgrade` can only be read while handling a request",
            )),
        })
    }
}

impl WebSocketUpgrade {
    /// The largest message (and frame) the socket accepts, in bytes: 2 MiB by default, like
    /// the request body limit. A larger one fails the socket's `recv` with an error, and the
    /// connection ends.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Answers `101 Switching Protocols`, then runs `task` with the socket once the
    /// connection is upgraded, on a task of its own that the app counts (see the
    /// [module docs](super) for what happens to it at shutdown).
    ///
    /// What `task` captures (a `Res<T>`, a `Dep<T>`) lives as long as it runs, and is
    /// released when it ends, before the app's teardown.
    pub fn on_upgrade<F, Fut>(self, task: F) -> Response
    where
        F: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let WebSocketUpgrade {
            accept,
            upgrade,
            long_lived,
            max_message_size,
            handover,
        } = self;
        let slot = handover.and_then(|handover| handover.take());
        let config = WebSocketConfig::default()
            .max_message_size(Some(max_message_size))
            .max_frame_size(Some(max_message_size));
        let open = long_lived.enter();
        let runner = {
            let long_lived = Arc::clone(&long_lived);
            async move {
                // Dropped last: the task counts as open until all it held is gone, and
                // holds its connection's place under the server's cap.
                let _open = open;
                let _slot = slot;
                let io: Box<dyn Io> = match upgrade {
                    Upgrade::InProcess(pipe) => Box::new(pipe),
                    Upgrade::Hyper(on_upgrade) => tokio::select! {
                        upgraded = on_upgrade => match upgraded {
                            Ok(upgraded) => Box::new(TokioIo::new(upgraded)),
                            Err(error) => {
                                tracing::debug!(%error, "the WebSocket upgrade failed");
                                return;
                            }
                        },
                        () = long_lived.closing() => return,
                    },
                };
                let stream = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
                run(stream, task, long_lived).await;
            }
        };
        let handle = tokio::spawn(runner);
        long_lived.track(handle.abort_handle());

        let mut response = Response::new(StatusCode::SWITCHING_PROTOCOLS);
        let headers = response.headers_mut();
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
        response
    }
}

/// Runs the route's task with its socket until it ends, or until the grace period is over;
/// then closes the socket if the task left it open: `1000` when the task ended, `1011` when
/// it panicked, `1001` when the app stopped it.
async fn run<F, Fut>(stream: super::socket::Stream, task: F, long_lived: Arc<LongLived>)
where
    F: FnOnce(WebSocket) -> Fut,
    Fut: Future<Output = ()>,
{
    let back: Back = Arc::new(Mutex::new(None));
    let socket = WebSocket::new(
        stream,
        Some(Arc::clone(&back)),
        Some(Arc::clone(&long_lived)),
    );
    let user = AssertUnwindSafe(task(socket)).catch_unwind();
    let code = tokio::select! {
        ended = user => match ended {
            Ok(()) => CloseCode::Normal,
            Err(panic) => {
                let panic = crate::error::panic_message(panic.as_ref());
                tracing::error!(%panic, "a WebSocket task panicked");
                CloseCode::Error
            }
        },
        () = long_lived.closing() => CloseCode::Away,
    };
    // The task and all it held are dropped by now; its socket came back if still open.
    let stream = crate::names::lock(&back).take();
    let Some(mut stream) = stream else {
        return;
    };
    let reason = match code {
        CloseCode::Away => "the server is shutting down",
        _ => "",
    };
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let closed = tokio::time::timeout(CLOSE_TIMEOUT, async {
        if stream.close(Some(frame)).await.is_ok() {
            // The peer's Close ends the handshake (and the stream).
            while let Some(Ok(_)) = stream.next().await {}
        }
    })
    .await;
    if closed.is_err() {
        tracing::debug!("the WebSocket peer did not answer the Close frame in time");
    }
}
