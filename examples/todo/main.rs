//! A to-do service on an embedded SQLite database.
//!
//! ```sh
//! cargo run --example todo
//! curl -s localhost:3000/todos -d '{"title":"pack the van"}' -H 'content-type: application/json'
//! curl -s localhost:3000/todos
//! ```
//!
//! # Routes
//!
//! | Route | Answer |
//! |---|---|
//! | `GET /todos?limit=50&after=0` | `200`, a JSON array of todos, oldest first (below) |
//! | `POST /todos` `{"title": "..."}` | `201`, the new todo `{"id", "title", "done"}` |
//! | `GET /todos/{id}` | `200`, the todo, with its `ETag`; `304` for `If-None-Match`; `404` |
//! | `PUT /todos/{id}` `{"title"?: "...", "done"?: bool}` with `If-Match` | `200`, the todo as changed, its new `ETag`; `412`; `428`; `404` |
//! | `DELETE /todos/{id}` with `If-Match` | `204`; `412`; `428`; `404` |
//! | `GET /ready` | `200` while running, `503` once stopping (for a load balancer) |
//!
//! Every response, errors included, carries an `x-request-id` header: the client's own, or one
//! the service makes (tower-http's request-id layers, on the whole app with `App::layer`).
//! Every failed request is logged once, with its id, by an error observer.
//!
//! - **Pages.** `GET /todos` lists at most `limit` todos (default 50, at most 100) with an id
//!   above `after` (default 0). When more follow, a `Link: </todos?limit=50&after=50>;
//!   rel="next"` header gives the next page's address; the last page has none. A `limit`
//!   outside 1 to 100, or an `after` that is not a whole number, is `400` naming the
//!   parameter: a client asking for more than the maximum is told, not shortened silently.
//! - **Titles.** A title is trimmed, then must hold 1 to 500 characters; `POST` and `PUT`
//!   check it with one function (`todos::Title::parse`), and answer a bad one alike: `422`
//!   `{"error": "...", "parameter": "title"}`.
//! - **Versions.** Each todo has a version, which every change raises; its `ETag` is that
//!   version (`"v3"`). A repeat `GET` with `If-None-Match` is `304` without a body. `PUT` and
//!   `DELETE` need `If-Match` (`428 Precondition Required` without it): with the version the
//!   client read, a change made meanwhile by someone else is `412 Precondition Failed` rather
//!   than silently overwritten (`If-Match: *` changes whatever the version).
//! - **A locked database.** Every query runs on tokio's blocking pool, never on a runtime
//!   thread (`conn.rs`), so a query waiting for SQLite holds up no other request: `/ready`
//!   and the other routes keep answering. A query waits at most the busy timeout for a lock
//!   held by another connection or process, then the request is answered `503`
//!   `{"error": "the database is busy; try again in a moment"}` with `Retry-After: 1`.
//!
//! # Set-up
//!
//! - The environment configures it, with defaults so that the command above needs no set-up:
//!   `TODO_ADDR` (`127.0.0.1:3000`, read by `main`, since the socket is bound before any
//!   provider runs), and, read by the `config` provider, `TODO_DATABASE` (a file in the
//!   temporary directory), `TODO_POOL_SIZE` (`4`) and `TODO_BUSY_TIMEOUT_MS` (`2000`).
//! - `pool`, a startup provider, opens the connections and creates the table; it needs
//!   `Config`, so it starts after `config`.
//! - `connection`, a request-scoped dependency, takes a connection from the pool on first use
//!   and gives it back after the response, however the request ended.
//! - `close_pool`, a shutdown hook, closes every connection after the last request drained.
//!
//! SIGINT or SIGTERM stops it gracefully; a failed start prints the error and exits with 1.

use std::process::ExitCode;
use std::time::Duration;

mod conn;
mod pool;
mod todos;

use conn::{blocking, Conn, DbError};
use pool::Pool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use roadie::prelude::*;
use roadie::FailedRequest;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};

/// Settings from the environment.
#[derive(Debug, Clone)]
struct Config {
    database: String,
    pool_size: usize,
    /// How long a query waits for a lock held elsewhere before its request is answered `503`.
    busy_timeout: Duration,
}

