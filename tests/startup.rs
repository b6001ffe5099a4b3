//! Startup: a node that errors or panics stops startup, and whatever had started is torn down
//! in reverse (lifespans' teardown, hooks whose resources exist, resources dropped), with the
//! failed node, its cause and any rollback failure in the error.

mod support;

use std::convert::Infallible;

use roadie::prelude::*;
use roadie::{Failure, Stage, StartupError};
use support::{Failed, Log, A, B, C, D, E};

/// a (provider A), l1 (lifespan B), c (provider C), l2 (lifespan D), then `fail`, then e
/// (provider E) which never runs. Hooks: one per resource, and one needing E.
fn failing_in_the_middle(
    log: &Log,
    fail: impl Fn() -> Result<u8, Failed> + Send + Sync + 'static,
) -> App {
    let l = |_: ()| log.clone();
    let (l1, l2, l3, l4, l5, l6, l7, l8, l9) = (
        l(()),
        l(()),
        l(()),
        l(()),
        l(()),
        l(()),
        l(()),
        l(()),
        l(()),
    );
    App::new()
        .on_startup(move || {
            l1.push("start a");
            Ok::<_, Infallible>(A(l1.tracked("A")))
        })
        .named("a")
        .lifespan(move |lifespan: Lifespan<B>, _: Res<A>| {
            let log = l2.clone();
            async move {
                log.push("l1 setup");
                lifespan.ready(B(log.tracked("B"))).await;
                log.push("l1 teardown");
                Ok::<_, Infallible>(())
            }
        })
        .named("l1")
        .on_startup(move |_: Res<B>| {
            l3.push("start c");
            Ok::<_, Infallible>(C(l3.tracked("C")))
        })
        .named("c")
        .lifespan(move |lifespan: Lifespan<D>, _: Res<C>| {
            let log = l4.clone();
            async move {
                log.push("l2 setup");
                lifespan.ready(D(log.tracked("D"))).await;
                log.push("l2 teardown");
                Ok::<_, Infallible>(())
            }
        })
        .named("l2")
        .on_startup(move |_: Res<D>| fail())
        .named("fail")
        .on_startup(move |_: Res<u8>| {
            l5.push("start e");
            Ok::<_, Infallible>(E(l5.tracked("E")))
        })
        .named("e")
        .on_shutdown(move |_: Res<A>| l6.push("hook a"))
        .on_shutdown(move |_: Res<E>| l7.push("hook e"))
        .on_shutdown(move |_: Res<D>, _: Option<Res<E>>| l8.push("hook d"))
        .on_shutdown(move || l9.push("hook without needs"))
}

const ROLLED_BACK: [&str; 13] = [
    "start a",
    "l1 setup",
    "start c",
    "l2 setup",
    "l2 teardown",
    "l1 teardown",
    "hook a",
    "hook d",
    "hook without needs",
    "drop D",
    "drop C",
    "drop B",
    "drop A",
];

#[tokio::test]
async fn an_error_in_the_middle_tears_down_what_started_in_reverse() {
    let log = Log::new();
    let app = failing_in_the_middle(&log, || {
        Err(Failed::caused_by("could not connect", "refused"))
    });
    let error = app.start().await.unwrap_err();
    assert_eq!(log.take(), ROLLED_BACK);
    assert_eq!(error.failed_node(), Some("fail"));
    assert!(error.rollback().is_empty());
    assert!(matches!(error.failure(), Some(Failure::Error(_))));
    assert_eq!(
        error.to_string(),
        "startup failed: `fail` failed during startup: could not connect: refused"
    );
    // The cause chain is kept as sources too.
    let StartupError::Failed { failed, .. } = &error else {
        panic!("not a node failure: {error}");
    };
    let source = std::error::Error::source(failed).unwrap();
    assert_eq!(source.to_string(), "could not connect: refused");
    assert_eq!(
        std::error::Error::source(source).unwrap().to_string(),
        "could not connect"
    );
}

#[tokio::test]
async fn a_panic_in_the_middle_is_caught_kept_and_rolled_back_the_same_way() {
    let log = Log::new();
    let app = failing_in_the_middle(&log, || panic!("bad config value {}", 42));
    let error = app.start().await.unwrap_err();
    assert_eq!(log.take(), ROLLED_BACK);
    assert_eq!(error.failed_node(), Some("fail"));
    assert!(
        matches!(error.failure(), Some(Failure::Panic(message)) if message == "bad config value 42")
    );
    assert_eq!(
        error.to_string(),
        "startup failed: `fail` failed during startup: panicked: bad config value 42"
    );
}

#[tokio::test]
async fn an_async_provider_error_is_a_startup_failure() {
    let error = App::new()
        .on_startup(|| async { Err::<u8, _>(Failed::new("async failure")) })
        .named("async provider")
        .start()
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "startup failed: `async provider` failed during startup: async failure"
    );
}

