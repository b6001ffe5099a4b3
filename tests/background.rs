//! Background and periodic tasks: started once the app is up, stopped first (before any
//! teardown), a failure stops the app and is its cause, restarts with a doubling backoff.

mod support;

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use roadie::prelude::*;
use roadie::{Error, LifecycleState, Problem, Stage};
use support::{Failed, Log, A, B};
use tokio::time::Instant;

/// Waits (on the paused clock, or briefly on the real one) until `done` holds.
async fn until(mut done: impl FnMut() -> bool) {
    while !done() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test]
async fn starts_after_everything_is_up_and_stops_before_any_teardown() {
    let log = Log::new();
    let (l1, l2, l3, l4) = (log.clone(), log.clone(), log.clone(), log.clone());
    let app = App::new()
        .background(move |_: Res<A>, _: Res<B>, shutdown: Shutdown| {
            let log = l1.clone();
            async move {
                log.push("task runs");
                shutdown.requested().await;
                log.push("task stops");
            }
        })
        .named("task")
        .lifespan(move |lifespan: Lifespan<B>, _: Res<A>| {
            let log = l2.clone();
            async move {
                log.push("pool setup");
                lifespan.ready(B(log.tracked("B"))).await;
                log.push("pool teardown");
                Ok::<_, Infallible>(())
            }
        })
        .on_startup(move || {
            l3.push("config");
            Ok::<_, Infallible>(A(l3.tracked("A")))
        })
        .on_shutdown(move |_: Res<B>| l4.push("hook"));

    let running = app.start().await.unwrap();
    until(|| log.entries().contains(&"task runs".to_owned())).await;
    assert_eq!(running.state(), LifecycleState::Running);
    running.shutdown().await.unwrap();
    assert_eq!(
        log.take(),
        [
            "config",
            "pool setup",
            "task runs",
            "task stops",
            "pool teardown",
            "hook",
            "drop B",
            "drop A"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_task_sees_the_shutdown_signal_and_its_loop_ends() {
    let ticks = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&ticks);
    let app = App::new().background(move |shutdown: Shutdown| {
        let ticks = Arc::clone(&counted);
        async move {
            let mut interval = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = shutdown.requested() => break,
                    _ = interval.tick() => { ticks.fetch_add(1, Ordering::SeqCst); }
                }
            }
            Ok::<_, Infallible>(())
        }
    });
    let running = app.start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(ticks.load(Ordering::SeqCst), 3);
    running.shutdown().await.unwrap();
    assert_eq!(running.state(), LifecycleState::Stopped);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(ticks.load(Ordering::SeqCst), 3, "the loop ended");
}

#[tokio::test(start_paused = true)]
async fn a_task_that_ignores_the_signal_is_cancelled_after_its_timeout_and_the_teardown_runs() {
    let log = Log::new();
    let (l1, l2) = (log.clone(), log.clone());
    let app = App::new()
        .background(move || {
            let held = l1.tracked("held by the task");
            async move {
                let _held = held;
                std::future::pending::<()>().await;
            }
        })
        .named("stubborn")
        .timeout(Duration::from_secs(5))
        .on_shutdown(move || l2.push("hook"));
    let running = app.start().await.unwrap();
    tokio::task::yield_now().await;

    let began = Instant::now();
    let error = running.shutdown().await.unwrap_err();
    assert_eq!(began.elapsed(), Duration::from_secs(5));
    assert!(
        error.cause().is_none(),
        "a timeout at stop is not the cause"
    );
    let [failure] = error.failures() else {
        panic!("one failure: {error}")
    };
    assert_eq!(failure.node(), "stubborn");
    assert_eq!(failure.stage(), Stage::Background);
    assert!(failure.failure().is_timeout());
    assert!(
        error
            .to_string()
            .contains("`stubborn` failed during its background run: timed out after 5s"),
        "{error}"
    );
    assert_eq!(log.take(), ["drop held by the task", "hook"]);
}

