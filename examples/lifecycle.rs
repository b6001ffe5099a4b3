//! The lifecycle of a mixed app, step by step: startup providers (with and without
//! dependencies), two lifespans, a request, then shutdown: lifespans' teardown in reverse,
//! shutdown hooks in registration order, resources dropped in reverse start order.
//!
//! Run it with `cargo run --example lifecycle`. `tests/example_lifecycle.rs` pins the order
//! it prints.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use roadie::prelude::*;

/// Where each step is reported: standard output here, a log in the test.
pub(crate) type Say = Arc<dyn Fn(String) + Send + Sync>;

/// Settings, read first (no dependencies).
pub(crate) struct Config {
    url: String,
}

/// Counts requests (no dependencies).
pub(crate) struct Metrics {
    requests: AtomicUsize,
}

/// A connection pool: needs `Config`, and says when it is dropped.
pub(crate) struct Database {
    url: String,
    say: Say,
}

impl Drop for Database {
    fn drop(&mut self) {
        (self.say)(format!(
            "[drop] database: connection to {} closed",
            self.url
        ));
    }
}

/// A cache held by a lifespan: set up after the database, torn down before it.
pub(crate) struct Cache {
    say: Say,
}

impl Drop for Cache {
    fn drop(&mut self) {
        (self.say)("[drop] cache: memory freed".to_owned());
    }
}

/// The app. Registration order is deliberately not the start order: `database` needs
/// `Config`, so `config` starts first whatever the order here.
pub(crate) fn app(say: Say) -> App {
    let (s1, s2, s3, s4, s5, s6, s7, s8) = (
        say.clone(),
        say.clone(),
        say.clone(),
        say.clone(),
        say.clone(),
        say.clone(),
        say.clone(),
        say,
    );
    App::new()
        .on_startup(move |config: Res<Config>| {
            s1(format!("[startup] database: connected to {}", config.url));
            Ok::<_, Infallible>(Database {
                url: config.url.clone(),
                say: s1.clone(),
            })
        })
        .named("database")
        .on_startup(move || {
            s2("[startup] config: loaded".to_owned());
            Ok::<_, Infallible>(Config {
                url: "sqlite::memory:".to_owned(),
            })
        })
        .named("config")
        .lifespan(move |lifespan: Lifespan<Cache>, _db: Res<Database>| {
            let say = s3.clone();
            async move {
                say("[lifespan] cache: setup, warmed from the database".to_owned());
                let cache = lifespan.ready(Cache { say: say.clone() }).await;
                say("[lifespan] cache: teardown, flushed".to_owned());
                drop(cache);
                Ok::<_, Infallible>(())
            }
        })
        .named("cache")
        .lifespan(move |lifespan: Lifespan<()>| {
            let say = s4.clone();
            async move {
                say("[lifespan] worker: background task started".to_owned());
                lifespan.ready(()).await;
                say("[lifespan] worker: background task stopped".to_owned());
                Ok::<_, Infallible>(())
            }
        })
        .named("worker")
        .on_startup(move || {
            s5("[startup] metrics: registry ready".to_owned());
            Ok::<_, Infallible>(Metrics {
                requests: AtomicUsize::new(0),
            })
        })
        .named("metrics")
        .on_shutdown(move |metrics: Res<Metrics>| {
            s6(format!(
                "[shutdown] flush metrics: {} request(s) served",
                metrics.requests.load(Ordering::SeqCst)
            ));
        })
        .named("flush metrics")
        .on_shutdown(move || {
            let say = s7.clone();
            async move { say("[shutdown] goodbye".to_owned()) }
        })
        .named("goodbye")
        .get(
            "/users/{id}",
            move |Path(id): Path<u64>,
                  db: Res<Database>,
                  _cache: Res<Cache>,
                  metrics: Res<Metrics>| {
                let say = s8.clone();
                async move {
                    metrics.requests.fetch_add(1, Ordering::SeqCst);
                    say(format!(
                        "[request] GET /users/{id}: handled with {}",
                        db.url
                    ));
                    format!("user {id}")
                }
            },
        )
}

/// Starts the app, answers one request in-process, shuts down, reporting each step.
pub(crate) async fn run(say: Say) -> Result<(), roadie::Error> {
    let app = app(say.clone());
    say(format!(
        "[plan] start order: {}",
        app.startup_order()?.join(", ")
    ));
    let running = app.start().await?;
    say("[running] started".to_owned());
    let response = running.execute(Request::get("/users/7")).await;
    say(format!(
        "[running] response: {} {}",
        response.status().as_u16(),
        response.text()
    ));
    say("[running] shutting down".to_owned());
    running.shutdown().await?;
    say("[stopped]".to_owned());
    Ok(())
}

#[allow(
    dead_code,
    reason = "the test includes this file as a module and runs `run` itself"
)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), roadie::Error> {
    run(Arc::new(|line| println!("{line}"))).await
}
