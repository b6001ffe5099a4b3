//! A to-do service on an embedded SQLite database.
//!
//! ```sh
//! cargo run --example todo
//! curl -s localhost:3000/todos -d '{"title":"pack the van"}' -H 'content-type: application/json'
//! curl -s localhost:3000/todos
//! ```
//!
//! - The environment configures it, with defaults so that the command above needs no set-up:
//!   `TODO_ADDR` (`127.0.0.1:3000`, read by `main`, since the socket is bound before any
//!   provider runs), and, read by the `config` provider, `TODO_DATABASE` (a file in the
//!   temporary directory) and `TODO_POOL_SIZE` (`4`).
//! - `pool`, a startup provider, opens the connections and creates the table; it needs
//!   `Config`, so it starts after `config`.
//! - `connection`, a request-scoped dependency, takes a connection from the pool on first use
//!   and gives it back after the response, however the request ended.
//! - `close_pool`, a shutdown hook, closes every connection after the last request drained.
//!
//! SIGINT or SIGTERM stops it gracefully; a failed start prints the error and exits with 1.

use std::process::ExitCode;
use std::sync::Mutex;

mod pool;

use pool::Pool;
use roadie::prelude::*;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

/// Settings from the environment.
#[derive(Debug, Clone)]
struct Config {
    database: String,
    pool_size: usize,
}

fn env_or(name: &str, default: impl FnOnce() -> String) -> String {
    std::env::var(name).unwrap_or_else(|_| default())
}

#[on_startup]
fn config() -> Result<Config, ConfigError> {
    let pool_size = env_or("TODO_POOL_SIZE", || "4".into());
    Ok(Config {
        database: env_or("TODO_DATABASE", || {
            let path = std::env::temp_dir().join("roadie-todo.sqlite3");
            path.to_string_lossy().into_owned()
        }),
        pool_size: match pool_size.parse() {
            Ok(0) | Err(_) => return Err(ConfigError::PoolSize(pool_size)),
            Ok(size) => size,
        },
    })
}

#[derive(Debug, thiserror::Error)]
enum ConfigError {
    #[error("TODO_POOL_SIZE must be a whole number above 0, not {0:?}")]
    PoolSize(String),
}

#[on_startup] // needs Config: starts after `config`
fn pool(config: &Config) -> Result<Pool, rusqlite::Error> {
    Pool::open(&config.database, config.pool_size)
}

/// One connection, lent to one request.
struct Conn(Mutex<Connection>);

impl Conn {
    fn with<T>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, HttpError> {
        let connection = self.0.lock().unwrap_or_else(|e| e.into_inner());
        query(&connection).map_err(|error| {
            tracing::error!(%error, "query failed");
            HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, "the database failed")
        })
    }
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
        Scoped::new(Conn(Mutex::new(connection))).on_release(move |conn, _outcome| async move {
            pool.give_back(conn.0.into_inner().unwrap_or_else(|e| e.into_inner()));
        }),
    )
}

#[on_shutdown]
fn close_pool(pool: &Pool) -> Result<(), rusqlite::Error> {
    let closed = pool.close()?;
    println!("closed {closed} database connections");
    Ok(())
}

#[derive(Debug, Serialize, Deserialize)]
struct Todo {
    id: i64,
    title: String,
    done: bool,
}

#[derive(Debug, Deserialize)]
struct NewTodo {
    title: String,
}

#[derive(Debug, Deserialize)]
struct Changes {
    title: Option<String>,
    done: Option<bool>,
}

fn row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Todo> {
    Ok(Todo {
        id: row.get(0)?,
        title: row.get(1)?,
        done: row.get(2)?,
    })
}

fn not_found(id: i64) -> HttpError {
    HttpError::new(StatusCode::NOT_FOUND, format!("there is no todo {id}"))
}

fn find(conn: &Connection, id: i64) -> rusqlite::Result<Option<Todo>> {
    conn.prepare_cached("SELECT id, title, done FROM todos WHERE id = ?1")?
        .query_row([id], row)
        .optional()
}

#[get("/todos")]
async fn list(conn: Dep<Conn>) -> Result<Json<Vec<Todo>>, HttpError> {
    conn.with(|c| {
        let mut statement = c.prepare_cached("SELECT id, title, done FROM todos ORDER BY id")?;
        let todos = statement.query_map([], row)?.collect::<Result<_, _>>()?;
        Ok(Json(todos))
    })
}

