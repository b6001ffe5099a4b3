//! The lifecycle engine: start in order, roll back on failure, serve requests, stop in order.
//!
//! `Created → Starting → Running → Stopping → Stopped`, or `Failed`.
//!
//! - this file: the states, the [`Running`] handle, and the counts that admission and the
//!   drain share;
//! - `start.rs`: validation, startup in the graph's order, rollback on failure;
//! - `stop.rs`: the drain, lifespans' teardown, shutdown hooks, dropping resources.
//!
//! What happens to one request, from admission to its response, is in [`crate::edge`].

mod plain;
mod start;
mod stop;

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use futures_util::FutureExt;
use tokio::sync::{oneshot, watch, Notify, OnceCell};
use tokio::task::JoinHandle;

pub(crate) use self::start::start;
use self::stop::stop;
use crate::blueprint::{Registration, Settings};
use crate::container::{Container, Produced, Res};
use crate::error::{Failure, ShutdownError};
use crate::extract::Lender;
use crate::layer::Endpoint;
use crate::report::Reporting;
use crate::routing::Router;
use crate::scope::DependencyTable;
use crate::shutdown::ShutdownTrigger;

/// Where an app is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LifecycleState {
    /// Registered, not started.
    Created,
    /// Validating and running startup providers and lifespans.
    Starting,
    /// Serving requests.
    Running,
    /// Draining requests and tearing down.
    Stopping,
    /// Torn down.
    Stopped,
    /// Startup failed; what had started was torn down.
    Failed,
}

impl LifecycleState {
    fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::Created,
            1 => Self::Starting,
            2 => Self::Running,
            3 => Self::Stopping,
            4 => Self::Stopped,
            _ => Self::Failed,
        }
    }

    fn as_u8(self) -> u8 {
        match self {
            Self::Created => 0,
            Self::Starting => 1,
            Self::Running => 2,
            Self::Stopping => 3,
            Self::Stopped => 4,
            Self::Failed => 5,
        }
    }
}

impl fmt::Display for LifecycleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A lifespan that reached `ready`, waiting for its teardown.
struct StartedLifespan {
    name: String,
    timeout: Option<Duration>,
    /// Tells it shutdown began, with where its teardown takes its values back from.
    stop: oneshot::Sender<Option<Lender>>,
    task: LifespanTask,
}

/// A lifespan's run, as a task of its own.
type LifespanTask = JoinHandle<Result<Option<Produced>, Failure>>;

/// What the request path reads: prepared routes and dependencies. Never locked.
pub(crate) struct Live {
    pub(crate) router: Router,
    /// The error renderer and observers.
    pub(crate) reporting: Reporting,
    pub(crate) dependencies: Arc<DependencyTable>,
    pub(crate) container: Container,
}

/// The state one running app shares among its handles, its servers and its requests.
struct Shared {
    live: ArcSwapOption<Live>,
    state: AtomicU8,
    in_flight: AtomicUsize,
    idle: Notify,
    trigger: ShutdownTrigger,
    teardown: std::sync::Mutex<Option<Teardown>>,
    outcome: OnceCell<Result<(), ShutdownError>>,
    settings: Settings,
    /// How many servers (`Server::run`) have connections open on this app; the teardown
    /// waits for them to close or cut their connections.
    servers: watch::Sender<usize>,
    /// Set to skip the rest of the grace period (a second signal).
    hurry: watch::Sender<bool>,
    /// Set when the grace period is over: servers cut the connections still open.
    cut: watch::Sender<bool>,
    /// Set when a server begins draining: not ready, though still serving.
    draining: AtomicBool,
    /// The bounds on reading request bodies.
    body_limits: BodyLimits,
    /// The background tasks: spawned once the app is up, stopped first.
    background: crate::background::Tasks,
    /// The app's tower layers (`App::layer`), built once at start; `None` without layers.
    /// The innermost holds this state weakly ([`WeakRunning`]): a strong handle would make a
    /// cycle, and the state would never be dropped.
    layers: Option<Endpoint>,
}

/// The bounds on reading a request body: its size, how long it may stall, and the memory that
/// all bodies being read may hold together (a permit per byte).
#[derive(Debug)]
pub(crate) struct BodyLimits {
    pub(crate) size: usize,
    pub(crate) stall: Duration,
    pub(crate) memory: Arc<tokio::sync::Semaphore>,
    /// The memory bound, in bytes (the semaphore's permits when none is taken).
    pub(crate) memory_limit: usize,
}

