//! Dispatch: `GET /users/{id}` with two resources and a `Path<u64>`, on roadie (`Running::execute`
//! and `App::execute`) and on axum 0.8 (`Router::with_state`, driven by `ServiceExt::oneshot`).
//! Both handlers do the same work: format a string from both resources and the id.
//!
//! The same again with one pass-through middleware on each side: roadie's `App::wrap`, and
//! axum's `middleware::from_fn`, so that what one middleware adds is measured side by side.
//!
//! Run: `cargo bench -p roadie --no-default-features --bench dispatch -- --warm-up-time 1 --measurement-time 3`
//! (see `docs/performance.md`, section "Dispatch", for the instruction counts under callgrind).

#![allow(missing_docs)]

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, Criterion};
use roadie::{App, Path, Request, Res, Running};

struct Config {
    greeting: String,
}

struct Database {
    name: String,
}

fn roadie_app() -> App {
    App::new()
        .on_startup(|| {
            Ok::<_, Infallible>(Config {
                greeting: "hello".to_owned(),
            })
        })
        .on_startup(|| {
            Ok::<_, Infallible>(Database {
                name: "users".to_owned(),
            })
        })
        .get(
            "/users/{id}",
            |config: Res<Config>, db: Res<Database>, Path(id): Path<u64>| async move {
                format!("{} {} {id}", config.greeting, db.name)
            },
        )
}

/// A middleware that only goes on: what the chain itself costs.
async fn pass(request: Request, next: roadie::Next) -> roadie::Response {
    next.run(request).await
}

fn roadie_wrapped() -> App {
    roadie_app().wrap(pass)
}

fn axum_wrapped() -> axum::Router {
    axum_router().layer(axum::middleware::from_fn(
        |request: axum::extract::Request, next: axum::middleware::Next| async move {
            next.run(request).await
        },
    ))
}

#[derive(Clone)]
struct AxumState {
    config: Arc<Config>,
    db: Arc<Database>,
}

fn axum_router() -> axum::Router {
    use axum::extract::{Path, State};
    axum::Router::new()
        .route(
            "/users/{id}",
            axum::routing::get(
                |State(state): State<AxumState>, Path(id): Path<u64>| async move {
                    format!("{} {} {id}", state.config.greeting, state.db.name)
                },
            ),
        )
        .with_state(AxumState {
            config: Arc::new(Config {
                greeting: "hello".to_owned(),
            }),
            db: Arc::new(Database {
                name: "users".to_owned(),
            }),
        })
}

/// The three sides, ready: a runtime, the app (its lazy instance started before measuring),
/// a started instance of it, and the axum router.
fn sides() -> (tokio::runtime::Runtime, App, Running, axum::Router) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = roadie_app();
    let running = runtime.block_on(app.start()).unwrap();
    runtime.block_on(app.execute(Request::get("/users/1")));
    (runtime, app, running, axum_router())
}

fn dispatch(c: &mut Criterion) {
    let (runtime, app, running, router) = sides();

    // Check that both answer the same before timing them.
    let roadie_text = runtime
        .block_on(running.execute(Request::get("/users/42")))
        .text();
    let axum_text = runtime.block_on(async {
        use tower::ServiceExt;
        let response = router
            .clone()
            .oneshot(
                http::Request::get("/users/42")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(body.to_vec()).unwrap()
    });
    assert_eq!(roadie_text, "hello users 42");
    assert_eq!(roadie_text, axum_text);

    let mut group = c.benchmark_group("dispatch GET /users/{id}");
    group.bench_function("roadie Running::execute", |b| {
        b.to_async(&runtime).iter(|| async {
            let response = running.execute(Request::get("/users/42")).await;
            black_box(response)
        })
    });
    group.bench_function("roadie App::execute", |b| {
        b.to_async(&runtime).iter(|| async {
            let response = app.execute(Request::get("/users/42")).await;
            black_box(response)
        })
    });
    group.bench_function("axum oneshot", |b| {
        use tower::ServiceExt;
        b.to_async(&runtime).iter(|| async {
            let request = http::Request::get("/users/42")
                .body(axum::body::Body::empty())
                .unwrap();
            let response = router.clone().oneshot(request).await.unwrap();
            black_box(response)
        })
    });
    group.finish();

    let wrapped = runtime.block_on(roadie_wrapped().start()).unwrap();
    let axum_wrapped = axum_wrapped();
    assert_eq!(
        runtime
            .block_on(wrapped.execute(Request::get("/users/42")))
            .text(),
        "hello users 42"
    );
    let mut group = c.benchmark_group("dispatch with one middleware");
    group.bench_function("roadie wrap", |b| {
        b.to_async(&runtime).iter(|| async {
            let response = wrapped.execute(Request::get("/users/42")).await;
            black_box(response)
        })
    });
    group.bench_function("axum from_fn", |b| {
        use tower::ServiceExt;
        b.to_async(&runtime).iter(|| async {
            let request = http::Request::get("/users/42")
                .body(axum::body::Body::empty())
                .unwrap();
            let response = axum_wrapped.clone().oneshot(request).await.unwrap();
            black_box(response)
        })
    });
    group.finish();
}

/// Runs one side `n` times in a plain loop, for an instruction count under callgrind, which is
/// steady where wall time on a shared machine is not: `DISPATCH_LOOP=axum:10000`. The count
/// per request is `(count(n) - count(0)) / n`.
fn dispatch_loop(spec: &str) {
    let (side, n) = spec
        .split_once(':')
        .expect("DISPATCH_LOOP is `<roadie-running|roadie-app|roadie-wrap|axum|axum-from-fn>:<n>`");
    let n: u64 = n.parse().expect("the count is a number");
    let (runtime, app, running, router) = sides();
    let wrapped = runtime.block_on(roadie_wrapped().start()).unwrap();
    let axum_wrapped = axum_wrapped();
    runtime.block_on(async {
        use tower::ServiceExt;
        for _ in 0..n {
            match side {
                "roadie-running" => {
                    black_box(running.execute(Request::get("/users/42")).await);
                }
                "roadie-app" => {
                    black_box(app.execute(Request::get("/users/42")).await);
                }
                "roadie-wrap" => {
                    black_box(wrapped.execute(Request::get("/users/42")).await);
                }
                "axum" => {
                    let request = http::Request::get("/users/42")
                        .body(axum::body::Body::empty())
                        .unwrap();
                    black_box(router.clone().oneshot(request).await.unwrap());
                }
                "axum-from-fn" => {
                    let request = http::Request::get("/users/42")
                        .body(axum::body::Body::empty())
                        .unwrap();
                    black_box(axum_wrapped.clone().oneshot(request).await.unwrap());
                }
                other => panic!("unknown side `{other}`"),
            }
        }
    });
}

criterion_group!(benches, dispatch);

fn main() {
    if let Ok(spec) = std::env::var("DISPATCH_LOOP") {
        dispatch_loop(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
