//! Shutdown: lifespans' teardown in reverse start order, then shutdown hooks in registration
//! order, then resources dropped in reverse start order; every failure reported together.

mod support;

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};

use roadie::prelude::*;
use roadie::{LifecycleState, Stage};
use support::{Failed, Log, A, B, C, D};

/// config (A) and cache (C) are providers; pool (B, needs A) and queue (D) are lifespans.
fn mixed_app(log: &Log) -> App {
    let (l1, l2, l3, l4, l5, l6, l7) = (
        log.clone(),
        log.clone(),
        log.clone(),
        log.clone(),
        log.clone(),
        log.clone(),
        log.clone(),
    );
    App::new()
        .lifespan(move |lifespan: Lifespan<B>, _: Res<A>| {
            let log = l1.clone();
            async move {
                log.push("pool setup");
                let pool = lifespan.ready(B(log.tracked("B"))).await;
                log.push("pool teardown");
                drop(pool);
                Ok::<_, Infallible>(())
            }
        })
        .named("pool")
        .on_startup(move || {
            l2.push("config");
            Ok::<_, Infallible>(A(l2.tracked("A")))
        })
        .named("config")
        .on_shutdown(move |_: Res<B>| l3.push("hook 1"))
        .named("hook 1")
        .lifespan(move |lifespan: Lifespan<D>| {
            let log = l4.clone();
            async move {
                log.push("queue setup");
                lifespan.ready(D(log.tracked("D"))).await;
                log.push("queue teardown");
                Ok::<_, Infallible>(())
            }
        })
        .named("queue")
        .on_shutdown(move || {
            let log = l5.clone();
            async move { log.push("hook 2") }
        })
        .named("hook 2")
        .on_startup(move || {
            let log = l6.clone();
            async move { Ok::<_, Infallible>(C(log.tracked("C"))) }
        })
        .named("cache")
        .get("/", move |_: Res<B>, _: Res<D>| {
            let log = l7.clone();
            async move {
                log.push("request");
                "ok"
            }
        })
}

#[tokio::test]
async fn the_full_order_of_a_mixed_app() {
    let log = Log::new();
    let app = mixed_app(&log);
    assert_eq!(
        app.startup_order().unwrap(),
        ["config", "cache", "pool", "queue"]
    );
    let running = app.start().await.unwrap();
    assert_eq!(running.state(), LifecycleState::Running);
    assert_eq!(running.execute(Request::get("/")).await.text(), "ok");
    running.shutdown().await.unwrap();
    assert_eq!(running.state(), LifecycleState::Stopped);
    assert_eq!(
        log.take(),
        [
            "config",
            "pool setup",
            "queue setup",
            "request",
            "queue teardown",
            "pool teardown",
            "hook 1",
            "hook 2",
            "drop D",
            "drop B",
            "drop C",
            "drop A",
        ]
    );
}

#[tokio::test]
async fn shutdown_is_idempotent() {
    let log = Log::new();
    let running = mixed_app(&log).start().await.unwrap();
    running.shutdown().await.unwrap();
    let first = log.take();
    assert_eq!(first.len(), 11);
    running.shutdown().await.unwrap();
    running.clone().shutdown().await.unwrap();
    assert!(log.take().is_empty(), "the second shutdown runs nothing");
    assert!(
        running.resource::<A>().is_none(),
        "a stopped app holds no resources"
    );
    let response = running.execute(Request::get("/")).await;
    assert_eq!(response.status(), 503);
}

#[tokio::test]
async fn states_go_running_stopping_stopped() {
    let seen: Arc<OnceLock<Running>> = Arc::new(OnceLock::new());
    let states = Log::new();
    let (s, st) = (seen.clone(), states.clone());
    let running = App::new()
        .on_shutdown(move || {
            let state = s.get().expect("set before shutdown").state();
            st.push(state.to_string());
        })
        .start()
        .await
        .unwrap();
    seen.set(running.clone()).unwrap();
    assert_eq!(running.state(), LifecycleState::Running);
    running.shutdown().await.unwrap();
    assert_eq!(states.take(), ["Stopping"]);
    assert_eq!(running.state(), LifecycleState::Stopped);
}

