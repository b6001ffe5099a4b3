//! The AWS Lambda adapter, locally: API Gateway events (REST v1 and HTTP v2) and function URL
//! events sent to the handler, no AWS needed. `tests/lambda_signal.rs` runs `lambda::run`
//! in a child process against a fake runtime API.
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

/// A Lambda function URL event: payload 2.0 as function URLs send it, with their domain,
/// the raw path and query string, cookies in their own array, comma-joined repeated headers
/// and query parameters, and (here) a base64-encoded body. `authorizer` is set for
/// `AWS_IAM` auth and absent for `NONE`.
fn function_url_event(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    body: &[u8],
    authorizer: Option<serde_json::Value>,
) -> serde_json::Value {
    use base64::Engine as _;
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "cookies": ["session=abc123", "theme=dark"],
        "headers": {
            "accept": "*/*",
            "content-type": "application/octet-stream",
            "host": "abcdefghij.lambda-url.us-east-1.on.aws",
            "user-agent": "curl/8.5.0",
            "x-amzn-trace-id": "Root=1-65f1e5c2-0123456789abcdef01234567",
            "x-custom": "one,two",
            "x-forwarded-for": "203.0.113.7",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https"
        },
        "queryStringParameters": { "q": "hello world", "tag": "a,b" },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghij",
            "domainName": "abcdefghij.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefghij",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "curl/8.5.0"
            },
            "requestId": "5f4e3d2c-1b0a-4f9e-8d7c-6b5a4f3e2d1c",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 1767225600000_u64
        },
        "body": base64::engine::general_purpose::STANDARD.encode(body),
        "isBase64Encoded": true
    });
    if let Some(authorizer) = authorizer {
        event["requestContext"]["accountId"] = json!("123456789012");
        event["requestContext"]["authorizer"] = authorizer;
    }
    event
}

/// What the runtime would post back for `event`: the handler behind `lambda_http`'s adapter
/// (what `roadie::lambda::run` runs), its answer serialized as the runtime API receives it.
async fn posted(handler: &Handler, event: &serde_json::Value) -> serde_json::Value {
    use lambda_http::tower::Service;
    let service = lambda_http::service_fn(|request| {
        let handler = handler.clone();
        async move { handler.handle(request).await }
    });
    let mut adapter = lambda_http::Adapter::from(service);
    let request = serde_json::from_value(event.clone())
        .unwrap_or_else(|error| panic!("not a Lambda HTTP event: {error}\n{event}"));
    let response = adapter
        .call(lambda_http::LambdaEvent::new(
            request,
            lambda_http::Context::default(),
        ))
        .await
        .unwrap();
    serde_json::to_value(response).unwrap()
}

/// An app that echoes what a function URL request brought: the route and its path
/// parameter, the query, headers, cookies and body; it sets two cookies.
fn echo_app() -> App {
    App::new()
        .post(
            "/files/{name}",
            |Path(name): Path<String>,
             Query(query): Query<std::collections::HashMap<String, String>>,
             method: Method,
             uri: roadie::Uri,
             headers: HeaderMap,
             body: roadie::Bytes| async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .map(|value| value.to_str().unwrap().to_owned())
                };
                let mut cookies = HeaderMap::new();
                cookies.append("set-cookie", HeaderValue::from_static("a=1; Path=/"));
                cookies.append("set-cookie", HeaderValue::from_static("b=2; HttpOnly"));
                cookies.insert("x-echo", HeaderValue::from_static("yes"));
                (
                    StatusCode::CREATED,
                    cookies,
                    Json(json!({
                        "name": name,
                        "method": method.as_str(),
                        "path": uri.path(),
                        "query": uri.query(),
                        "q": query.get("q"),
                        "host": header("host"),
                        "cookie": header("cookie"),
                        "custom": header("x-custom"),
                        "forwarded_for": header("x-forwarded-for"),
                        "body": body.to_vec(),
                    })),
                )
            },
        )
        .get("/bytes", || async { vec![0_u8, 159, 146, 150] })
}

