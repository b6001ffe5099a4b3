//! Extractors: every parameter type a handler can take, and the 400 / 413 / 415 / 422 answers
//! that name the parameter when extraction fails.

use std::convert::Infallible;

use roadie::prelude::*;
use roadie::{Bytes, Uri};
use serde::Deserialize;
use serde_json::{json, Value};

struct Greeting(&'static str);
struct Unregistered;

fn error_of(response: &Response) -> Value {
    response.json::<Value>()
}

#[tokio::test]
async fn res_and_optional_res() {
    let app = App::new()
        .on_startup(|| Ok::<_, Infallible>(Greeting("hello")))
        .get(
            "/",
            |greeting: Res<Greeting>, missing: Option<Res<Unregistered>>| async move {
                format!("{} {}", greeting.0, missing.is_none())
            },
        )
        .get("/some", |greeting: Option<Res<Greeting>>| async move {
            greeting.map(|g| g.0).unwrap_or("none")
        });
    assert_eq!(app.execute(Request::get("/")).await.text(), "hello true");
    assert_eq!(app.execute(Request::get("/some")).await.text(), "hello");
}

#[tokio::test]
async fn dep_is_built_for_the_request() {
    let app = App::new()
        .on_startup(|| Ok::<_, Infallible>(Greeting("hi")))
        .dependency(
            |greeting: Res<Greeting>, Path(name): Path<String>| async move {
                Ok::<_, Infallible>(format!("{}, {name}", greeting.0))
            },
        )
        .get("/greet/{name}", |message: Dep<String>| async move {
            (*message).clone()
        });
    let response = app.execute(Request::get("/greet/ada")).await;
    assert_eq!(response.text(), "hi, ada");
}

#[derive(Deserialize)]
struct Ids {
    org: String,
    id: u32,
}

/// Path parameters read as one value, a tuple and a struct.
fn path_app() -> App {
    App::new()
        .get(
            "/one/{id}",
            |Path(id): Path<i64>| async move { id.to_string() },
        )
        .get(
            "/tuple/{org}/{id}",
            |Path((org, id)): Path<(String, u32)>| async move { format!("{org}:{id}") },
        )
        .get("/struct/{org}/{id}", |Path(ids): Path<Ids>| async move {
            format!("{}#{}", ids.org, ids.id)
        })
}

#[tokio::test]
async fn path_as_one_value_a_tuple_and_a_struct() {
    let app = path_app();
    assert_eq!(app.execute(Request::get("/one/-7")).await.text(), "-7");
    assert_eq!(
        app.execute(Request::get("/tuple/acme/3")).await.text(),
        "acme:3"
    );
    assert_eq!(
        app.execute(Request::get("/struct/acme/9")).await.text(),
        "acme#9"
    );
}

#[tokio::test]
async fn a_path_value_that_does_not_parse_is_400_naming_the_parameter() {
    let app = path_app();
    for uri in ["/one/abc", "/tuple/acme/x", "/struct/acme/-1"] {
        let response = app.execute(Request::get(uri)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{uri}");
        let body = error_of(&response);
        assert_eq!(body["parameter"], "id", "{uri}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("cannot parse"),
            "{uri}: {body}"
        );
    }
}

#[tokio::test]
async fn a_path_of_the_wrong_shape_is_400() {
    let app = App::new().get("/two/{a}/{b}", |Path(id): Path<u64>| async move {
        id.to_string()
    });
    let response = app.execute(Request::get("/two/1/2")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = error_of(&response);
    assert_eq!(body["parameter"], "Path<u64>", "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("expected one path parameter"),
        "{body}"
    );
}

#[derive(Deserialize)]
struct Page {
    page: u32,
    q: Option<String>,
}

#[tokio::test]
async fn query_parses_and_rejects_naming_the_parameter() {
    let app = App::new().get("/search", |Query(page): Query<Page>| async move {
        format!("{} {}", page.page, page.q.unwrap_or_default())
    });
    assert_eq!(
        app.execute(Request::get("/search?page=2&q=rust"))
            .await
            .text(),
        "2 rust"
    );
    let response = app.execute(Request::get("/search?page=two")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = error_of(&response);
    assert!(
        body["parameter"].as_str().unwrap().starts_with("Query<"),
        "{body}"
    );
    assert!(body["error"].as_str().unwrap().contains("query"), "{body}");
    let response = app.execute(Request::get("/search")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[derive(Deserialize)]
struct NewUser {
    name: String,
    age: u8,
}

fn json_app() -> App {
    App::new().post("/users", |Json(user): Json<NewUser>| async move {
        (StatusCode::CREATED, format!("{} {}", user.name, user.age))
    })
}

#[tokio::test]
async fn json_body_is_read() {
    let response = json_app()
        .execute(Request::post("/users").json(&json!({ "name": "ada", "age": 36 })))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.text(), "ada 36");
    let response = json_app()
        .execute(
            Request::post("/users")
                .header(
                    "content-type",
                    "application/merge-patch+json; charset=utf-8",
                )
                .body(r#"{"name":"bo","age":1}"#),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn json_content_types_are_matched_without_regard_to_case() {
    for content_type in [
        "APPLICATION/JSON",
        "Application/Problem+JSON; charset=utf-8",
    ] {
        let response = json_app()
            .execute(
                Request::post("/users")
                    .header("content-type", content_type)
                    .body(r#"{"name":"ada","age":36}"#),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "{content_type}");
    }
    for content_type in [
        "text/json",
        "application/jsonx",
        "application/x+jsonp",
        "json",
    ] {
        let response = json_app()
            .execute(
                Request::post("/users")
                    .header("content-type", content_type)
                    .body(r#"{"name":"ada","age":36}"#),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}"
        );
    }
}

#[tokio::test]
async fn json_without_its_content_type_is_415() {
    let response = json_app()
        .execute(Request::post("/users").body(r#"{"name":"ada","age":36}"#))
        .await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body = error_of(&response);
    assert!(
        body["parameter"].as_str().unwrap().starts_with("Json<"),
        "{body}"
    );
    assert!(
        body["error"].as_str().unwrap().contains("application/json"),
        "{body}"
    );
}

#[tokio::test]
async fn malformed_json_is_400_and_json_of_the_wrong_shape_is_422() {
    let response = json_app()
        .execute(
            Request::post("/users")
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(error_of(&response)["parameter"]
        .as_str()
        .unwrap()
        .starts_with("Json<"));

    let response = json_app()
        .execute(Request::post("/users").json(&json!({ "name": "ada", "age": 999 })))
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = error_of(&response);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("invalid JSON body"),
        "{body}"
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let app = App::new()
        .body_limit(16)
        .post("/echo", |body: Bytes| async move { body });
    let response = app
        .execute(Request::post("/echo").body(vec![b'x'; 17]))
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(error_of(&response)["error"]
        .as_str()
        .unwrap()
        .contains("16 bytes"));
    let response = app
        .execute(Request::post("/echo").body(vec![b'x'; 16]))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn header_map_method_and_uri() {
    let app = App::new().method(
        Method::PUT,
        "/inspect",
        |headers: HeaderMap, method: Method, uri: Uri| async move {
            format!(
                "{} {} {}",
                method,
                uri,
                headers.get("x-trace").unwrap().to_str().unwrap()
            )
        },
    );
    let response = app
        .execute(Request::put("/inspect?x=1").header("x-trace", "abc"))
        .await;
    assert_eq!(response.text(), "PUT /inspect?x=1 abc");
}

#[tokio::test]
async fn body_as_bytes_and_as_string() {
    let app = App::new()
        .post(
            "/bytes",
            |body: Bytes| async move { body.len().to_string() },
        )
        .post("/string", |body: String| async move { body.to_uppercase() });
    assert_eq!(
        app.execute(Request::post("/bytes").body(vec![0u8, 159, 146, 150]))
            .await
            .text(),
        "4"
    );
    assert_eq!(
        app.execute(Request::post("/string").body("héllo"))
            .await
            .text(),
        "HÉLLO"
    );
    let response = app
        .execute(Request::post("/string").body(vec![0u8, 159, 146, 150]))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = error_of(&response);
    assert_eq!(body["parameter"], "String");
    assert!(body["error"].as_str().unwrap().contains("UTF-8"), "{body}");
}

#[tokio::test]
async fn shutdown_handle_starts_a_graceful_shutdown() {
    let app = App::new().post("/stop", |shutdown: Shutdown| async move {
        shutdown.trigger();
        shutdown.is_triggered().to_string()
    });
    let running = app.start().await.unwrap();
    let response = running.execute(Request::post("/stop")).await;
    assert_eq!(response.text(), "true");
    // Resolves now: the handle asked for the shutdown.
    running.shutdown_requested().await;
    running.shutdown().await.unwrap();
    assert_eq!(running.state(), roadie::LifecycleState::Stopped);
}

#[tokio::test]
async fn a_rejection_stops_later_extractors_and_the_handler() {
    let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = ran.clone();
    let app = App::new().post("/items/{id}", move |Path(_id): Path<u32>, _body: String| {
        let seen = seen.clone();
        async move {
            seen.store(true, std::sync::atomic::Ordering::SeqCst);
            "ran"
        }
    });
    let response = app.execute(Request::post("/items/nope").body("x")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
}

#[tokio::test]
async fn a_handler_of_sixteen_extractors() {
    let app = App::new()
        .on_startup(|| Ok::<_, Infallible>(Greeting("g")))
        .get(
            "/many/{id}",
            |a: Res<Greeting>,
             b: Option<Res<Unregistered>>,
             Path(c): Path<u8>,
             d: Method,
             e: Uri,
             f: HeaderMap,
             g: Shutdown,
             h: Res<Greeting>,
             i: Method,
             j: Uri,
             k: HeaderMap,
             l: Option<Res<Greeting>>,
             m: Res<Greeting>,
             n: Method,
             o: Path<u8>,
             p: String| async move {
                let _ = (b, f, g, k, j, n);
                format!(
                    "{}{}{}{}{}{}{}{}{}",
                    a.0,
                    c,
                    d,
                    e.path(),
                    h.0,
                    i,
                    l.map(|l| l.0).unwrap_or("-"),
                    m.0,
                    *o + p.len() as u8
                )
            },
        );
    let response = app.execute(Request::get("/many/1").body("abc")).await;
    assert_eq!(response.text(), "g1GET/many/1gGETgg4");
}
