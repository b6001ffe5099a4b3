//! The HTTP server: hyper 1 (HTTP/1.1 and HTTP/2), signals, graceful drain, limits.
//!
//! [`App::serve`] binds, starts, accepts, and on SIGINT or SIGTERM (or a
//! [`Shutdown`](crate::Shutdown) handle, or a [`ServerHandle`]) stops accepting, drains the
//! requests in flight within the grace period, cuts what is still open, and runs the
//! teardown.

use std::convert::Infallible;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::app::App;
use crate::edge;
use crate::error::Error;
use crate::lifecycle::Running;

impl App {
    /// Serves the app on `addr` until SIGINT or SIGTERM (Ctrl-C elsewhere than Unix), or a
    /// [`Shutdown`](crate::Shutdown) handle from a handler, asks it to stop.
    ///
    /// In order: binds `addr` (a port in use fails with [`Error::Io`] before any provider
    /// runs), starts the app (a failed start returns [`Error::Startup`] and never accepts a
    /// request), then accepts HTTP/1.1 and HTTP/2 connections, at most
    /// [`App::max_connections`] at once. On shutdown it drains: not ready but still serving
    /// for the drain delay ([`App::drain_delay`]), then it stops accepting, lets requests in
    /// flight finish within the grace period ([`App::grace_period`]), cuts what is still open
    /// when it ends (a second signal ends both at once), then runs the teardown; failures of
    /// the teardown come back as [`Error::Shutdown`]. The guide's deployment chapter has the
    /// whole sequence and every limit.
    ///
    /// ```no_run
    /// use roadie::prelude::*;
    ///
    /// #[tokio::main]
    /// async fn main() -> Result<(), roadie::Error> {
    ///     App::new()
    ///         .get("/", || async { "hello" })
    ///         .serve("127.0.0.1:8080")
    ///         .await
    /// }
    /// ```
    pub async fn serve(self, addr: impl ToSocketAddrs) -> Result<(), Error> {
        self.bind(addr).await?.run().await
    }

    /// Binds `addr` without starting the app: the first half of [`App::serve`].
    ///
    /// Use it to learn the address of port `0`, to get a [`ServerHandle`], or to turn the
    /// signals off; then [`Server::run`] (or `.await` the server).
    ///
    /// ```
    /// use roadie::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), roadie::Error> {
    /// let server = App::new()
    ///     .get("/", || async { "hello" })
    ///     .bind("127.0.0.1:0")
    ///     .await?
    ///     .with_signals(false);
    /// let address = server.local_addr();
    /// let handle = server.handle();
    /// let serving = tokio::spawn(server.run());
    /// # let _ = address;
    ///
    /// // ... send requests to `address` ...
    ///
    /// handle.shutdown();
    /// serving.await.unwrap()?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn bind(self, addr: impl ToSocketAddrs) -> Result<Server, Error> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|error| Error::io("could not bind the server's address", error))?;
        let local_addr = listener
            .local_addr()
            .map_err(|error| Error::io("could not read the bound address", error))?;
        Ok(Server {
            listener,
            local_addr,
            app: self,
            signals: true,
            stop: Arc::new(watch::channel(Stop::Running).0),
        })
    }
}

/// How far a shutdown has gone, as asked by signals and [`ServerHandle`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stop {
    Running,
    Graceful,
    Now,
}

impl Stop {
    fn next(self) -> Self {
        match self {
            Self::Running => Self::Graceful,
            Self::Graceful | Self::Now => Self::Now,
        }
    }
}

/// A bound server, not yet started: made by [`App::bind`].
///
/// [`Server::run`] (or `.await`) starts the app and serves it until shutdown.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    app: App,
    signals: bool,
    stop: Arc<watch::Sender<Stop>>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("signals", &self.signals)
            .finish_non_exhaustive()
    }
}

