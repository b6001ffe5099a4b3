//! Tower layers around the whole app (`App::layer`): the same stack under `execute`, a real
//! socket and the tower adapter, on every response, roadie's own included.

use std::convert::Infallible;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::BodyExt;
use roadie::body::Body;
use roadie::prelude::*;
use roadie::{Bytes, Error, HeaderValue, Problem, Server, ServerHandle, StartupError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tower::util::{MapRequestLayer, MapResponseLayer};
use tower::ServiceExt;
use tower_http::compression::CompressionLayer;
use tower_http::cors::CorsLayer;
use tower_http::set_header::SetResponseHeaderLayer;

/// Binds `app` on port 0 with signals off, and runs it in a task.
async fn spawn(app: App) -> (SocketAddr, ServerHandle, JoinHandle<Result<(), Error>>) {
    let server: Server = app.bind("127.0.0.1:0").await.unwrap().with_signals(false);
    let addr = server.local_addr();
    let handle = server.handle();
    (addr, handle, tokio::spawn(server.run()))
}

/// Sends one raw HTTP/1.1 request that closes its connection, and reads the whole answer.
async fn exchange(addr: SocketAddr, raw: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // A server may close before it has read all of an oversized body: what it wrote still
    // comes first.
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn header_of<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    let head = answer.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(HeaderValue::from_static("https://example.com"))
        .allow_methods([Method::GET, Method::POST])
}

fn preflight() -> Request {
    Request::new(Method::OPTIONS, "/hello")
        .header("origin", "https://example.com")
        .header("access-control-request-method", "POST")
}

/// Adds `x-layer: seen` to every response.
fn marker() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(
        http::HeaderName::from_static("x-layer"),
        HeaderValue::from_static("seen"),
    )
}

#[tokio::test]
async fn cors_answers_a_preflight_through_execute_and_through_a_socket() {
    let app = || App::new().layer(cors()).get("/hello", || async { "hello" });

    let response = app().execute(preflight()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("https://example.com")
    );
    assert!(response
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    let simple = app()
        .execute(Request::get("/hello").header("origin", "https://example.com"))
        .await;
    assert_eq!(simple.text(), "hello");
    assert_eq!(
        simple.header("access-control-allow-origin"),
        Some("https://example.com")
    );

    let (addr, handle, serving) = spawn(app()).await;
    let answer = exchange(
        addr,
        "OPTIONS /hello HTTP/1.1\r\nHost: test\r\nOrigin: https://example.com\r\n\
         Access-Control-Request-Method: POST\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(
        header_of(&answer, "access-control-allow-origin"),
        Some("https://example.com"),
        "{answer}"
    );
    handle.shutdown_now();
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn compression_compresses_a_handlers_body() {
    let text = "roadie ".repeat(200);
    let app = App::new().layer(CompressionLayer::new()).get("/text", {
        let text = text.clone();
        move || {
            let text = text.clone();
            async move { text }
        }
    });

    let response = app
        .execute(Request::get("/text").header("accept-encoding", "gzip"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.header("content-encoding"), Some("gzip"));
    assert!(response.body().len() < text.len(), "compressed");
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&response.body()[..])
        .read_to_string(&mut plain)
        .unwrap();
    assert_eq!(plain, text);

    let uncompressed = app.execute(Request::get("/text")).await;
    assert_eq!(uncompressed.header("content-encoding"), None);
    assert_eq!(uncompressed.text(), text);
}

#[tokio::test]
async fn a_layer_sees_roadies_own_404_405_413_and_the_readiness_route() {
    let app = App::new()
        .layer(marker())
        .readiness("/ready")
        .body_limit(8)
        .get("/hello", || async { "hello" })
        .post("/echo", |body: Bytes| async move { body });

    for (request, status) in [
        (Request::get("/hello"), 200),
        (Request::get("/missing"), 404),
        (Request::delete("/hello"), 405),
        (
            Request::post("/echo").body("far more than eight bytes"),
            413,
        ),
        (Request::get("/ready"), 200),
    ] {
        let response = app.execute(request).await;
        assert_eq!(response.status(), status);
        assert_eq!(response.header("x-layer"), Some("seen"), "on the {status}");
    }
    let not_allowed = app.execute(Request::delete("/hello")).await;
    assert!(not_allowed.header("allow").is_some());

    // After shutdown: the readiness route's 503 and the refusals pass through it too.
    app.shutdown().await.unwrap();
    for path in ["/ready", "/hello"] {
        let response = app.execute(Request::get(path)).await;
        assert_eq!(response.status(), 503);
        assert_eq!(response.header("x-layer"), Some("seen"), "on {path}'s 503");
    }
}

#[tokio::test]
async fn the_first_layer_registered_is_the_outermost() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = |label: &'static str| {
        let requests = Arc::clone(&seen);
        let responses = Arc::clone(&seen);
        (
            MapRequestLayer::new(move |request: http::Request<Body>| {
                requests.lock().unwrap().push(format!("{label} request"));
                request
            }),
            MapResponseLayer::new(move |response: http::Response<Body>| {
                responses.lock().unwrap().push(format!("{label} response"));
                response
            }),
        )
    };
    let (first_in, first_out) = record("first");
    let (second_in, second_out) = record("second");
    let app = App::new()
        .layer(first_out)
        .layer(first_in)
        .layer(second_out)
        .layer(second_in)
        .get("/", || async { "ok" });

    assert_eq!(app.execute(Request::get("/")).await.text(), "ok");
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "first request",
            "second request",
            "second response",
            "first response"
        ]
    );
}