#[tokio::test(start_paused = true)]
async fn the_app_wide_shutdown_timeout_applies_without_a_timeout_of_its_own() {
    let app = App::new()
        .shutdown_timeout(Duration::from_secs(2))
        .background(std::future::pending::<()>);
    let running = app.start().await.unwrap();
    let began = Instant::now();
    let error = running.shutdown().await.unwrap_err();
    assert_eq!(began.elapsed(), Duration::from_secs(2));
    assert!(error.failures()[0].failure().is_timeout());
}

#[tokio::test]
async fn a_failing_task_stops_the_app_and_is_the_cause() {
    let log = Log::new();
    let l1 = log.clone();
    let app = App::new()
        .background(|| async {
            Err::<(), _>(Failed::caused_by("the feed closed", "connection reset"))
        })
        .named("feed")
        .on_shutdown(move || l1.push("hook"));
    let running = app.start().await.unwrap();
    // It stops by itself.
    running.shutdown_requested().await;
    let error = running.shutdown().await.unwrap_err();
    assert_eq!(running.state(), LifecycleState::Stopped);
    let cause = error.cause().expect("the task's failure is the cause");
    assert_eq!(cause.node(), "feed");
    assert_eq!(cause.stage(), Stage::Background);
    assert_eq!(error.failures().len(), 1);
    assert_eq!(
        error.to_string(),
        "the background task `feed` failed, which stopped the app: the feed closed: connection \
         reset; handle the error inside the task to keep the app running, or register it with \
         `.restart(Backoff::exponential(initial, max))` to restart it"
    );
    assert_eq!(log.take(), ["hook"], "the teardown still runs");
}

#[tokio::test]
async fn a_panicking_task_stops_the_app_and_is_the_cause() {
    let app = App::new()
        .background(|| async {
            if true {
                panic!("the index is corrupt");
            }
        })
        .named("indexer");
    let running = app.start().await.unwrap();
    running.shutdown_requested().await;
    let error = running.shutdown().await.unwrap_err();
    let cause = error.cause().unwrap();
    assert_eq!(cause.node(), "indexer");
    assert!(cause.failure().is_panic());
    assert!(
        error
            .to_string()
            .contains("`indexer` failed, which stopped the app: panicked: the index is corrupt"),
        "{error}"
    );
}

