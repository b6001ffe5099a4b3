//! Several resources from one lifespan or provider (`Each`), and teardowns that take their
//! values back owned (`Teardown::take`), or learn, by an error naming the type, that
//! something still holds one.

mod support;

use std::convert::Infallible;

use roadie::prelude::*;
use roadie::{BoxError, Each, Failure, Problem, Stage, StartupError};
use support::{Log, Tracked, A, B};

/// A database client whose `close` takes `self`, as many async clients' do.
struct Database {
    name: &'static str,
    log: Log,
    _drop: Tracked,
}

impl Database {
    async fn close(self) {
        self.log.push(format!("closed {}", self.name));
    }
}

struct Cache {
    entries: u32,
    _drop: Tracked,
}

/// The database named `main`, logging to `log`.
fn database(log: &Log) -> Database {
    Database {
        name: "main",
        log: log.clone(),
        _drop: log.tracked("Database"),
    }
}

fn cache(log: &Log, entries: u32) -> Cache {
    Cache {
        entries,
        _drop: log.tracked("Cache"),
    }
}

#[tokio::test]
async fn a_lifespan_registers_two_types_served_to_handlers_that_ask_for_each() {
    let log = Log::new();
    let l = log.clone();
    let running = App::new()
        .lifespan(move |lifespan: Lifespan<(Database, Cache), Each>| {
            let log = l.clone();
            async move {
                let db = database(&log);
                let cache = cache(&log, 64);
                let (db, cache) = lifespan.ready((db, cache)).await;
                // Back together, in the order given.
                log.push(format!("teardown sees {} and {}", db.name, cache.entries));
                Ok::<_, Infallible>(())
            }
        })
        .named("stores")
        .get("/db", |db: Res<Database>| async move { db.name })
        .get("/cache", |cache: Res<Cache>| async move {
            cache.entries.to_string()
        })
        .start()
        .await
        .unwrap();
    assert_eq!(running.execute(Request::get("/db")).await.text(), "main");
    assert_eq!(running.execute(Request::get("/cache")).await.text(), "64");
    running.shutdown().await.unwrap();
    // Dropped after the teardown, last registered first.
    assert_eq!(
        log.take(),
        ["teardown sees main and 64", "drop Cache", "drop Database"]
    );
}

#[tokio::test]
async fn a_teardown_takes_its_value_back_owned_and_calls_close_on_it() {
    let log = Log::new();
    let (l1, l2) = (log.clone(), log.clone());
    let running = App::new()
        .lifespan(move |lifespan: Lifespan<Database>| {
            let log = l1.clone();
            async move {
                let db = database(&log);
                let db = lifespan.ready(db).await;
                db.take()?.close().await;
                Ok::<_, BoxError>(())
            }
        })
        .on_shutdown(move |_: Res<Database>| l2.push("hook that needs the database"))
        .get("/", |db: Res<Database>| async move { db.name })
        .start()
        .await
        .unwrap();
    // Requests held the value; they have released it by the teardown.
    for _ in 0..3 {
        assert_eq!(running.execute(Request::get("/")).await.text(), "main");
    }
    running.shutdown().await.unwrap();
    // Owned, closed, dropped in the teardown; a hook that needs it no longer runs, as for a
    // resource that never started.
    assert_eq!(log.take(), ["closed main", "drop Database"]);
}

#[tokio::test]
async fn several_values_come_back_owned_together() {
    let log = Log::new();
    let l = log.clone();
    let running = App::new()
        .lifespan(move |lifespan: Lifespan<(Database, Cache), Each>| {
            let log = l.clone();
            async move {
                let db = database(&log);
                let cache = cache(&log, 1);
                let (db, cache) = lifespan.ready((db, cache)).await;
                drop(cache.take()?);
                db.take()?.close().await;
                Ok::<_, BoxError>(())
            }
        })
        .get("/", |db: Res<Database>, cache: Res<Cache>| async move {
            format!("{} {}", db.name, cache.entries)
        })
        .start()
        .await
        .unwrap();
    assert_eq!(running.execute(Request::get("/")).await.text(), "main 1");
    running.shutdown().await.unwrap();
    assert_eq!(log.take(), ["drop Cache", "closed main", "drop Database"]);
}