#[tokio::test]
async fn the_tower_adapter_answers_through_the_same_layers_as_execute() {
    let running = App::new()
        .layer(cors())
        .layer(marker())
        .get("/hello", || async { "hello" })
        .start()
        .await
        .unwrap();

    let executed = running.execute(preflight()).await;
    let request = http::Request::options("/hello")
        .header("origin", "https://example.com")
        .header("access-control-request-method", "POST")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let adapted = running
        .clone()
        .into_service()
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(adapted.status(), executed.status());
    for name in [
        "access-control-allow-origin",
        "access-control-allow-methods",
        "x-layer",
    ] {
        assert_eq!(
            adapted.headers().get(name).and_then(|v| v.to_str().ok()),
            executed.header(name),
            "{name}"
        );
    }

    let request = http::Request::get("/missing")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let adapted = running
        .clone()
        .into_service()
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(adapted.status(), 404);
    assert_eq!(adapted.headers()["x-layer"], "seen");
    running.shutdown().await.unwrap();
}

/// A layer whose service fails on `/fail`, with an error that converts into `BoxError`.
#[derive(Clone)]
struct Failing<S>(S);

impl<S> tower::Service<http::Request<Body>> for Failing<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = std::io::Error;
    type Future = futures_util::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx).map(|_| Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if request.uri().path() == "/fail" {
            return Box::pin(async { Err(std::io::Error::other("the layer broke")) });
        }
        let future = self.0.call(request);
        Box::pin(async move { Ok(future.await.unwrap_or_else(|never| match never {})) })
    }
}

#[tokio::test]
async fn a_layers_error_answers_500_and_the_app_keeps_serving() {
    let app = App::new()
        .layer(marker())
        .layer(tower::layer::layer_fn(Failing))
        .get("/fail", || async { "never" })
        .get("/hello", || async { "hello" });

    let failed = app.execute(Request::get("/fail")).await;
    assert_eq!(failed.status(), 500);
    assert!(
        !failed.text().contains("the layer broke"),
        "the error's text is not sent"
    );
    assert_eq!(
        failed.header("x-layer"),
        Some("seen"),
        "the layers outside see a 500 response"
    );
    let response = app.execute(Request::get("/hello")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text(), "hello");
}

#[test]
fn a_layer_on_a_merged_or_nested_module_is_a_validation_problem() {
    let users = App::module("users")
        .layer(marker())
        .get("/users", || async { "users" });
    for app in [
        App::new().merge(users.clone()),
        App::new().nest("/api", users.clone()),
    ] {
        let Err(StartupError::Invalid(error)) = app.validate() else {
            panic!("a layer on a module is refused");
        };
        assert!(
            error
                .problems()
                .iter()
                .any(|problem| matches!(problem, Problem::Layer { layers: 1, .. })),
            "{error}"
        );
        let text = error.to_string();
        assert!(text.contains("the module `users`"), "{text}");
        assert!(
            text.contains("add the layer to the app that serves"),
            "{text}"
        );
    }
    // On the app that serves, the same layer is fine.
    App::new()
        .layer(marker())
        .merge(App::module("users").get("/users", || async { "users" }))
        .validate()
        .unwrap();
}

#[tokio::test]
async fn a_streaming_response_passes_through_a_layer_and_execute_collects_it() {
    let app = App::new().layer(marker()).get("/numbers", || async {
        let chunks = (1..=3).map(|n| Ok::<_, Infallible>(format!("{n}\n")));
        Response::stream(futures_util::stream::iter(chunks))
    });
    let response = app.execute(Request::get("/numbers")).await;
    assert_eq!(response.header("x-layer"), Some("seen"));
    assert_eq!(response.text(), "1\n2\n3\n");
}

