//! Test doubles: `App::replace`, `App::replace_with` and `App::replace_dependency` swap a
//! provider for another, which goes through the same graph checks and keeps the original's
//! place; everything that used the original (handlers, dependencies, hooks) gets the double.

use std::convert::Infallible;

use roadie::prelude::*;

mod support;
use roadie::{Problem, StartupError};
use support::{Failed as DbError, Log};

fn problems(error: StartupError) -> Vec<Problem> {
    error.problems().to_vec()
}

// ---- the app under test ----

struct Config {
    url: &'static str,
}

struct Database {
    name: &'static str,
}

impl Database {
    fn fake() -> Self {
        Database { name: "fake" }
    }
}

/// A request-scoped connection, released after the response.
struct Conn {
    db: &'static str,
}

fn config() -> Result<Config, Infallible> {
    Ok(Config {
        url: "postgres://prod",
    })
}

/// The real database: in a test there is no server, so it fails. A test that starts
/// the app with it fails; the doubles below keep it from running.
async fn database(config: Res<Config>, log: Res<Log>) -> Result<Database, DbError> {
    log.push(format!("connect {}", config.url));
    Err(DbError::new("connection refused"))
}

async fn connection(db: Res<Database>, log: Res<Log>) -> Result<Scoped<Conn>, Infallible> {
    let name = db.name;
    log.push(format!("acquire {name}"));
    let log = Log::clone(&log);
    Ok(
        Scoped::new(Conn { db: name }).on_release(move |conn: Conn, _outcome| async move {
            log.push(format!("release {}", conn.db));
        }),
    )
}

async fn close_database(db: Res<Database>, log: Res<Log>) {
    log.push(format!("close {}", db.name));
}

async fn get_user(Path(id): Path<u64>, db: Res<Database>, conn: Dep<Conn>) -> String {
    format!("user {id}: db={} conn={}", db.name, conn.db)
}

fn my_app(log: &Log) -> App {
    App::new()
        .on_startup(roadie::value(log.clone()))
        .named("log")
        .on_startup(config)
        .on_startup(database)
        .dependency(connection)
        .on_shutdown(close_database)
        .get("/users/{id}", get_user)
}

#[tokio::test]
async fn the_real_app_fails_without_a_database() {
    let log = Log::default();
    let error = my_app(&log).start().await.unwrap_err();
    assert_eq!(error.failed_node(), Some("database"));
    assert_eq!(log.take(), ["connect postgres://prod"]);
}

#[tokio::test]
async fn a_replaced_database_is_seen_by_a_handler_a_dependency_and_a_shutdown_hook() {
    let log = Log::default();
    let app = my_app(&log).replace(roadie::value(Database::fake()));

    let response = app.execute(Request::get("/users/1")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text(), "user 1: db=fake conn=fake");
    // The real provider never ran; the dependency got the double and gave it back.
    assert_eq!(log.take(), ["acquire fake", "release fake"]);

    app.shutdown().await.unwrap();
    // The hook of the replaced resource ran, against the double.
    assert_eq!(log.take(), ["close fake"]);
}

#[tokio::test]
async fn replacing_leaves_the_original_app_as_it_was() {
    let log = Log::default();
    let real = my_app(&log);
    let test = real.clone().replace(roadie::value(Database::fake()));
    assert_eq!(
        test.execute(Request::get("/users/1")).await.text(),
        "user 1: db=fake conn=fake"
    );
    assert_eq!(real.execute(Request::get("/users/1")).await.status(), 503);
}

// ---- the forms a replacement takes ----

fn fake_database() -> Result<Database, Infallible> {
    Ok(Database::fake())
}

async fn async_fake_database(log: Res<Log>) -> Result<Database, Infallible> {
    log.push("async fake");
    Ok(Database { name: "async fake" })
}

async fn served_by(app: App) -> String {
    let text = app.execute(Request::get("/users/7")).await.text();
    app.shutdown().await.unwrap();
    text
}

