//! Blocking work: plain (not async) startup providers and shutdown hooks run on tokio's
//! blocking pool, so the runtime keeps running beside them, their timeouts fire, and
//! concurrent startup overlaps them; a request-scoped dependency opts in with `.blocking()`.
//!
//! Every test runs on a one-thread runtime (`#[tokio::test]`): a plain function called on the
//! runtime's own thread would stall it, and the tests would time out instead of passing.

mod support;

use std::convert::Infallible;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use roadie::extract::{Context, FromContext, Needs, Prepare};
use roadie::prelude::*;
use roadie::{Failure, Stage, StartupError};
use support::{Log, A, B};

/// Long enough to mean "never" in a test that passes, short enough to end one that fails.
const NEVER: Duration = Duration::from_secs(10);

/// Blocking work a test ends: [`Gate::wait`] blocks its thread until the test sends on the
/// sender [`Gate::new`] gave it (or `NEVER` passes).
struct Gate(Mutex<mpsc::Receiver<()>>);

impl Gate {
    fn new() -> (mpsc::Sender<()>, Self) {
        let (release, blocked) = mpsc::channel();
        (release, Self(Mutex::new(blocked)))
    }

    fn wait(&self) {
        let _ = self.0.lock().unwrap().recv_timeout(NEVER);
    }
}

/// A message that only a task on the runtime sends: a plain function that receives it proves
/// it did not hold the runtime's thread while waiting.
fn from_the_runtime() -> Arc<Mutex<mpsc::Receiver<&'static str>>> {
    let (tx, rx) = mpsc::channel();
    tokio::spawn(async move {
        tokio::task::yield_now().await;
        let _ = tx.send("sent by a task on the runtime");
    });
    Arc::new(Mutex::new(rx))
}

#[tokio::test]
async fn a_plain_provider_runs_beside_the_runtime_not_on_it() {
    let message = from_the_runtime();
    let running = App::new()
        .on_startup(move || {
            // Blocks this thread until a task on the runtime runs: on the runtime's own
            // thread, that task could never run.
            let received = message.lock().unwrap().recv_timeout(NEVER);
            received.map(String::from)
        })
        .get(
            "/",
            |message: Res<String>| async move { message.to_string() },
        )
        .start()
        .await
        .unwrap();
    assert_eq!(
        running.execute(Request::get("/")).await.text(),
        "sent by a task on the runtime"
    );
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_blocking_provider_past_its_timeout_fails_startup_and_rolls_back() {
    let log = Log::new();
    let (release, blocked) = Gate::new();
    let ticks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let ticker = {
        let ticks = Arc::clone(&ticks);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
                ticks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        })
    };
    let (l1, l2) = (log.clone(), log.clone());
    let error = App::new()
        .lifespan(move |lifespan: Lifespan<A>| {
            let log = l1.clone();
            async move {
                let _a = lifespan.ready(A(log.tracked("A"))).await;
                log.push("teardown A");
                Ok::<_, Infallible>(())
            }
        })
        .on_startup(move |_: Res<A>| {
            // A `std::thread::sleep` far longer than the timeout, ended by the test.
            blocked.wait();
            l2.push("the blocking call returned");
            Ok::<_, Infallible>(B(l2.tracked("B")))
        })
        .named("slow model load")
        .timeout(Duration::from_millis(50))
        .start()
        .await
        .unwrap_err();
    // The runtime kept running while the provider blocked.
    assert!(ticks.load(std::sync::atomic::Ordering::SeqCst) > 0);
    ticker.abort();
    let StartupError::Failed { failed, rollback } = &error else {
        panic!("expected a failed start, got {error}");
    };
    assert_eq!(failed.node(), "slow model load");
    assert!(
        matches!(failed.failure(), Failure::Timeout(limit) if *limit == Duration::from_millis(50))
    );
    assert!(rollback.is_empty());
    // Rolled back while the abandoned call still blocks its thread. A thread cannot be
    // killed: the `Res<A>` that call holds is released when it returns, not before.
    assert_eq!(log.take(), ["teardown A"]);
    release.send(()).unwrap();
    assert_the_abandoned_call_returns_then_drops(&log).await;
}

