//! The lifecycle engine: start in order, roll back on failure, serve requests, stop in order.
//!
//! `Created → Starting → Running → Stopping → Stopped`, or `Failed`.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use http::{header, StatusCode};
use tokio::sync::{oneshot, watch, Notify, OnceCell};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::app::{Blueprint, Checked, Registration, RegistrationBody, Settings};
use crate::container::{Container, Produced, Res};
use crate::error::{Failure, NodeError, ShutdownError, Stage, StartupError};
use crate::extract::{Context, Prepare, RequestContext};
use crate::graph::{self, Kind};
use crate::lifespan::LifespanSlot;
use crate::request::Request;
use crate::response::{IntoResponse, Response};
use crate::routing::{Lookup, Router};
use crate::scope::{DependencyIndex, DependencyTable, Outcome, Scope};

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

/// Asks a running app to shut down; shared by every [`Shutdown`](crate::Shutdown) handle.
#[derive(Clone)]
pub(crate) struct ShutdownTrigger {
    sender: Arc<watch::Sender<bool>>,
}

impl fmt::Debug for ShutdownTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownTrigger")
            .field("triggered", &self.is_triggered())
            .finish()
    }
}

impl ShutdownTrigger {
    pub(crate) fn new() -> Self {
        Self {
            sender: Arc::new(watch::channel(false).0),
        }
    }

    pub(crate) fn trigger(&self) {
        self.sender.send_replace(true);
    }

    pub(crate) fn is_triggered(&self) -> bool {
        *self.sender.borrow()
    }

    /// Resolves once a shutdown was asked for.
    pub(crate) fn triggered(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut receiver = self.sender.subscribe();
        async move {
            let _ = receiver.wait_for(|triggered| *triggered).await;
        }
    }
}

/// A lifespan that reached `ready`, waiting for its teardown.
struct StartedLifespan {
    name: String,
    timeout: Option<Duration>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<Option<Produced>, Failure>>,
}

/// What the request path reads: prepared routes and dependencies. Never locked.
pub(crate) struct Live {
    router: Router,
    dependencies: Arc<DependencyTable>,
    container: Container,
    body_limit: usize,
}

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

fn elapsed_ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

async fn with_timeout<F, T>(timeout: Option<Duration>, future: F) -> Result<T, Failure>
where
    F: std::future::Future<Output = Result<T, Failure>>,
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

/// What a startup node gave back.
struct Started {
    produced: Option<Produced>,
    lifespan: Option<StartedLifespan>,
}

type LifespanTask = JoinHandle<Result<Option<Produced>, Failure>>;

/// Lifespans whose setup was abandoned mid-way (a sibling failed during concurrent startup and
/// its start was dropped), waiting for the engine to tear them down or cancel them.
type Abandoned = Arc<std::sync::Mutex<Vec<Setup>>>;

/// A lifespan whose setup is running. If the start that owns it is dropped before the setup
/// ends, it goes to the [`Abandoned`] list rather than running on unobserved.
struct Setup {
    name: String,
    timeout: Option<Duration>,
    ready: oneshot::Receiver<Option<Produced>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<LifespanTask>,
    /// Whether `task` was awaited to its end (a finished handle must not be awaited again).
    finished: bool,
    abandoned: Option<Abandoned>,
}

impl Setup {
    /// Waits for `ready`, or for the lifespan to end without it.
    async fn wait(&mut self) -> Result<Option<Produced>, Failure> {
        let task = self
            .task
            .as_mut()
            .expect("a setup has its task until it ends");
        let ended = tokio::select! {
            biased;
            ready = &mut self.ready => match ready {
                Ok(produced) => return Ok(produced),
                // The sender went away without a value: the lifespan ended.
                Err(_) => task.await,
            },
            ended = &mut *task => ended,
        };
        self.finished = true;
        Err(match ended {
            Ok(Ok(_)) => Failure::NotReady,
            Ok(Err(failure)) => failure,
            Err(join) => join_failure(join),
        })
    }

    /// The setup failed or timed out: cancels the lifespan and waits until what it held is
    /// released.
    async fn cancel(mut self) {
        if let Some(task) = self.task.take() {
            if !self.finished {
                task.abort();
                let _ = task.await;
            }
        }
    }

