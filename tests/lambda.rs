//! The AWS Lambda adapter, locally: API Gateway events (REST v1 and HTTP v2) sent to the
//! handler, no AWS needed.
#![cfg(feature = "lambda")]

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use lambda_http::Body;
use roadie::lambda::Handler;
use roadie::prelude::*;
use serde_json::json;

struct Pool {
    id: usize,
}

#[derive(serde::Deserialize, serde::Serialize)]
struct Todo {
    title: String,
}

fn app(starts: &Arc<AtomicUsize>) -> App {
    let starts = starts.clone();
    App::new()
        .readiness("/ready")
        .on_startup(move || {
            let id = starts.fetch_add(1, Ordering::SeqCst) + 1;
            Ok::<_, Infallible>(Pool { id })
        })
        .get("/pool", |pool: Res<Pool>| async move {
            format!("pool {}", pool.id)
        })
        .get(
            "/todos/{id}",
            |Path(id): Path<u32>,
             Query(query): Query<std::collections::HashMap<String, String>>| async move {
                format!(
                    "todo {id} {}",
                    query.get("verbose").map_or("-", String::as_str)
                )
            },
        )
        .post("/echo", |body: roadie::Bytes| async move { body })
        .post("/todos", |Json(todo): Json<Todo>| async move {
            (StatusCode::CREATED, Json(todo))
        })
}

/// An API Gateway REST API (payload v1) proxy event.
fn rest_event(method: &str, path: &str, query: serde_json::Value, body: Option<&str>) -> String {
    let multi: serde_json::Map<String, serde_json::Value> = query
        .as_object()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, json!([v])))
        .collect();
    json!({
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": { "Host": "abc.execute-api.eu-west-1.amazonaws.com", "Content-Type": "application/json" },
        "multiValueHeaders": {
            "Host": ["abc.execute-api.eu-west-1.amazonaws.com"],
            "Content-Type": ["application/json"]
        },
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi,
        "pathParameters": { "proxy": path.trim_start_matches('/') },
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012",
            "resourceId": "abc",
            "stage": "prod",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": { "sourceIp": "127.0.0.1", "userAgent": "test" },
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "apiId": "abc",
            "path": format!("/prod{path}"),
            "protocol": "HTTP/1.1",
            "domainName": "abc.execute-api.eu-west-1.amazonaws.com"
        },
        "body": body,
        "isBase64Encoded": false
    })
    .to_string()
}

/// An API Gateway HTTP API (payload v2) event.
fn http_event(method: &str, path: &str, query: &str, body: Option<&str>) -> String {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": { "host": "abc.execute-api.eu-west-1.amazonaws.com", "content-type": "application/json" },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc",
            "domainName": "abc.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "test"
            },
            "requestId": "id",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 0
        },
        "body": body,
        "isBase64Encoded": false
    })
    .to_string()
}

fn request(event: &str) -> lambda_http::Request {
    lambda_http::request::from_str(event)
        .unwrap_or_else(|error| panic!("not a Lambda HTTP event: {error}\n{event}"))
}

fn text(body: &Body) -> &str {
    match body {
        Body::Text(text) => text,
        other => panic!("expected a text body, got {other:?}"),
    }
}

#[tokio::test]
async fn startup_runs_once_for_many_invocations() {
    let starts = Arc::new(AtomicUsize::new(0));
    let handler = Handler::new(app(&starts));
    assert_eq!(
        starts.load(Ordering::SeqCst),
        0,
        "nothing starts before the first event"
    );

    for _ in 0..3 {
        let response = handler
            .handle(request(&rest_event("GET", "/pool", json!(null), None)))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            text(response.body()),
            "pool 1",
            "warm invocations reuse the pool"
        );

        let response = handler
            .handle(request(&http_event("GET", "/pool", "", None)))
            .await
            .unwrap();
        assert_eq!(text(response.body()), "pool 1");
    }
    assert_eq!(starts.load(Ordering::SeqCst), 1);

    // Concurrent first events of another cold start still start it once.
    let cold = Handler::new(app(&starts));
    let answers = futures_util::future::join_all(
        (0..4).map(|_| cold.handle(request(&http_event("GET", "/pool", "", None)))),
    )
    .await;
    for answer in answers {
        assert_eq!(text(answer.unwrap().body()), "pool 2");
    }
    assert_eq!(starts.load(Ordering::SeqCst), 2);
    cold.running().await.unwrap().shutdown().await.unwrap();
    handler.running().await.unwrap().shutdown().await.unwrap();
}

