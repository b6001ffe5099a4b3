//! Opt-in concurrent startup: independent nodes start at once (proven with a two-party barrier,
//! not with timing), dependencies are still respected, and a failure rolls back everything
//! that started, cancelling what was still starting.

mod support;

use std::convert::Infallible;
use std::future::pending;
use std::sync::Arc;
use std::time::Duration;

use roadie::prelude::*;
use roadie::Failure;
use support::{Failed, Log, A, B, C, D};
use tokio::sync::Barrier;

/// Two providers that each wait on one shared two-party barrier: they can only both finish if
/// they run at once.
fn barrier_app(log: &Log) -> App {
    let barrier = Arc::new(Barrier::new(2));
    let (b1, b2) = (barrier.clone(), barrier);
    let (l1, l2) = (log.clone(), log.clone());
    App::new()
        .on_startup(move || {
            let (barrier, log) = (b1.clone(), l1.clone());
            async move {
                log.push("first waits");
                barrier.wait().await;
                Ok::<_, Infallible>(1u8)
            }
        })
        .named("first")
        .timeout(Duration::from_secs(5))
        .on_startup(move || {
            let (barrier, log) = (b2.clone(), l2.clone());
            async move {
                log.push("second waits");
                barrier.wait().await;
                Ok::<_, Infallible>(2u16)
            }
        })
        .named("second")
        .timeout(Duration::from_secs(5))
}

