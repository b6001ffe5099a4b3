//! The headline programs of the frameworks roadie learned from, written in roadie as their
//! users would write them, each printing what happens in order:
//!
//! 1. **hooks and a lifespan** (MicroAPI): startup hooks, a lifespan's setup, a request, the
//!    lifespan's teardown, then the shutdown hooks;
//! 2. **a pool and a connection per request** (RestMachine): the pool starts once, each
//!    request borrows a connection and gives it back with the request's outcome, and the pool
//!    is closed at shutdown, owned;
//! 3. **lifespan state and a shutdown endpoint** (FastAPI, Kui): one lifespan sets up a
//!    database and a cache, handlers ask for each by type, and `POST /shutdown` stops the app;
//! 4. **fail-fast configuration and a model load** (FasterAPI): a blocking model load runs on
//!    the blocking pool beside the runtime, and an invalid configuration stops startup before
//!    anything serves, naming the setting.
//!
//! Run it with `cargo run --example seeds`. `tests/example_seeds.rs` pins what it prints.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use roadie::prelude::*;
use roadie::{BoxError, Each};

/// Where each step is reported: standard output here, a log in the test.
pub(crate) type Say = Arc<dyn Fn(String) + Send + Sync>;

/// Runs the four programs one after the other.
pub(crate) async fn run(say: Say) -> Result<(), roadie::Error> {
    hooks_and_lifespan(say.clone()).await?;
    pool_and_connections(say.clone()).await?;
    state_and_shutdown_endpoint(say.clone()).await?;
    config_and_model(say).await
}

// 1. Hooks and a lifespan -------------------------------------------------------------------