    /// An abandoned setup: a lifespan that reached `ready` is started (its value registered,
    /// its teardown to run with the rest); any other is cancelled.
    async fn reclaim(mut self, container: &mut Container, lifespans: &mut Vec<StartedLifespan>) {
        match self.ready.try_recv() {
            Ok(produced) => {
                if let Some(produced) = produced {
                    produced.insert_into(container);
                }
                if let (Some(stop), Some(task)) = (self.stop.take(), self.task.take()) {
                    lifespans.push(StartedLifespan {
                        name: std::mem::take(&mut self.name),
                        timeout: self.timeout,
                        stop,
                        task,
                    });
                }
            }
            Err(_) => {
                tracing::debug!(node = %self.name, "cancelled: startup failed while it was setting up");
                self.cancel().await;
            }
        }
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            match self.abandoned.take() {
                Some(abandoned) => {
                    let setup = Setup {
                        name: std::mem::take(&mut self.name),
                        timeout: self.timeout,
                        ready: std::mem::replace(&mut self.ready, oneshot::channel().1),
                        stop: self.stop.take(),
                        task: self.task.take(),
                        finished: self.finished,
                        abandoned: None,
                    };
                    match abandoned.lock() {
                        Ok(mut list) => list.push(setup),
                        Err(poisoned) => poisoned.into_inner().push(setup),
                    }
                }
                // Nobody will reclaim it (the whole start was dropped): cancel it.
                None => task.abort(),
            }
        }
    }
}

/// Prepares a startup node against the container as it is now, and returns its run.
fn start_node<'a>(
    registration: &'a Registration,
    container: &Container,
    trigger: &ShutdownTrigger,
    default_timeout: Option<Duration>,
    abandoned: &Abandoned,
) -> futures_util::future::BoxFuture<'a, Result<Started, Failure>> {
    let RegistrationBody::Run(node) = &registration.body else {
        unreachable!("only providers and lifespans start");
    };
    let prepare = Prepare {
        container,
        dependencies: None,
    };
    let timeout = registration.timeout.or(default_timeout);
    let kind = registration.kind;
    let span = tracing::info_span!("roadie.start", node = %registration.name, kind = ?kind);
    if kind != Kind::Lifespan {
        let run = node.call(&prepare, trigger.clone());
        return async move {
            let began = Instant::now();
            let result = with_timeout(timeout, run).await.map(|produced| Started {
                produced,
                lifespan: None,
            });
            log_start(began, &result);
            result
        }
        .instrument(span)
        .boxed();
    }
    let name = registration.name.clone();
    let (ready_tx, ready_rx) = oneshot::channel();
    let (stop_tx, stop_rx) = oneshot::channel();
    let run = Arc::clone(node).run(
        &prepare,
        trigger.clone(),
        Some(LifespanSlot {
            ready: ready_tx,
            stop: stop_rx,
        }),
    );
    let teardown_timeout = registration.timeout;
    let abandoned = Arc::clone(abandoned);
    async move {
        let began = Instant::now();
        let task = tokio::spawn(run.instrument(tracing::Span::current()));
        let mut setup = Setup {
            name,
            timeout: teardown_timeout,
            ready: ready_rx,
            stop: Some(stop_tx),
            task: Some(task),
            finished: false,
            abandoned: Some(abandoned),
        };
        let result = match with_timeout(timeout, setup.wait()).await {
            Ok(produced) => {
                setup.abandoned = None;
                match (setup.stop.take(), setup.task.take()) {
                    (Some(stop), Some(task)) => Ok(Started {
                        produced,
                        lifespan: Some(StartedLifespan {
                            name: std::mem::take(&mut setup.name),
                            timeout: teardown_timeout,
                            stop,
                            task,
                        }),
                    }),
                    _ => unreachable!("a setup keeps its task and stop until it ends"),
                }
            }
            Err(failure) => {
                setup.abandoned = None;
                setup.cancel().await;
                Err(failure)
            }
        };
        log_start(began, &result);
        result
    }
    .instrument(span)
    .boxed()
}

fn log_start(began: Instant, result: &Result<Started, Failure>) {
    match result {
        Ok(_) => tracing::debug!(elapsed_ms = elapsed_ms(began), "started"),
        Err(failure) => {
            tracing::error!(elapsed_ms = elapsed_ms(began), error = %failure, "failed to start")
        }
    }
}

fn join_failure(join: tokio::task::JoinError) -> Failure {
    match join.try_into_panic() {
        Ok(panic) => Failure::from_panic(panic),
        Err(_) => Failure::from_error("the task was cancelled"),
    }
}

