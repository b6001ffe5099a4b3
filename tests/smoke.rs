//! A first end-to-end check: providers, a hook, dependencies and a route together.

use roadie::prelude::*;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

struct Config {
    name: &'static str,
}
struct Db {
    url: String,
}
struct Conn(u32);

async fn database(config: Res<Config>) -> Result<Db, Infallible> {
    Ok(Db {
        url: config.name.to_string(),
    })
}

fn plain_hook(_db: Res<Db>) {}

async fn conn(db: Res<Db>) -> Result<Scoped<Conn>, Infallible> {
    let _ = &db.url;
    Ok(Scoped::new(Conn(1)).on_release(|_c, _o| async move {}))
}

fn plain_conn() -> Result<u8, Infallible> {
    Ok(3)
}

#[tokio::test]
async fn smoke() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l2 = log.clone();
    let app = App::new()
        .on_startup(|| Ok::<_, Infallible>(Config { name: "x" }))
        .on_startup(database)
        .on_shutdown(plain_hook)
        .on_shutdown(move |_db: Res<Db>| {
            let l = l2.clone();
            async move {
                l.lock().unwrap().push("hook");
            }
        })
        .dependency(conn)
        .dependency(plain_conn)
        .get(
            "/u/{id}",
            |Path(id): Path<u64>, c: Dep<Conn>, n: Dep<u8>, db: Res<Db>| async move {
                format!("{id} {} {} {}", c.0, *n, db.url)
            },
        );
    let res = app.execute(Request::get("/u/5")).await;
    assert_eq!(res.text(), "5 1 3 x");
    app.shutdown().await.unwrap();
    assert_eq!(*log.lock().unwrap(), ["hook"]);
}
