//! Consecutive plain startup providers on one blocking thread.
//!
//! A plain (not async) provider may block, so it never runs on the runtime's threads. Sending
//! each one to tokio's blocking pool on its own costs two thread hand-offs per provider, which
//! for a trivial provider is some fifty times its own cost. When the startup order reaches a
//! run of plain providers (one after another, as sequential startup runs them), the whole run
//! goes to one pool thread instead: it prepares each provider against the container, calls it
//! in place and registers what it gives, then goes on to the next.
//!
//! The first run's thread is taken from the pool when the startup begins ([`RunThread::hire`]),
//! before the graph is validated, when the app has plain providers at all: waking a parked
//! pool thread takes longer than validating a small graph, so the two overlap, and the thread,
//! awake, looks for its run for a moment before it parks again. The engine, in turn, looks for
//! the run's end between yields to the runtime's other tasks for a moment before it parks: a
//! short run ends sooner than a parked thread wakes. No thread is held between runs, nor past
//! validation when the startup does not begin with a run: an async node in between may need
//! the pool itself.
//!
//! Each provider keeps its own timeout. The call blocks its thread, so the timeout cannot be
//! raced against the call there; a watchdog on the runtime reads which provider is running and
//! since when, and wakes at that provider's deadline (or, between providers, after the shortest
//! timeout of the run). A provider past its deadline is abandoned as before: startup fails with
//! [`Failure::Timeout`], the engine takes the container back and rolls back at once, and the
//! thread, when the call finally returns, drops what it gave and stops.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::join_failure;
use super::start::{log_start, start_span};
use crate::blueprint::{Blueprint, Body};
use crate::container::Container;
use crate::error::Failure;
use crate::extract::Prepare;
use crate::names::lock;
use crate::shutdown::ShutdownTrigger;

/// How a run of plain providers ended.
pub(super) enum RunEnded {
    /// Every provider started and registered what it gave.
    Started,
    /// The provider at this index of the blueprint failed (an error, a panic or its timeout);
    /// the ones before it started.
    Failed(usize, Failure),
}

/// What the thread and the watchdog share.
struct Shared {
    /// The engine's container while the run uses it; `None` once the engine took it back
    /// (a provider timed out), which tells the thread to stop.
    container: Mutex<Option<Container>>,
    /// The provider being called, if any, and the watchdog's verdict on it.
    calling: Mutex<Calling>,
}

#[derive(Default)]
struct Calling {
    /// The provider's index in the blueprint, its deadline and when it began, while its call
    /// runs.
    now: Option<(usize, Option<Instant>, Instant)>,
    /// Set by the watchdog: the call ran past its deadline and was abandoned.
    abandoned: bool,
}

/// How long each side looks for the other before it parks: the thread for its run, the engine
/// for the run's end. A few times what waking a parked thread costs (10 to 20 µs on a virtual
/// machine), and a tenth of the timer's resolution.
const LOOK: std::time::Duration = std::time::Duration::from_micros(100);

/// A thread of tokio's blocking pool taken for one run of plain providers, possibly before the
/// run is known. Dropped without a run, it goes back to the pool at once.
pub(super) struct RunThread {
    run: mpsc::Sender<Run>,
    thread: JoinHandle<RunEnded>,
    blueprint: Arc<Blueprint>,
    default_timeout: Option<Duration>,
}

/// The run for the thread: its providers, and what it shares with the engine.
struct Run {
    indices: Vec<usize>,
    shared: Arc<Shared>,
}

impl RunThread {
    /// Takes a thread from the pool for a run of `blueprint`'s plain providers. It logs where
    /// the engine does: to the engine's subscriber (which may be the engine thread's own
    /// default), inside the span current here (the startup's).
    pub(super) fn hire(
        blueprint: &Arc<Blueprint>,
        trigger: &ShutdownTrigger,
        default_timeout: Option<Duration>,
    ) -> Self {
        let (run, inbox) = mpsc::channel::<Run>();
        let (blueprint, trigger) = (Arc::clone(blueprint), trigger.clone());
        let theirs = Arc::clone(&blueprint);
        let dispatch = tracing::dispatcher::get_default(|dispatch| dispatch.clone());
        let parent = tracing::Span::current();
        let thread = tokio::task::spawn_blocking(move || match next_run(&inbox) {
            Some(run) => tracing::dispatcher::with_default(&dispatch, || {
                parent.in_scope(|| {
                    call_each(
                        &theirs,
                        &run.indices,
                        &run.shared,
                        &trigger,
                        default_timeout,
                    )
                })
            }),
            // Dropped without a run: nobody reads this.
            None => RunEnded::Started,
        });
        Self {
            run,
            thread,
            blueprint,
            default_timeout,
        }
    }

