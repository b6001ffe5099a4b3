//! Startup: validation, then providers and lifespans in the graph's order (one after another,
//! or each as soon as what it needs has started), and on a failure the rollback of whatever
//! had started.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use tokio::sync::{oneshot, watch, Notify, OnceCell};
use tracing::Instrument;

use super::plain;
use super::stop::{tear_down, TeardownResources};
use super::{
    elapsed_ms, join_failure, watch_for_trigger, with_timeout, BodyLimits, LifecycleState,
    LifespanTask, Live, Running, Shared, StartedLifespan, Teardown, WeakRunning,
};
use crate::blueprint::{Blueprint, Body, Kind, Registration, Settings};
use crate::container::{Container, Produced};
use crate::error::{Failure, NodeError, Stage, StartupError};
use crate::extract::{Lender, LifespanSlot, Prepare};
use crate::layer;
use crate::report::Reporting;
use crate::routing::Router;
use crate::scope::{DependencyIndex, DependencyTable};
use crate::shutdown::ShutdownTrigger;
use crate::validate::{self, Checked, Plan};

/// What a startup node gave back.
struct Started {
    produced: Option<Produced>,
    lifespan: Option<StartedLifespan>,
}

/// Lifespans whose setup was abandoned mid-way (a sibling failed during concurrent startup and
/// its start was dropped), waiting for the engine to tear them down or cancel them.
type Abandoned = Arc<std::sync::Mutex<Vec<Setup>>>;