/// Stops a [`Server`] from outside, without a signal: made by [`Server::handle`].
///
/// Cloning it shares the same server. A shutdown asked for before the app has started
/// takes effect as soon as it has: the app starts, then stops at once.
#[derive(Clone)]
pub struct ServerHandle {
    stop: Arc<watch::Sender<Stop>>,
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("stop", &*self.stop.borrow())
            .finish()
    }
}

impl ServerHandle {
    /// Starts a graceful shutdown, like a first SIGTERM: the drain delay, then the drain.
    pub fn shutdown(&self) {
        self.stop.send_if_modified(|stop| {
            let before = *stop;
            *stop = before.max(Stop::Graceful);
            *stop != before
        });
    }

    /// Shuts down without waiting for the rest of the grace period, like a second SIGTERM:
    /// connections still open are cut, then the teardown runs.
    pub fn shutdown_now(&self) {
        self.stop.send_replace(Stop::Now);
    }
}

impl Server {
    /// The address the server is bound to (the real port when bound to port `0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Whether SIGINT and SIGTERM (Ctrl-C elsewhere than Unix) shut the server down
    /// (default `true`). Turn them off when something else owns the signals, for example a
    /// test harness running several servers in one process.
    pub fn with_signals(mut self, signals: bool) -> Self {
        self.signals = signals;
        self
    }

    /// A handle that shuts this server down from outside.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            stop: Arc::clone(&self.stop),
        }
    }

    /// Starts the app, serves it until shutdown, then drains and tears it down; see
    /// [`App::serve`].
    ///
    /// The signal listeners live only as long as this future: once it returns, another
    /// server can listen for them in the same process.
    pub async fn run(self) -> Result<(), Error> {
        let Server {
            listener,
            local_addr,
            app,
            signals,
            stop,
        } = self;
        let mut triggers = Triggers::new(signals, &stop)?;
        let running = app.start().await?;
        let span = tracing::info_span!("roadie.serve", address = %local_addr);
        serve(listener, running, &mut triggers)
            .instrument(span)
            .await
    }
}

impl IntoFuture for Server {
    type Output = Result<(), Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// Signals and handles, read as one sequence of "stop" steps.
struct Triggers {
    signals: Option<Signals>,
    stop: Arc<watch::Sender<Stop>>,
    seen: watch::Receiver<Stop>,
}

impl Triggers {
    fn new(signals: bool, stop: &Arc<watch::Sender<Stop>>) -> Result<Self, Error> {
        let signals = if signals {
            Some(
                Signals::new()
                    .map_err(|error| Error::io("could not listen for SIGINT and SIGTERM", error))?,
            )
        } else {
            None
        };
        Ok(Self {
            signals,
            stop: Arc::clone(stop),
            seen: stop.subscribe(),
        })
    }

    /// Resolves once a shutdown has gone at least as far as `level`.
    async fn reached(&mut self, level: Stop) {
        loop {
            if *self.seen.borrow_and_update() >= level {
                return;
            }
            tokio::select! {
                () = next_signal(&mut self.signals) => {
                    self.stop.send_modify(|stop| *stop = stop.next());
                }
                changed = self.seen.changed() => {
                    if changed.is_err() {
                        // Every sender is gone: nothing can ask for more.
                        std::future::pending::<()>().await;
                    }
                }
            }
        }
    }
}

async fn next_signal(signals: &mut Option<Signals>) {
    match signals {
        Some(signals) => {
            signals.recv().await;
            tracing::info!("signal received, shutting down");
        }
        None => std::future::pending().await,
    }
}

#[cfg(unix)]
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> std::io::Result<Self> {
        Ok(Self)
    }