#[tokio::test]
async fn a_replacement_is_a_function_a_closure_a_value_or_a_plain_closure() {
    let log = Log::default();

    let by_fn = my_app(&log).replace(fake_database);
    assert_eq!(served_by(by_fn).await, "user 7: db=fake conn=fake");

    let by_async_fn = my_app(&log).replace(async_fake_database);
    assert_eq!(
        served_by(by_async_fn).await,
        "user 7: db=async fake conn=async fake"
    );

    let by_closure = my_app(&log).replace(|| Ok::<_, Infallible>(Database { name: "closure" }));
    assert_eq!(
        served_by(by_closure).await,
        "user 7: db=closure conn=closure"
    );

    let by_closure_with_needs = my_app(&log).replace(|config: Res<Config>| {
        Ok::<_, Infallible>(Database {
            name: if config.url.is_empty() {
                "?"
            } else {
                "from config"
            },
        })
    });
    assert_eq!(
        served_by(by_closure_with_needs).await,
        "user 7: db=from config conn=from config"
    );

    let by_async_closure = my_app(&log).replace(|| async {
        Ok::<_, DbError>(Database {
            name: "async closure",
        })
    });
    assert_eq!(
        served_by(by_async_closure).await,
        "user 7: db=async closure conn=async closure"
    );

    let by_value = my_app(&log).replace(roadie::value(Database { name: "value" }));
    assert_eq!(served_by(by_value).await, "user 7: db=value conn=value");

    let by_replace_with = my_app(&log).replace_with(Database::fake);
    assert_eq!(
        served_by(by_replace_with).await,
        "user 7: db=fake conn=fake"
    );

    let by_replace_with_closure = my_app(&log).replace_with(|| Database { name: "plain" });
    assert_eq!(
        served_by(by_replace_with_closure).await,
        "user 7: db=plain conn=plain"
    );

    // None of them ran the real provider.
    assert!(!log.take().iter().any(|entry| entry.starts_with("connect")));
}

#[tokio::test]
async fn a_replacement_is_named_for_what_it_replaces() {
    let log = Log::default();
    let order = |app: App| app.startup_order().unwrap();
    assert_eq!(
        order(my_app(&log).replace(fake_database)),
        ["log", "config", "fake_database (replaces database)"]
    );
    assert_eq!(
        order(my_app(&log).replace(roadie::value(Database::fake()))),
        ["log", "config", "value(Database) (replaces database)"]
    );
    assert_eq!(
        order(my_app(&log).replace_with(|| Database { name: "closure" })),
        [
            "log",
            "config",
            "closure in a_replacement_is_named_for_what_it_replaces (Database) (replaces database)"
        ]
    );
    assert_eq!(
        order(my_app(&log).replace_with(Database::fake)),
        ["log", "config", "fake (replaces database)"]
    );
}

#[tokio::test]
async fn a_failing_replacement_fails_startup_and_rolls_back() {
    let log = Log::default();
    fn broken_double() -> Result<Database, DbError> {
        Err(DbError::new("the double is broken too"))
    }
    let app = my_app(&log).replace(broken_double);
    let error = app.start().await.unwrap_err();
    assert_eq!(
        error.failed_node(),
        Some("broken_double (replaces database)")
    );
    assert!(error.to_string().contains("the double is broken too"));
    // Nothing else ran: the close hook has no database to close.
    assert!(log.take().is_empty());
}

// ---- the replacement goes through the graph's checks ----

struct Secrets;

#[tokio::test]
async fn a_replacement_needing_a_missing_type_fails_validation_naming_it() {
    let log = Log::default();
    fn needs_secrets(_secrets: Res<Secrets>) -> Result<Database, Infallible> {
        Ok(Database::fake())
    }
    let app = my_app(&log).replace(needs_secrets);
    let error = app.validate().unwrap_err();
    assert_eq!(
        problems(error.clone()),
        [Problem::MissingResource {
            ty: "Secrets",
            needed_by: "needs_secrets (replaces database)".into()
        }]
    );
    assert!(error.to_string().contains(
        "`needs_secrets (replaces database)` needs the resource `Secrets`, but nothing provides it"
    ));
    // Nothing ran.
    assert_eq!(app.execute(Request::get("/users/1")).await.status(), 503);
    assert!(log.take().is_empty());
}

#[tokio::test]
async fn the_originals_needs_leave_with_it() {
    let log = Log::default();
    // Without `config`, the real database cannot be satisfied; its double needs nothing.
    let app = App::new()
        .on_startup(roadie::value(log.clone()))
        .on_startup(database)
        .get("/", |db: Res<Database>| async move { db.name });
    assert!(matches!(
        problems(app.validate().unwrap_err()).as_slice(),
        [Problem::MissingResource { ty: "Config", .. }]
    ));
    let app = app.replace_with(Database::fake);
    assert_eq!(app.execute(Request::get("/")).await.text(), "fake");
}

#[tokio::test]
async fn a_replacement_needing_what_it_replaces_is_a_cycle() {
    let log = Log::default();
    fn wraps(db: Res<Database>) -> Result<Database, Infallible> {
        Ok(Database { name: db.name })
    }
    let problems = problems(my_app(&log).replace(wraps).validate().unwrap_err());
    assert_eq!(
        problems,
        [Problem::Cycle {
            path: vec![
                "wraps (replaces database)".into(),
                "wraps (replaces database)".into()
            ]
        }]
    );
}

#[tokio::test]
async fn a_replacement_asking_for_a_request_scoped_value_breaks_the_scope_rule() {
    let log = Log::default();
    fn from_conn(_conn: Dep<Conn>) -> Result<Database, Infallible> {
        Ok(Database::fake())
    }
    let problems = problems(my_app(&log).replace(from_conn).validate().unwrap_err());
    assert!(
        matches!(
            problems.as_slice(),
            [Problem::Scope { node, .. }, ..] if node == "from_conn (replaces database)"
        ),
        "{problems:?}"
    );
}