fn env_or(name: &str, default: impl FnOnce() -> String) -> String {
    std::env::var(name).unwrap_or_else(|_| default())
}

#[on_startup]
fn config() -> Result<Config, ConfigError> {
    let pool_size = env_or("TODO_POOL_SIZE", || "4".into());
    let busy_timeout = env_or("TODO_BUSY_TIMEOUT_MS", || {
        pool::DEFAULT_BUSY_TIMEOUT.as_millis().to_string()
    });
    Ok(Config {
        database: env_or("TODO_DATABASE", || {
            let path = std::env::temp_dir().join("roadie-todo.sqlite3");
            path.to_string_lossy().into_owned()
        }),
        pool_size: match pool_size.parse() {
            Ok(0) | Err(_) => return Err(ConfigError::PoolSize(pool_size)),
            Ok(size) => size,
        },
        busy_timeout: match busy_timeout.parse() {
            Ok(millis) => Duration::from_millis(millis),
            Err(_) => return Err(ConfigError::BusyTimeout(busy_timeout)),
        },
    })
}

#[derive(Debug, thiserror::Error)]
enum ConfigError {
    #[error("TODO_POOL_SIZE must be a whole number above 0, not {0:?}")]
    PoolSize(String),
    #[error("TODO_BUSY_TIMEOUT_MS must be a whole number of milliseconds, not {0:?}")]
    BusyTimeout(String),
}

#[on_startup] // needs Config: starts after `config`
async fn pool(config: &Config) -> Result<Pool, DbError> {
    let Config {
        database,
        pool_size,
        busy_timeout,
    } = config.clone();
    // Opening files, and waiting for a lock to set up the table: blocking work.
    blocking(move || {
        Ok(Pool::open_with_busy_timeout(
            &database,
            pool_size,
            busy_timeout,
        )?)
    })
    .await
}

#[dependency] // request-scoped: taken on first use, given back after the response
async fn connection(pool: Res<Pool>) -> Result<Scoped<Conn>, HttpError> {
    let connection = pool.take().await.ok_or_else(|| {
        HttpError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the database pool is closed",
        )
    })?;
    Ok(
        Scoped::new(Conn::new(connection)).on_release(move |conn, _outcome| async move {
            // Waits for nothing unless the request was cancelled mid-query: then for that
            // query to finish, on the blocking pool.
            if let Some(connection) = conn.into_connection().await {
                pool.give_back(connection);
            }
        }),
    )
}

#[on_shutdown]
async fn close_pool(pool: Res<Pool>) -> Result<(), DbError> {
    let closed = blocking(move || Ok(pool.close()?)).await?;
    println!("closed {closed} database connections");
    Ok(())
}

/// Request ids: a counter, so that ids are short and ordered in the logs.
#[derive(Clone, Default)]
struct RequestIds(Arc<AtomicU64>);

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _request: &http::Request<B>) -> Option<RequestId> {
        let id = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        Some(RequestId::new(HeaderValue::from(id)))
    }
}

/// Logs each failed request once: what was asked, what was answered, and why.
fn log_failure(failed: &FailedRequest) {
    if failed.status().is_server_error() {
        tracing::error!(%failed, "request failed");
    } else {
        tracing::info!(%failed, "request refused");
    }
}

/// The whole service; tests build it the same way and call `execute`.
fn app() -> App {
    App::new()
        .layer(SetRequestIdLayer::x_request_id(RequestIds::default()))
        .layer(PropagateRequestIdLayer::x_request_id())
        .observe_errors(log_failure)
        .on_startup(config)
        .on_startup(pool)
        .dependency(connection)
        .on_shutdown(close_pool)
        .route(todos::list)
        .route(todos::create)
        .route(todos::read)
        .route(todos::update)
        .wrap_route(todos::require_if_match)
        .route(todos::remove)
        .wrap_route(todos::require_if_match)
        .readiness("/ready")
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let addr = env_or("TODO_ADDR", || "127.0.0.1:3000".into());
    // Bind first: a port in use fails before any provider runs.
    let result = match app().bind(addr.as_str()).await {
        Ok(server) => {
            println!(
                "todo: listening on http://{}/todos (Ctrl-C stops it)",
                server.local_addr()
            );
            server.run().await
        }
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("todo: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests;
