//! The attribute macros end to end: annotated providers, dependencies, hooks, lifespans and
//! routes make a working app, checked through `execute`.
#![cfg(feature = "macros")]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use roadie::prelude::*;

/// Events in the order they happened.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, event: impl Into<String>) {
        self.0.lock().unwrap().push(event.into());
    }

    fn events(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

fn log_provider(log: &Log) -> impl Fn() -> Result<Log, Infallible> + Send + Sync + 'static {
    let log = log.clone();
    move || Ok(log.clone())
}

struct Config {
    url: String,
}

struct Database {
    url: String,
}

struct Cache {
    entries: usize,
}

/// Never provided: asked for as `Option<&Metrics>`.
struct Metrics;

struct Stats {
    metrics_present: bool,
}

struct Conn {
    id: u32,
}

struct RequestId(String);

#[derive(Debug)]
struct DbError(&'static str);

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for DbError {}

// ---- startup providers: sync and async, plain `T`, `Result`, `()` ----

#[on_startup]
fn config() -> Config {
    Config {
        url: "memory://main".into(),
    }
}

#[on_startup]
async fn database(config: &Config) -> Result<Database, DbError> {
    if config.url.is_empty() {
        return Err(DbError("no url"));
    }
    tokio::task::yield_now().await;
    Ok(Database {
        url: config.url.clone(),
    })
}

#[on_startup]
fn announce(log: &Log, db: &Database) {
    log.push(format!("started on {}", db.url));
}

#[on_startup]
async fn stats(metrics: Option<&Metrics>, config: Option<&Config>) -> Stats {
    assert!(
        config.is_some(),
        "a provided resource is given to `Option<&T>`"
    );
    Stats {
        metrics_present: metrics.is_some(),
    }
}

// ---- a lifespan ----

#[lifespan]
async fn cache(lifespan: Lifespan<Cache>, log: &Log) -> Result<(), Infallible> {
    log.push("cache up");
    let cache = lifespan.ready(Cache { entries: 3 }).await;
    log.push(format!("cache down ({} entries)", cache.entries));
    Ok(())
}

// ---- request-scoped dependencies ----

#[dependency]
async fn connection(db: &Database, log: &Log) -> Result<Scoped<Conn>, DbError> {
    let _ = &db.url;
    let log = log.clone();
    Ok(
        Scoped::new(Conn { id: 7 }).on_release(move |conn, outcome| async move {
            log.push(format!(
                "release conn {} ({})",
                conn.id,
                outcome.is_success()
            ));
        }),
    )
}

#[dependency]
fn request_id(headers: HeaderMap) -> RequestId {
    RequestId(
        headers
            .get("x-request-id")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("none")
            .to_owned(),
    )
}

// ---- shutdown hooks ----

#[on_shutdown]
async fn close_database(db: &Database, log: &Log) {
    tokio::task::yield_now().await;
    log.push(format!("closed {}", db.url));
}

#[on_shutdown]
fn flush(log: &Log) -> Result<(), DbError> {
    log.push("flushed");
    Ok(())
}

// ---- routes of every attribute ----

#[get("/users/{id}")]
async fn get_user(Path(id): Path<u64>, conn: Dep<Conn>, db: &Database) -> String {
    format!("user {id} on conn {} of {}", conn.id, db.url)
}

#[post("/users")]
async fn create_user(body: String) -> (StatusCode, String) {
    (StatusCode::CREATED, format!("created {body}"))
}

#[put("/users/{id}")]
async fn replace_user(Path(id): Path<u64>, request_id: Dep<RequestId>) -> String {
    format!("replaced {id} ({})", request_id.0)
}

#[patch("/users/{id}")]
async fn rename_user(Path(id): Path<u64>, stats: &Stats) -> String {
    format!("renamed {id} (metrics: {})", stats.metrics_present)
}

#[delete("/users/{id}")]
async fn delete_user(Path(id): Path<u64>, cache: &Cache) -> Result<String, HttpError> {
    if id == 0 {
        return Err(HttpError::new(StatusCode::NOT_FOUND, "no user 0"));
    }
    Ok(format!("deleted {id} ({} cached)", cache.entries))
}

#[route(OPTIONS, "/x")]
async fn x_options() -> (StatusCode, &'static str) {
    (StatusCode::NO_CONTENT, "")
}

fn app(log: &Log) -> App {
    App::new()
        .on_startup(log_provider(log))
        .named("log")
        .on_startup(config)
        .on_startup(database)
        .on_startup(announce)
        .on_startup(stats)
        .lifespan(cache)
        .dependency(connection)
        .dependency(request_id)
        .on_shutdown(close_database)
        .on_shutdown(flush)
        .route(get_user)
        .route(create_user)
        .route(replace_user)
        .route(rename_user)
        .route(delete_user)
        .route(x_options)
}

#[tokio::test]
async fn annotated_functions_make_a_working_app() {
    let log = Log::default();
    let app = app(&log);

    let res = app.execute(Request::get("/users/5")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text(), "user 5 on conn 7 of memory://main");

    let res = app.execute(Request::post("/users").body("ada")).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.text(), "created ada");

    let res = app
        .execute(Request::put("/users/2").header("x-request-id", "r-1"))
        .await;
    assert_eq!(res.text(), "replaced 2 (r-1)");

    let res = app.execute(Request::patch("/users/3")).await;
    assert_eq!(res.text(), "renamed 3 (metrics: false)");

    let res = app.execute(Request::delete("/users/4")).await;
    assert_eq!(res.text(), "deleted 4 (3 cached)");
    let res = app.execute(Request::delete("/users/0")).await;
    assert_eq!(res.status(), 404);

    let res = app.execute(Request::new(Method::OPTIONS, "/x")).await;
    assert_eq!(res.status(), 204);
    let res = app.execute(Request::get("/x")).await;
    assert_eq!(res.status(), 405);

    app.shutdown().await.unwrap();
    assert_eq!(
        log.events(),
        [
            "started on memory://main",
            "cache up",
            "release conn 7 (true)",
            "cache down (3 entries)",
            "closed memory://main",
            "flushed",
        ]
    );
}

