//! Background tasks: work that runs for as long as the app runs ([`App::background`]), or
//! every so often ([`App::every`]), beside the requests.
//!
//! - **Start**: every task is spawned once every provider and lifespan is up, before
//!   [`App::start`] returns (so before a server accepts its first request), in registration
//!   order.
//! - **Stop**: stopping triggers the app's shutdown signal, which a task sees through its
//!   [`Shutdown`](crate::Shutdown) parameter (`shutdown.requested().await`). Each task is
//!   awaited within its timeout ([`App::timeout`] after its registration, else the app's
//!   `shutdown_timeout`); one still running after it is cancelled and reported. Only then do
//!   lifespans' teardown, shutdown hooks and the dropping of resources go on.
//! - **Failure**: a task that returns `Err` or panics before shutdown stops the app, and its
//!   failure comes back as the cause ([`ShutdownError::cause`]), unless it was registered to
//!   restart ([`App::restart`]): then it is logged and run again after a delay that doubles
//!   up to a cap. A task that returns `Ok(())` before shutdown just ends.
//!
//! [`App::background`]: crate::App::background
//! [`App::every`]: crate::App::every
//! [`App::start`]: crate::App::start
//! [`App::timeout`]: crate::App::timeout
//! [`App::restart`]: crate::App::restart
//! [`ShutdownError::cause`]: crate::ShutdownError::cause

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::Instrument;

use crate::blueprint::{Body, Kind, Registration};
use crate::error::{Failure, NodeError, Stage};
use crate::extract::{Context, Needs, Prepare};
use crate::function::{AsyncFn, ExtractorFn, FnNode, Prepared};
use crate::lifecycle::join_failure;
use crate::names::callable_name;
use crate::names::lock;
use crate::output::HookOutput;
use crate::shutdown::ShutdownTrigger;

/// An async function or closure that can be a background task
/// ([`App::background`](crate::App::background), [`App::every`](crate::App::every)).
///
/// Its parameters are extractors that live outside any request ([`Res<T>`](crate::Res),
/// `Option<Res<T>>`, [`Shutdown`](crate::Shutdown)); it returns `()` or `Result<(), E>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a roadie background task",
    label = "not a background task",
    note = "a background task is an async function or closure whose parameters are extractors \
            (`Res<T>`, `Option<Res<T>>`, `Shutdown`) and that returns `()` or `Result<(), E>`; \
            annotate a function with `#[background]` to take `&T` parameters"
)]
pub trait IntoBackground<M>: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_node(self) -> Registration;
}

#[diagnostic::do_not_recommend]
impl<F, P, L> IntoBackground<(AsyncFn, P, L)> for F
where
    F: ExtractorFn<(AsyncFn, P, L)>,
    F::Output: HookOutput,
    P: 'static,
    L: 'static,
{
    fn into_node(self) -> Registration {
        let mut needs = Needs::default();
        F::describe(&mut needs);
        Registration::new(
            Kind::Background,
            callable_name::<F>(None),
            needs,
            None,
            Body::Background(Box::new(TaskSpec {
                node: Arc::new(FnNode::<F, (AsyncFn, P, L)>::new(self)),
                period: None,
                restart: None,
            })),
        )
    }
}

/// How a failed task is restarted: after a delay that starts at `initial` and doubles after
/// each failure in a row, up to `max`. Set with [`App::restart`](crate::App::restart).
///
/// A run that lasted at least `max` before it failed starts the count again from `initial`:
/// a task that fails once a day waits `initial`, not `max`.
///
/// ```
/// use roadie::Backoff;
/// use std::time::Duration;
///
/// let backoff = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(30));
/// assert_eq!(backoff.initial(), Duration::from_millis(100));
/// assert_eq!(backoff.max(), Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
}

impl Backoff {
    /// Waits `initial` after the first failure, then twice as long after each failure in a
    /// row, never more than `max`.
    ///
    /// # Panics
    /// If `initial` is zero or more than `max`.
    #[track_caller]
    pub fn exponential(initial: Duration, max: Duration) -> Self {
        assert!(
            !initial.is_zero() && initial <= max,
            "`Backoff::exponential` takes a first delay above zero and no longer than the cap, \
             got {initial:?} and {max:?}"
        );
        Self { initial, max }
    }

    /// The delay after the first failure.
    pub fn initial(&self) -> Duration {
        self.initial
    }

    /// The longest delay.
    pub fn max(&self) -> Duration {
        self.max
    }

    fn after(&self, delay: Duration) -> Duration {
        delay.saturating_mul(2).min(self.max)
    }
}

/// A registered background task: its function, its schedule, and its restart policy.
#[derive(Clone)]
pub(crate) struct TaskSpec {
    node: Arc<dyn TaskNode>,
    /// `Some(period)` for a periodic task (`App::every`).
    pub(crate) period: Option<Duration>,
    /// Set by `App::restart`.
    pub(crate) restart: Option<Backoff>,
}

