//! The roadie side of the over-HTTP comparison that `scripts/load.sh` and `scripts/rss.sh` run
//! against `examples/bench_axum.rs` and `examples/bench_hyper.rs`: the same two routes on each,
//! doing the same work.
//!
//! - `GET /users/{id}`: two shared resources (a greeting and a database name, made once at
//!   startup) and a `u64` path parameter, answered with a small JSON body
//!   (`{"id":42,"greeting":"hello","database":"users"}`): the route of `benches/dispatch.rs`,
//!   over a socket.
//! - `GET /sleep`: answers `slept` after `BENCH_SLEEP_SECS` seconds (default 60): a request
//!   held in flight, for measuring what one costs in memory.
//!
//! ```sh
//! BENCH_ADDR=127.0.0.1:3900 cargo run --release --example bench_server
//! curl http://127.0.0.1:3900/users/42
//! ```

use std::convert::Infallible;
use std::process::ExitCode;
use std::time::Duration;

use roadie::prelude::*;
use serde::Serialize;

struct Config {
    greeting: String,
}

struct Database {
    name: String,
}

/// How long `GET /sleep` waits before it answers.
struct Sleep(Duration);

#[derive(Serialize)]
struct User {
    id: u64,
    greeting: String,
    database: String,
}

async fn get_user(config: Res<Config>, db: Res<Database>, Path(id): Path<u64>) -> Json<User> {
    Json(User {
        id,
        greeting: config.greeting.clone(),
        database: db.name.clone(),
    })
}

async fn sleep(duration: Res<Sleep>) -> &'static str {
    tokio::time::sleep(duration.0).await;
    "slept"
}

fn sleep_duration() -> Duration {
    let seconds = std::env::var("BENCH_SLEEP_SECS")
        .ok()
        .and_then(|seconds| seconds.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(seconds)
}

#[tokio::main]
async fn main() -> ExitCode {
    let addr = std::env::var("BENCH_ADDR").unwrap_or_else(|_| "127.0.0.1:3900".to_owned());
    let served = App::new()
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
        .on_startup(|| Ok::<_, Infallible>(Sleep(sleep_duration())))
        // Stops at once when the scripts end it: the sleeping requests are cut.
        .drain_delay(Duration::ZERO)
        .grace_period(Duration::ZERO)
        .get("/users/{id}", get_user)
        .get("/sleep", sleep)
        .serve(addr)
        .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench_server: {error}");
            ExitCode::FAILURE
        }
    }
}