/// Once released, the abandoned call returns, and what it held (`Res<A>`) and gave (`B`) is
/// dropped then.
async fn assert_the_abandoned_call_returns_then_drops(log: &Log) {
    for _ in 0..1000 {
        if log.entries().len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        log.take(),
        ["the blocking call returned", "drop A", "drop B"]
    );
}

#[tokio::test]
async fn two_blocking_providers_overlap_under_concurrent_startup() {
    // A barrier of two that gives up: if the providers ran one after the other, the first
    // would wait alone and fail.
    let barrier = Arc::new((Mutex::new(0_usize), Condvar::new()));
    let meet = move || -> Result<(), &'static str> {
        let (arrived, all_here) = &*barrier;
        let mut arrived = arrived.lock().unwrap();
        *arrived += 1;
        all_here.notify_all();
        let (arrived, waited) = all_here
            .wait_timeout_while(arrived, NEVER, |arrived| *arrived < 2)
            .unwrap();
        drop(arrived);
        if waited.timed_out() {
            Err("the other provider never ran beside this one")
        } else {
            Ok(())
        }
    };
    let (m1, m2) = (meet.clone(), meet);
    let running = App::new()
        .concurrent_startup(true)
        .on_startup(move || m1().map(|()| 1_u32))
        .on_startup(move || m2().map(|()| 2_u64))
        .start()
        .await
        .unwrap();
    assert_eq!(*running.resource::<u32>().unwrap(), 1);
    assert_eq!(*running.resource::<u64>().unwrap(), 2);
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_panicking_plain_provider_fails_startup_with_its_message() {
    let error = App::new()
        .on_startup(|| -> Result<u8, Infallible> { panic!("the model file is corrupt") })
        .named("model")
        .start()
        .await
        .unwrap_err();
    let StartupError::Failed { failed, .. } = &error else {
        panic!("expected a failed start, got {error}");
    };
    assert_eq!(failed.node(), "model");
    assert!(matches!(failed.failure(), Failure::Panic(_)));
    assert!(
        error.to_string().contains("the model file is corrupt"),
        "{error}"
    );
}

#[tokio::test]
async fn a_plain_shutdown_hook_runs_beside_the_runtime_and_its_timeout_fires() {
    let log = Log::new();
    let (release, blocked) = Gate::new();
    let (l1, l2) = (log.clone(), log.clone());
    let running = App::new()
        .on_shutdown(move || {
            blocked.wait();
        })
        .named("flush to disk")
        .timeout(Duration::from_millis(50))
        .on_shutdown(move || {
            // Waits for a task on the runtime, as the first test's provider does.
            let (tx, rx) = mpsc::channel();
            let handle = tokio::runtime::Handle::current();
            handle.spawn(async move {
                let _ = tx.send("runtime is free");
            });
            if let Ok(message) = rx.recv_timeout(NEVER) {
                l1.push(message);
            }
        })
        .on_shutdown(move || l2.push("last hook"))
        .start()
        .await
        .unwrap();
    let error = running.shutdown().await.unwrap_err();
    let failures = error.failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].node(), "flush to disk");
    assert_eq!(failures[0].stage(), Stage::Shutdown);
    assert!(matches!(failures[0].failure(), Failure::Timeout(_)));
    // The hooks after it still ran, the second off the runtime's thread.
    assert_eq!(log.take(), ["runtime is free", "last hook"]);
    release.send(()).unwrap();
}

