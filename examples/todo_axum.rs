//! The `todo` example's read route (`GET /todos/{id}`) on axum, over the same SQLite pool, with
//! the query on the blocking pool as the roadie example runs it.
//!
//! Not a like-for-like peer for load tests: roadie's route also validates an ETag (a second
//! query), and its app has two request-id layers and an error observer. `scripts/load.sh`
//! compares `examples/bench_server.rs`, `bench_axum.rs` and `bench_hyper.rs` instead, which do
//! the same work.
//!
//! ```sh
//! TODO_ADDR=127.0.0.1:3001 cargo run --release --example todo_axum
//! ```

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use rusqlite::OptionalExtension;
use serde::Serialize;

#[path = "todo/pool.rs"]
mod pool;

#[derive(Serialize)]
struct Todo {
    id: i64,
    title: String,
    done: bool,
}

async fn read(
    State(pool): State<Arc<pool::Pool>>,
    Path(id): Path<i64>,
) -> Result<Json<Todo>, StatusCode> {
    let connection = pool.take().await.ok_or(StatusCode::SERVICE_UNAVAILABLE)?;
    // As the roadie example does: the query runs on the blocking pool, never on the runtime.
    let (connection, found) = tokio::task::spawn_blocking(move || {
        let found = connection
            .prepare_cached("SELECT id, title, done FROM todos WHERE id = ?1")
            .and_then(|mut statement| {
                statement
                    .query_row([id], |row| {
                        Ok(Todo {
                            id: row.get(0)?,
                            title: row.get(1)?,
                            done: row.get(2)?,
                        })
                    })
                    .optional()
            });
        (connection, found)
    })
    .await
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    pool.give_back(connection);
    match found {
        Ok(Some(todo)) => Ok(Json(todo)),
        Ok(None) => Err(StatusCode::NOT_FOUND),
        Err(_) => Err(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::var("TODO_ADDR").unwrap_or_else(|_| "127.0.0.1:3001".into());
    let database = std::env::var("TODO_DATABASE").unwrap_or_else(|_| {
        let path = std::env::temp_dir().join("roadie-todo.sqlite3");
        path.to_string_lossy().into_owned()
    });
    let size = std::env::var("TODO_POOL_SIZE").map_or(Ok(4), |size| size.parse())?;
    let pool = Arc::new(pool::Pool::open(&database, size)?);
    let app = axum::Router::new()
        .route("/todos/{id}", axum::routing::get(read))
        .with_state(Arc::clone(&pool));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("todo_axum: serving on http://{addr}/todos/{{id}}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    pool.close()?;
    Ok(())
}
