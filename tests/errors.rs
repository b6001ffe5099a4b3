//! The app's own error shape (`App::on_error`, `Rejection::to_problem`) and error observers
//! (`App::observe_errors`): every error roadie answers goes through the one renderer, and every
//! failed request is told to the observers.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use roadie::prelude::*;
use roadie::{BoxError, Bytes, FailedRequest};
use tower::ServiceExt;

struct Brand(&'static str);

/// Holds a request until the test opens it.
#[derive(Default)]
struct Gate(tokio::sync::Notify);

fn render(error: &Rejection, brand: Res<Brand>) -> Response {
    let body = serde_json::json!({
        "brand": brand.0,
        "code": error.status().as_u16(),
        "why": error.public_message(),
        "field": error.parameter(),
    });
    (error.status(), Json(body)).into_response()
}

#[derive(serde::Deserialize)]
struct Todo {
    #[allow(dead_code)]
    title: String,
}

fn app() -> App {
    App::new()
        .on_startup(|| Ok::<_, Infallible>(Brand("acme")))
        .on_error(render)
        .body_limit(16)
        .body_read_timeout(Duration::from_secs(1))
        .get("/users/{id}", |Path(id): Path<u32>| async move {
            format!("user {id}")
        })
        .post("/todos", |Json(_todo): Json<Todo>| async move { "made" })
        .post(
            "/upload",
            |body: Bytes| async move { body.len().to_string() },
        )
        .get("/boom", || async {
            if true {
                panic!("secret panic text");
            }
            "never"
        })
        .get("/broken", || async {
            Err::<&str, BoxError>("secret database error".into())
        })
        .get("/taken", || async {
            Err::<&str, _>(HttpError::new(StatusCode::CONFLICT, "the name is taken"))
        })
        .get("/none", || async { None::<String> })
        .on_startup(|| Ok::<_, Infallible>(Gate::default()))
        .get("/wait", |gate: Res<Gate>| async move {
            gate.0.notified().await;
            "done"
        })
}

/// A request body that never sends anything.
struct Stalled;

impl http_body::Body for Stalled {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        Poll::Pending
    }
}

fn assert_rendered(response: &Response, status: u16) {
    assert_eq!(response.status().as_u16(), status, "{}", response.text());
    let body: serde_json::Value = response.json();
    assert_eq!(body["brand"], "acme", "{status} was not rendered: {body}");
    assert_eq!(body["code"], status);
}