/// A request-scoped value built by blocking work.
struct Report(&'static str);

#[tokio::test]
async fn a_plain_dependency_opts_in_to_the_blocking_pool() {
    let message = Arc::new(Mutex::new(None::<mpsc::Receiver<&'static str>>));
    let slot = Arc::clone(&message);
    let app = App::new()
        .dependency(move || -> Result<Report, Infallible> {
            let rx = slot.lock().unwrap().take().expect("one request");
            Ok(Report(
                rx.recv_timeout(NEVER).unwrap_or("the runtime was blocked"),
            ))
        })
        .blocking()
        .get("/", |report: Dep<Report>| async move { report.0 });
    let running = app.start().await.unwrap();
    *message.lock().unwrap() = Some({
        let (tx, rx) = mpsc::channel();
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            let _ = tx.send("built beside the runtime");
        });
        rx
    });
    assert_eq!(
        running.execute(Request::get("/")).await.text(),
        "built beside the runtime"
    );
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_plain_dependency_stays_inline_by_default() {
    let app = App::new()
        .dependency(|| -> Result<String, Infallible> {
            // Inline: on the thread that serves the request.
            Ok(format!("{:?}", std::thread::current().id()))
        })
        .get("/", |thread: Dep<String>| async move {
            let here = format!("{:?}", std::thread::current().id());
            if *thread == here {
                "inline"
            } else {
                "moved"
            }
        });
    assert_eq!(app.execute(Request::get("/")).await.text(), "inline");
}

#[tokio::test]
async fn blocking_on_anything_but_a_dependency_is_a_validation_problem() {
    let error = App::new()
        .on_startup(|| Ok::<_, Infallible>(1_u8))
        .named("config")
        .blocking()
        .start()
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("App::blocking"), "{message}");
    assert!(message.contains("config"), "{message}");
}

/// Consecutive plain providers run one after another on one blocking thread: each is prepared
/// against what the ones before it registered, and a failure stops the run there.
#[tokio::test]
async fn a_run_of_plain_providers_sees_each_value_in_turn_and_stops_at_a_failure() {
    let log = Log::new();
    let (l1, l2, l3, l4) = (log.clone(), log.clone(), log.clone(), log.clone());
    let error = App::new()
        .on_startup(move || {
            l1.push("start A");
            Ok::<_, Infallible>(A(l1.tracked("A")))
        })
        .on_startup(move |_: Res<A>| {
            l2.push("start B");
            Ok::<_, Infallible>(B(l2.tracked("B")))
        })
        .on_startup(move |_: Res<B>| -> Result<u8, &'static str> {
            l3.push("start u8");
            Err("the config names no region")
        })
        .named("region")
        .on_startup(move || -> Result<u16, Infallible> {
            l4.push("start u16");
            Ok(1)
        })
        .start()
        .await
        .unwrap_err();
    let StartupError::Failed { failed, rollback } = &error else {
        panic!("expected a failed start, got {error}");
    };
    assert_eq!(failed.node(), "region");
    assert!(
        error.to_string().contains("the config names no region"),
        "{error}"
    );
    assert!(rollback.is_empty());
    // The provider after the failure never ran; the two before it are dropped in reverse.
    assert_eq!(
        log.take(),
        ["start A", "start B", "start u8", "drop B", "drop A"]
    );
}

/// A plain provider keeps its own timeout inside a run, even when the provider before it has
/// none: the run is abandoned at its deadline, what started is rolled back at once, and the
/// providers after it never run.
#[tokio::test]
async fn a_plain_provider_past_its_timeout_inside_a_run_is_abandoned() {
    let log = Log::new();
    let (release, blocked) = Gate::new();
    let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
    let error = App::new()
        .startup_timeout(None)
        .on_startup(move || {
            // No timeout of its own, and it runs past the next one's limit: the watchdog must
            // still wake for the next one.
            std::thread::sleep(Duration::from_millis(120));
            Ok::<_, Infallible>(A(l1.tracked("A")))
        })
        .on_startup(move |_: Res<A>| {
            blocked.wait();
            l2.push("the blocking call returned");
            Ok::<_, Infallible>(B(l2.tracked("B")))
        })
        .named("slow index build")
        .timeout(Duration::from_millis(50))
        .on_startup(move || -> Result<u8, Infallible> {
            l3.push("start u8");
            Ok(1)
        })
        .start()
        .await
        .unwrap_err();
    let StartupError::Failed { failed, .. } = &error else {
        panic!("expected a failed start, got {error}");
    };
    assert_eq!(failed.node(), "slow index build");
    assert!(
        matches!(failed.failure(), Failure::Timeout(limit) if *limit == Duration::from_millis(50))
    );
    // Rolled back while the call still blocks: `A`'s container copy is dropped; the call's own
    // `Res<A>` goes when it returns.
    assert!(log.take().is_empty());
    release.send(()).unwrap();
    assert_the_abandoned_call_returns_then_drops(&log).await;
}