#[tokio::test]
async fn rollback_failures_are_reported_with_the_startup_failure() {
    let log = Log::new();
    let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
    let error = App::new()
        .lifespan(move |lifespan: Lifespan<A>| {
            let log = l1.clone();
            async move {
                lifespan.ready(A(log.tracked("A"))).await;
                log.push("teardown fails");
                Err::<(), _>(Failed::new("could not close A"))
            }
        })
        .named("a")
        .on_shutdown(move |_: Res<A>| -> Result<(), Failed> {
            l2.push("hook fails");
            Err(Failed::new("could not flush A"))
        })
        .named("flush a")
        .on_shutdown(move || l3.push("next hook still runs"))
        .on_startup(|_: Res<A>| -> Result<u8, Failed> { Err(Failed::new("boom")) })
        .named("b")
        .start()
        .await
        .unwrap_err();
    assert_eq!(
        log.take(),
        [
            "teardown fails",
            "hook fails",
            "next hook still runs",
            "drop A"
        ]
    );
    let rollback = error.rollback();
    assert_eq!(rollback.len(), 2);
    assert_eq!(
        (rollback[0].node(), rollback[0].stage()),
        ("a", Stage::Teardown)
    );
    assert_eq!(
        (rollback[1].node(), rollback[1].stage()),
        ("flush a", Stage::Shutdown)
    );
    assert_eq!(
        error.to_string(),
        "startup failed: `b` failed during startup: boom; the rollback also reported 2 \
         failure(s):\n  - `a` failed during teardown: could not close A\n  - `flush a` failed \
         during shutdown: could not flush A"
    );
}

#[tokio::test]
async fn a_failure_of_the_first_node_runs_only_hooks_that_need_nothing() {
    let log = Log::new();
    let (l1, l2) = (log.clone(), log.clone());
    let error = App::new()
        .on_startup(|| -> Result<A, Failed> { Err(Failed::new("first")) })
        .named("first")
        .on_shutdown(move |_: Res<A>| l1.push("needs A"))
        .on_shutdown(move || l2.push("needs nothing"))
        .start()
        .await
        .unwrap_err();
    assert_eq!(error.failed_node(), Some("first"));
    assert_eq!(log.take(), ["needs nothing"]);
}

#[tokio::test]
async fn a_started_app_reads_its_resources_from_outside_handlers() {
    let running = App::new()
        .on_startup(|| Ok::<_, Infallible>(String::from("config")))
        .on_startup(|s: Res<String>| Ok::<_, Infallible>(s.len()))
        .start()
        .await
        .unwrap();
    assert_eq!(*running.resource::<usize>().unwrap(), 6);
    assert_eq!(running.resource::<String>().unwrap().as_str(), "config");
    assert!(running.resource::<u8>().is_none());
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn each_start_is_a_new_instance() {
    let log = Log::new();
    let l = log.clone();
    let app = App::new().on_startup(move || l.push("start"));
    let first = app.start().await.unwrap();
    let second = app.start().await.unwrap();
    assert_eq!(log.take(), ["start", "start"]);
    first.shutdown().await.unwrap();
    assert_eq!(second.state(), roadie::LifecycleState::Running);
    second.shutdown().await.unwrap();
}

#[tokio::test]
async fn execute_starts_once_and_a_failed_start_answers_503() {
    let log = Log::new();
    let l = log.clone();
    let app = App::new()
        .on_startup(move || l.push("start"))
        .get("/", || async { "ok" });
    let (a, b) = tokio::join!(
        app.execute(Request::get("/")),
        app.execute(Request::get("/"))
    );
    assert_eq!((a.text(), b.text()), ("ok".into(), "ok".into()));
    assert_eq!(log.take(), ["start"]);
    app.shutdown().await.unwrap();

    let failing = App::new()
        .on_startup(|| -> Result<u8, Failed> { Err(Failed::new("no")) })
        .get("/", || async { "ok" });
    assert_eq!(failing.execute(Request::get("/")).await.status(), 503);
    assert_eq!(
        failing.running().await.unwrap_err().failed_node(),
        Some("closure in execute_starts_once_and_a_failed_start_answers_503 (u8)")
    );
}

/// A runtime built without the time driver gets an error naming the builder call, before any
/// provider runs, rather than a panic deep inside a timeout.
#[test]
fn a_runtime_without_the_time_driver_is_a_clear_startup_error() {
    let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let runs = std::sync::Arc::clone(&ran);
    let app = App::new().on_startup(move || {
        runs.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok::<_, std::convert::Infallible>(())
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let error = runtime.block_on(app.start()).unwrap_err();
    assert!(matches!(error, StartupError::Runtime { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("time driver"), "{text}");
    assert!(text.contains("enable_time"), "{text}");
    assert!(
        !ran.load(std::sync::atomic::Ordering::SeqCst),
        "nothing ran"
    );
}
