//! The axum 0.8 side of the over-HTTP comparison (`scripts/load.sh`, `scripts/rss.sh`): the
//! routes of `examples/bench_server.rs`, doing the same work, served by `axum::serve`.
//!
//! - `GET /users/{id}`: two shared resources and a `u64` path parameter, answered with
//!   `{"id":42,"greeting":"hello","database":"users"}`.
//! - `GET /sleep`: answers `slept` after `BENCH_SLEEP_SECS` seconds (default 60).
//!
//! ```sh
//! BENCH_ADDR=127.0.0.1:3901 cargo run --release --example bench_axum
//! ```

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;

struct Config {
    greeting: String,
}

struct Database {
    name: String,
}

#[derive(Clone)]
struct AppState {
    config: Arc<Config>,
    db: Arc<Database>,
    sleep: Duration,
}

#[derive(Serialize)]
struct User {
    id: u64,
    greeting: String,
    database: String,
}

async fn get_user(State(state): State<AppState>, Path(id): Path<u64>) -> Json<User> {
    Json(User {
        id,
        greeting: state.config.greeting.clone(),
        database: state.db.name.clone(),
    })
}

async fn sleep(State(state): State<AppState>) -> &'static str {
    tokio::time::sleep(state.sleep).await;
    "slept"
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("BENCH_ADDR").unwrap_or_else(|_| "127.0.0.1:3901".to_owned());
    let seconds = std::env::var("BENCH_SLEEP_SECS")
        .ok()
        .and_then(|seconds| seconds.parse().ok())
        .unwrap_or(60);
    let app = axum::Router::new()
        .route("/users/{id}", axum::routing::get(get_user))
        .route("/sleep", axum::routing::get(sleep))
        .with_state(AppState {
            config: Arc::new(Config {
                greeting: "hello".to_owned(),
            }),
            db: Arc::new(Database {
                name: "users".to_owned(),
            }),
            sleep: Duration::from_secs(seconds),
        });
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    // Stops at once on SIGINT or SIGTERM, as the scripts end it.
    tokio::select! {
        served = axum::serve(listener, app) => served,
        () = stop() => Ok(()),
    }
}

async fn stop() {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