/// A start that is dropped while a run of plain providers is under way (its caller gave up on
/// it) stops the run after the call in progress: the providers after it never run.
#[tokio::test]
async fn a_dropped_start_stops_its_run_of_plain_providers() {
    let log = Log::new();
    let (release, blocked) = Gate::new();
    let (l1, l2) = (log.clone(), log.clone());
    let app = App::new()
        .on_startup(move || {
            blocked.wait();
            l1.push("first returned");
            Ok::<_, Infallible>(A(l1.tracked("A")))
        })
        .on_startup(move |_: Res<A>| {
            l2.push("second ran");
            Ok::<_, Infallible>(B(l2.tracked("B")))
        });
    let gave_up = tokio::time::timeout(Duration::from_millis(50), app.start()).await;
    assert!(gave_up.is_err(), "the start should still be blocked");
    release.send(()).unwrap();
    for _ in 0..1000 {
        if log.entries().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Give a second provider time to run, were it going to.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(log.take(), ["first returned", "drop A"]);
}

/// A parameter that is not ready at once: it waits for a task on the runtime (which runs
/// only when the runtime is free), then gives what the task sent, or its rejection.
struct FromATask(u32);

impl FromContext for FromATask {
    type State = ();

    fn describe(_needs: &mut Needs) {}

    fn prepare(_cx: &Prepare<'_>) -> Self::State {}

    async fn from_context(_state: &(), _cx: &mut Context<'_>) -> Result<Self, Rejection> {
        // Not ready at the first poll, however fast the task below would run.
        tokio::task::yield_now().await;
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            let _ = tx.send(7);
        });
        match rx.await {
            Ok(0) | Err(_) => Err(Rejection::internal("the task sent nothing")),
            Ok(sent) => Ok(Self(sent)),
        }
    }
}

/// A run of plain providers whose parameter has to wait: the run's thread drives the
/// extraction on the runtime, then calls each function in place, in order.
#[tokio::test]
async fn a_run_of_plain_providers_waits_for_a_parameter_that_is_not_ready_at_once() {
    let running = App::new()
        .on_startup(|sent: FromATask| Ok::<_, Infallible>(sent.0))
        .on_startup(|first: Res<u32>, sent: FromATask| {
            Ok::<_, Infallible>(u64::from(*first) * 10 + u64::from(sent.0))
        })
        .start()
        .await
        .unwrap();
    assert_eq!(*running.resource::<u64>().unwrap(), 77);
    running.shutdown().await.unwrap();
}