impl BodyLimits {
    fn new(settings: &Settings) -> Self {
        // A semaphore holds at most `Semaphore::MAX_PERMITS` permits.
        let memory_limit = settings
            .body_memory_limit
            .clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        Self {
            size: settings.body_limit,
            stall: settings.body_read_timeout,
            memory: Arc::new(tokio::sync::Semaphore::new(memory_limit)),
            memory_limit,
        }
    }
}

struct Teardown {
    lifespans: Vec<StartedLifespan>,
    hooks: Vec<Registration>,
}

/// A started app: it answers requests in-process and shuts down in order.
///
/// Made by [`App::start`](crate::App::start). Cloning it shares the same app.
#[derive(Clone)]
pub struct Running {
    shared: Arc<Shared>,
}

impl fmt::Debug for Running {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Running")
            .field("state", &self.state())
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

/// A running app held weakly: what the innermost of its layers holds.
#[derive(Clone)]
pub(crate) struct WeakRunning(std::sync::Weak<Shared>);

impl WeakRunning {
    /// The app, unless it was dropped.
    pub(crate) fn upgrade(&self) -> Option<Running> {
        self.0.upgrade().map(|shared| Running { shared })
    }
}

fn elapsed_ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

async fn with_timeout<F, T>(timeout: Option<Duration>, future: F) -> Result<T, Failure>
where
    F: Future<Output = Result<T, Failure>>,
{
    let caught = AssertUnwindSafe(future).catch_unwind();
    let result = match timeout {
        Some(limit) => match tokio::time::timeout(limit, caught).await {
            Ok(result) => result,
            Err(_) => return Err(Failure::Timeout(limit)),
        },
        None => caught.await,
    };
    result.unwrap_or_else(|panic| Err(Failure::from_panic(panic)))
}

/// Why a spawned task ended without its result: its panic, or its cancellation.
pub(crate) fn join_failure(join: tokio::task::JoinError) -> Failure {
    match join.try_into_panic() {
        Ok(panic) => Failure::from_panic(panic),
        Err(_) => Failure::from_error("the task was cancelled"),
    }
}

/// In-process, a `Shutdown` handle's trigger starts the shutdown once requests drain.
fn watch_for_trigger(shared: &Arc<Shared>) {
    let weak = Arc::downgrade(shared);
    let triggered = shared.trigger.triggered();
    tokio::spawn(async move {
        triggered.await;
        if let Some(shared) = weak.upgrade() {
            let running = Running { shared };
            if let Err(error) = running.shutdown().await {
                tracing::error!(%error, "shutdown reported failures");
            }
        }
    });
}

/// A request admitted while the app was running: counted in flight until dropped, so the
/// drain waits for it (from its headers to its response, body reading included). It borrows
/// the handle that admitted it, which outlives the request's answer.
pub(crate) struct Admitted<'a> {
    shared: &'a Shared,
}

/// What the request path reads, held for one request: the stop's teardown, which takes
/// it back, finds it still held (as it would a clone of the `Arc`) and leaves it to the
/// request.
pub(crate) type LiveGuard = arc_swap::Guard<Option<Arc<Live>>>;

impl Admitted<'_> {
    /// What the request path reads, unless the app has stopped since: a guard, which costs
    /// less to take and to let go than a clone of the `Arc`.
    pub(crate) fn live(&self) -> LiveGuard {
        self.shared.live.load()
    }

    /// The app's shutdown signal, for the request's `Shutdown` extractors.
    pub(crate) fn trigger(&self) -> &ShutdownTrigger {
        &self.shared.trigger
    }

    /// The bounds on reading the request's body.
    pub(crate) fn body_limits(&self) -> &BodyLimits {
        &self.shared.body_limits
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        // Only the stop's drain waits for the count to reach zero, and it marks the app as
        // stopping before it first reads the count: a request that ends before that mark is
        // seen in the count (both orders are `SeqCst`), so it need not wake anyone.
        if self.shared.in_flight.fetch_sub(1, Ordering::SeqCst) == 1
            && self.shared.state.load(Ordering::SeqCst) != LifecycleState::Running.as_u8()
        {
            self.shared.idle.notify_waiters();
        }
    }
}