#[tokio::test]
async fn a_value_still_held_is_an_error_naming_its_type_and_the_rest_of_the_shutdown_goes_on() {
    let log = Log::new();
    let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
    let running = App::new()
        .lifespan(move |lifespan: Lifespan<A>| {
            let log = l1.clone();
            async move {
                let _a = lifespan.ready(A(log.tracked("A"))).await;
                log.push("teardown A");
                Ok::<_, Infallible>(())
            }
        })
        .lifespan(move |lifespan: Lifespan<Database>| {
            let log = l2.clone();
            async move {
                let db = database(&log);
                let db = lifespan.ready(db).await;
                match db.take() {
                    Ok(db) => db.close().await,
                    Err(still_held) => {
                        log.push(format!("{} other", still_held.others()));
                        // Closed through the shared handle after all, then reported.
                        let shared = still_held.into_res();
                        log.push(format!("still readable: {}", shared.name));
                        return Err(BoxError::from("could not close the database"));
                    }
                }
                Ok::<_, BoxError>(())
            }
        })
        .named("database")
        .on_shutdown(move |_: Res<A>| l3.push("hook"))
        .start()
        .await
        .unwrap();
    // Held past the drain by the test itself.
    let kept = running.resource::<Database>().unwrap();
    let error = running.shutdown().await.unwrap_err();
    let failures = error.failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].node(), "database");
    assert_eq!(failures[0].stage(), Stage::Teardown);
    assert!(
        error.to_string().contains("could not close the database"),
        "{error}"
    );
    // The teardown of A and the hook still ran.
    assert_eq!(
        log.take(),
        [
            "1 other",
            "still readable: main",
            "teardown A",
            "hook",
            "drop A"
        ]
    );
    drop(kept);
    assert_eq!(log.take(), ["drop Database"]);
}

#[tokio::test]
async fn the_still_held_error_converts_with_the_question_mark_and_names_the_type() {
    let running = App::new()
        .lifespan(|lifespan: Lifespan<Database>| async move {
            let log = Log::new();
            let db = lifespan.ready(database(&log)).await;
            db.take()?.close().await;
            Ok::<_, BoxError>(())
        })
        .named("database")
        .start()
        .await
        .unwrap();
    let kept = running.resource::<Database>().unwrap();
    let error = running.shutdown().await.unwrap_err();
    let Failure::Error(cause) = error.failures()[0].failure() else {
        panic!("expected the teardown's error, got {error}");
    };
    let message = cause.to_string();
    assert!(
        message.starts_with("`Database` is still held by 1 handle(s) besides the app's own"),
        "{message}"
    );
    assert!(message.contains("outlived the drain"), "{message}");
    drop(kept);
}

#[tokio::test]
async fn a_provider_registers_several_types_with_each() {
    let log = Log::new();
    let l = log.clone();
    let app = App::new()
        .on_startup(move || -> Result<Each<(A, B)>, Infallible> {
            Ok(Each::new((A(l.tracked("A")), B(l.tracked("B")))))
        })
        .named("both")
        .on_startup(|_: Res<A>, _: Res<B>| Ok::<_, Infallible>(7_u8))
        .get("/", |n: Res<u8>| async move { n.to_string() });
    let running = app.start().await.unwrap();
    assert_eq!(running.execute(Request::get("/")).await.text(), "7");
    running.shutdown().await.unwrap();
    assert_eq!(log.take(), ["drop B", "drop A"]);
}

#[tokio::test]
async fn an_async_provider_may_return_each_without_a_result() {
    let app = App::new()
        .on_startup(|| async { Each::new((1_u8, "two")) })
        .get("/", |one: Res<u8>, two: Res<&'static str>| async move {
            format!("{} {}", *one, *two)
        });
    assert_eq!(app.execute(Request::get("/")).await.text(), "1 two");
}

#[tokio::test]
async fn a_type_registered_twice_through_each_is_a_duplicate() {
    let error = App::new()
        .on_startup(|| Ok::<_, Infallible>(1_u8))
        .named("first")
        .on_startup(|| Ok::<_, Infallible>(Each::new((2_u8, 3_u16))))
        .named("both")
        .start()
        .await
        .unwrap_err();
    let StartupError::Invalid(invalid) = &error else {
        panic!("expected a validation error, got {error}");
    };
    assert!(
        matches!(&invalid.problems()[0], Problem::Duplicate { ty, first, second, .. }
            if *ty == "u8" && first == "first" && second == "both"),
        "{error}"
    );
}

#[tokio::test]
async fn a_replacement_registers_the_same_types_as_what_it_replaces() {
    fn app() -> App {
        App::new()
            .lifespan(|lifespan: Lifespan<(u8, u16), Each>| async move {
                lifespan.ready((1, 2)).await;
            })
            .named("stores")
            .get("/", |a: Res<u8>, b: Res<u16>| async move {
                format!("{} {}", *a, *b)
            })
    }
    // One of the two alone: refused, saying what to do.
    let error = app()
        .replace(roadie::value(9_u8))
        .start()
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("registers `u8, u16` together"),
        "{message}"
    );
    assert!(message.contains("Each::new"), "{message}");
    // Both: the double takes the lifespan's place.
    let doubled = app().replace(|| Ok::<_, Infallible>(Each::new((8_u8, 9_u16))));
    assert_eq!(doubled.execute(Request::get("/")).await.text(), "8 9");
}

#[tokio::test]
async fn a_lifespan_of_each_shows_every_type_in_the_graph() {
    let app = App::new().lifespan(|lifespan: Lifespan<(u8, u16), Each>| async move {
        lifespan.ready((1, 2)).await;
    });
    let dot = app.to_dot();
    assert!(dot.contains("u8, u16"), "{dot}");
}