impl fmt::Debug for TaskSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskSpec")
            .field("period", &self.period)
            .field("restart", &self.restart)
            .finish_non_exhaustive()
    }
}

/// A background task's function, type-erased: prepared once when the app starts.
trait TaskNode: Send + Sync + 'static {
    fn prepare(&self, prepare: &Prepare<'_>) -> Arc<dyn PreparedTask>;
}

/// A prepared background task: each call is one run.
trait PreparedTask: Send + Sync + 'static {
    fn run(self: Arc<Self>, shutdown: ShutdownTrigger) -> BoxFuture<'static, Result<(), Failure>>;
}

impl<F, M> TaskNode for FnNode<F, M>
where
    F: ExtractorFn<M>,
    F::Output: HookOutput,
    M: 'static,
{
    fn prepare(&self, prepare: &Prepare<'_>) -> Arc<dyn PreparedTask> {
        Arc::new(FnNode::prepare(self, prepare))
    }
}

impl<F, M> PreparedTask for Prepared<F, M>
where
    F: ExtractorFn<M>,
    F::Output: HookOutput,
    M: 'static,
{
    fn run(self: Arc<Self>, shutdown: ShutdownTrigger) -> BoxFuture<'static, Result<(), Failure>> {
        Box::pin(async move {
            let (f, state) = self.parts();
            let mut cx = Context::outside_request(&shutdown, None);
            let output = f
                .call(state, &mut cx, Bytes::new())
                .await
                .map_err(Failure::from_error)?;
            output.into_hook_result()
        })
    }
}

/// One task, prepared and waiting to be spawned.
struct Pending {
    name: String,
    timeout: Option<Duration>,
    task: Arc<dyn PreparedTask>,
    period: Option<Duration>,
    restart: Option<Backoff>,
}

/// One spawned task.
struct Spawned {
    name: String,
    timeout: Option<Duration>,
    handle: JoinHandle<Result<(), Failure>>,
}

/// The background tasks of one running app: prepared at start, spawned once the app is up,
/// awaited at stop.
pub(crate) struct Tasks {
    pending: Mutex<Vec<Pending>>,
    spawned: Mutex<Vec<Spawned>>,
    /// The index of the first task whose failure stopped the app.
    stopped_by: Arc<OnceLock<usize>>,
}

/// What stopping the tasks found: every failure, the one that stopped the app first.
pub(crate) struct Stopped {
    pub(crate) failures: Vec<NodeError>,
    /// Whether the first failure is the one that stopped the app.
    pub(crate) caused: bool,
}

impl Tasks {
    /// Prepares every background task against the started app's container.
    pub(crate) fn prepare(registrations: &[Registration], prepare: &Prepare<'_>) -> Self {
        let pending = registrations
            .iter()
            .filter_map(|registration| match &registration.body {
                Body::Background(spec) => Some(Pending {
                    name: registration.name.clone(),
                    timeout: registration.timeout,
                    task: spec.node.prepare(prepare),
                    period: spec.period,
                    restart: spec.restart,
                }),
                _ => None,
            })
            .collect();
        Self {
            pending: Mutex::new(pending),
            spawned: Mutex::default(),
            stopped_by: Arc::default(),
        }
    }

    /// Spawns every task, in registration order.
    pub(crate) fn spawn(&self, trigger: &ShutdownTrigger) {
        let pending = std::mem::take(&mut *lock(&self.pending));
        let mut spawned = lock(&self.spawned);
        for (index, task) in pending.into_iter().enumerate() {
            let span = tracing::info_span!("roadie.background", task = %task.name);
            let supervisor = Supervisor {
                index,
                task: task.task,
                restart: task.restart,
                trigger: trigger.clone(),
                stopped_by: Arc::clone(&self.stopped_by),
            };
            let handle = tokio::spawn(supervisor.run(task.period).instrument(span));
            spawned.push(Spawned {
                name: task.name,
                timeout: task.timeout,
                handle,
            });
        }
    }