    async fn recv(&mut self) {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

fn builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // No HTTP/1 timer: hyper would arm one per request for its header read timeout, which
    // costs every request a timer registration; `HeadWatch` keeps that limit instead.
    builder.http1().keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    builder
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
        let written = this.io.poll_write(cx, buf);
        if let std::task::Poll::Ready(Ok(n)) = &written {
            this.watch.written.fetch_add(*n as u64, Ordering::Relaxed);
        }
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.project();
        let written = this.io.poll_write_vectored(cx, bufs);
        if let std::task::Poll::Ready(Ok(n)) = &written {
            this.watch.written.fetch_add(*n as u64, Ordering::Relaxed);
        }
        written
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

/// What keeps a connection counted while it is open: its place under the connection cap.
type Slot = tokio::sync::OwnedSemaphorePermit;

/// Accepts until shutdown, drains, cuts, and tears down.
///
/// The drain, in order: the readiness route turns `503` and HTTP/1.1 responses carry
/// `Connection: close`, while the server still accepts and serves for the drain delay; then it
/// accepts what is already waiting in the backlog and stops accepting; connections finish
/// their requests and close (HTTP/2 with GOAWAY, an idle HTTP/1.1 connection between requests,
/// a connection accepted last after its first request) within the grace period; then what is
/// still open is cut, and the teardown runs.
async fn serve(
    listener: TcpListener,
    running: Running,
    triggers: &mut Triggers,
) -> Result<(), Error> {
    let attachment = running.attach_server();
    let acceptor = Acceptor {
        builder: builder(),
        closing: watch::channel(false).0,
        connections: JoinSet::new(),
        slots: Arc::new(tokio::sync::Semaphore::new(
            running
                .settings()
                .max_connections
                .min(tokio::sync::Semaphore::MAX_PERMITS),
        )),
        running: running.clone(),
        backoff: Backoff::default(),
    };
    let mut acceptor = acceptor;
    tracing::info!("serving");

    // Serve until a stop is asked for: by a signal or a handle (a deploy: drain with the
    // delay), or by the app itself through a `Shutdown` handle (it stops at once).
    let requested = running.shutdown_requested();
    tokio::pin!(requested);
    let deploy = tokio::select! {
        biased;
        () = triggers.reached(Stop::Graceful) => true,
        () = &mut requested => false,
        () = acceptor.accept_forever(&listener) => unreachable!("accepting never ends by itself"),
    };

    running.begin_drain();
    let delay = running.settings().drain_delay;
    if deploy && !delay.is_zero() {
        tracing::info!(
            delay_ms = delay.as_millis() as u64,
            "draining: not ready, still serving until the delay ends"
        );
        tokio::select! {
            biased;
            () = triggers.reached(Stop::Now) => running.skip_grace(),
            () = tokio::time::sleep(delay) => {}
            () = acceptor.accept_forever(&listener) => unreachable!("accepting never ends by itself"),
        }
    }
    // Connections the kernel completed before now were asked for by clients that already
    // sent, or are sending, a request: accept them rather than reset them with the listener.
    acceptor.accept_backlog(listener);
    let Acceptor {
        closing,
        mut connections,
        ..
    } = acceptor;
    tracing::info!(
        connections = connections.len(),
        "stopped accepting; draining"
    );
    closing.send_replace(true);

    // Drain: connections finish their requests and close, still served (each response
    // closing its connection); the grace period or a second signal cuts the rest. An app that
    // stopped itself keeps its grace period in the lifecycle.
    let grace = running.settings().grace_period;
    let cut = running.cut_requested();
    let drained = tokio::select! {
        () = async { while connections.join_next().await.is_some() {} } => true,
        () = tokio::time::sleep(grace) => false,
        () = cut => false,
        () = triggers.reached(Stop::Now) => false,
    };
    if !drained {
        tracing::warn!("the grace period is over: cutting the connections still open");
        running.skip_grace();
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
    drop(attachment);

    running.trigger_shutdown();
    running.shutdown().await.map_err(Error::from)
}

/// Accepts connections, up to the cap, and serves each on a task of its own.
struct Acceptor {
    builder: auto::Builder<TokioExecutor>,
    /// Set when the connections are to close: each does, between requests.
    closing: watch::Sender<bool>,
    connections: JoinSet<()>,
    /// One permit per open connection: at the cap, accepting waits for one to close.
    slots: Arc<tokio::sync::Semaphore>,
    running: Running,
    backoff: Backoff,
}

impl Acceptor {
    /// Accepts and serves until dropped (cancelled by the caller's `select!`).
    async fn accept_forever(&mut self, listener: &TcpListener) {
        loop {
            // Reap finished connections as they end, so the set does not grow.
            while self.connections.try_join_next().is_some() {}
            let slot = tokio::select! {
                slot = Arc::clone(&self.slots).acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => return std::future::pending().await,
                },
                Some(_) = self.connections.join_next(), if !self.connections.is_empty() => continue,
            };
            match listener.accept().await {
                Ok((stream, peer)) => {
                    self.backoff.reset();
                    self.spawn(stream, peer, Some(slot));
                }
                Err(error) => self.backoff.failed(&error).await,
            }
        }
    }

    /// Accepts the connections waiting in the listener's backlog, then closes it.
    fn accept_backlog(&mut self, listener: TcpListener) {
        let Ok(listener) = listener.into_std() else {
            return;
        };
        while let Ok((stream, peer)) = listener.accept() {
            let stream = stream
                .set_nonblocking(true)
                .and_then(|()| tokio::net::TcpStream::from_std(stream));
            match stream {
                // Past the cap, these few are served all the same: they are already here.
                Ok(stream) => {
                    let slot = Arc::clone(&self.slots).try_acquire_owned().ok();
                    self.spawn(stream, peer, slot);
                }
                Err(error) => tracing::debug!(%peer, %error, "could not take over a connection"),
            }
        }
    }

    fn spawn(&mut self, stream: tokio::net::TcpStream, peer: SocketAddr, slot: Option<Slot>) {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%peer, %error, "could not set TCP_NODELAY");
        }
        let header_read_timeout = self.running.settings().header_read_timeout;
        let running = self.running.clone();
        let watch = Arc::new(HeadWatch::default());
        let watched = Arc::clone(&watch);
        let service = service_fn(move |request: http::Request<Incoming>| {
            let running = running.clone();
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
        let connection = self
            .builder
            .serve_connection(
                TokioIo::new(Counted {
                    io: stream,
                    watch: Arc::clone(&watch),
                }),
                service,
            )
            .into_owned();
        let mut closing = self.closing.subscribe();
        self.connections.spawn(async move {
            let _slot = slot;
            tokio::pin!(connection);
            let expired = watch.expired(header_read_timeout);
            tokio::pin!(expired);
            // Once the server closes its connections: a connection that has not begun a
            // request yet was opened to send one, so that request is answered first.
            let asked = async {
                let _ = closing.wait_for(|closing| *closing).await;
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
        });
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

/// Accept failures, logged without flooding: file descriptors running out (`EMFILE`,
/// `ENFILE`) back off, from 10 ms doubling to 1 s, and are logged once a second at most.
#[derive(Default)]
struct Backoff {
    delay: Option<Duration>,
    last_warning: Option<tokio::time::Instant>,
    quiet: u64,
}

impl Backoff {
    fn reset(&mut self) {
        self.delay = None;
    }

    async fn failed(&mut self, error: &std::io::Error) {
        // ENFILE (23) and EMFILE (24): the process or the system is out of descriptors.
        let exhausted = matches!(error.raw_os_error(), Some(23 | 24));
        if !exhausted {
            // A connection reset before it was accepted, and the like: this one only.
            tracing::debug!(%error, "accept failed");
            return;
        }
        let now = tokio::time::Instant::now();
        if self
            .last_warning
            .is_none_or(|last| now - last >= Duration::from_secs(1))
        {
            tracing::warn!(
                %error,
                suppressed = self.quiet,
                "accept failed: out of file descriptors; backing off (lower `App::max_connections` below the descriptor limit)"
            );
            self.last_warning = Some(now);
            self.quiet = 0;
        } else {
            self.quiet += 1;
        }
        let delay = self.delay.map_or(Duration::from_millis(10), |delay| {
            (delay * 2).min(Duration::from_secs(1))
        });
        self.delay = Some(delay);
        tokio::time::sleep(delay).await;
    }
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
