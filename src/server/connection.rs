//! One connection: hyper's HTTP/1.1 and HTTP/2, the idle check that keeps the header read
//! timeout without a timer per request, the bytes a connection writes, the HTTP/1.1 head
//! rules hyper leaves to the server, and closing between requests when the server drains.
//!
//! What each request costs here is kept near what hyper alone costs (`scripts/load.sh`
//! measures it against a hand-written hyper server): the protocol is told from the first
//! bytes with a peek, so HTTP/1.1 runs on hyper's own connection over the socket itself
//! (no rewind buffer, no wrapper of both protocols), and the idle check and the drain signal
//! are polled only when they wake, not on every read and write of the connection.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::edge;
use crate::lifecycle::Running;
use crate::long_lived::Handover;

/// The settings of both protocols, shared by every connection of a server.
pub(super) struct Protocols {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

pub(super) fn protocols() -> Arc<Protocols> {
    let mut http1 = http1::Builder::new();
    // No HTTP/1 timer: hyper would arm one per request for its header read timeout, which
    // costs every request a timer registration; `HeadWatch` keeps that limit instead.
    http1.keep_alive(true);
    let mut http2 = http2::Builder::new(TokioExecutor::new());
    http2.timer(TokioTimer::new());
    Arc::new(Protocols { http1, http2 })
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

/// The HTTP/2 connection preface (RFC 9113 §3.4): a connection that opens with it speaks
/// HTTP/2 with prior knowledge; any other opening is HTTP/1.1.
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Serves one connection until it ends: the client closes it, it stays idle past the header
/// read timeout, or it closes between requests as the server drains (see [`Phase`]; a
/// connection that had not sent a request yet gets its first one answered first).
pub(super) fn serve(
    protocols: &Arc<Protocols>,
    stream: TcpStream,
    peer: SocketAddr,
    running: Running,
    phase: watch::Receiver<Phase>,
    slot: Handover,
) -> impl Future<Output = ()> + Send + 'static {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%peer, %error, "could not set TCP_NODELAY");
    }
    let protocols = Arc::clone(protocols);
    async move {
        let header_read_timeout = running.settings().header_read_timeout;
        // The first bytes, within the header read timeout, tell the protocol.
        let http2 = match tokio::time::timeout(header_read_timeout, opens_with_preface(&stream))
            .await
        {
            Ok(Ok(Some(http2))) => http2,
            Ok(Ok(None)) => return,
            Ok(Err(error)) => {
                tracing::debug!(%peer, %error, "connection ended before its first request");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "no request head within the header read timeout: closing");
                return;
            }
        };
        let watch = Arc::new(HeadWatch::default());
        let io = TokioIo::new(Counted {
            io: stream,
            watch: Arc::clone(&watch),
        });
        let service = service(running, Arc::clone(&watch), slot);
        let connection = if http2 {
            Protocol::Http2 {
                connection: Box::pin(protocols.http2.serve_connection(io, service)),
            }
        } else {
            Protocol::Http1 {
                // Upgrades (WebSockets) take the connection's socket over: hyper hands it to
                // the route's task, and this connection ends.
                connection: protocols
                    .http1
                    .serve_connection(io, service)
                    .with_upgrades(),
            }
        };
        drop(protocols);
        let expired = {
            let watch = Arc::clone(&watch);
            async move { watch.expired(header_read_timeout).await }
        };
        let asked = asked_to_close(phase, watch, http2);
        Supervised {
            connection,
            side: Arc::new(SideWake {
                // Polled once at first, so that both register their wakers.
                fired: AtomicBool::new(true),
                task: AtomicWaker::new(),
            }),
            expired,
            asked,
            closing: false,
            peer,
        }
        .await;
    }
}

/// Whether the connection opens with the HTTP/2 preface, read with a peek so that the bytes
/// stay in the socket for hyper; `None` when the client closes before sending any.
///
/// As hyper-util's `auto` reads it: the whole preface is HTTP/2, any byte that leaves it is
/// HTTP/1.1. Only an opening cut inside the preface waits for more.
async fn opens_with_preface(stream: &TcpStream) -> std::io::Result<Option<bool>> {
    let mut buf = [0; PREFACE.len()];
    let mut wait = Duration::from_millis(1);
    loop {
        let n = stream.peek(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        if buf[..n] != PREFACE[..n] {
            return Ok(Some(false));
        }
        if n == PREFACE.len() {
            return Ok(Some(true));
        }
        // Part of the preface: a peek would see the same bytes at once, so wait a little
        // before looking again (the caller's header read timeout bounds the whole wait).
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_millis(100));
    }
}

/// The service of one connection: each request answered by the edge, counted by the
/// connection's [`HeadWatch`] until its body is written.
fn service(
    running: Running,
    watched: Arc<HeadWatch>,
    slot: Handover,
) -> impl hyper::service::Service<
    http::Request<Incoming>,
    Response = http::Response<Watched<crate::body::Body>>,
    Error = Infallible,
    Future = impl Future<Output = Result<http::Response<Watched<crate::body::Body>>, Infallible>>
                 + Send
                 + 'static,