    /// Starts `run` (indices of plain providers, in startup order) on the thread, each
    /// prepared against `container` as the ones before it left it.
    pub(super) async fn start_run(mut self, run: &[usize], container: &mut Container) -> RunEnded {
        let (blueprint, default_timeout) = (&*self.blueprint, self.default_timeout);
        let shared = Arc::new(Shared {
            container: Mutex::new(Some(std::mem::take(container))),
            calling: Mutex::new(Calling::default()),
        });
        let timeout_of = |index: usize| blueprint.registrations[index].timeout.or(default_timeout);
        // Between two calls the watchdog waits this long: no provider of the run can reach
        // its deadline sooner than that after the watchdog last looked.
        let shortest = run.iter().filter_map(|&index| timeout_of(index)).min();
        // If the thread is gone (the runtime is shutting down), the run comes back here and
        // is dropped, and the thread's handle says why below.
        let _ = self.run.send(Run {
            indices: run.to_vec(),
            shared: Arc::clone(&shared),
        });
        // If this start is dropped before the run ends (its caller gave up on it), the thread
        // stops after the call it is in: no provider starts for a start nobody awaits.
        let _stop_if_dropped = StopIfDropped(&shared);
        // A short run ends sooner than a parked runtime thread would wake for its end: look
        // for it first, then watch.
        look_for_end(&self.thread).await;
        let ended = loop {
            let wake = match lock(&shared.calling).now {
                Some((_, Some(deadline), _)) => Some(deadline),
                _ => shortest.map(|limit| Instant::now() + limit),
            };
            tokio::select! {
                biased;
                joined = &mut self.thread => break match joined {
                    Ok(ended) => ended,
                    // `call_each` catches every panic of a provider; this is the runtime
                    // shutting down under the run.
                    Err(join) => {
                        let index = lock(&shared.calling).now.map_or(run[0], |(index, ..)| index);
                        RunEnded::Failed(index, join_failure(join))
                    }
                },
                () = sleep_until(wake) => {
                    if let Some((index, failure)) =
                        abandon_if_late(&shared, blueprint, default_timeout)
                    {
                        break RunEnded::Failed(index, failure);
                    }
                }
            }
        };
        // The thread ended, or the call it runs was abandoned (it will find no container when
        // it returns, and stop): either way the container is the engine's again.
        *container = lock(&shared.container).take().unwrap_or_default();
        ended
    }
}

/// Waits, without parking, until `thread` is finished or [`LOOK`] has passed, yielding to the
/// runtime's other tasks in between. No deadline passes unseen meanwhile: the look is shorter
/// than the timer's resolution (a millisecond).
async fn look_for_end<T>(thread: &JoinHandle<T>) {
    let looked = std::time::Instant::now();
    while !thread.is_finished() && looked.elapsed() < LOOK {
        tokio::task::yield_now().await;
    }
}

/// The thread's run: looked for a moment first (it usually comes within microseconds, once a
/// small graph is validated), then waited for, parked. `None` if the engine let the thread go
/// without one.
fn next_run(inbox: &mpsc::Receiver<Run>) -> Option<Run> {
    let looked = std::time::Instant::now();
    loop {
        match inbox.try_recv() {
            Ok(run) => return Some(run),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) if looked.elapsed() < LOOK => std::thread::yield_now(),
            Err(TryRecvError::Empty) => return inbox.recv().ok(),
        }
    }
}

/// The watchdog's look: if the provider being called is past its deadline, marks the call
/// abandoned, logs its timeout in its span, and returns the provider and its failure.
fn abandon_if_late(
    shared: &Shared,
    blueprint: &Blueprint,
    default_timeout: Option<Duration>,
) -> Option<(usize, Failure)> {
    let mut calling = lock(&shared.calling);
    let (index, Some(deadline), began) = calling.now? else {
        return None;
    };
    if Instant::now() < deadline {
        return None;
    }
    calling.abandoned = true;
    let registration = &blueprint.registrations[index];
    let limit = registration.timeout.or(default_timeout).unwrap_or_default();
    let timed_out: Result<(), Failure> = Err(Failure::Timeout(limit));
    start_span(registration).in_scope(|| log_start(began.into_std(), &timed_out));
    timed_out.err().map(|failure| (index, failure))
}

/// Ends the run from the engine's side when dropped: the call in progress is abandoned and
/// the container (if the engine has not taken it back) is dropped with what it holds.
struct StopIfDropped<'a>(&'a Shared);

impl Drop for StopIfDropped<'_> {
    fn drop(&mut self) {
        lock(&self.0.calling).abandoned = true;
        drop(lock(&self.0.container).take());
    }
}

/// Waits until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The blocking thread's side: each provider in turn, prepared, called in place and its value
/// registered, until one fails or the engine abandons the run.
fn call_each(
    blueprint: &Blueprint,
    run: &[usize],
    shared: &Shared,
    trigger: &ShutdownTrigger,
    default_timeout: Option<Duration>,
) -> RunEnded {
    for &index in run {
        let registration = &blueprint.registrations[index];
        let Body::Run(node) = &registration.body else {
            unreachable!("a run holds providers only");
        };
        let span = start_span(registration);
        let _entered = span.enter();
        // One reading of the clock per provider: its deadline counts from when it began.
        let began = Instant::now();
        let call = {
            let container = lock(&shared.container);
            let Some(container) = container.as_ref() else {
                return RunEnded::Started; // abandoned: the engine has its answer already
            };
            let prepare = Prepare {
                container,
                dependencies: None,
            };
            match node.plain_call(&prepare, trigger.clone()) {
                Some(call) => call,
                None => unreachable!("a run holds plain providers only"),
            }
        };
        let deadline = registration
            .timeout
            .or(default_timeout)
            .map(|limit| began + limit);
        lock(&shared.calling).now = Some((index, deadline, began));
        // The function runs in place here, its parameters extracted first (one that is not
        // ready at once is waited for with the runtime's handle), all within its deadline.
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| call.call()))
            .unwrap_or_else(|panic| Err(Failure::from_panic(panic)));
        {
            let mut calling = lock(&shared.calling);
            if calling.abandoned {
                // Past its deadline: the engine reported the timeout and rolled back; what
                // the call gave is dropped here, now that it returned.
                return RunEnded::Started;
            }
            calling.now = None;
        }
        log_start(began.into_std(), &result);
        match result {
            Ok(Some(produced)) => match lock(&shared.container).as_mut() {
                Some(container) => produced.insert_into(container),
                None => return RunEnded::Started,
            },
            Ok(None) => {}
            Err(failure) => return RunEnded::Failed(index, failure),
        }
    }
    RunEnded::Started
}