/// Tears down what started: lifespans in reverse, then hooks (those whose required resources
/// exist) in registration order. Resources are dropped by the caller afterwards.
async fn tear_down(
    lifespans: Vec<StartedLifespan>,
    hooks: &[Registration],
    container: &Container,
    trigger: &ShutdownTrigger,
    settings: &Settings,
) -> Vec<NodeError> {
    let mut failures = Vec::new();
    for lifespan in lifespans.into_iter().rev() {
        let StartedLifespan {
            name,
            timeout,
            stop,
            mut task,
        } = lifespan;
        let span = tracing::info_span!("roadie.teardown", node = %name);
        let began = Instant::now();
        let _ = stop.send(());
        let limit = timeout.or(settings.shutdown_timeout);
        let result = async {
            let outcome = match limit {
                Some(limit) => match tokio::time::timeout(limit, &mut task).await {
                    Ok(joined) => joined,
                    Err(_) => {
                        // Cancel it and wait until what it held is released.
                        task.abort();
                        let _ = task.await;
                        return Err(Failure::Timeout(limit));
                    }
                },
                None => task.await,
            };
            match outcome {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(failure)) => Err(failure),
                Err(join) => Err(join_failure(join)),
            }
        }
        .instrument(span.clone())
        .await;
        let _enter = span.enter();
        match result {
            Ok(()) => tracing::debug!(elapsed_ms = elapsed_ms(began), "torn down"),
            Err(failure) => {
                tracing::error!(elapsed_ms = elapsed_ms(began), error = %failure, "teardown failed");
                failures.push(NodeError::new(name, Stage::Teardown, failure));
            }
        }
    }

    for hook in hooks {
        let runnable = hook.needs.items.iter().all(|need| match need.kind {
            crate::extract::NeedKind::Resource { optional: false } => {
                container.contains_type(need.ty)
            }
            _ => true,
        });
        if !runnable {
            tracing::debug!(node = %hook.name, "skipped: a resource it needs was never started");
            continue;
        }
        let RegistrationBody::Run(node) = &hook.body else {
            continue;
        };
        let prepare = Prepare {
            container,
            dependencies: None,
        };
        let run = node.call(&prepare, trigger.clone());
        let span = tracing::info_span!("roadie.shutdown", node = %hook.name);
        let began = Instant::now();
        let result = with_timeout(hook.timeout.or(settings.shutdown_timeout), run)
            .instrument(span.clone())
            .await;
        let _enter = span.enter();
        match result {
            Ok(_) => tracing::debug!(elapsed_ms = elapsed_ms(began), "shutdown hook ran"),
            Err(failure) => {
                tracing::error!(elapsed_ms = elapsed_ms(began), error = %failure, "shutdown hook failed");
                failures.push(NodeError::new(hook.name.clone(), Stage::Shutdown, failure));
            }
        }
    }
    failures
}

