//! Request scope: dependencies built at most once per request on first use, cached, released in
//! reverse order of acquisition and told how the request ended (success, error, panic,
//! cancellation); scope rules and missing needs found at start.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use roadie::prelude::*;
use roadie::StartupError;
use tokio::sync::mpsc;

type Log = Arc<Mutex<Vec<String>>>;

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn events(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

struct Conn(u32);
struct Tx(u32);
struct Audit;

/// An app with `Conn` (counted builds), `Tx` needing `Conn`, and `Audit`, each logging its
/// acquisition and its release with the outcome it was told.
fn scoped_app(log: &Log, builds: &Arc<AtomicUsize>) -> App {
    let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
    let builds = builds.clone();
    App::new()
        .dependency(move || {
            let log = l1.clone();
            let n = builds.fetch_add(1, Ordering::SeqCst) as u32;
            async move {
                log.lock().unwrap().push("acquire conn".into());
                Ok::<_, Infallible>(Scoped::new(Conn(n)).on_release(
                    move |_conn, outcome| async move {
                        log.lock()
                            .unwrap()
                            .push(format!("release conn {outcome:?}"));
                    },
                ))
            }
        })
        .dependency(move |conn: Dep<Conn>| {
            let log = l2.clone();
            async move {
                log.lock().unwrap().push("acquire tx".into());
                Ok::<_, Infallible>(Scoped::new(Tx(conn.0)).on_release(
                    move |_tx, outcome| async move {
                        let verb = if outcome.is_success() {
                            "commit"
                        } else {
                            "rollback"
                        };
                        log.lock().unwrap().push(format!("{verb} tx {outcome:?}"));
                    },
                ))
            }
        })
        .dependency(move || {
            let log = l3.clone();
            async move {
                log.lock().unwrap().push("acquire audit".into());
                Ok::<_, Infallible>(Scoped::new(Audit).on_release(
                    move |_audit, outcome| async move {
                        log.lock()
                            .unwrap()
                            .push(format!("release audit {outcome:?}"));
                    },
                ))
            }
        })
}

#[tokio::test]
async fn built_once_per_request_on_first_use_and_cached() {
    let log = log();
    let builds = Arc::new(AtomicUsize::new(0));
    let app =
        scoped_app(&log, &builds)
            .get("/none", || async { "no dependency" })
            .get(
                "/twice",
                |a: Dep<Conn>, b: Dep<Conn>, tx: Dep<Tx>| async move {
                    format!("{} {} {}", a.0, b.0, tx.0)
                },
            );

    let response = app.execute(Request::get("/none")).await;
    assert_eq!(response.text(), "no dependency");
    assert_eq!(builds.load(Ordering::SeqCst), 0, "not asked for, not built");

    // Two `Dep<Conn>` and a `Tx` that needs `Conn`: one `Conn` for the request.
    let response = app.execute(Request::get("/twice")).await;
    assert_eq!(response.text(), "0 0 0");
    assert_eq!(builds.load(Ordering::SeqCst), 1);

    // A new request builds a new one.
    let response = app.execute(Request::get("/twice")).await;
    assert_eq!(response.text(), "1 1 1");
    assert_eq!(builds.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn released_in_reverse_order_of_acquisition_with_the_status() {
    let log = log();
    let builds = Arc::new(AtomicUsize::new(0));
    let app = scoped_app(&log, &builds).get("/", |_audit: Dep<Audit>, _tx: Dep<Tx>| async {
        (StatusCode::CREATED, "ok")
    });
    let response = app.execute(Request::get("/")).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        events(&log),
        [
            "acquire audit",
            "acquire conn",
            "acquire tx",
            "commit tx Responded(201)",
            "release conn Responded(201)",
            "release audit Responded(201)",
        ]
    );
}

#[tokio::test]
async fn a_handler_error_is_told_to_the_release() {
    let log = log();
    let builds = Arc::new(AtomicUsize::new(0));
    let app = scoped_app(&log, &builds).get("/", |_tx: Dep<Tx>| async {
        Err::<&'static str, _>(HttpError::new(StatusCode::CONFLICT, "conflict"))
    });
    let response = app.execute(Request::get("/")).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(
        events(&log),
        [
            "acquire conn",
            "acquire tx",
            "rollback tx Failed(409)",
            "release conn Failed(409)",
        ]
    );
}

#[tokio::test]
async fn an_error_status_chosen_by_the_handler_rolls_back() {
    let log = log();
    let builds = Arc::new(AtomicUsize::new(0));
    let app = scoped_app(&log, &builds).get("/", |_tx: Dep<Tx>| async { StatusCode::BAD_GATEWAY });
    app.execute(Request::get("/")).await;
    assert_eq!(events(&log)[2], "rollback tx Responded(502)");
}

#[tokio::test]
async fn a_panic_is_told_to_the_release() {
    let log = log();
    let builds = Arc::new(AtomicUsize::new(0));
    let app = scoped_app(&log, &builds).get("/", |tx: Dep<Tx>| async move {
        if tx.0 == 0 {
            panic!("deliberate panic in a handler");
        }
        "unreachable"
    });
    let response = app.execute(Request::get("/")).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        events(&log),
        [
            "acquire conn",
            "acquire tx",
            "rollback tx Panicked",
            "release conn Panicked",
        ]
    );
}

#[tokio::test]
async fn a_failed_dependency_releases_what_was_acquired_before_it() {
    let log = log();
    let builds = Arc::new(AtomicUsize::new(0));
    let app = scoped_app(&log, &builds)
        .dependency(|_conn: Dep<Conn>| async {
            Err::<u8, _>(HttpError::new(StatusCode::UNAUTHORIZED, "who are you"))
        })
        .get("/", |_audit: Dep<Audit>, _n: Dep<u8>| async {
            "unreachable"
        });
    let response = app.execute(Request::get("/")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        events(&log),
        [
            "acquire audit",
            "acquire conn",
            "release conn Failed(401)",
            "release audit Failed(401)",
        ]
    );
}

#[tokio::test]
async fn a_panicking_dependency_is_500_and_releases_what_came_before_it() {
    let log = log();
    let builds = Arc::new(AtomicUsize::new(0));
    let app = scoped_app(&log, &builds)
        .dependency(|conn: Dep<Conn>| async move {
            if conn.0 == 0 {
                panic!("deliberate panic in a dependency");
            }
            Ok::<_, Infallible>(9u8)
        })
        .get("/", |_n: Dep<u8>| async { "unreachable" })
        .get("/ok", || async { "still serving" });
    let response = app.execute(Request::get("/")).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!response.text().contains("deliberate"));
    assert_eq!(events(&log), ["acquire conn", "release conn Panicked"]);
    assert_eq!(
        app.execute(Request::get("/ok")).await.text(),
        "still serving"
    );
}

