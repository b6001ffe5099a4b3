//! The HTTP server: hyper 1 (HTTP/1.1 and HTTP/2), signals, graceful drain, limits.
//!
//! This file: binding, the `Server` and its handle, and the stop signals. `drain.rs`: accepting
//! up to the connection cap, and the drain from the stop signal to the teardown.
//! `connection.rs`: one connection, its idle check and the HTTP/1.1 head rules.
//!
//! [`App::serve`] binds, starts, accepts, and on SIGINT or SIGTERM (or a
//! [`Shutdown`](crate::Shutdown) handle, or a [`ServerHandle`]) stops accepting, drains the
//! requests in flight within the grace period, cuts what is still open, and runs the
//! teardown.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::watch;
use tracing::Instrument;

use crate::app::App;
use crate::error::Error;

mod connection;
mod drain;
mod listen;

impl App {
    /// Serves the app on `addr` until SIGINT or SIGTERM (Ctrl-C elsewhere than Unix), or a
    /// [`Shutdown`](crate::Shutdown) handle from a handler, asks it to stop.
    ///
    /// In order: binds `addr` (or takes the socket inherited through `LISTEN_FDS`, see
    /// [`App::bind`]; a port in use fails with [`Error::Io`] before any provider
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
    /// A process given a listening socket by the `LISTEN_FDS` protocol (systemd's socket
    /// activation, `systemfd`, `roadie-dev`) serves that socket instead, and says so in the
    /// log with the address it does not use. The guide's development chapter has the details.
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
        let listener = match listen::inherited()? {
            Some(inherited) => {
                let listener = listen::adopt(inherited, "the socket inherited through LISTEN_FDS")?;
                if let Ok(local_addr) = listener.local_addr() {
                    listen::log_inherited(local_addr, addr).await;
                }
                listener
            }
            None => TcpListener::bind(addr)
                .await
                .map_err(|error| Error::io("could not bind the server's address", error))?,
        };
        self.server_on(listener)
    }

    /// Serves the app on a listening socket made elsewhere, until shutdown: [`App::serve`]
    /// without the binding, and without looking for an inherited socket.
    ///
    /// The socket is made non-blocking. One that is not listening is an [`Error::Io`] saying
    /// so, before any provider runs.
    ///
    /// ```no_run
    /// use roadie::prelude::*;
    ///
    /// #[tokio::main]
    /// async fn main() -> Result<(), roadie::Error> {
    ///     let listener = std::net::TcpListener::bind("127.0.0.1:8080").unwrap();
    ///     App::new()
    ///         .get("/", || async { "hello" })
    ///         .serve_listener(listener)
    ///         .await
    /// }
    /// ```
    pub async fn serve_listener(self, listener: std::net::TcpListener) -> Result<(), Error> {
        self.bind_listener(listener).await?.run().await
    }

    /// Prepares a [`Server`] on a listening socket made elsewhere, without starting the app:
    /// the first half of [`App::serve_listener`], as [`App::bind`] is of [`App::serve`].
    ///
    /// Call it inside the tokio runtime. The socket is made non-blocking; one that is not
    /// listening is an [`Error::Io`] saying so.
    ///
    /// ```
    /// use roadie::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), roadie::Error> {
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let address = listener.local_addr().unwrap();
    /// let server = App::new().bind_listener(listener).await?.with_signals(false);
    /// assert_eq!(server.local_addr(), address);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn bind_listener(self, listener: std::net::TcpListener) -> Result<Server, Error> {
        let listener = listen::adopt(listener, "the listener given to `bind_listener`")?;
        self.server_on(listener)
    }

    fn server_on(self, listener: TcpListener) -> Result<Server, Error> {
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
        listen::notify_ready();
        let span = tracing::info_span!("roadie.serve", address = %local_addr);
        drain::serve(listener, running, &mut triggers)
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