#[tokio::test(start_paused = true)]
async fn on_error_renders_every_kind_of_roadie_error() {
    let running = app().start().await.unwrap();
    let cases = [
        (Request::get("/users/x"), 400),
        (Request::get("/nowhere"), 404),
        (Request::delete("/users/1"), 405),
        (Request::post("/upload").body("x".repeat(17)), 413),
        (Request::post("/todos").body("{}"), 415),
        (
            Request::post("/todos").json(&serde_json::json!({ "title": 5 })),
            422,
        ),
        (Request::get("/boom"), 500),
        (Request::get("/broken"), 500),
        (Request::get("/taken"), 409),
        (Request::get("/none"), 404),
    ];
    for (request, status) in cases {
        let response = running.execute(request).await;
        assert_rendered(&response, status);
        assert!(!response.text().contains("secret"), "{}", response.text());
    }

    // A stalled body: 408, through the tower adapter, whose bodies stream.
    let stalled = http::Request::post("/upload")
        .header("content-length", "10")
        .body(Stalled)
        .unwrap();
    let response = running
        .clone()
        .into_service()
        .oneshot(stalled)
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let body = http_body_util::BodyExt::collect(body)
        .await
        .unwrap()
        .to_bytes();
    let response = Response::from(http::Response::from_parts(parts, body));
    assert_rendered(&response, 408);

    // A stopping app: 503 for what arrives while the drain waits for a request in flight.
    let waiting = tokio::spawn(running.execute(Request::get("/wait")));
    tokio::task::yield_now().await;
    let stopping = tokio::spawn({
        let running = running.clone();
        async move { running.shutdown().await }
    });
    while running.state() != roadie::LifecycleState::Stopping {
        tokio::task::yield_now().await;
    }
    let refused = running.execute(Request::get("/users/1")).await;
    assert_rendered(&refused, 503);
    running.resource::<Gate>().unwrap().0.notify_one();
    assert_eq!(waiting.await.unwrap().text(), "done");
    stopping.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_parameter_reaches_the_renderer() {
    let response = app().execute(Request::get("/users/x")).await;
    let body: serde_json::Value = response.json();
    assert_eq!(body["field"], "id");
}

#[tokio::test]
async fn the_renderer_keeps_the_headers_of_the_error() {
    let app = app();
    let wrong = app.execute(Request::delete("/users/1")).await;
    assert_eq!(wrong.header("allow"), Some("GET, HEAD"));
    let large = app
        .execute(Request::post("/upload").body("x".repeat(17)))
        .await;
    assert_eq!(large.header("connection"), Some("close"));
    assert_eq!(large.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn errors_a_handler_answers_in_its_own_shape_are_left_alone() {
    let app = app().get("/own", || async {
        Err::<&str, _>((StatusCode::BAD_REQUEST, "my own shape"))
    });
    let response = app.execute(Request::get("/own")).await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.text(), "my own shape");
}

#[tokio::test]
async fn a_renderer_that_panics_leaves_the_default_shape() {
    let app = App::new().on_error(|_: &Rejection| -> Response { panic!("renderer broke") });
    let response = app.execute(Request::get("/missing")).await;
    assert_eq!(response.status(), 404);
    assert_eq!(response.text(), r#"{"error":"Not Found"}"#);
}

#[tokio::test]
async fn a_renderer_needing_a_missing_resource_fails_validation() {
    let error = App::new().on_error(render).validate().unwrap_err();
    assert!(error.to_string().contains("Brand"), "{error}");
}

#[tokio::test]
async fn a_renderer_cannot_read_the_request() {
    let error = App::new()
        .on_error(|_: &Rejection, _headers: HeaderMap| StatusCode::IM_A_TEAPOT)
        .validate()
        .unwrap_err();
    assert!(error.to_string().contains("resources"), "{error}");
}

#[tokio::test]
async fn two_renderers_are_a_validation_problem() {
    let error = App::new()
        .on_error(Rejection::to_problem)
        .on_error(Rejection::to_json)
        .validate()
        .unwrap_err();
    assert!(error.to_string().contains("one error renderer"), "{error}");
}

#[tokio::test]
async fn problem_json_bodies_parse_as_rfc_9457() {
    let app = App::new()
        .on_error(Rejection::to_problem)
        .get("/users/{id}", |Path(id): Path<u32>| async move {
            id.to_string()
        })
        .get("/boom", || async {
            if true {
                panic!("secret");
            }
            ""
        });
    for (request, status, title) in [
        (Request::get("/users/x"), 400, "Bad Request"),
        (Request::get("/missing"), 404, "Not Found"),
        (Request::post("/users/1"), 405, "Method Not Allowed"),
        (Request::get("/boom"), 500, "Internal Server Error"),
    ] {
        let response = app.execute(request).await;
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(
            response.header("content-type"),
            Some("application/problem+json")
        );
        let problem: serde_json::Value = response.json();
        // RFC 9457 §3.1: type is a URI reference, status the number sent, title and detail strings.
        assert_eq!(problem["type"], "about:blank");
        assert_eq!(problem["status"], status);
        assert_eq!(problem["title"], title);
        assert!(problem["detail"].is_string());
        assert!(!response.text().contains("secret"));
    }
    let problem: serde_json::Value = app.execute(Request::get("/users/x")).await.json();
    assert_eq!(problem["parameter"], "id", "an extension member");
}

/// What observers were told.
#[derive(Default, Clone)]
struct Seen(Arc<Mutex<Vec<FailedRequest>>>);

fn observed(seen: &Seen) -> App {
    let seen = seen.clone();
    app()
        .on_startup(move || Ok::<_, Infallible>(seen.clone()))
        .observe_errors(|failed: &FailedRequest, seen: Res<Seen>| {
            seen.0.lock().unwrap().push(failed.clone());
        })
}

#[tokio::test]
async fn an_observer_sees_a_handler_error_and_a_panic() {
    let seen = Seen::default();
    let app = observed(&seen);
    app.execute(Request::get("/broken")).await;
    app.execute(Request::get("/boom")).await;
    app.execute(Request::get("/taken")).await;
    let seen = seen.0.lock().unwrap();
    assert_eq!(seen.len(), 3);

    assert_eq!(seen[0].uri().path(), "/broken");
    assert_eq!(seen[0].status(), 500);
    assert_eq!(seen[0].error(), Some("secret database error"));
    assert!(seen[0].is_handler_failure());

    assert_eq!(seen[1].method(), Method::GET);
    assert_eq!(seen[1].panic(), Some("secret panic text"));
    assert!(seen[1].is_handler_failure());

    assert_eq!(seen[2].status(), 409);
    assert_eq!(
        seen[2].rejection().map(Rejection::message),
        Some("the name is taken")
    );
}

#[tokio::test]
async fn an_observer_sees_rejections_and_router_errors_but_not_successes() {
    let seen = Seen::default();
    let app = observed(&seen);
    app.execute(Request::get("/users/1")).await;
    app.execute(Request::get("/users/x")).await;
    app.execute(Request::get("/nowhere")).await;
    let seen = seen.0.lock().unwrap();
    let statuses: Vec<u16> = seen.iter().map(|f| f.status().as_u16()).collect();
    assert_eq!(statuses, [400, 404]);
    assert!(seen[0].is_handler_failure(), "a rejected parameter");
    assert_eq!(seen[0].rejection().unwrap().parameter(), Some("id"));
    assert!(!seen[1].is_handler_failure(), "no handler ran");
}

#[tokio::test]
async fn an_observer_that_panics_is_caught_and_the_others_still_run() {
    let seen = Seen::default();
    let app = App::new()
        .on_startup({
            let seen = seen.clone();
            move || Ok::<_, Infallible>(seen.clone())
        })
        .observe_errors(|_: &FailedRequest| -> () { panic!("observer broke") })
        .observe_errors(|failed: &FailedRequest, seen: Res<Seen>| {
            seen.0.lock().unwrap().push(failed.clone());
        })
        .get("/", || async { "ok" });
    let running = app.start().await.unwrap();
    let response = running.execute(Request::get("/missing")).await;
    assert_eq!(response.status(), 404);
    assert_eq!(seen.0.lock().unwrap().len(), 1);
    assert_eq!(running.execute(Request::get("/")).await.text(), "ok");
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_observer_returning_an_error_is_logged_and_the_answer_stands() {
    let app = App::new()
        .observe_errors(|_: &FailedRequest| Err::<(), _>(std::io::Error::other("disk full")));
    let response = app.execute(Request::get("/missing")).await;
    assert_eq!(response.status(), 404);
}
