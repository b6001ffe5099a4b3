//! The plain hyper 1 side of the over-HTTP comparison (`scripts/load.sh`, `scripts/rss.sh`):
//! the routes of `examples/bench_server.rs`, doing the same work, written by hand on
//! `hyper::server::conn::http1` with a task per connection, and nothing else: no HTTP/2
//! detection, no drain, no limits. The floor that a server on hyper can reach.
//!
//! - `GET /users/{id}`: two shared resources and a `u64` path parameter, answered with
//!   `{"id":42,"greeting":"hello","database":"users"}`.
//! - `GET /sleep`: answers `slept` after `BENCH_SLEEP_SECS` seconds (default 60).
//!
//! ```sh
//! BENCH_ADDR=127.0.0.1:3902 cargo run --release --example bench_hyper
//! ```

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::Serialize;

struct Config {
    greeting: String,
}

struct Database {
    name: String,
}

struct Shared {
    config: Config,
    db: Database,
    sleep: Duration,
}

#[derive(Serialize)]
struct User {
    id: u64,
    greeting: String,
    database: String,
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

async fn answer(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.method() != Method::GET {
        return Ok(plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"));
    }
    let path = request.uri().path();
    if path == "/sleep" {
        tokio::time::sleep(shared.sleep).await;
        return Ok(plain(StatusCode::OK, "slept"));
    }
    let Some(id) = path.strip_prefix("/users/") else {
        return Ok(plain(StatusCode::NOT_FOUND, "not found"));
    };
    let Ok(id) = id.parse::<u64>() else {
        return Ok(plain(StatusCode::BAD_REQUEST, "the id is not a number"));
    };
    let user = User {
        id,
        greeting: shared.config.greeting.clone(),
        database: shared.db.name.clone(),
    };
    let body = serde_json::to_vec(&user).expect("a user serializes");
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("BENCH_ADDR").unwrap_or_else(|_| "127.0.0.1:3902".to_owned());
    let seconds = std::env::var("BENCH_SLEEP_SECS")
        .ok()
        .and_then(|seconds| seconds.parse().ok())
        .unwrap_or(60);
    let shared = Arc::new(Shared {
        config: Config {
            greeting: "hello".to_owned(),
        },
        db: Database {
            name: "users".to_owned(),
        },
        sleep: Duration::from_secs(seconds),
    });
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let accepting = async {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(_) => continue,
            };
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                let service = service_fn(move |request| answer(Arc::clone(&shared), request));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    };
    // Stops at once on SIGINT or SIGTERM, as the scripts end it.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        () = accepting => Ok(()),
        _ = tokio::signal::ctrl_c() => Ok(()),
        _ = terminate.recv() => Ok(()),
    }
}
