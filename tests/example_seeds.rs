//! Pins what `examples/seeds.rs` prints: each seed's headline program, in roadie, in order.

use std::sync::{Arc, Mutex};

#[path = "../examples/seeds.rs"]
mod example;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_print_their_documented_order() {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    example::run(Arc::new(move |line| sink.lock().unwrap().push(line)))
        .await
        .unwrap();
    assert_eq!(
        *lines.lock().unwrap(),
        [
            // MicroAPI: startup hook, lifespan setup, a request, teardown, shutdown hooks.
            "[hooks] startup hook: greeting loaded",
            "[hooks] lifespan: mailer connected",
            "[hooks] GET / -> hello, world",
            "[hooks] lifespan: shutdown began",
            "[hooks] lifespan: mailer closed",
            "[hooks] shutdown hook: hello no more",
            "[hooks] stopped",
            // RestMachine: one pool, a connection per request given back with its outcome,
            // the pool closed owned at shutdown with every connection back.
            "[pool] pool opened",
            "[pool] connection 1 back to the pool (commit)",
            "[pool] GET /users/7 -> user 7 over connection 1",
            "[pool] connection 1 back to the pool (rollback)",
            "[pool] GET /missing -> 404",
            "[pool] pool closed with 0 connection(s) out",
            // FastAPI and Kui: lifespan state of two types, and a shutdown endpoint.
            "[state] database and cache set up together",
            "[state] GET /users -> ada,grace",
            "[state] teardown: cache had 1 hit(s), database 2 row(s)",
            "[state] POST /shutdown -> stopping",
            "[state] app is Stopped",
            // FasterAPI: a blocking model load, and a bad setting that stops startup.
            "[model] POST /predict -> 5.6",
            "[model] with WORKERS=0: startup failed: `settings` failed during startup: \
             `WORKERS` must be between 1 and 64, got 0: set it in the environment",
        ]
    );
}