/// A server's claim on a running app: the teardown waits until it is dropped.
pub(crate) struct ServerAttachment {
    shared: Arc<Shared>,
}

impl Drop for ServerAttachment {
    fn drop(&mut self) {
        self.shared.servers.send_modify(|servers| *servers -= 1);
    }
}

impl Running {
    /// Where the app is in its life: `Running`, `Stopping` or `Stopped`.
    pub fn state(&self) -> LifecycleState {
        LifecycleState::from_u8(self.shared.state.load(Ordering::SeqCst))
    }

    /// The resource of type `T`, for code outside handlers; `None` if nothing provides it or
    /// the app has stopped.
    pub fn resource<T: Send + Sync + 'static>(&self) -> Option<Res<T>> {
        self.shared
            .live
            .load()
            .as_ref()
            .and_then(|live| live.container.get::<T>())
    }

    /// Asks for a graceful shutdown without waiting for it, like a
    /// [`Shutdown`](crate::Shutdown) handle.
    pub fn trigger_shutdown(&self) {
        self.shared.trigger.trigger();
    }

    /// Resolves when a shutdown is asked for (by a `Shutdown` handle, a signal under `serve`,
    /// or [`Running::trigger_shutdown`]).
    pub fn shutdown_requested(&self) -> impl Future<Output = ()> + Send + 'static {
        self.shared.trigger.triggered()
    }

    /// Stops the app: stops taking requests and tells background tasks to stop, lets the
    /// requests in flight finish within the grace period, awaits the background tasks within
    /// their timeouts, runs lifespans' teardown in reverse start order, then shutdown hooks in
    /// registration order, then drops resources in reverse start order.
    ///
    /// Every failure comes back together; if a background task's failure stopped the app, it
    /// is the error's [`cause`](ShutdownError::cause). Calling it again returns the first
    /// call's result.
    pub fn shutdown(&self) -> impl Future<Output = Result<(), ShutdownError>> + Send + 'static {
        let shared = Arc::clone(&self.shared);
        async move {
            let outcome = shared
                .outcome
                .get_or_init(|| stop(Arc::clone(&shared)))
                .await;
            outcome.clone()
        }
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    /// Admits a request if the app is running, counting it in flight; `None` if it is not
    /// (the edge answers `503`).
    pub(crate) fn admit(&self) -> Option<Admitted<'_>> {
        self.shared.in_flight.fetch_add(1, Ordering::SeqCst);
        let admitted = Admitted {
            shared: &self.shared,
        };
        // Counted first, checked second: `stop` sets `Stopping` before it reads the count,
        // so a request is either refused here or waited for by the drain.
        (self.state() == LifecycleState::Running).then_some(admitted)
    }

    /// Registers a server whose connections the teardown must wait for.
    pub(crate) fn attach_server(&self) -> ServerAttachment {
        self.shared.servers.send_modify(|servers| *servers += 1);
        ServerAttachment {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Ends the grace period now (a second signal): connections still open are cut.
    pub(crate) fn skip_grace(&self) {
        self.shared.hurry.send_replace(true);
    }

    /// Resolves when the grace period is over and servers must cut what is still open.
    pub(crate) fn cut_requested(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut cut = self.shared.cut.subscribe();
        async move {
            let _ = cut.wait_for(|cut| *cut).await;
        }
    }

    /// A server begins its drain: the readiness route answers `503`, and HTTP/1.1 responses
    /// carry `Connection: close`, while requests are still served.
    pub(crate) fn begin_drain(&self) {
        self.shared.draining.store(true, Ordering::Relaxed);
        // Long-lived work ends now, while requests are still served.
        self.shared.trigger.request_stop();
    }

    /// Whether a server is draining this app.
    pub(crate) fn is_draining(&self) -> bool {
        self.shared.draining.load(Ordering::Relaxed)
    }

    /// What the request path reads, unless the app has stopped.
    pub(crate) fn live(&self) -> Option<Arc<Live>> {
        self.shared.live.load_full()
    }

    /// The app's shutdown signal.
    pub(crate) fn trigger(&self) -> &ShutdownTrigger {
        &self.shared.trigger
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.shared.settings
    }

    /// The app's tower layers, if it has any.
    pub(crate) fn layers(&self) -> Option<&Endpoint> {
        self.shared.layers.as_ref()
    }
}
