//! Pins the order that `examples/lifecycle.rs` prints, by running the example's own app with
//! a log in place of standard output.

use std::sync::{Arc, Mutex};

#[path = "../examples/lifecycle.rs"]
mod example;

#[tokio::test]
async fn the_example_prints_the_documented_order() {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    example::run(Arc::new(move |line| sink.lock().unwrap().push(line)))
        .await
        .unwrap();
    assert_eq!(
        *lines.lock().unwrap(),
        [
            // `database` is registered first but needs `Config`: `config` starts first, and
            // then `database`, the earliest registered of the nodes that can start.
            "[plan] start order: config, database, metrics, cache, worker",
            "[startup] config: loaded",
            "[startup] database: connected to sqlite::memory:",
            "[startup] metrics: registry ready",
            "[lifespan] cache: setup, warmed from the database",
            "[lifespan] worker: background task started",
            "[running] started",
            "[request] GET /users/7: handled with sqlite::memory:",
            "[running] response: 200 user 7",
            "[running] shutting down",
            "[lifespan] worker: background task stopped",
            "[lifespan] cache: teardown, flushed",
            "[shutdown] flush metrics: 1 request(s) served",
            "[shutdown] goodbye",
            "[drop] cache: memory freed",
            "[drop] database: connection to sqlite::memory: closed",
            "[stopped]",
        ]
    );
}
