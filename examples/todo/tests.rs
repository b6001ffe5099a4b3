//! The service through `execute`, each test on a database file of its own: no socket.
//!
//! No assertion depends on how fast anything runs: every wait is bounded by [`PATIENCE`],
//! far above what any step needs, and only fails a test that would otherwise hang.

use std::future::Future;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;
use serde_json::{json, Value};

use super::*;
use crate::todos::Todo;

/// How long a step may take before its test fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(10);

/// A busy timeout no test reaches: its writes wait for the lock until the test releases it.
const FOREVER: Duration = Duration::from_secs(60);

/// A database file of the test's own, created afresh.
fn database(name: &str) -> String {
    let path = std::env::temp_dir().join(format!(
        "roadie-todo-test-{name}-{}.sqlite3",
        std::process::id()
    ));
    let path = path.to_string_lossy().into_owned();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{path}{suffix}"));
    }
    path
}

/// The service on `database`, with `pool_size` connections and a `busy_timeout`.
fn test_app_on(database: &str, pool_size: usize, busy_timeout: Duration) -> App {
    app().replace(roadie::value(Config {
        database: database.to_owned(),
        pool_size,
        busy_timeout,
    }))
}

fn test_app(name: &str) -> App {
    test_app_on(&database(name), 2, Duration::from_secs(5))
}

/// Waits for `step`, failing the test if it takes longer than [`PATIENCE`].
async fn within<F: Future>(what: &str, step: F) -> F::Output {
    tokio::time::timeout(PATIENCE, step)
        .await
        .unwrap_or_else(|_| panic!("{what}: not done within {PATIENCE:?}"))
}