#[tokio::test]
async fn every_hook_runs_and_every_failure_comes_back_together() {
    let log = Log::new();
    let (l1, l2, l3, l4) = (log.clone(), log.clone(), log.clone(), log.clone());
    let running = App::new()
        .on_shutdown(move || -> Result<(), Failed> {
            l1.push("fails");
            Err(Failed::caused_by("could not flush", "disk full"))
        })
        .named("flush")
        .on_shutdown(move || -> () {
            l2.push("panics");
            panic!("the hook broke");
        })
        .named("broken")
        .on_shutdown(move || {
            let log = l3.clone();
            async move {
                log.push("async fails");
                Err::<(), _>(Failed::new("async failure"))
            }
        })
        .named("async")
        .on_shutdown(move || l4.push("still runs"))
        .named("last")
        .start()
        .await
        .unwrap();
    let error = running.shutdown().await.unwrap_err();
    assert_eq!(log.take(), ["fails", "panics", "async fails", "still runs"]);
    let failures = error.failures();
    assert_eq!(failures.len(), 3);
    assert_eq!(
        failures.iter().map(|f| f.node()).collect::<Vec<_>>(),
        ["flush", "broken", "async"]
    );
    assert!(failures.iter().all(|f| f.stage() == Stage::Shutdown));
    assert!(failures[1].failure().is_panic());
    assert_eq!(
        error.to_string(),
        "shutdown reported 3 failure(s):\n  \
         - `flush` failed during shutdown: could not flush: disk full\n  \
         - `broken` failed during shutdown: panicked: the hook broke\n  \
         - `async` failed during shutdown: async failure"
    );
    // Idempotent: the same result again, without running anything.
    assert_eq!(running.shutdown().await.unwrap_err().failures().len(), 3);
    assert!(log.take().is_empty());
}

#[tokio::test]
async fn a_lifespan_failing_after_ready_is_a_shutdown_failure_and_the_rest_still_runs() {
    let log = Log::new();
    let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
    let running = App::new()
        .lifespan(move |lifespan: Lifespan<A>| {
            let log = l1.clone();
            async move {
                lifespan.ready(A(log.tracked("A"))).await;
                log.push("a teardown");
                Err::<(), _>(Failed::new("could not close a"))
            }
        })
        .named("a")
        .lifespan(move |lifespan: Lifespan<B>| {
            let log = l2.clone();
            async move {
                lifespan.ready(B(log.tracked("B"))).await;
                log.push("b teardown");
                panic!("b teardown broke");
                #[allow(unreachable_code)]
                Ok::<_, Infallible>(())
            }
        })
        .named("b")
        .on_shutdown(move |_: Res<A>, _: Res<B>| l3.push("hook"))
        .start()
        .await
        .unwrap();
    let error = running.shutdown().await.unwrap_err();
    assert_eq!(
        log.take(),
        ["b teardown", "a teardown", "hook", "drop B", "drop A"]
    );
    let failures = error.failures();
    assert_eq!(
        failures
            .iter()
            .map(|f| (f.node(), f.stage(), f.failure().to_string()))
            .collect::<Vec<_>>(),
        [
            (
                "b",
                Stage::Teardown,
                "panicked: b teardown broke".to_owned()
            ),
            ("a", Stage::Teardown, "could not close a".to_owned()),
        ]
    );
}

#[tokio::test]
async fn hooks_receive_resources_and_optional_ones() {
    let log = Log::new();
    let (l1, l2) = (log.clone(), log.clone());
    let running = App::new()
        .on_startup(|| Ok::<_, Infallible>(7u8))
        .on_shutdown(move |n: Res<u8>, missing: Option<Res<C>>| {
            l1.push(format!("u8 = {}, C present: {}", *n, missing.is_some()));
        })
        .on_shutdown(move |n: Res<u8>| {
            let log = l2.clone();
            async move { log.push(format!("async sees {}", *n)) }
        })
        .start()
        .await
        .unwrap();
    running.shutdown().await.unwrap();
    assert_eq!(log.take(), ["u8 = 7, C present: false", "async sees 7"]);
}

#[tokio::test]
async fn a_shutdown_handle_in_a_handler_stops_the_app() {
    let log = Log::new();
    let l = log.clone();
    let running = App::new()
        .on_shutdown(move || l.push("hook"))
        .get("/stop", |shutdown: Shutdown| async move {
            shutdown.trigger();
            "stopping"
        })
        .start()
        .await
        .unwrap();
    assert_eq!(
        running.execute(Request::get("/stop")).await.text(),
        "stopping"
    );
    running.shutdown_requested().await;
    // The shutdown that the handle began is the one `shutdown` waits for.
    running.shutdown().await.unwrap();
    assert_eq!(log.take(), ["hook"]);
    assert_eq!(running.state(), LifecycleState::Stopped);
}

#[tokio::test]
async fn resources_held_by_the_caller_outlive_the_shutdown() {
    let log = Log::new();
    let l = log.clone();
    let running = App::new()
        .on_startup(move || Ok::<_, Infallible>(A(l.tracked("A"))))
        .start()
        .await
        .unwrap();
    let held = running.resource::<A>().unwrap();
    running.shutdown().await.unwrap();
    assert!(log.take().is_empty(), "still held");
    drop(held);
    assert_eq!(log.take(), ["drop A"]);
}

#[allow(dead_code)]
fn unused(_: D) {}