/// A lifespan whose setup is running. If the start that owns it is dropped before the setup
/// ends, it goes to the [`Abandoned`] list rather than running on unobserved.
struct Setup {
    name: String,
    timeout: Option<Duration>,
    ready: oneshot::Receiver<Option<Produced>>,
    stop: Option<oneshot::Sender<Option<Lender>>>,
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
                    crate::names::lock(&abandoned).push(setup);
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
    let Body::Run(node) = &registration.body else {
        unreachable!("only providers and lifespans start");
    };
    let prepare = Prepare {
        container,
        dependencies: None,
    };
    let timeout = registration.timeout.or(default_timeout);
    let kind = registration.kind;
    let span = start_span(registration);
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
    let teardown_timeout = registration.teardown_timeout.or(registration.timeout);
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

/// The span a startup node's start runs in, whichever way it runs.
pub(super) fn start_span(registration: &Registration) -> tracing::Span {
    tracing::info_span!("roadie.start", node = %registration.name, kind = ?registration.kind)
}

/// Logs how a startup node's start ended, with its duration.
pub(super) fn log_start<T>(began: Instant, result: &Result<T, Failure>) {
    match result {
        Ok(_) => tracing::debug!(elapsed_ms = elapsed_ms(began), "started"),
        Err(failure) => {
            tracing::error!(elapsed_ms = elapsed_ms(began), error = %failure, "failed to start")
        }
    }
}

/// Validates and starts an app.
pub(crate) async fn start(blueprint: Arc<Blueprint>) -> Result<Running, StartupError> {
    check_runtime()?;
    let settings = blueprint.settings.clone();
    let span = tracing::info_span!("roadie.startup", nodes = blueprint.registrations.len());
    async move {
        let registrations = &blueprint.registrations;
        let began = Instant::now();
        let trigger = ShutdownTrigger::new();
        // A run of plain providers goes to one pool thread: taken now for the first run, its
        // waking overlaps the validation.
        let hire = || plain::RunThread::hire(&blueprint, &trigger, settings.startup_timeout);
        let mut run_thread =
            (!settings.concurrent_startup && blueprint.has_plain_providers()).then(hire);
        let Checked {
            plan,
            routes,
            fallback,
            middleware,
            reports,
            hooks,
        } = match validate::check(&blueprint) {
            Ok(checked) => checked,
            Err(invalid) => {
                let error = StartupError::Invalid(invalid);
                tracing::error!(%error, "the app is not valid");
                return Err(error);
            }
        };

        if plan
            .startup
            .first()
            .is_none_or(|&index| !registrations[index].joins_a_run())
        {
            // The startup does not begin with a run: the thread goes back to the pool, which
            // the nodes before the first run may need.
            run_thread = None;
        }
        let mut container = Container::new();
        let mut lifespans = Vec::new();
        let hooks: Vec<Registration> = hooks
            .into_iter()
            .map(|index| registrations[index].clone())
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
            let order = &plan.startup;
            let mut at = 0;
            while let Some(&index) = order.get(at) {
                let registration = &registrations[index];
                if registration.joins_a_run() {
                    let length = order[at..]
                        .iter()
                        .take_while(|&&index| registrations[index].joins_a_run())
                        .count();
                    let run = &order[at..at + length];
                    at += length;
                    let ended = run_thread
                        .take()
                        .unwrap_or_else(hire)
                        .start_run(run, &mut container)
                        .await;
                    if let plain::RunEnded::Failed(index, failure) = ended {
                        failed = Some(NodeError::new(
                            registrations[index].name.clone(),
                            Stage::Startup,
                            failure,
                        ));
                        break;
                    }
                    continue;
                }
                at += 1;
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
            let resources = TeardownResources::Owned(Lender::new(container));
            let rollback = tear_down(lifespans, &hooks, &resources, &trigger, &settings).await;
            resources.drop_in_reverse();
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
            if let Some(&(ty, _)) = registration.provides.first() {
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
                    Body::Dependency(node) => Some(node.prepare(&prepare, r.blocking)),
                    _ => None,
                })
                .collect(),
            background: Default::default(),
        });
        let router = Router::build(&routes, fallback.as_ref(), &middleware, &prepare);
        let reporting = Reporting::prepare(&reports, &prepare);
        let background = crate::background::Tasks::prepare(registrations, &prepare);
        let live = Live {
            router,
            reporting,
            dependencies,
            container,
        };
        let body_limits = BodyLimits::new(&settings);
        let shared = Arc::new_cyclic(|weak| Shared {
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
            draining: AtomicBool::new(false),
            body_limits,
            background,
            layers: layer::build(&blueprint.layers, WeakRunning(weak.clone())),
        });
        watch_for_trigger(&shared);
        // Everything is up: background tasks start before any request can be accepted.
        shared.background.spawn(&trigger);
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
    plan: &Plan,
    container: &mut Container,
    lifespans: &mut Vec<StartedLifespan>,
    trigger: &ShutdownTrigger,
    settings: &Settings,
) -> Option<NodeError> {
    let mut countdown = plan.countdown.clone();
    // Launch in plan order, so that ties keep the documented order; only startup nodes have
    // a place in it.
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
        if countdown.is_free(index) {
            running.push(launch(index, container));
        }
    }
    while let Some((index, result)) = running.next().await {
        match result {
            Ok(started) => {
                record(started, container, lifespans);
                let mut ready: Vec<usize> = Vec::new();
                countdown.done(index, |freed| {
                    if position[freed] != usize::MAX {
                        ready.push(freed);
                    }
                });
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
                let abandoned = std::mem::take(&mut *crate::names::lock(&abandoned));
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

/// Checks that the runtime has what roadie needs (tokio, with its time driver: timeouts, the
/// drain, body reads), so that a runtime built without it gets an error that names the
/// builder call, before anything runs, rather than a panic deep inside a timeout.
fn check_runtime() -> Result<(), StartupError> {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return Err(StartupError::Runtime {
            missing: "a tokio runtime",
            enable: "run it inside one: `#[tokio::main]`, or `Runtime::block_on`",
        });
    };
    // A timer made where the time driver is off panics: made here, the panic becomes the
    // error. (The panic's own message still goes to the panic hook.)
    let _enter = runtime.enter();
    let probe = std::panic::catch_unwind(|| drop(tokio::time::sleep(Duration::ZERO)));
    probe.map_err(|_| StartupError::Runtime {
        missing: "tokio's time driver",
        enable: "build the runtime with `.enable_time()` or `.enable_all()` \
                 (`#[tokio::main]` and `#[tokio::test]` enable it)",
    })
}