#[tokio::test]
async fn replacing_a_type_nothing_provides_is_an_error_that_says_so() {
    let log = Log::default();
    struct Cache;
    let app = my_app(&log).replace(roadie::value(Cache));
    let error = app.validate().unwrap_err();
    assert_eq!(
        problems(error.clone()),
        [Problem::ReplacedNothing {
            ty: "Cache",
            by: "value(Cache)".into()
        }]
    );
    let text = error.to_string();
    assert!(
        text.contains("`value(Cache)` replaces `Cache`, but nothing provides `Cache`"),
        "{text}"
    );
    assert_eq!(app.execute(Request::get("/users/1")).await.status(), 503);

    // A request-scoped dependency does not stand in for a resource, nor the other way round.
    let app = my_app(&log).replace_with(|| Conn { db: "fake" });
    assert!(matches!(
        problems(app.validate().unwrap_err()).as_slice(),
        [Problem::ReplacedNothing { ty: "Conn", .. }]
    ));
    let app = my_app(&log).replace_dependency(|| Ok::<_, Infallible>(Database::fake()));
    assert!(matches!(
        problems(app.validate().unwrap_err()).as_slice(),
        [Problem::ReplacedNothing { ty: "Database", .. }]
    ));
}

#[tokio::test]
async fn a_replacement_that_provides_nothing_is_an_error() {
    let log = Log::default();
    let app = my_app(&log).replace(|| {});
    let problems = problems(app.validate().unwrap_err());
    assert!(
        matches!(
            problems.as_slice(),
            [Problem::ReplacedNothing { ty: "()", .. }]
        ),
        "{problems:?}"
    );
    assert!(
        problems[0].to_string().contains("provides nothing"),
        "{}",
        problems[0]
    );
}

#[tokio::test]
async fn replacing_before_the_original_is_registered_is_an_error() {
    let log = Log::default();
    let app = App::new()
        .on_startup(roadie::value(log.clone()))
        .replace_with(Database::fake)
        .on_startup(config)
        .on_startup(database);
    assert!(matches!(
        problems(app.validate().unwrap_err()).as_slice(),
        [Problem::ReplacedNothing { ty: "Database", .. }]
    ));
}

// ---- lifespans, dependencies, order ----

struct Pool {
    name: &'static str,
}

async fn pool(log: Res<Log>, lifespan: Lifespan<Pool>) -> Result<(), Infallible> {
    log.push("pool setup");
    lifespan.ready(Pool { name: "real" }).await;
    log.push("pool teardown");
    Ok(())
}

fn cache(pool: Res<Pool>) -> Result<u32, Infallible> {
    Ok(pool.name.len() as u32)
}

fn metrics() -> Result<u8, Infallible> {
    Ok(0)
}

fn drain_pool(pool: Res<Pool>, log: Res<Log>) {
    log.push(format!("drain {}", pool.name));
}

fn pooled_app(log: &Log) -> App {
    App::new()
        .on_startup(roadie::value(log.clone()))
        .named("log")
        .on_startup(config)
        .lifespan(pool)
        .on_startup(cache)
        .on_startup(metrics)
        .on_shutdown(drain_pool)
        .get("/", |pool: Res<Pool>, size: Res<u32>| async move {
            format!("{} {}", pool.name, *size)
        })
}

#[tokio::test]
async fn a_lifespan_provided_type_is_replaced_by_a_plain_provider() {
    let log = Log::default();
    let app = pooled_app(&log).replace_with(|| Pool { name: "fake" });
    assert_eq!(app.execute(Request::get("/")).await.text(), "fake 4");
    app.shutdown().await.unwrap();
    // Neither the real setup nor its teardown ran; the hook ran against the double.
    assert_eq!(log.take(), ["drain fake"]);
}

#[tokio::test]
async fn a_lifespans_plain_double_is_rolled_back_like_the_lifespan() {
    let log = Log::default();
    fn late(_size: Res<u32>) -> Result<u16, DbError> {
        Err(DbError::new("late failure"))
    }
    let app = pooled_app(&log)
        .on_startup(late)
        .replace_with(|| Pool { name: "fake" });
    let error = app.start().await.unwrap_err();
    assert_eq!(error.failed_node(), Some("late"));
    assert!(error.rollback().is_empty());
    assert_eq!(log.take(), ["drain fake"]);
}

#[tokio::test]
async fn a_lifespans_plain_double_starts_concurrently_too() {
    let log = Log::default();
    let app = pooled_app(&log)
        .concurrent_startup(true)
        .replace(roadie::value(Pool { name: "fake" }));
    assert_eq!(app.execute(Request::get("/")).await.text(), "fake 4");
    app.shutdown().await.unwrap();
    assert_eq!(log.take(), ["drain fake"]);
}