#[tokio::test]
async fn a_failing_task_makes_the_server_return_an_error() {
    let app = App::new()
        .background(|| async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Err::<(), _>(Failed::new("lost the queue"))
        })
        .named("consumer")
        .get("/", || async { "hello" });
    let server = app.bind("127.0.0.1:0").await.unwrap().with_signals(false);
    let result = tokio::time::timeout(Duration::from_secs(10), server.run())
        .await
        .expect("the server stops by itself");
    match result {
        Err(Error::Shutdown(error)) => {
            assert_eq!(error.cause().unwrap().node(), "consumer");
            assert!(error.to_string().contains("lost the queue"), "{error}");
        }
        other => panic!("expected the task's failure, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_task_that_ends_before_shutdown_does_not_stop_the_app() {
    let app = App::new()
        .background(|| async {})
        .get("/", || async { "still here" });
    let running = app.start().await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(running.state(), LifecycleState::Running);
    assert_eq!(
        running.execute(Request::get("/")).await.text(),
        "still here"
    );
    running.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_restarting_task_restarts_with_a_doubling_capped_backoff() {
    let attempts: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let recorded = Arc::clone(&attempts);
    let app = App::new()
        .background(move |shutdown: Shutdown| {
            let attempts = Arc::clone(&recorded);
            async move {
                let attempt = {
                    let mut attempts = attempts.lock().unwrap();
                    attempts.push(Instant::now());
                    attempts.len()
                };
                if attempt <= 5 {
                    return Err(Failed::new("flaky"));
                }
                shutdown.requested().await;
                Ok(())
            }
        })
        .restart(Backoff::exponential(
            Duration::from_millis(100),
            Duration::from_millis(400),
        ));
    let running = app.start().await.unwrap();
    until(|| attempts.lock().unwrap().len() == 6).await;
    assert_eq!(
        running.state(),
        LifecycleState::Running,
        "restarted, not stopped"
    );

    let attempts = attempts.lock().unwrap().clone();
    let delays: Vec<u64> = attempts
        .windows(2)
        .map(|pair| (pair[1] - pair[0]).as_millis() as u64)
        .collect();
    assert_eq!(delays, [100, 200, 400, 400, 400]);
    running.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn shutdown_ends_a_backoff_delay_early() {
    let app = App::new()
        .background(|| async { Err::<(), _>(Failed::new("down")) })
        .restart(Backoff::exponential(
            Duration::from_secs(60),
            Duration::from_secs(600),
        ));
    let running = app.start().await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let began = Instant::now();
    running.shutdown().await.unwrap();
    assert_eq!(began.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn every_runs_periodically_never_piles_up_missed_ticks_and_never_overlaps() {
    let base = Instant::now();
    let runs: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
    let active = Arc::new(AtomicUsize::new(0));
    let (recorded, counted) = (Arc::clone(&runs), Arc::clone(&active));
    let app = App::new().every(Duration::from_secs(10), move || {
        let (runs, active) = (Arc::clone(&recorded), Arc::clone(&counted));
        async move {
            assert_eq!(active.fetch_add(1, Ordering::SeqCst), 0, "runs overlap");
            let began = base.elapsed().as_secs();
            // The second run takes longer than two periods.
            if runs.lock().unwrap().len() == 1 {
                tokio::time::sleep(Duration::from_secs(25)).await;
            }
            active.fetch_sub(1, Ordering::SeqCst);
            runs.lock().unwrap().push((began, base.elapsed().as_secs()));
        }
    });
    let running = app.start().await.unwrap();
    until(|| runs.lock().unwrap().len() == 4).await;
    // At once, then every 10 s. The run from 10 s to 35 s missed the ticks at 20 s and 30 s:
    // one run follows at once, not two, and the schedule goes on 10 s after it.
    assert_eq!(
        *runs.lock().unwrap(),
        [(0, 0), (10, 35), (35, 35), (45, 45)]
    );
    running.shutdown().await.unwrap();
    let after = runs.lock().unwrap().len();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(runs.lock().unwrap().len(), after, "no run after shutdown");
}

#[tokio::test(start_paused = true)]
async fn a_failing_periodic_run_stops_the_app_unless_it_restarts() {
    let app = App::new()
        .every(Duration::from_secs(10), || async {
            Err::<(), _>(Failed::new("disk full"))
        })
        .named("compact");
    let running = app.start().await.unwrap();
    running.shutdown_requested().await;
    let error = running.shutdown().await.unwrap_err();
    assert_eq!(error.cause().unwrap().node(), "compact");

    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let app = App::new()
        .every(Duration::from_secs(10), move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>(Failed::new("disk full")) }
        })
        .restart(Backoff::exponential(
            Duration::from_secs(1),
            Duration::from_secs(4),
        ));
    let running = app.start().await.unwrap();
    tokio::time::sleep(Duration::from_secs(35)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 4, "at 0, 10, 20 and 30 s");
    assert_eq!(running.state(), LifecycleState::Running);
    running.shutdown().await.unwrap();
}

#[test]
fn a_task_cannot_ask_for_a_request_scoped_dependency() {
    struct Conn;
    let app = App::new()
        .dependency(|| Ok::<_, Infallible>(Conn))
        .background(|_conn: Dep<Conn>| async {})
        .named("sync");
    let error = app.validate().unwrap_err();
    match error.problems() {
        [Problem::Scope {
            node,
            asks_for,
            why,
        }] => {
            assert_eq!(node, "sync");
            assert!(asks_for.contains("Dep<"), "{asks_for}");
            assert!(
                why.contains("a background task runs outside any request"),
                "{why}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_task_cannot_read_the_request() {
    let app = App::new().background(|_: roadie::HeaderMap| async {});
    let error = app.validate().unwrap_err();
    assert!(
        error.to_string().contains("it runs outside any request"),
        "{error}"
    );
}

#[tokio::test]
async fn a_missing_resource_is_a_startup_error_naming_the_task() {
    struct Cache;
    let app = App::new()
        .background(|_: Res<Cache>| async {})
        .named("refresh");
    let error = app.start().await.unwrap_err();
    assert_eq!(
        error.problems(),
        [Problem::MissingResource {
            ty: "Cache",
            needed_by: "refresh".to_owned()
        }]
    );
}

#[test]
fn restart_and_timeout_settings() {
    // After a background task, both apply.
    let app = App::new()
        .background(|| async {})
        .timeout(Duration::from_secs(1))
        .restart(Backoff::exponential(
            Duration::from_secs(1),
            Duration::from_secs(2),
        ));
    app.validate().unwrap();

    // After anything else, a restart is a problem.
    let app = App::new()
        .get("/", || async { "hi" })
        .restart(Backoff::exponential(
            Duration::from_secs(1),
            Duration::from_secs(2),
        ));
    let error = app.validate().unwrap_err();
    match error.problems() {
        [Problem::Setting { node, setting, why }] => {
            assert_eq!(*setting, "App::restart");
            assert!(node.starts_with("GET /"), "{node}");
            assert!(why.contains("this is a route"), "{why}");
        }
        other => panic!("{other:?}"),
    }
}

#[cfg(feature = "macros")]
mod attribute {
    use super::*;

    struct Counter(AtomicUsize);

    #[background]
    async fn count(counter: &Counter, shutdown: Shutdown) -> Result<(), Infallible> {
        counter.0.fetch_add(1, Ordering::SeqCst);
        shutdown.requested().await;
        counter.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    #[tokio::test]
    async fn an_annotated_task_runs_until_shutdown() {
        let app = App::new()
            .on_startup(|| Ok::<_, Infallible>(Counter(AtomicUsize::new(0))))
            .background(count);
        let running = app.start().await.unwrap();
        let counter = running.resource::<Counter>().unwrap();
        until(|| counter.0.load(Ordering::SeqCst) == 1).await;
        running.shutdown().await.unwrap();
        assert_eq!(counter.0.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn an_annotated_task_is_named_after_itself() {
        let app = App::new().background(count);
        let error = app.validate().unwrap_err();
        assert_eq!(
            error.problems(),
            [Problem::MissingResource {
                ty: "Counter",
                needed_by: "count".to_owned()
            }]
        );
    }
}

/// Under a server, a task is told to stop when the drain begins, while requests are still
/// served (the readiness route answers `503` for the drain delay), not after the drain.
#[tokio::test]
async fn under_a_server_a_task_is_told_when_the_drain_begins() {
    let told: Arc<tokio::sync::Notify> = Arc::default();
    let notify = Arc::clone(&told);
    let app = App::new()
        .background(move |shutdown: Shutdown| {
            let notify = Arc::clone(&notify);
            async move {
                shutdown.requested().await;
                notify.notify_one();
            }
        })
        .readiness("/ready")
        .drain_delay(Duration::from_secs(30))
        .get("/", || async { "hello" });
    let server = app.bind("127.0.0.1:0").await.unwrap().with_signals(false);
    let addr = server.local_addr();
    let handle = server.handle();
    let run = tokio::spawn(server.run());

    handle.shutdown();
    tokio::time::timeout(Duration::from_secs(10), told.notified())
        .await
        .expect("the task is told when the drain begins, not after the 30 s delay");
    // Still serving: the drain delay has not ended.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /ready HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("draining"), "{answer}");

    handle.shutdown_now();
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
}