/// A handler that takes its dependencies, then waits forever.
async fn stuck(_audit: Dep<Audit>, _tx: Dep<Tx>) -> &'static str {
    std::future::pending::<()>().await;
    "unreachable"
}

#[tokio::test(start_paused = true)]
async fn a_dropped_request_future_releases_as_cancelled() {
    let (sender, mut released) = mpsc::unbounded_channel();
    let log = log();
    let builds = Arc::new(AtomicUsize::new(0));
    let tell = sender.clone();
    let app = scoped_app(&log, &builds)
        .dependency(move || {
            let tell = tell.clone();
            async move {
                Ok::<_, Infallible>(Scoped::new(7u64).on_release(move |_, outcome| async move {
                    let _ = tell.send(outcome);
                }))
            }
        })
        .get("/stuck", |a: Dep<Audit>, tx: Dep<Tx>, _n: Dep<u64>| {
            stuck(a, tx)
        });
    let timed_out =
        tokio::time::timeout(Duration::from_secs(5), app.execute(Request::get("/stuck"))).await;
    assert!(timed_out.is_err(), "the handler never finishes");
    assert_eq!(released.recv().await, Some(Outcome::Cancelled));
    // Every value was released, last acquired first.
    assert_eq!(
        events(&log),
        [
            "acquire audit",
            "acquire conn",
            "acquire tx",
            "rollback tx Cancelled",
            "release conn Cancelled",
            "release audit Cancelled",
        ]
    );
}