/// A greeting the startup hook loads.
struct Greeting(&'static str);

/// A client the lifespan opens and closes.
struct Mailer {
    say: Say,
}

impl Mailer {
    async fn close(self) {
        (self.say)("[hooks] lifespan: mailer closed".into());
    }
}

async fn hooks_and_lifespan(say: Say) -> Result<(), roadie::Error> {
    let (s1, s2, s3, s4) = (say.clone(), say.clone(), say.clone(), say.clone());
    let app = App::new()
        .on_startup(move || {
            s1("[hooks] startup hook: greeting loaded".into());
            Ok::<_, Infallible>(Greeting("hello"))
        })
        .lifespan(move |lifespan: Lifespan<Mailer>, _: Res<Greeting>| {
            let say = s2.clone();
            async move {
                say("[hooks] lifespan: mailer connected".into());
                let mailer = lifespan.ready(Mailer { say: say.clone() }).await;
                say("[hooks] lifespan: shutdown began".into());
                mailer.take()?.close().await;
                Ok::<_, BoxError>(())
            }
        })
        .on_shutdown(move |greeting: Res<Greeting>| {
            s3(format!("[hooks] shutdown hook: {} no more", greeting.0));
        })
        .get("/", |greeting: Res<Greeting>, _: Res<Mailer>| async move {
            format!("{}, world", greeting.0)
        });
    let running = app.start().await?;
    let response = running.execute(Request::get("/")).await;
    s4(format!("[hooks] GET / -> {}", response.text()));
    running.shutdown().await?;
    say("[hooks] stopped".into());
    Ok(())
}

// 2. A pool and a connection per request ----------------------------------------------------

/// A connection pool: hands out connections and counts them back.
struct Pool {
    open: AtomicUsize,
    say: Say,
}

impl Pool {
    fn connection(&self) -> Connection {
        self.open.fetch_add(1, Ordering::SeqCst);
        Connection { id: 1 }
    }

    fn give_back(&self, connection: Connection, outcome: Outcome) {
        self.open.fetch_sub(1, Ordering::SeqCst);
        (self.say)(format!(
            "[pool] connection {} back to the pool ({})",
            connection.id,
            if outcome.is_success() {
                "commit"
            } else {
                "rollback"
            }
        ));
    }

    async fn close(self) {
        (self.say)(format!(
            "[pool] pool closed with {} connection(s) out",
            self.open.load(Ordering::SeqCst)
        ));
    }
}

/// One request's connection.
struct Connection {
    id: u32,
}

async fn pool(lifespan: Lifespan<Pool>, say: Res<Say>) -> Result<(), BoxError> {
    say("[pool] pool opened".into());
    let pool = lifespan
        .ready(Pool {
            open: AtomicUsize::new(0),
            say: Say::clone(&say),
        })
        .await;
    pool.take()?.close().await;
    Ok(())
}

async fn connection(pool: Res<Pool>) -> Result<Scoped<Connection>, Infallible> {
    let connection = pool.connection();
    Ok(Scoped::with_release(
        connection,
        move |connection, outcome| async move {
            pool.give_back(connection, outcome);
        },
    ))
}

async fn pool_and_connections(say: Say) -> Result<(), roadie::Error> {
    let app = App::new()
        .on_startup(roadie::value(say.clone()))
        .lifespan(pool)
        .dependency(connection)
        .get(
            "/users/{id}",
            |Path(id): Path<u32>, conn: Dep<Connection>| async move {
                format!("user {id} over connection {}", conn.id)
            },
        )
        .get("/missing", |_: Dep<Connection>| async {
            Err::<String, _>(HttpError::new(StatusCode::NOT_FOUND, "no such user"))
        });
    let running = app.start().await?;
    let ok = running.execute(Request::get("/users/7")).await;
    say(format!("[pool] GET /users/7 -> {}", ok.text()));
    let missing = running.execute(Request::get("/missing")).await;
    say(format!(
        "[pool] GET /missing -> {}",
        missing.status().as_u16()
    ));
    running.shutdown().await?;
    Ok(())
}

// 3. Lifespan state and a shutdown endpoint -------------------------------------------------

struct Database {
    rows: Vec<&'static str>,
}

struct Cache {
    hits: AtomicUsize,
}

async fn state(lifespan: Lifespan<(Database, Cache), Each>, say: Res<Say>) -> Result<(), BoxError> {
    say("[state] database and cache set up together".into());
    let database = Database {
        rows: vec!["ada", "grace"],
    };
    let cache = Cache {
        hits: AtomicUsize::new(0),
    };
    let (database, cache) = lifespan.ready((database, cache)).await;
    say(format!(
        "[state] teardown: cache had {} hit(s), database {} row(s)",
        cache.hits.load(Ordering::SeqCst),
        database.rows.len()
    ));
    Ok(())
}

async fn state_and_shutdown_endpoint(say: Say) -> Result<(), roadie::Error> {
    let app = App::new()
        .on_startup(roadie::value(say.clone()))
        .lifespan(state)
        .get(
            "/users",
            |db: Res<Database>, cache: Res<Cache>| async move {
                cache.hits.fetch_add(1, Ordering::SeqCst);
                db.rows.join(",")
            },
        )
        .post("/shutdown", |shutdown: Shutdown| async move {
            shutdown.trigger();
            "stopping"
        });
    let running = app.start().await?;
    let users = running.execute(Request::get("/users")).await;
    say(format!("[state] GET /users -> {}", users.text()));
    let stop = running.execute(Request::post("/shutdown")).await;
    // The endpoint asked for the stop, which begins as soon as its answer is out (the
    // teardown may print before the next line would): this waits for it to finish, then
    // reports what the endpoint said.
    running.shutdown().await?;
    say(format!("[state] POST /shutdown -> {}", stop.text()));
    say(format!("[state] app is {}", running.state()));
    Ok(())
}

// 4. Fail-fast configuration and a model load ----------------------------------------------

/// Settings read from the environment.
struct Settings {
    workers: usize,
}

/// An error in the user's terms: which setting, and what to do.
#[derive(Debug, thiserror::Error)]
#[error("`{name}` must be between 1 and 64, got {value}: set it in the environment")]
struct InvalidSetting {
    name: &'static str,
    value: usize,
}

fn settings(workers: usize) -> impl Fn() -> Result<Settings, InvalidSetting> + Send + Sync {
    move || {
        if (1..=64).contains(&workers) {
            Ok(Settings { workers })
        } else {
            Err(InvalidSetting {
                name: "WORKERS",
                value: workers,
            })
        }
    }
}

/// A model whose load is blocking work (reading and parsing weights).
struct Model {
    weights: Vec<f32>,
}

fn load_model(settings: Res<Settings>) -> Result<Model, Infallible> {
    // Plain function: it runs on the blocking pool, so the runtime stays free meanwhile.
    let weights = (0..settings.workers * 4).map(|i| i as f32 / 10.0).collect();
    Ok(Model { weights })
}

async fn config_and_model(say: Say) -> Result<(), roadie::Error> {
    let app = |workers: usize| {
        App::new()
            .on_startup(settings(workers))
            .named("settings")
            .on_startup(load_model)
            .timeout(std::time::Duration::from_secs(30))
            .post("/predict", |model: Res<Model>, input: String| async move {
                let x: f32 = input.trim().parse().unwrap_or(0.0);
                format!("{:.1}", model.weights.iter().sum::<f32>() * x)
            })
    };
    let running = app(2).start().await?;
    let answer = running.execute(Request::post("/predict").body("2")).await;
    say(format!("[model] POST /predict -> {}", answer.text()));
    running.shutdown().await?;
    let error = app(0).start().await.unwrap_err();
    say(format!("[model] with WORKERS=0: {error}"));
    Ok(())
}

#[allow(
    dead_code,
    reason = "the test includes this file as a module and runs `run` itself"
)]
#[tokio::main]
async fn main() -> Result<(), roadie::Error> {
    run(Arc::new(|line| println!("{line}"))).await
}
