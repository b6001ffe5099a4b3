//! One connection: hyper's HTTP/1.1 and HTTP/2, the idle check that keeps the header read
//! timeout without a timer per request, the bytes a connection writes, the HTTP/1.1 head
//! rules hyper leaves to the server, and closing between requests when the server drains.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::edge;
use crate::lifecycle::Running;
use crate::long_lived::Handover;

pub(super) fn builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // No HTTP/1 timer: hyper would arm one per request for its header read timeout, which
    // costs every request a timer registration; `HeadWatch` keeps that limit instead.
    builder.http1().keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    builder
}

/// Where the server is in its drain, as each connection follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Phase {
    /// Serving as usual.
    Serving,
    /// The drain delay: still serving; HTTP/2 connections are sent GOAWAY once their first
    /// request began (HTTP/1.1 responses carry `Connection: close`, which the edge adds).
    Draining,
    /// No longer accepting: every connection closes between requests.
    Closing,
}

/// Serves one connection until it ends: the client closes it, it stays idle past the header
/// read timeout, or it closes between requests as the server drains (see [`Phase`]; a
/// connection that had not sent a request yet gets its first one answered first).
pub(super) fn serve(
    builder: &auto::Builder<TokioExecutor>,
    stream: TcpStream,
    peer: SocketAddr,
    running: Running,
    mut phase: watch::Receiver<Phase>,
    slot: Handover,
) -> impl Future<Output = ()> + Send + 'static {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%peer, %error, "could not set TCP_NODELAY");
    }
    let header_read_timeout = running.settings().header_read_timeout;
    let watch = Arc::new(HeadWatch::default());
    let watched = Arc::clone(&watch);
    let service = service_fn(move |mut request: http::Request<Incoming>| {
        let running = running.clone();
        if request.headers().contains_key(http::header::UPGRADE) {
            // A WebSocket upgraded from this connection keeps its place under the cap.
            request.extensions_mut().insert(slot.clone());
        }
        let answering = watched.begin();
        async move {
            let response = match wire_problem(&request) {
                Some(refused) => refused,
                None => edge::answer(&running, request.map(edge::Streamed)).await,
            };
            // The request counts as being answered until its body is written: a slow
            // reader is not an idle connection.
            Ok::<_, Infallible>(response.into_streaming().map(|body| Watched {
                body,
                _answering: answering,
            }))
        }
    });
    let connection = builder
        // Upgrades (WebSockets) take the connection's socket over: hyper hands it to the
        // route's task, and this connection ends.
        .serve_connection_with_upgrades(
            TokioIo::new(Counted {
                io: stream,
                watch: Arc::clone(&watch),
            }),
            service,
        )
        .into_owned();
    async move {
        tokio::pin!(connection);
        let expired = watch.expired(header_read_timeout);
        tokio::pin!(expired);
        // Once the server closes its connections: a connection that has not begun a
        // request yet was opened to send one, so that request is answered first.
        let asked = async {
            let _ = phase.wait_for(|phase| *phase >= Phase::Draining).await;
            // An HTTP/2 client is told now, with GOAWAY, to open a new connection for its next
            // requests, as an HTTP/1.1 client is with `Connection: close`.
            if !watch.http2.load(Ordering::Relaxed) {
                let _ = phase.wait_for(|phase| *phase == Phase::Closing).await;
            }
            watch.first_request().await;
        };
        tokio::pin!(asked);
        let mut closing = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        // Bad input on the wire costs this connection only.
                        tracing::debug!(%peer, %error, "connection ended with an error");
                    }
                    return;
                }
                () = &mut expired => {
                    tracing::debug!(%peer, "idle for the header read timeout (no request head, no response moving): closing");
                    return;
                }
                () = &mut asked, if !closing => {
                    // HTTP/2: GOAWAY; HTTP/1.1: close once the request in flight is
                    // answered, or now if idle.
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}

/// The header read timeout of one connection, kept without a timer per request.
///
/// The connection counts the requests it began (hyper calls the service once a request's head
/// is read), those still being answered (until their body is handed over), and the bytes it
/// wrote. A check every quarter of the timeout cuts the connection once, for the whole
/// timeout, it has been waiting for a request's head with nothing in flight, no new request
/// begun, and no response bytes leaving: a client that sends its headers too slowly, or an
/// idle keep-alive connection, is closed between one and one and a quarter timeouts later. A
/// slow reader of a response is not idle as long as its response moves.
#[derive(Default)]
struct HeadWatch {
    begun: AtomicU64,
    answering: AtomicUsize,
    written: AtomicU64,
    /// Notified when the connection's first request begins.
    first: tokio::sync::Notify,
    /// Whether the connection opened with the HTTP/2 preface.
    http2: AtomicBool,
    /// Whether the connection's first bytes were read.
    opened: AtomicBool,
}