    /// Awaits every task (the shutdown signal was triggered), each within its timeout, at
    /// once; a task past its timeout is cancelled. Failures come back in registration order,
    /// the one that stopped the app first.
    pub(crate) async fn stop(&self, default_timeout: Option<Duration>) -> Stopped {
        let spawned = std::mem::take(&mut *lock(&self.spawned));
        let waits = spawned.into_iter().map(|task| async move {
            let Spawned {
                name,
                timeout,
                mut handle,
            } = task;
            let limit = timeout.or(default_timeout);
            let joined = match limit {
                Some(limit) => match tokio::time::timeout(limit, &mut handle).await {
                    Ok(joined) => joined,
                    Err(_) => {
                        tracing::error!(
                            task = %name,
                            timeout_ms = limit.as_millis() as u64,
                            "the background task did not stop in time; cancelling it"
                        );
                        handle.abort();
                        let _ = handle.await;
                        return Some(NodeError::new(
                            name,
                            Stage::Background,
                            Failure::Timeout(limit),
                        ));
                    }
                },
                None => handle.await,
            };
            let failure = match joined {
                Ok(Ok(())) => return None,
                Ok(Err(failure)) => failure,
                Err(join) => join_failure(join),
            };
            Some(NodeError::new(name, Stage::Background, failure))
        });
        let results = futures_util::future::join_all(waits).await;
        let cause = self.stopped_by.get().copied();
        let mut failures = Vec::new();
        let mut caused = false;
        for (index, failure) in results.into_iter().enumerate() {
            if let Some(failure) = failure {
                if Some(index) == cause {
                    failures.insert(0, failure);
                    caused = true;
                } else {
                    failures.push(failure);
                }
            }
        }
        Stopped { failures, caused }
    }
}
/// Runs one task until shutdown: once or every period, restarting it if it may.
struct Supervisor {
    index: usize,
    task: Arc<dyn PreparedTask>,
    restart: Option<Backoff>,
    trigger: ShutdownTrigger,
    stopped_by: Arc<OnceLock<usize>>,
}

/// What to do after a failed run.
enum AfterFailure {
    /// Run again (the backoff delay has passed).
    Retry,
    /// Stop, with this result.
    Exit(Result<(), Failure>),
}

impl Supervisor {
    async fn run(self, period: Option<Duration>) -> Result<(), Failure> {
        let mut delay = self.restart.map(|backoff| backoff.initial);
        match period {
            None => loop {
                let began = Instant::now();
                match self.run_once().await {
                    Ok(()) => {
                        if self.trigger.is_requested() {
                            tracing::debug!("background task stopped");
                        } else {
                            tracing::info!(
                                "background task finished before shutdown; the app keeps running"
                            );
                        }
                        return Ok(());
                    }
                    Err(failure) => match self.failed(failure, began, &mut delay).await {
                        AfterFailure::Retry => {}
                        AfterFailure::Exit(result) => return result,
                    },
                }
            },
            Some(period) => {
                let mut interval = tokio::time::interval(period);
                // A run that takes longer than the period is followed by one run at once, not
                // one per missed tick, and the schedule goes on a period after that.
                interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
                let shutdown = self.trigger.requested();
                tokio::pin!(shutdown);
                loop {
                    tokio::select! {
                        biased;
                        () = &mut shutdown => return Ok(()),
                        _ = interval.tick() => {}
                    }
                    let began = Instant::now();
                    if let Err(failure) = self.run_once().await {
                        match self.failed(failure, began, &mut delay).await {
                            AfterFailure::Retry => {}
                            AfterFailure::Exit(result) => return result,
                        }
                    } else if self.trigger.is_requested() {
                        return Ok(());
                    } else if let (Some(backoff), Some(wait)) = (self.restart, delay.as_mut()) {
                        // A run that succeeds ends the failures in a row.
                        *wait = backoff.initial;
                    }
                }
            }
        }
    }

    /// One run, with its panic caught.
    async fn run_once(&self) -> Result<(), Failure> {
        let run = Arc::clone(&self.task).run(self.trigger.clone());
        AssertUnwindSafe(run)
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| Err(Failure::from_panic(panic)))
    }

    /// After a failed run: report it at shutdown; restart after the backoff delay; or stop
    /// the app with it as the cause.
    async fn failed(
        &self,
        failure: Failure,
        began: Instant,
        delay: &mut Option<Duration>,
    ) -> AfterFailure {
        if self.trigger.is_requested() {
            tracing::error!(error = %failure, "background task failed while the app was stopping");
            return AfterFailure::Exit(Err(failure));
        }
        let (Some(backoff), Some(wait)) = (self.restart, delay.as_mut()) else {
            tracing::error!(error = %failure, "background task failed; stopping the app");
            let _ = self.stopped_by.set(self.index);
            self.trigger.trigger();
            return AfterFailure::Exit(Err(failure));
        };
        if began.elapsed() >= backoff.max {
            *wait = backoff.initial;
        }
        tracing::error!(
            error = %failure,
            restart_in_ms = wait.as_millis() as u64,
            "background task failed; restarting it"
        );
        let sleep = tokio::time::sleep(*wait);
        *wait = backoff.after(*wait);
        tokio::select! {
            biased;
            () = self.trigger.requested() => AfterFailure::Exit(Ok(())),
            () = sleep => AfterFailure::Retry,
        }
    }
}
