//! Timeouts: an app-wide default for startup and for shutdown, a per-node override, and a node
//! past its limit fails like an error naming that node. The clock is paused, so these are
//! instant.

mod support;

use std::convert::Infallible;
use std::future::pending;
use std::time::Duration;

use roadie::prelude::*;
use roadie::{Failure, Stage};
use support::{Log, A};

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test(start_paused = true)]
async fn a_provider_past_its_timeout_fails_startup_naming_it_and_rolls_back() {
    let log = Log::new();
    let (l1, l2) = (log.clone(), log.clone());
    let error = App::new()
        .on_startup(move || Ok::<_, Infallible>(A(l1.tracked("A"))))
        .on_startup(|| async {
            pending::<()>().await;
            Ok::<_, Infallible>(1u8)
        })
        .named("slow")
        .timeout(SECOND)
        .on_shutdown(move |_: Res<A>| l2.push("hook"))
        .start()
        .await
        .unwrap_err();
    assert_eq!(error.failed_node(), Some("slow"));
    assert!(matches!(error.failure(), Some(Failure::Timeout(limit)) if *limit == SECOND));
    assert_eq!(
        error.to_string(),
        "startup failed: `slow` failed during startup: timed out after 1s and was cancelled"
    );
    assert_eq!(log.take(), ["hook", "drop A"]);
}

#[tokio::test(start_paused = true)]
async fn the_app_wide_startup_timeout_applies_to_every_node() {
    let error = App::new()
        .startup_timeout(Duration::from_millis(250))
        .on_startup(|| async {
            tokio::time::sleep(SECOND).await;
            Ok::<_, Infallible>(1u8)
        })
        .named("sleeper")
        .start()
        .await
        .unwrap_err();
    assert_eq!(error.failed_node(), Some("sleeper"));
    assert_eq!(
        error.to_string(),
        "startup failed: `sleeper` failed during startup: timed out after 250ms and was cancelled"
    );
}