#[tokio::test]
async fn a_request_dropped_while_releasing_still_releases_the_rest() {
    let log = log();
    let (sender, mut done) = mpsc::unbounded_channel::<()>();
    let (l1, l2) = (log.clone(), log.clone());
    let gate = Arc::new(tokio::sync::Notify::new());
    let opened = gate.clone();
    let app = App::new()
        .dependency(move || {
            let log = l1.clone();
            let sender = sender.clone();
            async move {
                Ok::<_, Infallible>(Scoped::new(1u8).on_release(move |_, outcome| async move {
                    log.lock().unwrap().push(format!("first {outcome:?}"));
                    let _ = sender.send(());
                }))
            }
        })
        .dependency(move |_first: Dep<u8>| {
            let log = l2.clone();
            let gate = opened.clone();
            async move {
                Ok::<_, Infallible>(Scoped::new(2u16).on_release(move |_, outcome| async move {
                    log.lock()
                        .unwrap()
                        .push(format!("second starts {outcome:?}"));
                    gate.notified().await;
                    log.lock().unwrap().push("second ends".to_owned());
                }))
            }
        })
        .get("/", |_second: Dep<u16>| async { "ok" });
    // Poll the request until it is inside the second value's release, then drop it.
    let mut request = Box::pin(app.execute(Request::get("/")));
    tokio::select! {
        biased;
        _ = &mut request => panic!("the release waits for the gate"),
        _ = tokio::task::yield_now() => {}
    }
    assert_eq!(events(&log), ["second starts Responded(200)"]);
    drop(request);
    gate.notify_one();
    tokio::time::timeout(Duration::from_secs(30), done.recv())
        .await
        .expect("the first value's release ran after the request was dropped");
    assert_eq!(
        events(&log),
        [
            "second starts Responded(200)",
            "second ends",
            "first Responded(200)"
        ]
    );
}

#[tokio::test]
async fn a_dep_kept_past_its_request_is_released_when_dropped() {
    let (sender, mut released) = mpsc::unbounded_channel();
    let (keep, mut kept) = mpsc::unbounded_channel::<Dep<u32>>();
    let app = App::new()
        .dependency(move || {
            let sender = sender.clone();
            async move {
                Ok::<_, Infallible>(Scoped::new(5u32).on_release(move |_, outcome| async move {
                    let _ = sender.send(outcome);
                }))
            }
        })
        .get("/", move |value: Dep<u32>| {
            let keep = keep.clone();
            async move {
                let _ = keep.send(value);
                "kept"
            }
        });
    assert_eq!(app.execute(Request::get("/")).await.text(), "kept");
    let value = kept.recv().await.unwrap();
    assert_eq!(*value, 5);
    assert!(released.try_recv().is_err(), "still held");
    drop(value);
    assert_eq!(
        released.recv().await,
        Some(Outcome::Responded(StatusCode::OK))
    );
}

#[tokio::test]
async fn a_release_that_fails_or_panics_does_not_stop_the_others() {
    let log = log();
    let l = log.clone();
    let app =
        App::new()
            .dependency(move || {
                let log = l.clone();
                async move {
                    Ok::<_, Infallible>(Scoped::new(1u8).on_release(move |_, _| async move {
                        log.lock().unwrap().push("first released".to_owned());
                    }))
                }
            })
            .dependency(|_: Dep<u8>| async {
                Ok::<_, Infallible>(Scoped::new(2u16).on_release(|_, _| async {
                    Err::<(), _>(std::io::Error::other("release failed"))
                }))
            })
            .dependency(|_: Dep<u16>| async {
                Ok::<_, Infallible>(Scoped::new(3u32).on_release(|_, _| async {
                    if true {
                        panic!("deliberate panic in a release");
                    }
                }))
            })
            .get("/", |_: Dep<u32>| async { "ok" });
    let response = app.execute(Request::get("/")).await;
    assert_eq!(response.text(), "ok");
    assert_eq!(events(&log), ["first released"]);
}

