//! Dispatch: `GET /users/{id}` with two resources and a `Path<u64>`, on roadie (`Running::execute`
//! and `App::execute`), on axum 0.8 (`Router::with_state`, driven by `ServiceExt::oneshot`), and
//! done by hand on `http` types (the floor: no router, no framework, the same answer). Every
//! side does the same work: format a string from both resources and the id, and answer it as
//! `text/plain; charset=utf-8`.
//!
//! The same again with one pass-through middleware on each side: roadie's `App::wrap`, and
//! axum's `middleware::from_fn`, so that what one middleware adds is measured side by side.
//!
//! Run: `cargo bench -p roadie --no-default-features --bench dispatch -- --warm-up-time 1 --measurement-time 3`
//! (see `docs/performance.md`, section "Dispatch", for the instruction counts under callgrind).
//! Before anything is measured, every side's answer is checked to be the same.

#![allow(missing_docs)]

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
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

/// The floor: what answering this route costs with no framework at all, written by hand on
/// `http` types. The path is matched by its one prefix, the id parsed as a `u64`, and the
/// answer made as the frameworks make it (a `String` body, its content type); any other
/// request is `404`. What a framework costs is how far above this it lands.
async fn by_hand(state: &AxumState, request: http::Request<Bytes>) -> http::Response<Bytes> {
    let id = match *request.method() {
        http::Method::GET | http::Method::HEAD => request
            .uri()
            .path()
            .strip_prefix("/users/")
            .and_then(|id| id.parse::<u64>().ok()),
        _ => None,
    };
    let Some(id) = id else {
        let mut response = http::Response::new(Bytes::new());
        *response.status_mut() = http::StatusCode::NOT_FOUND;
        return response;
    };
    let body = format!("{} {} {id}", state.config.greeting, state.db.name);
    let mut response = http::Response::new(Bytes::from(body));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The state the floor reads: the same two resources.
fn floor_state() -> AxumState {
    AxumState {
        config: Arc::new(Config {
            greeting: "hello".to_owned(),
        }),
        db: Arc::new(Database {
            name: "users".to_owned(),
        }),
    }
}

/// The request the floor answers, built as the axum side builds its own.
fn floor_request() -> http::Request<Bytes> {
    http::Request::get("/users/42").body(Bytes::new()).unwrap()
}

/// Every side, ready: a runtime, the app (its lazy instance started before measuring), a
/// started instance of it and one with a middleware, the axum routers, and the floor's state.
struct Sides {
    runtime: tokio::runtime::Runtime,
    app: App,
    running: Running,
    wrapped: Running,
    router: axum::Router,
    axum_wrapped: axum::Router,
    floor: AxumState,
}

/// The text of an axum response's body.
async fn axum_text(response: axum::response::Response) -> String {
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    String::from_utf8(body.to_vec()).unwrap()
}

fn axum_request() -> http::Request<axum::body::Body> {
    http::Request::get("/users/42")
        .body(axum::body::Body::empty())
        .unwrap()
}

impl Sides {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let app = roadie_app();
        let running = runtime.block_on(app.start()).unwrap();
        runtime.block_on(app.execute(Request::get("/users/1")));
        let wrapped = runtime.block_on(roadie_wrapped().start()).unwrap();
        Self {
            runtime,
            app,
            running,
            wrapped,
            router: axum_router(),
            axum_wrapped: axum_wrapped(),
            floor: floor_state(),
        }
    }

    /// Checks that every side gives the same answer, before any is measured.
    fn check(&self) {
        use tower::ServiceExt;
        let answers = self.runtime.block_on(async {
            [
                (
                    "roadie-running",
                    self.running.execute(Request::get("/users/42")).await.text(),
                ),
                (
                    "roadie-app",
                    self.app.execute(Request::get("/users/42")).await.text(),
                ),
                (
                    "roadie-wrap",
                    self.wrapped.execute(Request::get("/users/42")).await.text(),
                ),
                (
                    "axum",
                    axum_text(self.router.clone().oneshot(axum_request()).await.unwrap()).await,
                ),
                (
                    "axum-from-fn",
                    axum_text(
                        self.axum_wrapped
                            .clone()
                            .oneshot(axum_request())
                            .await
                            .unwrap(),
                    )
                    .await,
                ),
                (
                    "floor",
                    String::from_utf8(
                        by_hand(&self.floor, floor_request())
                            .await
                            .into_body()
                            .to_vec(),
                    )
                    .unwrap(),
                ),
            ]
        });
        for (side, text) in answers {
            assert_eq!(text, "hello users 42", "the answer of `{side}`");
        }
    }
}

fn dispatch(c: &mut Criterion) {
    let sides = Sides::new();
    sides.check();
    let Sides {
        runtime,
        app,
        running,
        wrapped,
        router,
        axum_wrapped,
        floor,
    } = &sides;

    let mut group = c.benchmark_group("dispatch GET /users/{id}");
    group.bench_function("roadie Running::execute", |b| {
        b.to_async(runtime).iter(|| async {
            let response = running.execute(Request::get("/users/42")).await;
            black_box(response)
        })
    });
    group.bench_function("roadie App::execute", |b| {
        b.to_async(runtime).iter(|| async {
            let response = app.execute(Request::get("/users/42")).await;
            black_box(response)
        })
    });
    group.bench_function("axum oneshot", |b| {
        use tower::ServiceExt;
        b.to_async(runtime).iter(|| async {
            let response = router.clone().oneshot(axum_request()).await.unwrap();
            black_box(response)
        })
    });
    group.bench_function("by hand (floor)", |b| {
        b.to_async(runtime).iter(|| async {
            let response = by_hand(floor, floor_request()).await;
            black_box(response)
        })
    });
    group.finish();

    let mut group = c.benchmark_group("dispatch with one middleware");
    group.bench_function("roadie wrap", |b| {
        b.to_async(runtime).iter(|| async {
            let response = wrapped.execute(Request::get("/users/42")).await;
            black_box(response)
        })
    });
    group.bench_function("axum from_fn", |b| {
        use tower::ServiceExt;
        b.to_async(runtime).iter(|| async {
            let response = axum_wrapped.clone().oneshot(axum_request()).await.unwrap();
            black_box(response)
        })
    });
    group.finish();
}

/// Runs one side `n` times in a plain loop, for an instruction count under callgrind, which is
/// steady where wall time on a shared machine is not: `DISPATCH_LOOP=axum:10000`. The count
/// per request is `(count(n) - count(0)) / n`. Every side's answer is checked first, in both
/// runs, so the check cancels out of the difference.
fn dispatch_loop(spec: &str) {
    let (side, n) = spec.split_once(':').expect(
        "DISPATCH_LOOP is `<roadie-running|roadie-app|roadie-wrap|axum|axum-from-fn|floor>:<n>`",
    );
    let n: u64 = n.parse().expect("the count is a number");
    let sides = Sides::new();
    sides.check();
    let Sides {
        runtime,
        app,
        running,
        wrapped,
        router,
        axum_wrapped,
        floor,
    } = &sides;
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
                    let request = axum_request();
                    black_box(router.clone().oneshot(request).await.unwrap());
                }
                "axum-from-fn" => {
                    let request = axum_request();
                    black_box(axum_wrapped.clone().oneshot(request).await.unwrap());
                }
                "floor" => {
                    black_box(by_hand(floor, floor_request()).await);
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
