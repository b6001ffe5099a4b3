//! Lifespans: setup, `ready(value)` registering the value, teardown after shutdown begins;
//! errors and panics before `ready` fail startup, after it they are shutdown failures, and
//! finishing without `ready` is a startup error that says so.

mod support;

use std::convert::Infallible;
use std::sync::Arc;

use roadie::prelude::*;
use roadie::{Failure, Stage};
use support::{Failed, Log, A, B};

#[tokio::test]
async fn ready_registers_the_value_and_hands_it_back_at_teardown() {
    let log = Log::new();
    let (l1, l2) = (log.clone(), log.clone());
    let running = App::new()
        .on_startup(|| Ok::<_, Infallible>(String::from("url")))
        .lifespan(move |lifespan: Lifespan<A>, url: Res<String>| {
            let log = l1.clone();
            async move {
                log.push(format!("setup with {}", *url));
                let value = lifespan.ready(A(log.tracked("A"))).await;
                // The value handed back is the one registered and given to handlers.
                log.push(format!(
                    "teardown of {:p}",
                    Arc::as_ptr(&Res::into_arc(value))
                ));
                Ok::<_, Infallible>(())
            }
        })
        .named("a")
        .get("/", move |a: Res<A>| {
            let log = l2.clone();
            async move {
                log.push(format!("request sees {:p}", Arc::as_ptr(&Res::into_arc(a))));
                "ok"
            }
        })
        .start()
        .await
        .unwrap();
    assert!(running.resource::<A>().is_some());
    assert_eq!(running.execute(Request::get("/")).await.text(), "ok");
    running.shutdown().await.unwrap();
    let entries = log.take();
    assert_eq!(entries[0], "setup with url");
    let address = entries[1].strip_prefix("request sees ").unwrap();
    assert_eq!(entries[2], format!("teardown of {address}"));
    assert_eq!(entries[3], "drop A");
    assert_eq!(entries.len(), 4);
}

#[tokio::test]
async fn lifespans_tear_down_in_reverse_start_order() {
    let log = Log::new();
    let (l1, l2) = (log.clone(), log.clone());
    let running = App::new()
        .lifespan(move |lifespan: Lifespan<B>, _: Res<A>| {
            let log = l1.clone();
            async move {
                log.push("b up");
                lifespan.ready(B(log.tracked("B"))).await;
                log.push("b down");
                Ok::<_, Infallible>(())
            }
        })
        .lifespan(move |lifespan: Lifespan<A>| {
            let log = l2.clone();
            async move {
                log.push("a up");
                lifespan.ready(A(log.tracked("A"))).await;
                log.push("a down");
                Ok::<_, Infallible>(())
            }
        })
        .start()
        .await
        .unwrap();
    running.shutdown().await.unwrap();
    assert_eq!(
        log.take(),
        ["a up", "b up", "b down", "a down", "drop B", "drop A"]
    );
}

#[tokio::test]
async fn an_error_before_ready_fails_startup() {
    let log = Log::new();
    let l = log.clone();
    let error = App::new()
        .lifespan(move |lifespan: Lifespan<A>| {
            let log = l.clone();
            async move {
                let half = log.tracked("half set up");
                Err::<(), _>(Failed::caused_by("could not open", "no such file"))?;
                lifespan.ready(A(half)).await;
                Ok::<(), Failed>(())
            }
        })
        .named("files")
        .start()
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "startup failed: `files` failed during startup: could not open: no such file"
    );
    assert_eq!(log.take(), ["drop half set up"]);
}

#[tokio::test]
async fn a_panic_before_ready_fails_startup_with_its_message() {
    let error = App::new()
        .lifespan(|lifespan: Lifespan<A>| async move {
            if lifespan_is_broken() {
                panic!("setup broke");
            }
            let _ = lifespan;
            Ok::<_, Infallible>(())
        })
        .named("broken")
        .start()
        .await
        .unwrap_err();
    assert_eq!(error.failed_node(), Some("broken"));
    assert!(matches!(error.failure(), Some(Failure::Panic(m)) if m == "setup broke"));
}

