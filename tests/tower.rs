//! A started app as a tower `Service`: mounted in an axum router, under tower layers.

use std::convert::Infallible;

use axum::body::Body;
use http_body_util::BodyExt;
use roadie::prelude::*;
use roadie::AppService;
use tower::ServiceExt;

struct Greeting(&'static str);

async fn started() -> Running {
    App::new()
        .readiness("/ready")
        .body_limit(8)
        .on_startup(|| Ok::<_, Infallible>(Greeting("hello")))
        .get(
            "/hello/{who}",
            |Path(who): Path<String>, greeting: Res<Greeting>| async move {
                format!("{} {who}", greeting.0)
            },
        )
        .post("/echo", |body: roadie::Bytes| async move { body })
        .start()
        .await
        .unwrap()
}

async fn text(response: axum::response::Response) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Sends one request through the router.
async fn send(router: &axum::Router, request: http::Request<Body>) -> axum::response::Response {
    router.clone().oneshot(request).await.unwrap()
}

fn get(uri: &str) -> http::Request<Body> {
    http::Request::get(uri).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn the_app_answers_when_nested_in_an_axum_router() {
    let running = started().await;
    let router = axum::Router::new()
        .route("/", axum::routing::get(|| async { "axum" }))
        .nest_service("/api", running.clone().into_service());

    let response = send(&router, get("/api/hello/world")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(text(response).await, "hello world");

    let response = send(&router, get("/")).await;
    assert_eq!(
        text(response).await,
        "axum",
        "axum's own routes still answer"
    );

    let response = send(&router, get("/api/missing")).await;
    assert_eq!(response.status(), 404, "the app's 404 comes through");

    let response = send(
        &router,
        http::Request::post("/api/echo")
            .body(Body::from("123456789"))
            .unwrap(),
    )
    .await;
    assert_eq!(response.status(), 413, "the app's body limit applies");

    let response = send(&router, get("/api/ready")).await;
    assert_eq!(response.status(), 200);

    running.shutdown().await.unwrap();
    let response = send(&router, get("/api/ready")).await;
    assert_eq!(response.status(), 503, "a stopped app is not ready");
}

#[tokio::test]
async fn the_service_takes_tower_layers() {
    let running = started().await;
    let service = tower::ServiceBuilder::new()
        .map_request(|mut request: http::Request<Body>| {
            *request.uri_mut() = "/hello/layer".parse().unwrap();
            request
        })
        .map_response(|mut response: http::Response<_>| {
            response
                .headers_mut()
                .insert("x-layer", http::HeaderValue::from_static("yes"));
            response
        })
        .service(AppService::from(running.clone()));

    let response = service.oneshot(get("/anything")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-layer"], "yes");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"hello layer");
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_stopping_app_answers_503_through_the_service() {
    let running = started().await;
    let service = running.clone().into_service();
    running.shutdown().await.unwrap();

    let response = service.oneshot(get("/hello/late")).await.unwrap();
    assert_eq!(response.status(), 503);
}