#[tokio::test]
async fn a_startup_provider_asking_for_a_dependency_is_a_validation_error() {
    let app = App::new()
        .dependency(|| async { Ok::<_, Infallible>(Conn(1)) })
        .on_startup(|conn: Dep<Conn>| Ok::<_, Infallible>(Tx(conn.0)));
    let error = app.start().await.expect_err("scope violation");
    assert!(matches!(error, StartupError::Invalid(_)), "{error}");
    let text = error.to_string();
    assert!(text.contains("Dep<Conn>"), "{text}");
    assert!(text.contains("request-scoped"), "{text}");
}

#[tokio::test]
async fn a_shutdown_hook_asking_for_a_dependency_is_a_validation_error() {
    let app = App::new()
        .dependency(|| async { Ok::<_, Infallible>(Conn(1)) })
        .on_shutdown(|_conn: Dep<Conn>| async {});
    let error = app.validate().expect_err("scope violation");
    assert!(error.to_string().contains("Dep<Conn>"), "{error}");
}

#[tokio::test]
async fn a_route_needing_a_missing_resource_is_a_start_error_naming_route_and_type() {
    let app = App::new().get("/users/{id}", |_db: Res<Conn>| async { "never" });
    let error = app.start().await.expect_err("missing resource");
    let text = error.to_string();
    assert!(text.contains("GET /users/{id}"), "{text}");
    assert!(text.contains("Conn"), "{text}");
    let response = app.execute(Request::get("/users/1")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_route_needing_a_missing_dependency_is_a_start_error_naming_route_and_type() {
    let app = App::new().post("/orders", |_tx: Dep<Tx>| async { "never" });
    let error = app.start().await.expect_err("missing dependency");
    let text = error.to_string();
    assert!(text.contains("POST /orders"), "{text}");
    assert!(text.contains("Tx"), "{text}");
    assert!(text.contains("App::dependency"), "{text}");
}

#[tokio::test]
async fn a_dependency_or_hook_needing_a_missing_type_is_a_start_error() {
    let app = App::new()
        .dependency(|_conn: Dep<Conn>| async { Ok::<_, Infallible>(Tx(1)) })
        .dependency(|_audit: Res<Audit>| async { Ok::<_, Infallible>(7u8) })
        .on_shutdown(|_audit: Res<Audit>| async {});
    let error = app.start().await.expect_err("missing types");
    let StartupError::Invalid(validation) = &error else {
        panic!("expected a validation error, got {error}");
    };
    assert_eq!(validation.problems().len(), 3, "{error}");
    let text = error.to_string();
    assert!(text.contains("`Conn`"), "{text}");
    assert!(text.contains("`Audit`"), "{text}");
}

#[tokio::test]
async fn an_optional_resource_may_be_missing() {
    let app = App::new().get("/", |audit: Option<Res<Audit>>| async move {
        if audit.is_none() {
            "none"
        } else {
            "some"
        }
    });
    assert_eq!(app.execute(Request::get("/")).await.text(), "none");
}

/// 10,000 requests mixing success, handler error, panic and cancellation over two scoped
/// dependencies: every acquisition is released, each told the right outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_mixed_requests_release_everything_they_acquire() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.to_string().contains("deliberate") {
            default_hook(info);
        }
    }));

    #[derive(Default)]
    struct Counts {
        acquired: AtomicUsize,
        released: AtomicUsize,
        by_outcome: Mutex<std::collections::HashMap<String, usize>>,
    }
    let counts = Arc::new(Counts::default());
    let (tick, mut ticks) = tokio::sync::watch::channel(0usize);
    let tick = Arc::new(tick);

    let (c1, t1) = (counts.clone(), tick.clone());
    let (c2, t2) = (counts.clone(), tick.clone());
    fn released(counts: &Counts, tick: &tokio::sync::watch::Sender<usize>, outcome: Outcome) {
        let key = match outcome {
            Outcome::Responded(_) => "responded",
            Outcome::Failed(_) => "failed",
            Outcome::Panicked => "panicked",
            Outcome::Cancelled => "cancelled",
            _ => "other",
        };
        *counts
            .by_outcome
            .lock()
            .unwrap()
            .entry(key.to_owned())
            .or_default() += 1;
        let n = counts.released.fetch_add(1, Ordering::SeqCst) + 1;
        tick.send_replace(n);
    }
    let app = App::new()
        .dependency(move || {
            let (counts, tick) = (c1.clone(), t1.clone());
            async move {
                counts.acquired.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Infallible>(
                    Scoped::new(Conn(1)).on_release(move |_, outcome| async move {
                        tokio::task::yield_now().await;
                        released(&counts, &tick, outcome);
                    }),
                )
            }
        })
        .dependency(move |conn: Dep<Conn>| {
            let (counts, tick) = (c2.clone(), t2.clone());
            async move {
                counts.acquired.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Infallible>(Scoped::new(Tx(conn.0)).on_release(
                    move |_, outcome| async move {
                        released(&counts, &tick, outcome);
                    },
                ))
            }
        })
        .get("/ok", |tx: Dep<Tx>| async move { tx.0.to_string() })
        .get("/error", |_tx: Dep<Tx>| async {
            Err::<&'static str, _>(HttpError::new(StatusCode::CONFLICT, "conflict"))
        })
        .get("/panic", |tx: Dep<Tx>| async move {
            if tx.0 == 1 {
                panic!("deliberate panic in a handler");
            }
            "unreachable"
        })
        .get("/stuck", |_tx: Dep<Tx>| async {
            std::future::pending::<()>().await;
            "unreachable"
        });
    let app = Arc::new(app);
    // Start it before the requests: a request that arrives while the app is starting waits
    // for the start, and a cancelled one dropped then would have acquired nothing.
    app.running().await.expect("the app starts");

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10_000usize {
        let app = app.clone();
        tasks.spawn(async move {
            match i % 4 {
                0 => assert_eq!(app.execute(Request::get("/ok")).await.status(), 200),
                1 => assert_eq!(app.execute(Request::get("/error")).await.status(), 409),
                2 => assert_eq!(app.execute(Request::get("/panic")).await.status(), 500),
                _ => {
                    // Poll once: the dependencies are acquired, the handler waits; drop it.
                    let request = app.execute(Request::get("/stuck"));
                    tokio::select! {
                        biased;
                        _ = request => panic!("the handler never finishes"),
                        _ = std::future::ready(()) => {}
                    }
                }
            }
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("a request task failed");
    }
    // Cancelled requests release on spawned tasks: wait for them (bounded, not timed).
    let acquired = counts.acquired.load(Ordering::SeqCst);
    assert_eq!(acquired, 20_000, "two dependencies per request");
    tokio::time::timeout(
        Duration::from_secs(60),
        ticks.wait_for(|&released| released >= acquired),
    )
    .await
    .expect("every release ran")
    .unwrap();
    assert_eq!(counts.released.load(Ordering::SeqCst), acquired);
    let by_outcome = counts.by_outcome.lock().unwrap().clone();
    for key in ["responded", "failed", "panicked", "cancelled"] {
        assert_eq!(by_outcome.get(key), Some(&5_000), "{key}: {by_outcome:?}");
    }
    let _ = std::panic::take_hook();
}