#[tokio::test(start_paused = true)]
async fn independent_nodes_run_at_once() {
    let log = Log::new();
    let running = barrier_app(&log)
        .concurrent_startup(true)
        .start()
        .await
        .unwrap();
    assert_eq!(*running.resource::<u8>().unwrap(), 1);
    assert_eq!(*running.resource::<u16>().unwrap(), 2);
    // Launched in the documented order.
    assert_eq!(log.take(), ["first waits", "second waits"]);
    running.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn sequential_startup_is_the_default_and_would_wait_forever() {
    let log = Log::new();
    let error = barrier_app(&log).start().await.unwrap_err();
    assert_eq!(error.failed_node(), Some("first"));
    assert!(matches!(error.failure(), Some(Failure::Timeout(_))));
    assert_eq!(log.take(), ["first waits"], "the second never started");
}

#[tokio::test(start_paused = true)]
async fn concurrent_startup_still_respects_dependencies() {
    let log = Log::new();
    let barrier = Arc::new(Barrier::new(2));
    let (b1, b2) = (barrier.clone(), barrier);
    let (l1, l2, l3, l4) = (log.clone(), log.clone(), log.clone(), log.clone());
    let running = App::new()
        .concurrent_startup(true)
        // Registered first, but needs `a`: it must wait for it.
        .on_startup(move |a: Res<u8>| {
            l1.push(format!("after a, sees {}", *a));
            Ok::<_, Infallible>(3u32)
        })
        .named("after a")
        .on_startup(move || {
            let (barrier, log) = (b1.clone(), l2.clone());
            async move {
                barrier.wait().await;
                log.push("a done");
                Ok::<_, Infallible>(1u8)
            }
        })
        .named("a")
        .timeout(Duration::from_secs(5))
        .on_startup(move || {
            let (barrier, log) = (b2.clone(), l3.clone());
            async move {
                barrier.wait().await;
                log.push("independent done");
                Ok::<_, Infallible>(2u16)
            }
        })
        .named("independent")
        .timeout(Duration::from_secs(5))
        .lifespan(move |lifespan: Lifespan<String>, n: Res<u32>| {
            let log = l4.clone();
            async move {
                log.push(format!("lifespan after, sees {}", *n));
                lifespan.ready(String::from("value")).await;
                Ok::<_, Infallible>(())
            }
        })
        .named("last");
    let running = running.start().await.unwrap();
    let entries = log.take();
    let at = |entry: &str| entries.iter().position(|e| e == entry).unwrap();
    assert!(at("a done") < at("after a, sees 1"), "{entries:?}");
    assert!(
        at("after a, sees 1") < at("lifespan after, sees 3"),
        "{entries:?}"
    );
    assert!(entries.contains(&"independent done".to_owned()));
    assert_eq!(running.resource::<String>().unwrap().as_str(), "value");
    running.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_failure_rolls_back_everything_started_and_cancels_what_was_starting() {
    let log = Log::new();
    let (l1, l2, l3, l4, l5, l6) = (
        log.clone(),
        log.clone(),
        log.clone(),
        log.clone(),
        log.clone(),
        log.clone(),
    );
    let error = App::new()
        .concurrent_startup(true)
        .lifespan(move |lifespan: Lifespan<A>| {
            let log = l1.clone();
            async move {
                lifespan.ready(A(log.tracked("A"))).await;
                log.push("a torn down");
                Ok::<_, Infallible>(())
            }
        })
        .named("a")
        .on_startup(move || {
            let log = l2.clone();
            async move { Ok::<_, Infallible>(B(log.tracked("B"))) }
        })
        .named("b")
        .on_startup(move || {
            let log = l3.clone();
            async move {
                let _held = log.tracked("stuck provider's value");
                pending::<()>().await;
                Ok::<_, Infallible>(C(log.tracked("C")))
            }
        })
        .named("stuck provider")
        .lifespan(move |lifespan: Lifespan<D>| {
            let log = l4.clone();
            async move {
                let _held = log.tracked("stuck lifespan's value");
                pending::<()>().await;
                lifespan.ready(D(log.tracked("D"))).await;
                Ok::<_, Infallible>(())
            }
        })
        .named("stuck lifespan")
        // Fails once both `a` and `b` have started.
        .on_startup(|_: Res<A>, _: Res<B>| -> Result<u8, Failed> { Err(Failed::new("boom")) })
        .named("fails")
        .on_shutdown(move |_: Res<A>, _: Res<B>| l5.push("hook for a and b"))
        .on_shutdown(move |_: Res<C>| l6.push("hook for c never runs"))
        .start()
        .await
        .unwrap_err();
    assert_eq!(error.failed_node(), Some("fails"));
    let mut entries = log.take();
    // The two cancelled setups are released first, in either order.
    let cancelled: Vec<String> = entries.drain(..2).collect();
    assert!(
        cancelled.contains(&"drop stuck provider's value".to_owned()),
        "{cancelled:?}"
    );
    assert!(
        cancelled.contains(&"drop stuck lifespan's value".to_owned()),
        "{cancelled:?}"
    );
    assert_eq!(entries[0], "a torn down");
    assert_eq!(entries[1], "hook for a and b");
    // Dropped in reverse of the order they started, whichever that was.
    assert_eq!(entries.len(), 4, "{entries:?}");
    assert!(entries[2..].contains(&"drop A".to_owned()));
    assert!(entries[2..].contains(&"drop B".to_owned()));
}

#[tokio::test]
async fn a_lifespan_that_reached_ready_as_a_sibling_failed_is_torn_down_too() {
    use std::sync::Mutex;
    use tokio::sync::oneshot;

    let log = Log::new();
    let (l1, l2) = (log.clone(), log.clone());
    let (almost_ready, wait_for_it) = oneshot::channel::<()>();
    let almost_ready = Arc::new(Mutex::new(Some(almost_ready)));
    let wait_for_it = Arc::new(Mutex::new(Some(wait_for_it)));
    let error = App::new()
        .concurrent_startup(true)
        .lifespan(move |lifespan: Lifespan<A>| {
            let (log, almost_ready) = (l1.clone(), almost_ready.clone());
            async move {
                // The sibling fails as soon as this lifespan registers its value, before the
                // engine has seen that value.
                let _ = almost_ready.lock().unwrap().take().unwrap().send(());
                lifespan.ready(A(log.tracked("A"))).await;
                log.push("a torn down");
                Ok::<_, Infallible>(())
            }
        })
        .named("a")
        .on_startup(move || {
            let wait_for_it = wait_for_it.lock().unwrap().take().unwrap();
            async move {
                let _ = wait_for_it.await;
                Err::<u8, _>(Failed::new("boom"))
            }
        })
        .named("fails")
        .on_shutdown(move |_: Res<A>| l2.push("hook for a"))
        .start()
        .await
        .unwrap_err();
    assert_eq!(error.failed_node(), Some("fails"));
    assert_eq!(log.take(), ["a torn down", "hook for a", "drop A"]);
}

#[tokio::test]
async fn a_node_that_asks_for_one_type_twice_starts_once_its_provider_has() {
    struct Shared;
    let running = App::new()
        .on_startup(|a: Res<Shared>, again: Option<Res<Shared>>| {
            assert!(again.is_some());
            let _ = a;
            Ok::<_, Infallible>(1u8)
        })
        .on_startup(|| Ok::<_, Infallible>(Shared))
        .concurrent_startup(true)
        .start()
        .await
        .unwrap();
    assert_eq!(*running.resource::<u8>().unwrap(), 1);
    running.shutdown().await.unwrap();
}
