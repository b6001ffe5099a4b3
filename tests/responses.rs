//! Responses: every `IntoResponse` implementation, `Option` and `Result`, and panicking handlers.

use roadie::prelude::*;
use roadie::{header, Bytes};
use serde::Serialize;

#[derive(Serialize)]
struct User {
    id: u32,
    name: &'static str,
}

async fn call(app: &App, uri: &str) -> Response {
    app.execute(Request::get(uri)).await
}

#[tokio::test]
async fn text_bytes_and_json() {
    let app = App::new()
        .get("/static", || async { "static str" })
        .get("/string", || async { String::from("owned") })
        .get("/bytes", || async { Bytes::from_static(b"\x00\x01") })
        .get("/json", || async { Json(User { id: 7, name: "ada" }) });

    let response = call(&app, "/static").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.header(header::CONTENT_TYPE),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(response.text(), "static str");

    let response = call(&app, "/string").await;
    assert_eq!(
        response.header(header::CONTENT_TYPE),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(response.text(), "owned");

    let response = call(&app, "/bytes").await;
    assert_eq!(
        response.header(header::CONTENT_TYPE),
        Some("application/octet-stream")
    );
    assert_eq!(response.body().as_ref(), b"\x00\x01");

    let response = call(&app, "/json").await;
    assert_eq!(
        response.header(header::CONTENT_TYPE),
        Some("application/json")
    );
    assert_eq!(
        response.json::<serde_json::Value>(),
        serde_json::json!({ "id": 7, "name": "ada" })
    );
}

#[tokio::test]
async fn status_codes_tuples_and_headers() {
    let app = App::new()
        .get("/status", || async { StatusCode::ACCEPTED })
        .get("/pair", || async { (StatusCode::CREATED, "made") })
        .get("/triple", || async {
            let mut headers = HeaderMap::new();
            headers.insert("x-id", "42".parse().unwrap());
            (StatusCode::IM_A_TEAPOT, headers, Json(vec![1, 2]))
        })
        .get("/unit", || async {})
        .get("/response", || async {
            let mut response = Response::with_body(StatusCode::FOUND, "moved");
            response
                .headers_mut()
                .insert(header::LOCATION, "/elsewhere".parse().unwrap());
            response
        });

    let response = call(&app, "/status").await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert!(response.body().is_empty());

    let response = call(&app, "/pair").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.text(), "made");

    let response = call(&app, "/triple").await;
    assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);
    assert_eq!(response.header("x-id"), Some("42"));
    assert_eq!(
        response.header(header::CONTENT_TYPE),
        Some("application/json")
    );
    assert_eq!(response.json::<Vec<u32>>(), [1, 2]);

    let response = call(&app, "/unit").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.body().is_empty());

    let response = call(&app, "/response").await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.header(header::LOCATION), Some("/elsewhere"));
    assert_eq!(response.text(), "moved");
}

#[tokio::test]
async fn a_response_converts_into_an_http_response() {
    let app = App::new().get("/", || async { (StatusCode::CREATED, "body") });
    let response: http::Response<Bytes> = call(&app, "/").await.into();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.body().as_ref(), b"body");
}

#[tokio::test]
async fn option_is_404_on_none() {
    let app = App::new().get("/users/{id}", |Path(id): Path<u32>| async move {
        (id == 1).then_some(Json(User { id, name: "ada" }))
    });
    let response = call(&app, "/users/1").await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = call(&app, "/users/2").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.json::<serde_json::Value>(),
        serde_json::json!({ "error": "Not Found" })
    );
}

#[tokio::test]
async fn result_answers_with_either_side() {
    let app = App::new().get(
        "/div/{a}/{b}",
        |Path((a, b)): Path<(i32, i32)>| async move {
            match a.checked_div(b) {
                Some(q) => Ok(q.to_string()),
                None => Err(HttpError::new(StatusCode::BAD_REQUEST, "division by zero")),
            }
        },
    );
    let response = call(&app, "/div/6/3").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text(), "2");
    let response = call(&app, "/div/6/0").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().contains("division by zero"));

    // The error side can be any response, a status and a text for instance.
    let app = App::new().get("/", || async {
        Err::<&'static str, _>((StatusCode::CONFLICT, "taken"))
    });
    let response = call(&app, "/").await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(response.text(), "taken");
}

#[tokio::test]
async fn a_boxed_error_is_500_without_its_text() {
    let app = App::new().get("/", || async {
        Err::<&'static str, roadie::BoxError>("the database password is hunter2".into())
    });
    let response = call(&app, "/").await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!response.text().contains("hunter2"));
}

#[tokio::test]
async fn a_panicking_handler_is_500_without_the_panic_text_and_the_app_keeps_serving() {
    let app = App::new()
        .get("/boom", || async {
            if true {
                panic!("secret panic text");
            }
            "unreachable"
        })
        .get("/ok", || async { "still here" });
    for _ in 0..3 {
        let response = call(&app, "/boom").await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let text = response.text();
        assert!(!text.contains("secret"), "{text}");
        assert_eq!(
            response.json::<serde_json::Value>(),
            serde_json::json!({ "error": "Internal Server Error" })
        );
        let response = call(&app, "/ok").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text(), "still here");
    }
}
