//! `App::execute` and `Running::execute`: in-process requests, a lazy start that runs exactly
//! once, 503 after a failed lazy start, and futures that can be sent across tasks.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use roadie::prelude::*;
use tokio::sync::Barrier;

struct Counter(usize);

fn counting_app(starts: &Arc<AtomicUsize>) -> App {
    let starts = starts.clone();
    App::new()
        .on_startup(move || {
            let n = starts.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Infallible>(Counter(n))
        })
        .get("/count", |counter: Res<Counter>| async move {
            counter.0.to_string()
        })
}

fn assert_send<T: Send>(value: T) -> T {
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_first_calls_start_the_app_exactly_once() {
    let starts = Arc::new(AtomicUsize::new(0));
    let app = Arc::new(counting_app(&starts));
    let barrier = Arc::new(Barrier::new(50));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (app, barrier) = (app.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            app.execute(Request::get("/count")).await
        });
    }
    while let Some(response) = tasks.join_next().await {
        let response = response.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text(), "0", "every request sees the one instance");
    }
    assert_eq!(starts.load(Ordering::SeqCst), 1);
    app.shutdown().await.unwrap();
}

#[derive(Debug, thiserror::Error)]
#[error("the database is unreachable")]
struct Unreachable;

#[tokio::test]
async fn a_failed_lazy_start_answers_503_to_every_call_and_start_returns_the_error() {
    let attempts = Arc::new(AtomicUsize::new(0));
    let counted = attempts.clone();
    let app = App::new()
        .on_startup(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            Err::<Counter, _>(Unreachable)
        })
        .get("/", || async { "never" });
    for _ in 0..3 {
        let response = app.execute(Request::get("/")).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            response.text().contains("failed to start"),
            "{}",
            response.text()
        );
    }
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        1,
        "the lazy start is tried once"
    );

    let error = app.start().await.expect_err("the provider fails");
    let text = error.to_string();
    assert!(text.contains("the database is unreachable"), "{text}");
    let error = app.running().await.expect_err("the lazy instance failed");
    assert!(error.to_string().contains("unreachable"), "{error}");
}

#[tokio::test]
async fn running_execute_answers_on_a_started_app() {
    let starts = Arc::new(AtomicUsize::new(0));
    let app = counting_app(&starts);
    let running = app.start().await.unwrap();
    let response = running.execute(Request::get("/count")).await;
    assert_eq!(response.text(), "0");
    let clone = running.clone();
    assert_eq!(clone.execute(Request::get("/count")).await.text(), "0");
    assert_eq!(starts.load(Ordering::SeqCst), 1);
    running.shutdown().await.unwrap();
    // A stopped app refuses politely.
    let response = running.execute(Request::get("/count")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn execute_and_start_are_independent_instances() {
    let starts = Arc::new(AtomicUsize::new(0));
    let app = counting_app(&starts);
    assert_eq!(app.execute(Request::get("/count")).await.text(), "0");
    let running = app.start().await.unwrap();
    assert_eq!(running.execute(Request::get("/count")).await.text(), "1");
    assert_eq!(app.execute(Request::get("/count")).await.text(), "0");
    let lazy = app.running().await.unwrap();
    assert_eq!(lazy.execute(Request::get("/count")).await.text(), "0");
    running.shutdown().await.unwrap();
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn execute_takes_an_http_request() {
    let app = App::new().post("/echo", |body: String| async move { body });
    let request = http::Request::builder()
        .method("POST")
        .uri("/echo")
        .body("from http")
        .unwrap();
    assert_eq!(app.execute(request).await.text(), "from http");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_future_of_execute_is_send_and_an_arc_app_works_from_spawned_tasks() {
    let starts = Arc::new(AtomicUsize::new(0));
    let app = Arc::new(counting_app(&starts));
    let future = assert_send(app.execute(Request::get("/count")));
    assert_eq!(tokio::spawn(future).await.unwrap().text(), "0");

    let running = app.running().await.unwrap();
    let future = assert_send(running.execute(Request::get("/count")));
    assert_eq!(tokio::spawn(future).await.unwrap().text(), "0");

    let handles: Vec<_> = (0..8)
        .map(|_| {
            let app = Arc::clone(&app);
            tokio::spawn(async move { app.execute(Request::get("/count")).await.status() })
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(starts.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_app_reports_each_state_of_its_lazy_instance() {
    use roadie::LifecycleState;

    let (release, wait) = tokio::sync::oneshot::channel::<()>();
    let wait = std::sync::Mutex::new(Some(wait));
    let app = App::new()
        .on_startup(move || {
            let wait = wait.lock().unwrap().take();
            async move {
                if let Some(wait) = wait {
                    let _ = wait.await;
                }
                Ok::<_, Infallible>(Counter(0))
            }
        })
        .get("/", || async { "ok" });
    assert_eq!(app.state(), LifecycleState::Created);

    let first = tokio::spawn(app.execute(Request::get("/")));
    while app.state() == LifecycleState::Created {
        tokio::task::yield_now().await;
    }
    assert_eq!(app.state(), LifecycleState::Starting);
    release.send(()).unwrap();
    assert_eq!(first.await.unwrap().status(), 200);
    assert_eq!(app.state(), LifecycleState::Running);

    app.shutdown().await.unwrap();
    assert_eq!(app.state(), LifecycleState::Stopped);

    let failing = App::new().on_startup(|| Err::<Counter, _>(std::io::Error::other("no")));
    assert_eq!(failing.execute(Request::get("/")).await.status(), 503);
    assert_eq!(failing.state(), LifecycleState::Failed);
}