/// Waits until `pool` has `idle` connections idle; `what` says what the test waits for.
async fn until_idle(what: &str, pool: &Pool, idle: usize) {
    within(&format!("{what} ({idle} idle connections)"), async {
        while pool.idle() != idle {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

fn post(title: &str) -> Request {
    Request::post("/todos").json(&json!({ "title": title }))
}

/// A `PUT` that changes the todo whatever its version (`If-Match: *`).
fn put(id: i64, changes: Value) -> Request {
    Request::put(format!("/todos/{id}"))
        .header("if-match", "*")
        .json(&changes)
}

/// Adds `count` todos, titled `todo 1`, `todo 2`..., in one transaction through the pool.
async fn seed(app: &App, count: usize) {
    let pool = app.running().await.unwrap().resource::<Pool>().unwrap();
    let mut connection = pool.take().await.unwrap();
    let connection = tokio::task::spawn_blocking(move || {
        let transaction = connection.transaction()?;
        for n in 1..=count {
            transaction.execute(
                "INSERT INTO todos (title) VALUES (?1)",
                [format!("todo {n}")],
            )?;
        }
        transaction.commit()?;
        Ok::<_, rusqlite::Error>(connection)
    })
    .await
    .unwrap()
    .unwrap();
    pool.give_back(connection);
}

fn ids(response: &Response) -> Vec<i64> {
    response
        .json::<Vec<Todo>>()
        .iter()
        .map(|todo| todo.id)
        .collect()
}

/// The address in a `Link: <address>; rel="next"` header.
fn next_page(response: &Response) -> Option<String> {
    let link = response.header("link")?;
    let address = link.strip_prefix('<')?.split_once(">; rel=\"next\"")?.0;
    Some(address.to_owned())
}

/// SQLite's write lock on a database, held the way another process would hold it: by a
/// connection of its own, on a thread of its own, until [`WriteLock::release`] (or until the
/// lock is dropped, or 20 s pass, so that a failing test still ends).
struct WriteLock {
    release: mpsc::Sender<()>,
    holder: JoinHandle<()>,
}

impl WriteLock {
    async fn hold(database: &str) -> Self {
        let (locked, is_locked) = tokio::sync::oneshot::channel();
        let (release, released) = mpsc::channel::<()>();
        let database = database.to_owned();
        let holder = std::thread::spawn(move || {
            let connection = Connection::open(database).expect("the lock holder opens the file");
            connection
                .execute_batch("BEGIN IMMEDIATE")
                .expect("the lock holder takes the write lock");
            let _ = locked.send(());
            let _ = released.recv_timeout(Duration::from_secs(20));
            connection
                .execute_batch("COMMIT")
                .expect("the lock holder releases the write lock");
        });
        within("taking the write lock", is_locked)
            .await
            .expect("the lock holder took the lock");
        Self { release, holder }
    }

    async fn release(self) {
        let Self { release, holder } = self;
        let _ = release.send(());
        let joined = tokio::task::spawn_blocking(move || holder.join());
        within("releasing the write lock", joined)
            .await
            .unwrap()
            .expect("the lock holder did not panic");
    }
}

#[tokio::test]
async fn creates_reads_updates_and_deletes_a_todo() {
    let app = test_app("crud");
    let created = app.execute(post("pack the van")).await;
    assert_eq!(created.status(), 201);
    let todo: Todo = created.json();
    assert_eq!((todo.title.as_str(), todo.done), ("pack the van", false));

    let read = app
        .execute(Request::get(format!("/todos/{}", todo.id)))
        .await;
    assert_eq!(read.json::<Todo>().title, "pack the van");

    let updated = app.execute(put(todo.id, json!({ "done": true }))).await;
    assert_eq!(updated.status(), 200);
    assert!(updated.json::<Todo>().done);

    let list = app.execute(Request::get("/todos")).await;
    assert_eq!(list.json::<Vec<Todo>>().len(), 1);

    let deleted = app
        .execute(Request::delete(format!("/todos/{}", todo.id)).header("if-match", "*"))
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
    let empty = app.execute(post(" ")).await;
    assert_eq!(empty.status(), 422);
    let not_json = app.execute(Request::post("/todos").body("title")).await;
    assert!(not_json.status().is_client_error());
    let bad_id = app.execute(Request::get("/todos/abc")).await;
    assert_eq!(bad_id.status(), 400);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn lists_fifty_todos_by_default() {
    let app = test_app("page-default");
    let empty = app.execute(Request::get("/todos")).await;
    assert_eq!((empty.status().as_u16(), empty.text()), (200, "[]".into()));
    assert_eq!(empty.header("link"), None);

    seed(&app, 120).await;
    let first = app.execute(Request::get("/todos")).await;
    assert_eq!(first.status(), 200);
    assert_eq!(ids(&first), (1..=50).collect::<Vec<_>>());
    assert_eq!(
        first.header("link"),
        Some("</todos?limit=50&after=50>; rel=\"next\"")
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn follows_the_next_link_to_the_second_and_last_pages() {
    let app = test_app("page-next");
    seed(&app, 120).await;
    let first = app.execute(Request::get("/todos")).await;

    let second = app.execute(Request::get(next_page(&first).unwrap())).await;
    assert_eq!(second.status(), 200);
    assert_eq!(ids(&second), (51..=100).collect::<Vec<_>>());

    let last = app.execute(Request::get(next_page(&second).unwrap())).await;
    assert_eq!(ids(&last), (101..=120).collect::<Vec<_>>());
    assert_eq!(last.header("link"), None, "no page follows the last");

    // A page that ends exactly at the last todo has no next page either.
    let exact = app.execute(Request::get("/todos?limit=20&after=100")).await;
    assert_eq!(ids(&exact), (101..=120).collect::<Vec<_>>());
    assert_eq!(exact.header("link"), None);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn refuses_a_page_larger_than_a_hundred() {
    let app = test_app("page-max");
    seed(&app, 120).await;
    let largest = app.execute(Request::get("/todos?limit=100")).await;
    assert_eq!(ids(&largest), (1..=100).collect::<Vec<_>>());
    assert_eq!(
        largest.header("link"),
        Some("</todos?limit=100&after=100>; rel=\"next\"")
    );

    for limit in ["101", "1000000", "0", "-1", "ten", ""] {
        let refused = app
            .execute(Request::get(format!("/todos?limit={limit}")))
            .await;
        assert_eq!(refused.status(), 400, "limit={limit}");
        assert_eq!(
            refused.json::<Value>(),
            json!({
                "error": "`limit` must be a whole number from 1 to 100",
                "parameter": "limit",
            }),
            "limit={limit}"
        );
    }
    let bad_after = app.execute(Request::get("/todos?after=last")).await;
    assert_eq!(bad_after.status(), 400);
    assert_eq!(bad_after.json::<Value>()["parameter"], "after");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn post_and_put_answer_a_bad_title_alike() {
    let app = test_app("title-bad");
    let todo: Todo = app.execute(post("pack the van")).await.json();
    let too_long = "x".repeat(501);
    let cases = [
        ("", "`title` must not be empty"),
        (" \t\n", "`title` must not be empty"),
        (
            too_long.as_str(),
            "`title` must be at most 500 characters long, not 501",
        ),
    ];
    for (title, error) in cases {
        let posted = app.execute(post(title)).await;
        let put = app.execute(put(todo.id, json!({ "title": title }))).await;
        let expected = json!({ "error": error, "parameter": "title" });
        assert_eq!(posted.status(), 422, "POST {title:?}");
        assert_eq!(posted.json::<Value>(), expected, "POST {title:?}");
        assert_eq!(put.status(), 422, "PUT {title:?}");
        assert_eq!(put.json::<Value>(), expected, "PUT {title:?}");
    }
    // Nothing was created or changed. The todo's ETag is looked up before the handler reads
    // the body, so a missing todo is `404` whatever the title.
    let list = app.execute(Request::get("/todos")).await;
    assert_eq!(list.json::<Vec<Todo>>(), vec![todo]);
    let missing = app.execute(put(999, json!({ "title": "" }))).await;
    assert_eq!(missing.status(), 404);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn keeps_titles_of_up_to_five_hundred_characters_trimmed() {
    let app = test_app("title-good");
    // 500 characters of two bytes each: the bound counts characters, not bytes.
    let longest = "é".repeat(500);
    let created = app.execute(post(&format!("  {longest}\n"))).await;
    assert_eq!(created.status(), 201);
    let todo: Todo = created.json();
    assert_eq!(todo.title, longest);

    let renamed = app
        .execute(put(todo.id, json!({ "title": " unpack the van " })))
        .await;
    assert_eq!(renamed.status(), 200);
    assert_eq!(renamed.json::<Todo>().title, "unpack the van");
    let longest_again = app
        .execute(put(todo.id, json!({ "title": longest, "done": true })))
        .await;
    assert_eq!(
        longest_again.json::<Todo>(),
        Todo {
            id: todo.id,
            title: longest,
            done: true
        }
    );
    let missing = app.execute(put(999, json!({ "title": "fine" }))).await;
    assert_eq!(missing.status(), 404);
    app.shutdown().await.unwrap();
}

/// What this guards against: with queries run on the runtime's threads, as many requests
/// waiting for a locked database as the runtime has threads held every thread, and `/ready`
/// and every other request stalled until the lock went. Here two writes, on a runtime of two
/// threads, wait for a lock held elsewhere while `/ready` and a read still answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_waiting_for_a_lock_holds_up_no_other_request() {
    let database = database("lock-wait");
    let app = test_app_on(&database, 3, FOREVER);
    let todo: Todo = app.execute(post("pack the van")).await.json();
    let pool = app.running().await.unwrap().resource::<Pool>().unwrap();

    let lock = WriteLock::hold(&database).await;
    let writes = [
        tokio::spawn(app.execute(post("load the van"))),
        tokio::spawn(app.execute(post("drive the van"))),
    ];
    // Each write holds a connection while it waits for the lock. (Were the queries run on the
    // runtime's threads, the writes would hold both of them, and this wait would time out.)
    until_idle("the writes waiting for the lock", &pool, 1).await;

    // Other requests, spawned onto the runtime's threads like the writes, still answer: the
    // readiness route, and a read (in WAL mode a reader does not wait for the writer).
    let ready = within("/ready", tokio::spawn(app.execute(Request::get("/ready"))))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let read = within(
        "a read",
        tokio::spawn(app.execute(Request::get(format!("/todos/{}", todo.id)))),
    )
    .await
    .unwrap();
    assert_eq!(read.json::<Todo>(), todo);
    assert!(
        writes.iter().all(|write| !write.is_finished()),
        "the writes wait for the lock all along"
    );

    lock.release().await;
    for write in writes {
        assert_eq!(within("a write", write).await.unwrap().status(), 201);
    }
    until_idle("the writes giving their connections back", &pool, 3).await;
    drop(pool);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_lock_held_past_the_busy_timeout_answers_503() {
    let database = database("lock-busy");
    let app = test_app_on(&database, 2, Duration::from_millis(100));
    seed(&app, 1).await;

    let lock = WriteLock::hold(&database).await;
    let busy = within("a write", app.execute(post("pack the van"))).await;
    assert_eq!(busy.status(), 503);
    assert_eq!(busy.header("retry-after"), Some("1"));
    assert_eq!(
        busy.json::<Value>(),
        json!({ "error": "the database is busy; try again in a moment" })
    );
    // Its connection went back, and reads still answer.
    let pool = app.running().await.unwrap().resource::<Pool>().unwrap();
    assert_eq!(pool.idle(), 2);
    let list = app.execute(Request::get("/todos")).await;
    assert_eq!(ids(&list), [1]);

    lock.release().await;
    assert_eq!(app.execute(post("pack the van")).await.status(), 201);
    drop(pool);
    app.shutdown().await.unwrap();
}

/// A request dropped mid-query (the client went away) cannot stop its query, which blocks
/// a thread of the blocking pool: the connection goes back once that query has finished.
#[tokio::test]
async fn a_cancelled_request_gives_its_connection_back_once_its_query_ends() {
    let database = database("lock-cancel");
    let app = test_app_on(&database, 2, FOREVER);
    let pool = app.running().await.unwrap().resource::<Pool>().unwrap();

    let lock = WriteLock::hold(&database).await;
    let write = tokio::spawn(app.execute(post("pack the van")));
    until_idle("the write waiting for the lock", &pool, 1).await;
    write.abort();
    assert!(write.await.unwrap_err().is_cancelled());
    assert_eq!(pool.idle(), 1, "the query still runs, on its connection");

    lock.release().await;
    until_idle("the connection going back after its query", &pool, 2).await;
    // The query ran to its end: the todo exists, though nobody heard of it.
    let list = app.execute(Request::get("/todos")).await;
    assert_eq!(list.json::<Vec<Todo>>().len(), 1);
    drop(pool);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn every_answer_carries_a_request_id_errors_included() {
    let app = test_app("request_ids");
    let created = app.execute(post("milk")).await;
    let missing = app.execute(Request::get("/todos/999")).await;
    let unknown = app.execute(Request::get("/nowhere")).await;
    let ids: Vec<&str> = [&created, &missing, &unknown]
        .iter()
        .map(|response| response.header("x-request-id").expect("a request id"))
        .collect();
    assert_eq!(missing.status(), 404);
    assert_eq!(unknown.status(), 404);
    assert!(
        ids[0] != ids[1] && ids[1] != ids[2],
        "one id per request: {ids:?}"
    );

    let given = app
        .execute(Request::get("/todos").header("x-request-id", "abc-123"))
        .await;
    assert_eq!(
        given.header("x-request-id"),
        Some("abc-123"),
        "the client's own id is kept"
    );
}

#[tokio::test]
async fn a_repeat_get_with_the_etag_is_304_without_a_body() {
    let app = test_app("etag-304");
    let created = app.execute(post("pack the van")).await;
    assert_eq!(created.header("etag"), Some("\"v1\""));
    let todo: Todo = created.json();
    let uri = format!("/todos/{}", todo.id);
    let first = app.execute(Request::get(&uri)).await;
    assert_eq!(first.status(), 200);
    let etag = first.header("etag").unwrap().to_owned();
    assert_eq!(etag, "\"v1\"");
    let again = app
        .execute(Request::get(&uri).header("if-none-match", etag.as_str()))
        .await;
    assert_eq!(again.status(), 304);
    assert!(again.body().is_empty());
    assert_eq!(again.header("etag"), Some("\"v1\""));
    // A change makes a new version: the old ETag no longer matches.
    let changed = app.execute(put(todo.id, json!({ "done": true }))).await;
    assert_eq!(changed.header("etag"), Some("\"v2\""));
    let stale = app
        .execute(Request::get(&uri).header("if-none-match", etag.as_str()))
        .await;
    assert_eq!(stale.status(), 200);
    assert_eq!(stale.header("etag"), Some("\"v2\""));
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn put_and_delete_without_if_match_are_428() {
    let app = test_app("etag-428");
    let todo: Todo = app.execute(post("pack the van")).await.json();
    let uri = format!("/todos/{}", todo.id);
    let put = app
        .execute(Request::put(&uri).json(&json!({ "done": true })))
        .await;
    assert_eq!(put.status(), 428);
    assert_eq!(put.json::<Value>()["parameter"], "If-Match");
    let delete = app.execute(Request::delete(&uri)).await;
    assert_eq!(delete.status(), 428);
    // Nothing changed.
    let read = app.execute(Request::get(&uri)).await;
    assert_eq!(read.json::<Todo>(), todo);
    assert_eq!(read.header("etag"), Some("\"v1\""));
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_lost_update_is_412() {
    let app = test_app("etag-412");
    let todo: Todo = app.execute(post("pack the van")).await.json();
    let uri = format!("/todos/{}", todo.id);
    let etag = app
        .execute(Request::get(&uri))
        .await
        .header("etag")
        .unwrap()
        .to_owned();
    // Two clients read version 1; the first write wins, the second is refused.
    let change = |title: &str| {
        Request::put(&uri)
            .header("if-match", etag.as_str())
            .json(&json!({ "title": title }))
    };
    let first = app.execute(change("load the van")).await;
    assert_eq!(first.status(), 200);
    let second = app.execute(change("unpack the van")).await;
    assert_eq!(second.status(), 412);
    assert_eq!(second.json::<Value>()["parameter"], "If-Match");
    let read = app.execute(Request::get(&uri)).await;
    assert_eq!(read.json::<Todo>().title, "load the van");
    // A delete against the old version is refused too; against the new one it goes.
    let stale = app
        .execute(Request::delete(&uri).header("if-match", etag.as_str()))
        .await;
    assert_eq!(stale.status(), 412);
    let current = read.header("etag").unwrap().to_owned();
    let deleted = app
        .execute(Request::delete(&uri).header("if-match", current.as_str()))
        .await;
    assert_eq!(deleted.status(), 204);
    app.shutdown().await.unwrap();
}