#[tokio::test]
async fn function_url_events_are_routed_with_query_headers_cookies_and_base64_body() {
    let handler = Handler::new(echo_app());
    let body = [0_u8, 1, 2, 253, 254, 255, b'h', b'i'];
    let event = function_url_event(
        "POST",
        "/files/report%202026.txt",
        "q=hello%20world&tag=a&tag=b",
        &body,
        None,
    );

    // The request roadie routes: the raw path and query string, the function URL's domain.
    let request = request(&event.to_string());
    assert!(matches!(
        lambda_http::RequestExt::request_context_ref(&request),
        Some(lambda_http::request::RequestContext::ApiGatewayV2(_))
    ));
    let response = handler.handle(request).await.unwrap();
    assert_eq!(response.status(), 201, "{:?}", response.body());
    let echoed: serde_json::Value = serde_json::from_str(text(response.body())).unwrap();
    assert_eq!(
        echoed,
        json!({
            "name": "report 2026.txt",
            "method": "POST",
            "path": "/files/report%202026.txt",
            "query": "q=hello%20world&tag=a&tag=b",
            "q": "hello world",
            "host": "abcdefghij.lambda-url.us-east-1.on.aws",
            "cookie": "session=abc123; theme=dark",
            "custom": "one,two",
            "forwarded_for": "203.0.113.7",
            "body": body.to_vec(),
        })
    );
    let set_cookies: Vec<_> = response.headers().get_all("set-cookie").iter().collect();
    assert_eq!(set_cookies, ["a=1; Path=/", "b=2; HttpOnly"]);

    // What the runtime API receives: the payload 2.0 response function URLs read, with the
    // cookies in their own array, not among the headers.
    let posted = posted(&handler, &event).await;
    assert_eq!(posted["statusCode"], 201, "{posted}");
    assert_eq!(posted["isBase64Encoded"], false, "{posted}");
    assert_eq!(
        posted["cookies"],
        json!(["a=1; Path=/", "b=2; HttpOnly"]),
        "{posted}"
    );
    assert_eq!(posted["headers"]["x-echo"], "yes", "{posted}");
    assert_eq!(
        posted["headers"]["content-type"], "application/json",
        "{posted}"
    );
    assert!(posted["headers"].get("set-cookie").is_none(), "{posted}");
    let echoed_again: serde_json::Value =
        serde_json::from_str(posted["body"].as_str().unwrap()).unwrap();
    assert_eq!(echoed_again, echoed);
    handler.running().await.unwrap().shutdown().await.unwrap();
}

#[tokio::test]
async fn function_url_events_with_iam_auth_and_binary_answers() {
    let handler = Handler::new(echo_app());
    // `AWS_IAM` auth: the authorizer carries the caller's IAM identity.
    let iam = json!({
        "iam": {
            "accessKey": "AKIAIOSFODNN7EXAMPLE",
            "accountId": "111122223333",
            "callerId": "AIDACKCEVSQ6C2EXAMPLE",
            "cognitoIdentity": null,
            "principalOrgId": null,
            "userArn": "arn:aws:iam::111122223333:user/example-user",
            "userId": "AIDACKCEVSQ6C2EXAMPLE"
        }
    });
    let event = function_url_event("POST", "/files/a.bin", "", b"\x00\xff", Some(iam));
    let posted_answer = posted(&handler, &event).await;
    assert_eq!(posted_answer["statusCode"], 201, "{posted_answer}");
    let echoed: serde_json::Value =
        serde_json::from_str(posted_answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(echoed["name"], "a.bin");
    assert_eq!(echoed["query"], serde_json::Value::Null);
    assert_eq!(echoed["body"], json!([0, 255]));

    // A binary answer goes back base64-encoded; an empty body on a GET reads as empty.
    let mut get = function_url_event("GET", "/bytes", "", b"", None);
    get["isBase64Encoded"] = json!(false);
    get.as_object_mut().unwrap().remove("body");
    let bytes = posted(&handler, &get).await;
    assert_eq!(bytes["statusCode"], 200, "{bytes}");
    assert_eq!(bytes["isBase64Encoded"], true, "{bytes}");
    assert_eq!(bytes["body"], "AJ+Slg==", "{bytes}");
    assert_eq!(bytes["cookies"], json!([]), "{bytes}");

    // Unknown paths and methods answer as they do everywhere else.
    let missing = posted(
        &handler,
        &function_url_event("GET", "/nowhere", "", b"", None),
    )
    .await;
    assert_eq!(missing["statusCode"], 404, "{missing}");
    let wrong = posted(
        &handler,
        &function_url_event("DELETE", "/files/a.bin", "", b"", None),
    )
    .await;
    assert_eq!(wrong["statusCode"], 405, "{wrong}");
    assert_eq!(wrong["headers"]["allow"], "POST", "{wrong}");
    handler.running().await.unwrap().shutdown().await.unwrap();
}