/// Validates and starts an app.
pub(crate) async fn start(blueprint: Arc<Blueprint>) -> Result<Running, StartupError> {
    let settings = blueprint.settings.clone();
    let span = tracing::info_span!("roadie.startup", nodes = blueprint.registrations.len());
    async move {
        let registrations = &blueprint.registrations;
        let began = Instant::now();
        let Checked { plan, routes } = match blueprint.check() {
            Ok(checked) => checked,
            Err(invalid) => {
                let error = StartupError::Invalid(invalid);
                tracing::error!(%error, "the app is not valid");
                return Err(error);
            }
        };

        let trigger = ShutdownTrigger::new();
        let mut container = Container::new();
        let mut lifespans = Vec::new();
        let hooks: Vec<Registration> = registrations
            .iter()
            .filter(|r| r.kind == Kind::Hook)
            .cloned()
            .collect();

        let failed = if settings.concurrent_startup {
            start_concurrently(
                registrations,
                &plan,
                &mut container,
                &mut lifespans,
                &trigger,
                &settings,
            )
            .await
        } else {
            let mut failed = None;
            let abandoned = Abandoned::default();
            for &index in &plan.startup {
                let registration = &registrations[index];
                let run = start_node(
                    registration,
                    &container,
                    &trigger,
                    settings.startup_timeout,
                    &abandoned,
                );
                match run.await {
                    Ok(started) => record(started, &mut container, &mut lifespans),
                    Err(failure) => {
                        failed = Some(NodeError::new(
                            registration.name.clone(),
                            Stage::Startup,
                            failure,
                        ));
                        break;
                    }
                }
            }
            failed
        };

        if let Some(failed) = failed {
            let rollback = tear_down(lifespans, &hooks, &container, &trigger, &settings).await;
            container.drop_in_reverse();
            let error = StartupError::Failed { failed, rollback };
            tracing::error!(%error, "startup failed; what had started was torn down");
            return Err(error);
        }

        let mut index = DependencyIndex::default();
        let dependency_registrations: Vec<&Registration> = registrations
            .iter()
            .filter(|r| r.kind == Kind::Dependency)
            .collect();
        for (slot, registration) in dependency_registrations.iter().enumerate() {
            if let Some((ty, _)) = registration.provides {
                index.insert(ty, slot);
            }
        }
        let prepare = Prepare {
            container: &container,
            dependencies: Some(&index),
        };
        let dependencies = Arc::new(DependencyTable {
            dependencies: dependency_registrations
                .iter()
                .filter_map(|r| match &r.body {
                    RegistrationBody::Dependency(node) => Some(node.prepare(&prepare)),
                    _ => None,
                })
                .collect(),
            background: Default::default(),
        });
        let router = Router::build(&routes, &prepare);
        let live = Live {
            router,
            dependencies,
            container,
            body_limit: settings.body_limit,
        };
        let shared = Arc::new(Shared {
            live: ArcSwapOption::from_pointee(live),
            state: AtomicU8::new(LifecycleState::Running.as_u8()),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
            trigger: trigger.clone(),
            teardown: std::sync::Mutex::new(Some(Teardown { lifespans, hooks })),
            outcome: OnceCell::new(),
            settings,
            servers: watch::channel(0).0,
            hurry: watch::channel(false).0,
            cut: watch::channel(false).0,
        });
        watch_for_trigger(&shared);
        tracing::info!(elapsed_ms = elapsed_ms(began), "started");
        Ok(Running { shared })
    }
    .instrument(span)
    .await
}

fn record(started: Started, container: &mut Container, lifespans: &mut Vec<StartedLifespan>) {
    if let Some(produced) = started.produced {
        produced.insert_into(container);
    }
    if let Some(lifespan) = started.lifespan {
        lifespans.push(lifespan);
    }
}