#[tokio::test(start_paused = true)]
async fn a_node_timeout_overrides_the_app_wide_one() {
    let running = App::new()
        .startup_timeout(Duration::from_millis(250))
        .on_startup(|| async {
            tokio::time::sleep(SECOND).await;
            Ok::<_, Infallible>(1u8)
        })
        .timeout(2 * SECOND)
        .start()
        .await
        .unwrap();
    assert_eq!(*running.resource::<u8>().unwrap(), 1);
    running.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_default_startup_timeout_is_a_minute_and_none_means_no_limit() {
    let slow = || async {
        tokio::time::sleep(Duration::from_secs(61)).await;
        Ok::<_, Infallible>(1u8)
    };
    let error = App::new().on_startup(slow).start().await.unwrap_err();
    assert!(
        matches!(error.failure(), Some(Failure::Timeout(limit)) if *limit == Duration::from_secs(60))
    );
    let running = App::new()
        .startup_timeout(None)
        .on_startup(slow)
        .start()
        .await
        .unwrap();
    running.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_lifespan_whose_setup_hangs_fails_by_timeout() {
    let log = Log::new();
    let l = log.clone();
    let error = App::new()
        .lifespan(move |lifespan: Lifespan<A>| {
            let log = l.clone();
            async move {
                let _held = log.tracked("half set up");
                pending::<()>().await;
                lifespan.ready(A(log.tracked("A"))).await;
                Ok::<_, Infallible>(())
            }
        })
        .named("hangs")
        .timeout(SECOND)
        .start()
        .await
        .unwrap_err();
    assert_eq!(error.failed_node(), Some("hangs"));
    assert!(error.failure().unwrap().is_timeout());
    // The cancelled setup released what it held before the error came back.
    assert_eq!(log.take(), ["drop half set up"]);
}

#[tokio::test(start_paused = true)]
async fn a_hanging_teardown_or_hook_times_out_and_the_rest_still_run() {
    let log = Log::new();
    let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
    let running = App::new()
        .shutdown_timeout(Duration::from_millis(500))
        .lifespan(move |lifespan: Lifespan<A>| {
            let log = l1.clone();
            async move {
                lifespan.ready(A(log.tracked("A"))).await;
                log.push("teardown hangs");
                pending::<()>().await;
                Ok::<_, Infallible>(())
            }
        })
        .named("stuck teardown")
        .on_shutdown(move || {
            let log = l2.clone();
            async move {
                log.push("hook hangs");
                pending::<()>().await;
            }
        })
        .named("stuck hook")
        .timeout(SECOND)
        .on_shutdown(move |_: Res<A>| l3.push("last hook"))
        .start()
        .await
        .unwrap();
    let error = running.shutdown().await.unwrap_err();
    assert_eq!(
        log.take(),
        ["teardown hangs", "hook hangs", "last hook", "drop A"]
    );
    assert_eq!(
        error.to_string(),
        "shutdown reported 2 failure(s):\n  - `stuck teardown` failed during teardown: timed \
         out after 500ms and was cancelled\n  - `stuck hook` failed during shutdown: timed out \
         after 1s and was cancelled"
    );
    assert_eq!(error.failures()[0].stage(), Stage::Teardown);
}

#[tokio::test(start_paused = true)]
async fn a_node_timeout_also_bounds_its_teardown_and_what_it_held_is_released() {
    let log = Log::new();
    let l = log.clone();
    let error = App::new()
        .shutdown_timeout(Duration::from_secs(100))
        .lifespan(move |lifespan: Lifespan<A>| {
            let log = l.clone();
            async move {
                lifespan.ready(A(log.tracked("A"))).await;
                let _held = log.tracked("held by the teardown");
                pending::<()>().await;
                Ok::<_, Infallible>(())
            }
        })
        .named("stuck")
        .timeout(SECOND)
        .start()
        .await
        .unwrap()
        .shutdown()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("timed out after 1s"), "{error}");
    // Cancelled, and released before `shutdown` returned.
    assert_eq!(log.take(), ["drop held by the teardown", "drop A"]);
}

#[test]
#[should_panic(expected = "`App::timeout` applies to the last registered node")]
fn timeout_before_any_node_is_a_programming_error() {
    let _ = App::new().timeout(SECOND);
}

#[test]
#[should_panic(expected = "`App::named` names the last registered node")]
fn named_before_any_node_is_a_programming_error() {
    let _ = App::new().named("nothing");
}

#[tokio::test(start_paused = true)]
async fn a_lifespan_has_a_setup_timeout_and_a_teardown_timeout_of_its_own() {
    let log = Log::new();
    let l = log.clone();
    let started = tokio::time::Instant::now();
    let running = App::new()
        .lifespan(move |lifespan: Lifespan<A>| {
            let log = l.clone();
            async move {
                // A slow setup, within its 10 s.
                tokio::time::sleep(Duration::from_secs(5)).await;
                lifespan.ready(A(log.tracked("A"))).await;
                // A slow teardown, past its 2 s.
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok::<_, Infallible>(())
            }
        })
        .named("pool")
        .timeout(10 * SECOND)
        .teardown_timeout(2 * SECOND)
        .start()
        .await
        .expect("the setup takes 5 s of its 10");
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    let stopping = tokio::time::Instant::now();
    let error = running.shutdown().await.unwrap_err();
    assert!(error.to_string().contains("timed out after 2s"), "{error}");
    assert_eq!(stopping.elapsed(), Duration::from_secs(2));
}

#[test]
fn a_teardown_timeout_on_anything_but_a_lifespan_is_a_validation_problem() {
    let error = App::new()
        .on_startup(|| Ok::<_, Infallible>(A(Log::new().tracked("A"))))
        .teardown_timeout(SECOND)
        .validate()
        .unwrap_err();
    assert!(
        error.to_string().contains("App::teardown_timeout"),
        "{error}"
    );
}