#[tokio::test]
async fn the_body_limit_holds_through_a_layer_over_a_socket() {
    let (addr, handle, serving) = spawn(
        App::new()
            .layer(marker())
            .body_limit(16)
            .post("/echo", |body: Bytes| async move { body }),
    )
    .await;
    // Declared too large.
    let big = "x".repeat(64);
    let answer = exchange(
        addr,
        &format!(
            "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 64\r\nConnection: close\r\n\r\n{big}"
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(header_of(&answer, "x-layer"), Some("seen"), "{answer}");
    // Found too large while read, chunk by chunk.
    let answer = exchange(
        addr,
        &format!(
            "POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
             40\r\n{big}\r\n0\r\n\r\n"
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // Within the limit: echoed, with its Content-Length kept through the layer.
    let answer = exchange(
        addr,
        "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(header_of(&answer, "content-length"), Some("5"), "{answer}");
    assert!(answer.ends_with("hello"), "{answer}");

    handle.shutdown_now();
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_compressed_body_is_streamed_over_a_socket() {
    let text = "roadie ".repeat(200);
    let (addr, handle, serving) = spawn(App::new().layer(CompressionLayer::new()).get("/text", {
        let text = text.clone();
        move || {
            let text = text.clone();
            async move { text }
        }
    }))
    .await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /text HTTP/1.1\r\nHost: test\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("content-encoding: gzip"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    // Decode the chunked body, then the gzip inside it.
    let mut rest = &raw[split + 4..];
    let mut gzip = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap(), 16).unwrap();
        rest = &rest[line_end + 2..];
        if size == 0 {
            break;
        }
        gzip.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&gzip[..])
        .read_to_string(&mut plain)
        .unwrap();
    assert_eq!(plain, text);

    handle.shutdown_now();
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn request_ids_timeouts_and_traces_fit_as_layers() {
    use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
    use tower_http::timeout::TimeoutLayer;
    use tower_http::trace::TraceLayer;

    let app = App::new()
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(200),
        ))
        .get("/id", |headers: HeaderMap| async move {
            headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("none")
                .to_owned()
        })
        .get("/slow", || async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            "late"
        });

    let response = app.execute(Request::get("/id")).await;
    assert_eq!(response.status(), 200);
    let id = response
        .header("x-request-id")
        .expect("a request id")
        .to_owned();
    assert_eq!(response.text(), id, "the handler sees the id the layer set");
    let given = app
        .execute(Request::get("/id").header("x-request-id", "abc"))
        .await;
    assert_eq!(given.header("x-request-id"), Some("abc"));

    let slow = app.execute(Request::get("/slow")).await;
    assert_eq!(slow.status(), 408, "tower-http's timeout answers");
}

#[tokio::test]
async fn a_layer_can_read_the_body_as_roadie_body() {
    // A layer that maps the request body into another body type, which roadie reads.
    let app = App::new()
        .layer(MapRequestLayer::new(|request: http::Request<Body>| {
            request.map(|body| Body::new(body.map_frame(|frame| frame)))
        }))
        .post("/echo", |body: Bytes| async move { body });
    let response = app
        .execute(Request::post("/echo").body("through the layer"))
        .await;
    assert_eq!(response.text(), "through the layer");
}

#[tokio::test]
async fn a_body_in_memory_keeps_its_content_length_through_a_layer_that_wraps_it() {
    // `TraceLayer` wraps the response body in a type of its own: roadie boxes it, keeping
    // its exact size, so the server still sends `Content-Length` rather than chunks.
    let (addr, handle, serving) = spawn(
        App::new()
            .layer(tower_http::trace::TraceLayer::new_for_http())
            .get("/hello", || async { "hello" }),
    )
    .await;
    let answer = exchange(
        addr,
        "GET /hello HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(header_of(&answer, "content-length"), Some("5"), "{answer}");
    assert_eq!(header_of(&answer, "transfer-encoding"), None, "{answer}");
    assert!(answer.ends_with("hello"), "{answer}");

    handle.shutdown_now();
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_panicking_layer_answers_500_and_the_app_keeps_serving() {
    let app = App::new()
        .layer(MapRequestLayer::new(|request: http::Request<Body>| {
            assert!(request.uri().path() != "/boom", "the layer panics on /boom");
            request
        }))
        .get("/boom", || async { "never" })
        .get("/hello", || async { "hello" });
    let response = app.execute(Request::get("/boom")).await;
    assert_eq!(response.status(), 500);
    assert!(
        !response.text().contains("panics"),
        "the panic text is not sent"
    );
    assert_eq!(app.execute(Request::get("/hello")).await.text(), "hello");
}