#[post("/todos")]
async fn create(
    conn: Dep<Conn>,
    Json(new): Json<NewTodo>,
) -> Result<(StatusCode, Json<Todo>), HttpError> {
    if new.title.trim().is_empty() {
        return Err(HttpError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "a todo needs a title",
        ));
    }
    let todo = conn.with(|c| {
        c.execute("INSERT INTO todos (title) VALUES (?1)", [&new.title])?;
        Ok(Todo {
            id: c.last_insert_rowid(),
            title: new.title,
            done: false,
        })
    })?;
    Ok((StatusCode::CREATED, Json(todo)))
}

#[get("/todos/{id}")]
async fn read(Path(id): Path<i64>, conn: Dep<Conn>) -> Result<Json<Todo>, HttpError> {
    conn.with(|c| find(c, id))?
        .map(Json)
        .ok_or_else(|| not_found(id))
}

#[put("/todos/{id}")]
async fn update(
    Path(id): Path<i64>,
    conn: Dep<Conn>,
    Json(changes): Json<Changes>,
) -> Result<Json<Todo>, HttpError> {
    let todo = conn.with(|c| {
        c.execute(
            "UPDATE todos SET title = COALESCE(?2, title), done = COALESCE(?3, done) WHERE id = ?1",
            params![id, changes.title, changes.done],
        )?;
        find(c, id)
    })?;
    todo.map(Json).ok_or_else(|| not_found(id))
}

#[delete("/todos/{id}")]
async fn remove(Path(id): Path<i64>, conn: Dep<Conn>) -> Result<StatusCode, HttpError> {
    match conn.with(|c| c.execute("DELETE FROM todos WHERE id = ?1", [id]))? {
        0 => Err(not_found(id)),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}

/// The whole service; tests build it the same way and call `execute`.
fn app() -> App {
    App::new()
        .on_startup(config)
        .on_startup(pool)
        .dependency(connection)
        .on_shutdown(close_pool)
        .route(list)
        .route(create)
        .route(read)
        .route(update)
        .route(remove)
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
mod tests {
    use super::*;

    /// The service on a database of its own, through `execute`: no socket.
    fn test_app(name: &str) -> App {
        let path = std::env::temp_dir().join(format!(
            "roadie-todo-test-{name}-{}.sqlite3",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        app().replace(roadie::value(Config {
            database: path.to_string_lossy().into_owned(),
            pool_size: 2,
        }))
    }

    #[tokio::test]
    async fn creates_reads_updates_and_deletes_a_todo() {
        let app = test_app("crud");
        let created = app
            .execute(Request::post("/todos").json(&serde_json::json!({ "title": "pack the van" })))
            .await;
        assert_eq!(created.status(), 201);
        let todo: Todo = created.json();
        assert_eq!((todo.title.as_str(), todo.done), ("pack the van", false));

        let read = app
            .execute(Request::get(format!("/todos/{}", todo.id)))
            .await;
        assert_eq!(read.json::<Todo>().title, "pack the van");

        let updated = app
            .execute(
                Request::put(format!("/todos/{}", todo.id))
                    .json(&serde_json::json!({ "done": true })),
            )
            .await;
        assert_eq!(updated.status(), 200);
        assert!(updated.json::<Todo>().done);

        let list = app.execute(Request::get("/todos")).await;
        assert_eq!(list.json::<Vec<Todo>>().len(), 1);

        let deleted = app
            .execute(Request::delete(format!("/todos/{}", todo.id)))
            .await;
        assert_eq!(deleted.status(), 204);
        let gone = app
            .execute(Request::get(format!("/todos/{}", todo.id)))
            .await;
        assert_eq!(gone.status(), 404);
        app.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn gives_every_connection_back() {
        let app = test_app("pool");
        // More requests than connections: each must be given back for the next to run.
        for _ in 0..10 {
            assert_eq!(app.execute(Request::get("/todos")).await.status(), 200);
        }
        assert_eq!(app.execute(Request::get("/todos/999")).await.status(), 404);
        let running = app.running().await.unwrap();
        let pool = running.resource::<Pool>().unwrap();
        assert_eq!(pool.idle(), 2);
        drop(pool);
        app.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn rejects_bad_input() {
        let app = test_app("bad");
        let empty = app
            .execute(Request::post("/todos").json(&serde_json::json!({ "title": " " })))
            .await;
        assert_eq!(empty.status(), 422);
        let not_json = app.execute(Request::post("/todos").body("title")).await;
        assert!(not_json.status().is_client_error());
        let bad_id = app.execute(Request::get("/todos/abc")).await;
        assert_eq!(bad_id.status(), 400);
        app.shutdown().await.unwrap();
    }
}