impl HeadWatch {
    /// Marks a request as begun and being answered, until the guard is dropped.
    fn begin(self: &Arc<Self>) -> Answering {
        if self.begun.fetch_add(1, Ordering::Relaxed) == 0 {
            self.first.notify_waiters();
        }
        self.answering.fetch_add(1, Ordering::Relaxed);
        Answering(Arc::clone(self))
    }

    /// Counts the bytes a write to the socket wrote, and hands its result on.
    fn wrote(
        &self,
        written: std::task::Poll<std::io::Result<usize>>,
    ) -> std::task::Poll<std::io::Result<usize>> {
        if let std::task::Poll::Ready(Ok(n)) = &written {
            self.written.fetch_add(*n as u64, Ordering::Relaxed);
        }
        written
    }

    /// Resolves once the connection's first request has begun.
    async fn first_request(&self) {
        loop {
            let notified = self.first.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.begun.load(Ordering::Relaxed) > 0 {
                return;
            }
            notified.await;
        }
    }

    /// Resolves once the connection has waited for a request's head for `timeout`.
    async fn expired(&self, timeout: Duration) {
        let period = (timeout / 4).max(Duration::from_millis(1));
        let checks_needed = timeout.as_nanos().div_ceil(period.as_nanos()).max(1);
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let progress = || {
            (
                self.begun.load(Ordering::Relaxed),
                self.written.load(Ordering::Relaxed),
            )
        };
        let (mut seen, mut idle_checks) = (progress(), 0);
        loop {
            ticks.tick().await;
            let now = progress();
            if now != seen || self.answering.load(Ordering::Relaxed) > 0 {
                (seen, idle_checks) = (now, 0);
            } else {
                idle_checks += 1;
                if idle_checks >= checks_needed {
                    return;
                }
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// A connection's socket, counting the bytes written to it for its [`HeadWatch`].
    struct Counted<IO> {
        #[pin]
        io: IO,
        watch: Arc<HeadWatch>,
    }
}

impl<IO: tokio::io::AsyncRead> tokio::io::AsyncRead for Counted<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let read = this.io.poll_read(cx, buf);
        // The first bytes tell HTTP/2 (its preface) from HTTP/1.1: the drain treats them apart.
        if !this.watch.opened.load(Ordering::Relaxed) && buf.filled().len() > before {
            this.watch.opened.store(true, Ordering::Relaxed);
            if buf.filled()[before..].starts_with(b"PRI * HTTP/2.0") {
                this.watch.http2.store(true, Ordering::Relaxed);
            }
        }
        read
    }
}

impl<IO: tokio::io::AsyncWrite> tokio::io::AsyncWrite for Counted<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.project();
        this.watch.wrote(this.io.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.project();
        this.watch.wrote(this.io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }
}

/// A request being answered on a watched connection.
struct Answering(Arc<HeadWatch>);

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.answering.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What HTTP/1.1 requires of a request's head beyond what hyper checks: exactly one `Host`
/// (RFC 9112 §3.2), and `chunked` at most once in `Transfer-Encoding` (RFC 9112 §6.1).
fn wire_problem<B>(request: &http::Request<B>) -> Option<crate::Response> {
    if request.version() != http::Version::HTTP_11 {
        return None;
    }
    let reason = match request.headers().get_all(http::header::HOST).iter().count() {
        0 => "an HTTP/1.1 request must have a `Host` header",
        1 => {
            let chunked = request
                .headers()
                .get_all(http::header::TRANSFER_ENCODING)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .filter(|coding| coding.trim().eq_ignore_ascii_case("chunked"))
                .count();
            if chunked <= 1 {
                return None;
            }
            "`Transfer-Encoding` names `chunked` more than once"
        }
        _ => "an HTTP/1.1 request must have exactly one `Host` header",
    };
    Some(crate::Response::closing(crate::Rejection::bad_request(
        reason,
    )))
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request counted as being answered until it is written
    /// (or dropped, when the connection goes).
    struct Watched<B> {
        #[pin]
        body: B,
        _answering: Answering,
    }
}

impl<B: http_body::Body> http_body::Body for Watched<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