#[tokio::test]
async fn the_replacement_keeps_the_originals_place_in_the_startup_order() {
    let log = Log::default();
    assert_eq!(
        my_app(&log).startup_order().unwrap(),
        ["log", "config", "database"]
    );
    assert_eq!(
        my_app(&log)
            .on_startup(metrics)
            .replace(fake_database)
            .startup_order()
            .unwrap(),
        [
            "log",
            "config",
            "fake_database (replaces database)",
            "metrics"
        ]
    );

    // A lifespan starts after the providers the graph leaves free; its plain double too.
    assert_eq!(
        pooled_app(&log).startup_order().unwrap(),
        ["log", "config", "metrics", "pool", "cache"]
    );
    assert_eq!(
        pooled_app(&log)
            .replace(roadie::value(Pool { name: "fake" }))
            .startup_order()
            .unwrap(),
        [
            "log",
            "config",
            "metrics",
            "value(Pool) (replaces pool)",
            "cache"
        ]
    );
}

#[tokio::test]
async fn a_replacement_with_new_needs_starts_after_them() {
    let log = Log::default();
    struct Tenant;
    fn tenant() -> Result<Tenant, Infallible> {
        Ok(Tenant)
    }
    fn tenant_database(_tenant: Res<Tenant>) -> Result<Database, Infallible> {
        Ok(Database::fake())
    }
    let app = my_app(&log).on_startup(tenant).replace(tenant_database);
    assert_eq!(
        app.startup_order().unwrap(),
        [
            "log",
            "config",
            "tenant",
            "tenant_database (replaces database)"
        ]
    );
}

fn fake_connection(log: Res<Log>) -> Result<Scoped<Conn>, Infallible> {
    log.push("acquire double");
    let log = Log::clone(&log);
    Ok(
        Scoped::new(Conn { db: "double" }).on_release(move |conn: Conn, _outcome| async move {
            log.push(format!("release {}", conn.db));
        }),
    )
}

#[tokio::test]
async fn replace_dependency_swaps_a_request_scoped_type() {
    let log = Log::default();
    let app = my_app(&log)
        .replace(roadie::value(Database::fake()))
        .replace_dependency(fake_connection);
    assert_eq!(
        app.execute(Request::get("/users/2")).await.text(),
        "user 2: db=fake conn=double"
    );
    assert_eq!(log.take(), ["acquire double", "release double"]);

    // A plain closure works too.
    let app = my_app(&log)
        .replace(roadie::value(Database::fake()))
        .replace_dependency(|| Ok::<_, Infallible>(Conn { db: "closure" }));
    assert_eq!(
        app.execute(Request::get("/users/2")).await.text(),
        "user 2: db=fake conn=closure"
    );
}

#[tokio::test]
async fn a_replaced_dependencys_needs_are_checked() {
    let log = Log::default();
    struct Token;
    fn needs_token(_token: Dep<Token>) -> Result<Conn, Infallible> {
        Ok(Conn { db: "x" })
    }
    let app = my_app(&log)
        .replace(roadie::value(Database::fake()))
        .replace_dependency(needs_token);
    assert_eq!(
        problems(app.validate().unwrap_err()),
        [Problem::MissingDependency {
            ty: "Token",
            needed_by: "needs_token (replaces connection)".into()
        }]
    );
}

#[tokio::test]
async fn the_last_replacement_wins() {
    let log = Log::default();
    let app = my_app(&log)
        .replace(roadie::value(Database { name: "first" }))
        .replace(roadie::value(Database { name: "second" }));
    assert_eq!(
        app.execute(Request::get("/users/1")).await.text(),
        "user 1: db=second conn=second"
    );
}

// ---- across modules ----

#[tokio::test]
async fn a_provider_of_a_module_is_replaced_from_the_app() {
    let log = Log::default();
    let storage = App::module("storage")
        .on_startup(config)
        .on_startup(database)
        .on_shutdown(close_database);
    let users = App::module("users")
        .dependency(connection)
        .get("/users/{id}", get_user);
    let app = App::new()
        .on_startup(roadie::value(log.clone()))
        .named("log")
        .merge(storage)
        .nest("/api", users)
        .replace(roadie::value(Database::fake()));
    assert_eq!(
        app.startup_order().unwrap(),
        [
            "log",
            "storage::config",
            "value(Database) (replaces storage::database)"
        ]
    );
    assert_eq!(
        app.execute(Request::get("/api/users/3")).await.text(),
        "user 3: db=fake conn=fake"
    );
    app.shutdown().await.unwrap();
    assert_eq!(log.take(), ["acquire fake", "release fake", "close fake"]);
}