/// Starts every node as soon as the nodes it waits for have started.
async fn start_concurrently(
    registrations: &[Registration],
    plan: &graph::Plan,
    container: &mut Container,
    lifespans: &mut Vec<StartedLifespan>,
    trigger: &ShutdownTrigger,
    settings: &Settings,
) -> Option<NodeError> {
    let mut remaining = plan.waits.clone();
    // Launch in plan order, so that ties keep the documented order.
    let mut position = vec![usize::MAX; registrations.len()];
    for (at, &index) in plan.startup.iter().enumerate() {
        position[index] = at;
    }
    let mut running = FuturesUnordered::new();
    let abandoned = Abandoned::default();
    let launch = |index: usize, container: &Container| {
        let run = start_node(
            &registrations[index],
            container,
            trigger,
            settings.startup_timeout,
            &abandoned,
        );
        async move { (index, run.await) }
    };
    for &index in &plan.startup {
        if remaining[index] == 0 {
            running.push(launch(index, container));
        }
    }
    while let Some((index, result)) = running.next().await {
        match result {
            Ok(started) => {
                record(started, container, lifespans);
                let mut ready: Vec<usize> = Vec::new();
                for &dependent in plan.dependents(index) {
                    let dependent = dependent as usize;
                    remaining[dependent] -= 1;
                    if remaining[dependent] == 0 {
                        ready.push(dependent);
                    }
                }
                ready.sort_by_key(|&index| position[index]);
                for next in ready {
                    running.push(launch(next, container));
                }
            }
            Err(failure) => {
                // Cancel what is still starting: dropping a provider's run cancels it; a
                // lifespan's setup is handed back, to be torn down if it reached `ready` (the
                // engine had not seen it yet) or cancelled otherwise.
                drop(running);
                let abandoned = match abandoned.lock() {
                    Ok(mut list) => std::mem::take(&mut *list),
                    Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
                };
                for setup in abandoned {
                    setup.reclaim(container, lifespans).await;
                }
                return Some(NodeError::new(
                    registrations[index].name.clone(),
                    Stage::Startup,
                    failure,
                ));
            }
        }
    }
    None
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
/// drain waits for it (from its headers to its response, body reading included).
pub(crate) struct Admitted {
    shared: Arc<Shared>,
}

impl Admitted {
    /// Dispatches the admitted request.
    pub(crate) async fn dispatch(self, request: Request) -> Response {
        let Some(live) = self.shared.live.load_full() else {
            return unavailable("the app has stopped");
        };
        live.dispatch(request, &self.shared.trigger).await
    }

    /// The largest request body the app accepts, in bytes.
    pub(crate) fn body_limit(&self) -> usize {
        self.shared.settings.body_limit
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if self.shared.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
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

fn unavailable(message: &str) -> Response {
    let mut response = Response::json_value(
        StatusCode::SERVICE_UNAVAILABLE,
        &serde_json::json!({ "error": message }),
    );
    response
        .headers_mut()
        .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
    response
}

/// The answer to a request that arrives while the app stops.
pub(crate) fn shutting_down_response() -> Response {
    unavailable("the app is shutting down")
}

pub(crate) fn startup_failed_response() -> Response {
    unavailable("the app failed to start")
}

/// The readiness route's answer in `state`: `200` only while running.
pub(crate) fn readiness_response(state: LifecycleState) -> Response {
    let status = if state == LifecycleState::Running {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut response = Response::json_value(
        status,
        &serde_json::json!({ "state": state.to_string().to_lowercase() }),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    response
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

    /// Answers one request in-process: no socket.
    pub fn execute(
        &self,
        request: impl Into<Request>,
    ) -> impl std::future::Future<Output = Response> + Send + 'static {
        let request = request.into();
        let running = self.clone();
        async move { dispatch(&running, request).await }
    }

    /// Answers one request, borrowing this handle (for [`App::execute`](crate::App::execute)).
    pub(crate) async fn dispatch(&self, request: Request) -> Response {
        dispatch(self, request).await
    }

    /// Asks for a graceful shutdown without waiting for it, like a
    /// [`Shutdown`](crate::Shutdown) handle.
    pub fn trigger_shutdown(&self) {
        self.shared.trigger.trigger();
    }

    /// Resolves when a shutdown is asked for (by a `Shutdown` handle, a signal under `serve`,
    /// or [`Running::trigger_shutdown`]).
    pub fn shutdown_requested(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.shared.trigger.triggered()
    }

    /// Stops the app: stops taking requests, lets those in flight finish within the grace
    /// period, runs lifespans' teardown in reverse start order, then shutdown hooks in
    /// registration order, then drops resources in reverse start order.
    ///
    /// Every failure comes back together. Calling it again returns the first call's result.
    pub fn shutdown(
        &self,
    ) -> impl std::future::Future<Output = Result<(), ShutdownError>> + Send + 'static {
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
    /// (answer [`shutting_down_response`]).
    pub(crate) fn admit(&self) -> Option<Admitted> {
        self.shared.in_flight.fetch_add(1, Ordering::SeqCst);
        let admitted = Admitted {
            shared: Arc::clone(&self.shared),
        };
        // Counted first, checked second: `stop` sets `Stopping` before it reads the count,
        // so a request is either refused here or waited for by the drain.
        (self.state() == LifecycleState::Running).then_some(admitted)
    }

    /// The answer of the readiness route, if `path` is the readiness path
    /// ([`App::readiness`](crate::App::readiness)): `200` while running, `503` otherwise.
    pub(crate) fn readiness(&self, path: &str) -> Option<Response> {
        let ready = self.shared.settings.readiness_path.as_deref()?;
        (ready == path).then(|| readiness_response(self.state()))
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
    pub(crate) fn cut_requested(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut cut = self.shared.cut.subscribe();
        async move {
            let _ = cut.wait_for(|cut| *cut).await;
        }
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.shared.settings
    }
}

async fn dispatch(running: &Running, request: Request) -> Response {
    if let Some(response) = running.readiness(request.uri().path()) {
        return response;
    }
    match running.admit() {
        Some(admitted) => admitted.dispatch(request).await,
        None => shutting_down_response(),
    }
}

impl Live {
    async fn dispatch(&self, request: Request, trigger: &ShutdownTrigger) -> Response {
        let (mut parts, body) = request.inner.into_parts();
        if body.len() > self.body_limit {
            return crate::rejection::Rejection::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the request body is larger than the limit of {} bytes",
                    self.body_limit
                ),
            )
            .into_response();
        }
        let (handler, params) = match self.router.find(&parts.method, parts.uri.path()) {
            Lookup::Handler { handler, params } => (handler, params),
            Lookup::NotFound => {
                return Response::json_value(
                    StatusCode::NOT_FOUND,
                    &serde_json::json!({ "error": "Not Found" }),
                );
            }
            Lookup::MethodNotAllowed(allow) => {
                let mut response = Response::json_value(
                    StatusCode::METHOD_NOT_ALLOWED,
                    &serde_json::json!({ "error": "Method Not Allowed" }),
                );
                response.headers_mut().insert(header::ALLOW, allow);
                return response;
            }
        };
        let head = parts.method == http::Method::HEAD;
        let mut scope = Scope::new(Arc::clone(&self.dependencies));
        let result = {
            let mut cx = Context {
                request: Some(RequestContext {
                    parts: &mut parts,
                    params: &params,
                    scope: &mut scope,
                }),
                lifespan: None,
                shutdown: trigger,
            };
            AssertUnwindSafe(handler.call(&mut cx, body))
                .catch_unwind()
                .await
        };
        let (mut response, outcome) = match result {
            Ok(response) => {
                let status = response.status();
                let outcome = if response.is_handler_failure() {
                    Outcome::Failed(status)
                } else {
                    Outcome::Responded(status)
                };
                (response, outcome)
            }
            Err(panic) => {
                tracing::error!(
                    method = %parts.method,
                    path = parts.uri.path(),
                    panic = %crate::error::panic_message(panic.as_ref()),
                    "handler panicked"
                );
                (Response::internal_error(), Outcome::Panicked)
            }
        };
        scope.finish(outcome).await;
        if head {
            response.strip_body();
        }
        response
    }
}

async fn stop(shared: Arc<Shared>) -> Result<(), ShutdownError> {
    let span = tracing::info_span!("roadie.stop");
    async move {
        let began = Instant::now();
        shared
            .state
            .store(LifecycleState::Stopping.as_u8(), Ordering::SeqCst);
        shared.trigger.trigger();

        // Drain: wait for requests in flight and for servers to close their connections,
        // within the grace period (which a second signal ends early).
        let mut servers = shared.servers.subscribe();
        let drain = async {
            loop {
                let notified = shared.idle.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if shared.in_flight.load(Ordering::SeqCst) == 0 {
                    break;
                }
                notified.await;
            }
            let _ = servers.wait_for(|servers| *servers == 0).await;
        };
        let mut hurry = shared.hurry.subscribe();
        let drained = tokio::select! {
            drained = tokio::time::timeout(shared.settings.grace_period, drain) => drained.is_ok(),
            _ = hurry.wait_for(|hurry| *hurry) => false,
        };
        if !drained {
            tracing::warn!(
                in_flight = shared.in_flight.load(Ordering::SeqCst),
                "the grace period ended with requests in flight; cutting them"
            );
        }
        // Servers cut what is still open; wait until they have (cutting drops the requests'
        // futures, which releases their request scopes).
        shared.cut.send_replace(true);
        let _ = servers.wait_for(|servers| *servers == 0).await;
        // Cancelled requests release their dependencies in the background: let those
        // releases finish before the teardown closes what they give back to.
        if let Some(live) = shared.live.load_full() {
            let releases = live.dependencies.background.finished();
            let finished = match shared.settings.shutdown_timeout {
                Some(limit) => tokio::time::timeout(limit, releases).await.is_ok(),
                None => {
                    releases.await;
                    true
                }
            };
            if !finished {
                tracing::warn!("releases of cancelled requests were still running");
            }
        }

        let teardown = match shared.teardown.lock() {
            Ok(mut slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let live = shared.live.swap(None);
        let mut failures = Vec::new();
        if let (Some(Teardown { lifespans, hooks }), Some(live)) = (teardown, live) {
            failures = tear_down(
                lifespans,
                &hooks,
                &live.container,
                &shared.trigger,
                &shared.settings,
            )
            .await;
            drop(hooks);
            match Arc::try_unwrap(live) {
                Ok(live) => {
                    let Live {
                        router,
                        dependencies,
                        mut container,
                        ..
                    } = live;
                    drop(router);
                    drop(dependencies);
                    container.drop_in_reverse();
                }
                Err(_) => tracing::warn!(
                    "requests still in flight hold resources; they are dropped when those end"
                ),
            }
        }
        shared
            .state
            .store(LifecycleState::Stopped.as_u8(), Ordering::SeqCst);
        tracing::info!(
            elapsed_ms = elapsed_ms(began),
            failures = failures.len(),
            "stopped"
        );
        if failures.is_empty() {
            Ok(())
        } else {
            Err(ShutdownError { failures })
        }
    }
    .instrument(span)
    .await
}