#[tokio::test]
async fn startup_runs_in_the_order_of_what_each_function_needs() {
    let log = Log::default();
    // Registered backwards: `database` needs `Config`, `announce` needs `Database`.
    let app = App::new()
        .on_startup(announce)
        .on_startup(database)
        .on_startup(config)
        .on_startup(log_provider(&log));
    let order = app.startup_order().unwrap();
    let position = |name: &str| order.iter().position(|node| node == name).unwrap();
    assert!(position("config") < position("database"));
    assert!(position("database") < position("announce"));
}

#[test]
fn nodes_are_named_after_their_functions() {
    let log = Log::default();
    let dot = app(&log).to_dot();
    for name in [
        "config",
        "database",
        "announce",
        "stats",
        "cache",
        "connection",
        "request_id",
        "close_database",
        "flush",
    ] {
        let label = format!("label=\"{name}\\n");
        assert!(
            dot.contains(&label),
            "the DOT output names `{name}`:\n{dot}"
        );
    }
    for route in [
        "GET /users/{id} (get_user)",
        "POST /users (create_user)",
        "PUT /users/{id} (replace_user)",
        "PATCH /users/{id} (rename_user)",
        "DELETE /users/{id} (delete_user)",
        "OPTIONS /x (x_options)",
    ] {
        assert!(
            dot.contains(route),
            "the DOT output names `{route}`:\n{dot}"
        );
    }
    assert!(!dot.contains("closure"), "{dot}");

    let error = App::new().on_startup(database).validate().unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("`database` needs the resource `Config`"),
        "{message}"
    );

    let error = App::new().route(get_user).validate().unwrap_err();
    let message = error.to_string();
    assert!(message.contains("get_user"), "{message}");
    assert!(message.contains("Database"), "{message}");
}

#[on_startup]
async fn failing() -> Result<Cache, DbError> {
    Err(DbError("the disk is full"))
}

#[tokio::test]
async fn a_failing_provider_is_named_in_the_startup_error() {
    let error = App::new().on_startup(failing).start().await.unwrap_err();
    let message = error.to_string();
    assert!(message.contains("`failing`"), "{message}");
    assert!(message.contains("the disk is full"), "{message}");
}

#[tokio::test]
async fn annotated_functions_stay_plain_functions() {
    let config = config();
    assert_eq!(config.url, "memory://main");

    let db = database(Res::new(config.into_inner())).await.unwrap();
    assert_eq!(db.url, "memory://main");

    let stats = stats(None, Some(Res::new(Config { url: "x".into() }))).await;
    assert!(!stats.metrics_present);

    let body = rename_user(
        Path(3),
        Res::new(Stats {
            metrics_present: true,
        }),
    )
    .await;
    assert_eq!(body, "renamed 3 (metrics: true)");
    let (status, body) = create_user("ada".into()).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::CREATED, "created ada")
    );
    let _ = db;

    let log = Log::default();
    flush(Res::new(log.clone())).unwrap();
    assert_eq!(log.events(), ["flushed"]);
}

#[tokio::test]
async fn functions_declared_inside_a_test_work() {
    struct Greeting(&'static str);

    #[on_startup]
    fn greeting() -> Greeting {
        Greeting("hi")
    }

    #[get("/greet/{name}")]
    async fn greet(Path(name): Path<String>, greeting: &Greeting) -> String {
        format!("{} {name}", greeting.0)
    }

    let app = App::new().on_startup(greeting).route(greet);
    assert_eq!(
        app.execute(Request::get("/greet/ada")).await.text(),
        "hi ada"
    );
    let dot = app.to_dot();
    assert!(dot.contains("greeting"), "{dot}");
    assert!(dot.contains("greet"), "{dot}");
    assert!(!dot.contains("closure"), "{dot}");
}

struct Name(String);

/// A parameter named like its own function, and like another annotated function.
#[on_startup]
fn name(config: &Config) -> Name {
    Name(config.url.trim_start_matches("memory://").to_owned())
}

#[get("/name")]
async fn show_name(name: &Name) -> String {
    name.0.clone()
}

#[on_startup]
fn shout(shout: Option<&Name>) -> Result<String, Infallible> {
    Ok(shout.map(|name| name.0.to_uppercase()).unwrap_or_default())
}

#[tokio::test]
async fn local_variables_named_like_annotated_functions_coexist() {
    // Each of these binds a variable named like an annotated function in scope. Were the
    // route or node a unit struct of that name, these lines would be patterns and fail.
    let config = Config {
        url: "memory://shadowed".into(),
    };
    let get_user = "not a route";
    let show_name = 1;
    let x_options = ();
    let _ = (get_user, show_name, x_options);
    assert_eq!(config.url, "memory://shadowed");

    let app = App::new()
        .on_startup(self::config)
        .on_startup(self::name)
        .on_startup(self::shout)
        .route(self::show_name);
    assert_eq!(app.execute(Request::get("/name")).await.text(), "main");
    let running = app.running().await.unwrap();
    assert_eq!(
        running.resource::<String>().as_deref().map(String::as_str),
        Some("MAIN")
    );
}