/// A parameter of a plain provider that cannot be extracted fails startup with its
/// rejection, inside a run as outside one, and the function is never called.
#[tokio::test]
async fn a_plain_provider_whose_parameter_is_rejected_fails_startup_uncalled() {
    struct Rejected;
    impl FromContext for Rejected {
        type State = ();
        fn describe(_needs: &mut Needs) {}
        fn prepare(_cx: &Prepare<'_>) -> Self::State {}
        async fn from_context(_state: &(), _cx: &mut Context<'_>) -> Result<Self, Rejection> {
            tokio::task::yield_now().await;
            Err(Rejection::internal("no region in the environment"))
        }
    }
    let log = Log::new();
    let (l1, l2) = (log.clone(), log.clone());
    for concurrent in [false, true] {
        let (l1, l2) = (l1.clone(), l2.clone());
        let error = App::new()
            .concurrent_startup(concurrent)
            .on_startup(move || {
                l1.push("start A");
                Ok::<_, Infallible>(A(l1.tracked("A")))
            })
            .on_startup(move |_: Res<A>, _: Rejected| {
                l2.push("called");
                Ok::<_, Infallible>(7u8)
            })
            .named("region")
            .start()
            .await
            .unwrap_err();
        let StartupError::Failed { failed, .. } = &error else {
            panic!("expected a failed start, got {error}");
        };
        assert_eq!(failed.node(), "region");
        assert!(
            error.to_string().contains("no region in the environment"),
            "{error}"
        );
        assert_eq!(
            log.take(),
            ["start A", "drop A"],
            "concurrent: {concurrent}"
        );
    }
}

/// A sequential startup holds a thread of the blocking pool for a run of plain providers only:
/// the first run's from before validation, and none between runs, past a validation that finds
/// the app invalid or before an async node that begins the startup. With a pool of one thread,
/// a thread held any longer would leave an async provider's blocking task, a plain shutdown
/// hook of the rollback, or the pool's next task, waiting forever.
#[test]
fn a_startup_gives_its_blocking_thread_back_to_the_pool() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(1)
        .build()
        .unwrap();
    runtime.block_on(async {
        let log = Log::new();
        let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
        let app = App::new()
            .on_startup(move || {
                l1.push("plain A");
                Ok::<_, Infallible>(A(l1.tracked("A")))
            })
            .on_startup(move |_: Res<A>| {
                let l2 = l2.clone();
                async move {
                    // Between two runs, the pool's one thread is free for this.
                    let pushed = tokio::task::spawn_blocking(move || {
                        l2.push("async B");
                        l2
                    });
                    let l2 = pushed.await.unwrap();
                    Ok::<_, Infallible>(B(l2.tracked("B")))
                }
            })
            .on_startup(move |_: Res<B>| -> Result<u8, Infallible> {
                l3.push("plain u8");
                Ok(1)
            })
            .on_shutdown(|_: Res<A>| std::thread::sleep(Duration::from_millis(1)));
        let running = tokio::time::timeout(NEVER, app.start())
            .await
            .expect("one thread serves both runs")
            .unwrap();
        let stopped = tokio::time::timeout(NEVER, running.shutdown()).await;
        stopped.expect("the plain hook got a thread").unwrap();
        assert_eq!(
            log.take(),
            ["plain A", "async B", "plain u8", "drop B", "drop A"]
        );

        // A startup that begins with an async node: the thread taken for validation goes back
        // to the pool before that node, which needs it.
        let l1 = log.clone();
        let async_first = App::new()
            .on_startup(move || {
                let l1 = l1.clone();
                async move {
                    let a = tokio::task::spawn_blocking(move || A(l1.tracked("A")));
                    Ok::<_, Infallible>(a.await.unwrap())
                }
            })
            .on_startup(|_: Res<A>| Ok::<_, Infallible>(1u8));
        let running = tokio::time::timeout(NEVER, async_first.start()).await;
        let running = running.expect("the async node got the thread").unwrap();
        running.shutdown().await.unwrap();
        assert_eq!(log.take(), ["drop A"]);

        // Failed: the rollback's plain hook needs the pool's thread too.
        let (l1, l2) = (log.clone(), log.clone());
        let failing = App::new()
            .on_startup(move || Ok::<_, Infallible>(A(l1.tracked("A"))))
            .on_startup(|_: Res<A>| -> Result<u8, &'static str> { Err("no region") })
            .on_shutdown(move |_: Res<A>| l2.push("hook"));
        let failed = tokio::time::timeout(NEVER, failing.start()).await;
        let error = failed
            .expect("the rollback's hook got a thread")
            .unwrap_err();
        assert!(error.to_string().contains("no region"), "{error}");
        assert_eq!(log.take(), ["hook", "drop A"]);

        // Invalid: a plain provider needs a type nothing registers.
        let invalid = App::new().on_startup(|_: Res<B>| Ok::<_, Infallible>(1u8));
        let error = invalid.start().await.unwrap_err();
        assert!(matches!(error, StartupError::Invalid(_)), "{error}");
        let pool = tokio::time::timeout(NEVER, tokio::task::spawn_blocking(|| "ran")).await;
        assert_eq!(pool.expect("the pool has its thread back").unwrap(), "ran");
    });
}