> + Send
       + 'static {
    service_fn(move |mut request: http::Request<Incoming>| {
        let running = running.clone();
        let (refused, upgrade) = read_head(&request);
        if upgrade {
            // A WebSocket upgraded from this connection keeps its place under the cap.
            request.extensions_mut().insert(slot.clone());
        }
        let answering = watched.begin();
        async move {
            let response = match refused {
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
    })
}

/// Resolves once the connection should close between requests: when the server drains,
/// after the connection's first request began (an HTTP/2 connection as soon as the drain
/// begins, with GOAWAY; an HTTP/1.1 one once the server stops accepting).
async fn asked_to_close(mut phase: watch::Receiver<Phase>, watch: Arc<HeadWatch>, http2: bool) {
    let _ = phase.wait_for(|phase| *phase >= Phase::Draining).await;
    // An HTTP/2 client is told now, with GOAWAY, to open a new connection for its next
    // requests, as an HTTP/1.1 client is with `Connection: close`.
    if !http2 {
        let _ = phase.wait_for(|phase| *phase == Phase::Closing).await;
    }
    // A connection that has not begun a request yet was opened to send one, so that request
    // is answered first.
    watch.first_request().await;
}

type Io = TokioIo<Counted<TcpStream>>;

pin_project_lite::pin_project! {
    /// hyper's connection, of the protocol the client opened with. HTTP/2 is boxed: it is
    /// the larger and the rarer (prior knowledge on cleartext), and an HTTP/1.1 connection
    /// should not carry its size.
    #[project = ProtocolProj]
    enum Protocol<S: hyper::service::HttpService<Incoming>> {
        Http1 { #[pin] connection: http1::UpgradeableConnection<Io, S> },
        Http2 { connection: Pin<Box<http2::Connection<Io, S, TokioExecutor>>> },
    }
}

pin_project_lite::pin_project! {
    /// A connection with its idle check and its drain signal.
    ///
    /// hyper's connection is polled first, on every wake. The idle check and the drain signal
    /// are polled with a waker of their own ([`SideWake`]), and only after it fired: most
    /// wakes are the socket's, and they should not pay for a timer's and a channel's poll.
    struct Supervised<S: hyper::service::HttpService<Incoming>, E, A> {
        #[pin]
        connection: Protocol<S>,
        side: Arc<SideWake>,
        #[pin]
        expired: E,
        #[pin]
        asked: A,
        closing: bool,
        peer: SocketAddr,
    }
}

impl<S, B, E, A> Future for Supervised<S, E, A>
where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: Future<Output = ()>,
    A: Future<Output = ()>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        loop {
            let result = match this.connection.as_mut().project() {
                ProtocolProj::Http1 { connection } => connection.poll(cx),
                ProtocolProj::Http2 { connection } => connection.as_mut().poll(cx),
            };
            if let Poll::Ready(result) = result {
                if let Err(error) = result {
                    // Bad input on the wire costs this connection only.
                    let peer = *this.peer;
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
                return Poll::Ready(());
            }
            // Registered before the flag is read: a wake that comes after the read wakes the
            // task again.
            this.side.task.register(cx.waker());
            if !this.side.fired.swap(false, Ordering::AcqRel) {
                return Poll::Pending;
            }
            let waker = Waker::from(Arc::clone(this.side));
            let mut side = Context::from_waker(&waker);
            if this.expired.as_mut().poll(&mut side).is_ready() {
                let peer = *this.peer;
                tracing::debug!(%peer, "idle for the header read timeout (no request head, no response moving): closing");
                return Poll::Ready(());
            }
            if *this.closing || this.asked.as_mut().poll(&mut side).is_pending() {
                return Poll::Pending;
            }
            // HTTP/2: GOAWAY; HTTP/1.1: close once the request in flight is answered, or
            // now if idle. hyper acts on it when the connection is polled again, below.
            *this.closing = true;
            match this.connection.as_mut().project() {
                ProtocolProj::Http1 { connection } => connection.graceful_shutdown(),
                ProtocolProj::Http2 { connection } => connection.as_mut().graceful_shutdown(),
            }
        }
    }
}

/// The waker of a connection's idle check and drain signal: it marks them as due, then
/// wakes the connection's task.
struct SideWake {
    fired: AtomicBool,
    task: AtomicWaker,
}

impl Wake for SideWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, Ordering::Release);
        self.task.wake();
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
        self.project().io.poll_read(cx, buf)
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
/// (RFC 9112 §3.2), and `chunked` at most once in `Transfer-Encoding` (RFC 9112 §6.1). Also
/// whether the request asks for an upgrade (`Upgrade`), found on the same pass.
///
/// One pass over the head's few headers, comparing names (a standard name compares as a
/// number), costs less than a hashed lookup for each of the three.
fn read_head<B>(request: &http::Request<B>) -> (Option<crate::Response>, bool) {
    let (mut hosts, mut chunked, mut upgrade) = (0_usize, 0_usize, false);
    for (name, value) in request.headers() {
        if name == http::header::HOST {
            hosts += 1;
        } else if name == http::header::TRANSFER_ENCODING {
            chunked += value
                .to_str()
                .into_iter()
                .flat_map(|value| value.split(','))
                .filter(|coding| coding.trim().eq_ignore_ascii_case("chunked"))
                .count();
        } else if name == http::header::UPGRADE {
            upgrade = true;
        }
    }
    if request.version() != http::Version::HTTP_11 {
        return (None, upgrade);
    }
    let reason = match (hosts, chunked) {
        (0, _) => "an HTTP/1.1 request must have a `Host` header",
        (1, 0 | 1) => return (None, upgrade),
        (1, _) => "`Transfer-Encoding` names `chunked` more than once",
        _ => "an HTTP/1.1 request must have exactly one `Host` header",
    };
    let refused = crate::Response::closing(crate::Rejection::bad_request(reason));
    (Some(refused), upgrade)
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