fn lifespan_is_broken() -> bool {
    true
}

#[tokio::test]
async fn finishing_without_ready_is_a_startup_error_that_says_so() {
    let log = Log::new();
    let (l1, l2) = (log.clone(), log.clone());
    let error = App::new()
        .lifespan(move |lifespan: Lifespan<A>| {
            let log = l1.clone();
            async move {
                lifespan.ready(A(log.tracked("A"))).await;
                log.push("first torn down");
                Ok::<_, Infallible>(())
            }
        })
        .named("first")
        .lifespan(|lifespan: Lifespan<B>| async move {
            drop(lifespan);
            Ok::<_, Infallible>(())
        })
        .named("forgetful")
        .on_shutdown(move || l2.push("hook"))
        .start()
        .await
        .unwrap_err();
    assert_eq!(error.failed_node(), Some("forgetful"));
    assert!(matches!(error.failure(), Some(Failure::NotReady)));
    assert_eq!(
        error.to_string(),
        "startup failed: `forgetful` failed during startup: returned without calling \
         `Lifespan::ready`; call `lifespan.ready(value).await` once setup is done"
    );
    assert_eq!(log.take(), ["first torn down", "hook", "drop A"]);
}

#[tokio::test]
async fn an_error_after_ready_is_a_shutdown_failure() {
    let running = App::new()
        .lifespan(|lifespan: Lifespan<A>| async move {
            lifespan.ready(A(Log::new().tracked("A"))).await;
            Err::<(), _>(Failed::new("close failed"))
        })
        .named("a")
        .start()
        .await
        .unwrap();
    let error = running.shutdown().await.unwrap_err();
    assert_eq!(error.failures().len(), 1);
    assert_eq!(error.failures()[0].stage(), Stage::Teardown);
    assert_eq!(
        error.to_string(),
        "shutdown reported 1 failure(s):\n  - `a` failed during teardown: close failed"
    );
}

#[tokio::test]
async fn a_unit_lifespan_registers_nothing() {
    let log = Log::new();
    let (l1, l2) = (log.clone(), log.clone());
    let running = App::new()
        .lifespan(move |lifespan: Lifespan<()>| {
            let log = l1.clone();
            async move {
                log.push("background task up");
                lifespan.ready(()).await;
                log.push("background task down");
                Ok::<_, Infallible>(())
            }
        })
        .lifespan(move |lifespan: Lifespan<()>| {
            let log = l2.clone();
            async move {
                lifespan.ready(()).await;
                log.push("second down");
                Ok::<_, Infallible>(())
            }
        })
        .start()
        .await
        .unwrap();
    assert!(running.resource::<()>().is_none());
    running.shutdown().await.unwrap();
    assert_eq!(
        log.take(),
        ["background task up", "second down", "background task down"]
    );
}

#[test]
fn a_lifespan_without_a_lifespan_parameter_or_with_two_is_invalid() {
    let none = App::new()
        .lifespan(|_: Res<u8>| async { Ok::<_, Infallible>(()) })
        .named("no handle")
        .on_startup(|| Ok::<_, Infallible>(1u8));
    assert_eq!(
        none.validate().unwrap_err().to_string(),
        "the app is not valid: `no handle` asks for `no `Lifespan<T>``: a lifespan takes a \
         `Lifespan<T>` parameter (`Lifespan<()>` to register nothing) and calls `ready` on it \
         once setup is done"
    );
    let provider = App::new()
        .on_startup(|l: Lifespan<A>| {
            drop(l);
        })
        .named("provider");
    assert!(provider
        .validate()
        .unwrap_err()
        .to_string()
        .contains("only a lifespan (`App::lifespan`) receives a `Lifespan<T>` handle"));
}