#[tokio::test]
async fn rest_api_events_are_routed_on_their_path_with_query_and_body() {
    let starts = Arc::new(AtomicUsize::new(0));
    let handler = Handler::new(app(&starts));

    let response = handler
        .handle(request(&rest_event(
            "GET",
            "/todos/7",
            json!({ "verbose": "yes" }),
            None,
        )))
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.body());
    assert_eq!(
        text(response.body()),
        "todo 7 yes",
        "the stage is not part of the path"
    );

    let response = handler
        .handle(request(&rest_event(
            "POST",
            "/todos",
            json!(null),
            Some(r#"{"title":"milk"}"#),
        )))
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(text(response.body()), r#"{"title":"milk"}"#);

    let response = handler
        .handle(request(&rest_event("DELETE", "/todos", json!(null), None)))
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
}

#[tokio::test]
async fn http_api_events_are_answered() {
    let starts = Arc::new(AtomicUsize::new(0));
    let handler = Handler::new(app(&starts));

    let response = handler
        .handle(request(&http_event("GET", "/todos/3", "verbose=no", None)))
        .await
        .unwrap();
    assert_eq!(text(response.body()), "todo 3 no");

    let response = handler
        .handle(request(&http_event(
            "POST",
            "/todos",
            "",
            Some(r#"{"title":"eggs"}"#),
        )))
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(text(response.body()), r#"{"title":"eggs"}"#);

    let response = handler
        .handle(request(&http_event("POST", "/todos", "", Some("not json"))))
        .await
        .unwrap();
    assert_eq!(response.status(), 400, "bad input gets a clear error");

    let response = handler
        .handle(request(&http_event("GET", "/ready", "", None)))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    handler.running().await.unwrap().shutdown().await.unwrap();
    let response = handler
        .handle(request(&http_event("GET", "/ready", "", None)))
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
}

#[tokio::test]
async fn a_failed_start_is_returned_as_the_invocation_error() {
    let handler = Handler::new(
        App::new()
            .on_startup(|| Err::<u8, _>(std::io::Error::other("no database")))
            .named("database")
            .get("/", || async { "never" }),
    );
    for _ in 0..2 {
        let error = handler
            .handle(request(&http_event("GET", "/", "", None)))
            .await
            .unwrap_err();
        assert!(error.to_string().contains("no database"), "{error}");
        assert!(error.to_string().contains("database"), "{error}");
    }
}

#[tokio::test]
async fn run_returns_a_failed_start_before_answering_any_event() {
    let starts = Arc::new(AtomicUsize::new(0));
    let app = App::new()
        .on_startup({
            let starts = starts.clone();
            move || {
                starts.fetch_add(1, Ordering::SeqCst);
                Err::<u8, _>(std::io::Error::other("no database"))
            }
        })
        .named("database");
    // No Lambda runtime API here: a failed start must end `run` before it looks for one.
    let error = roadie::lambda::run(app).await.unwrap_err();
    let error = error
        .downcast_ref::<roadie::Error>()
        .unwrap_or_else(|| panic!("expected a roadie::Error, got {error}"));
    assert!(matches!(error, roadie::Error::Startup(_)), "{error}");
    assert_eq!(starts.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn binary_bodies_go_both_ways_base64_encoded() {
    let starts = Arc::new(AtomicUsize::new(0));
    let handler = Handler::new(app(&starts));
    let mut event: serde_json::Value =
        serde_json::from_str(&http_event("POST", "/echo", "", Some("AAEC/w=="))).unwrap();
    event["isBase64Encoded"] = json!(true);

    let response = handler.handle(request(&event.to_string())).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.body(), &Body::Binary(vec![0, 1, 2, 255]));
}

#[tokio::test]
async fn a_layer_wraps_lambda_answers_as_it_wraps_execute() {
    let starts = Arc::new(AtomicUsize::new(0));
    let app = app(&starts).layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
        http::HeaderName::from_static("x-layer"),
        roadie::HeaderValue::from_static("seen"),
    ));
    let handler = Handler::new(app.clone());

    for path in ["/pool", "/missing", "/ready"] {
        let response = handler
            .handle(request(&http_event("GET", path, "", None)))
            .await
            .unwrap();
        let executed = app.execute(Request::get(path)).await;
        assert_eq!(response.status(), executed.status(), "{path}");
        assert_eq!(response.headers()["x-layer"], "seen", "{path}");
        assert_eq!(executed.header("x-layer"), Some("seen"), "{path}");
    }
}
