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
            body["error"]
                .as_str()
                .unwrap()
                .contains("must be a whole number"),
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
    assert_eq!(body["parameter"], "path", "{body}");
    assert_eq!(
        body["error"], "the path has 2 parameters where 1 is read",
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
    assert_eq!(body["parameter"], "page", "{body}");
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
    assert_eq!(body["parameter"], "body", "{body}");
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
    assert_eq!(error_of(&response)["parameter"], "body");

    let response = json_app()
        .execute(Request::post("/users").json(&json!({ "name": "ada", "age": 999 })))
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = error_of(&response);
    assert_eq!(body["parameter"], "age", "{body}");
    assert_eq!(
        body["error"], "field `age` must be a whole number from 0 to 255, got 999",
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
    assert_eq!(body["parameter"], "body");
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

/// Every kind of rejection the extractors produce, with what a client must see: the status,
/// the parameter by the client's name, and a message with no Rust type name, no library's
/// own text, and no echo of the request longer than the cap.
mod in_the_clients_terms {
    use super::*;

    #[derive(Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Status {
        Open,
        Closed,
    }

    #[derive(Deserialize)]
    struct Paging {
        page: u32,
        per_page: Option<u8>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct NewTodo {
        title: String,
        done: bool,
        #[serde(default)]
        items: Vec<TodoItem>,
        status: Option<Status>,
    }

    #[derive(Deserialize)]
    struct TodoItem {
        title: String,
        weight: i64,
    }

    /// Names of the Rust types above and of the libraries' texts: none may reach a client.
    const FORBIDDEN: &[&str] = &[
        "Json",
        "Path",
        "Query",
        "NewTodo",
        "TodoItem",
        "Paging",
        "Ids",
        "Status",
        "String",
        "Vec",
        "Option",
        "i64",
        "u64",
        "u32",
        "u8",
        "bool",
        "struct",
        "invalid type",
        "invalid value",
        "invalid digit",
        "at line",
        "utf-8 sequence",
    ];

    /// The longest run of the request's own text an answer may quote.
    const CAP: usize = 64;

    fn app() -> App {
        App::new()
            .get("/one/{id}", |Path(id): Path<i64>| async move {
                id.to_string()
            })
            .get(
                "/tuple/{org}/{id}",
                |Path((org, id)): Path<(String, u32)>| async move { format!("{org}:{id}") },
            )
            .get("/struct/{org}/{id}", |Path(ids): Path<Ids>| async move {
                format!("{}#{}", ids.org, ids.id)
            })
            .get("/two/{a}/{b}", |Path(id): Path<u64>| async move {
                id.to_string()
            })
            .get("/flag/{on}", |Path(on): Path<bool>| async move {
                on.to_string()
            })
            .get("/status/{status}", |Path(status): Path<Status>| async move {
                matches!(status, Status::Open).to_string()
            })
            .get("/search", |Query(paging): Query<Paging>| async move {
                format!("{} {:?}", paging.page, paging.per_page)
            })
            .post("/todos", |Json(todo): Json<NewTodo>| async move {
                let weight: i64 = todo.items.iter().map(|item| item.weight).sum();
                let titles = todo.items.iter().map(|item| item.title.len()).sum::<usize>();
                let open = matches!(todo.status, Some(Status::Closed));
                format!("{} {} {weight} {titles} {open}", todo.title, todo.done)
            })
            .post("/text", |text: String| async move { text })
    }

    fn json(body: impl Into<String>) -> Request {
        Request::post("/todos")
            .header("content-type", "application/json")
            .body(body.into())
    }

    #[tokio::test]
    async fn every_rejection_names_the_parameter_in_the_clients_terms() {
        let long = "z".repeat(8 * 1024);
        let todo = |extra: Value| {
            let mut todo = json!({ "title": "milk", "done": false });
            todo.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            json(todo.to_string())
        };
        let cases: Vec<(&str, Request, StatusCode, &str)> = vec![
            // Path: one value, a tuple, a struct, of each kind of type.
            (
                "path, one value",
                Request::get("/one/abc"),
                StatusCode::BAD_REQUEST,
                "id",
            ),
            (
                "path, a tuple",
                Request::get("/tuple/acme/x"),
                StatusCode::BAD_REQUEST,
                "id",
            ),
            (
                "path, a struct",
                Request::get("/struct/acme/-1"),
                StatusCode::BAD_REQUEST,
                "id",
            ),
            (
                "path, a bool",
                Request::get("/flag/yes"),
                StatusCode::BAD_REQUEST,
                "on",
            ),
            (
                "path, an enum",
                Request::get("/status/pending"),
                StatusCode::BAD_REQUEST,
                "status",
            ),
            (
                "path, the wrong shape",
                Request::get("/two/1/2"),
                StatusCode::BAD_REQUEST,
                "path",
            ),
            (
                "path, 8 KB",
                Request::get(format!("/one/{long}")),
                StatusCode::BAD_REQUEST,
                "id",
            ),
            // Query: the wrong type, out of range, missing.
            (
                "query, wrong type",
                Request::get("/search?page=two"),
                StatusCode::BAD_REQUEST,
                "page",
            ),
            (
                "query, out of range",
                Request::get("/search?page=1&per_page=999"),
                StatusCode::BAD_REQUEST,
                "per_page",
            ),
            (
                "query, missing",
                Request::get("/search"),
                StatusCode::BAD_REQUEST,
                "page",
            ),
            (
                "query, 8 KB",
                Request::get(format!("/search?page={long}")),
                StatusCode::BAD_REQUEST,
                "page",
            ),
            // JSON: the content type, the syntax, then the shape.
            (
                "json, no content type",
                Request::post("/todos").body(r#"{"title":"milk","done":false}"#),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "body",
            ),
            (
                "json, syntax",
                json("{not json"),
                StatusCode::BAD_REQUEST,
                "body",
            ),
            (
                "json, cut short",
                json(r#"{"title": "mi"#),
                StatusCode::BAD_REQUEST,
                "body",
            ),
            ("json, empty", json(""), StatusCode::BAD_REQUEST, "body"),
            (
                "json, not an object",
                json(r#""hello""#),
                StatusCode::UNPROCESSABLE_ENTITY,
                "body",
            ),
            (
                "json, wrong type",
                todo(json!({ "title": 5 })),
                StatusCode::UNPROCESSABLE_ENTITY,
                "title",
            ),
            (
                "json, missing",
                json(r#"{"done": true}"#),
                StatusCode::UNPROCESSABLE_ENTITY,
                "title",
            ),
            (
                "json, unknown",
                todo(json!({ "extra": 1 })),
                StatusCode::UNPROCESSABLE_ENTITY,
                "extra",
            ),
            (
                "json, nested wrong type",
                todo(json!({ "items": [{ "title": ["x"], "weight": 1 }] })),
                StatusCode::UNPROCESSABLE_ENTITY,
                "items[0].title",
            ),
            (
                "json, nested missing",
                todo(json!({ "items": [{ "title": "a", "weight": 1 }, { "weight": 2 }] })),
                StatusCode::UNPROCESSABLE_ENTITY,
                "items[1].title",
            ),
            (
                "json, nested number",
                todo(json!({ "items": [{ "title": "a", "weight": 1.5 }] })),
                StatusCode::UNPROCESSABLE_ENTITY,
                "items[0].weight",
            ),
            (
                "json, a list expected",
                todo(json!({ "items": { "title": "a" } })),
                StatusCode::UNPROCESSABLE_ENTITY,
                "items",
            ),
            (
                "json, enum",
                todo(json!({ "status": "pending" })),
                StatusCode::UNPROCESSABLE_ENTITY,
                "status",
            ),
            (
                "json, 8 KB value",
                todo(json!({ "done": long })),
                StatusCode::UNPROCESSABLE_ENTITY,
                "done",
            ),
            (
                "json, 8 KB field name",
                todo(json!({ long.clone(): 1 })),
                StatusCode::UNPROCESSABLE_ENTITY,
                &long[..CAP],
            ),
            // A body that is not UTF-8 text.
            (
                "text, not UTF-8",
                Request::post("/text").body(vec![b'o', b'k', 0xff, 0xfe]),
                StatusCode::BAD_REQUEST,
                "body",
            ),
        ];

        // Targets of 8 KiB and more pass the app's default limit (`414`): this test is about
        // what the rejections quote.
        let app = app().uri_limit(64 * 1024);
        let too_long = "z".repeat(CAP + 1);
        for (case, request, status, parameter) in cases {
            let response = app.execute(request).await;
            let text = response.text();
            assert_eq!(response.status(), status, "{case}: {text}");
            let body = error_of(&response);
            let error = body["error"].as_str().unwrap_or_default();
            assert!(!error.is_empty(), "{case}: {text}");
            let named = body["parameter"].as_str().unwrap_or_default();
            // The 8 KB field name is named by its first characters, then `…`.
            assert!(
                named == parameter || named == format!("{parameter}…"),
                "{case}: parameter {named:?}, expected {parameter:?}: {text}"
            );
            assert!(!text.contains('<'), "{case}: {text}");
            assert!(!text.contains("::"), "{case}: {text}");
            for name in FORBIDDEN {
                assert!(!text.contains(name), "{case}: `{name}` in {text}");
            }
            assert!(
                !text.contains(&too_long),
                "{case}: an echo over {CAP}: {text}"
            );
            assert!(text.len() < 1024, "{case}: {} bytes", text.len());
        }
    }

    #[derive(Deserialize)]
    #[serde(try_from = "String")]
    #[expect(
        dead_code,
        reason = "only deserialized: the tests are about its rejections"
    )]
    struct Title(String);

    impl TryFrom<String> for Title {
        type Error = &'static str;

        fn try_from(title: String) -> Result<Self, Self::Error> {
            if title.is_empty() {
                Err("Title::try_from: a title must not be empty")
            } else {
                Ok(Title(title))
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(tag = "type", rename_all = "lowercase")]
    #[expect(
        dead_code,
        reason = "only deserialized: the tests are about its rejections"
    )]
    enum Figure {
        Circle { radius: f64 },
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    #[expect(
        dead_code,
        reason = "only deserialized: the tests are about its rejections"
    )]
    enum Either {
        Number(u32),
        Text(String),
    }

    #[derive(Deserialize)]
    #[expect(
        dead_code,
        reason = "only deserialized: the tests are about its rejections"
    )]
    struct Shapes {
        pair: Option<(u8, u8)>,
        counts: Option<std::collections::HashMap<u32, u8>>,
        figure: Option<Figure>,
        title: Option<Title>,
        either: Option<Either>,
    }

    /// serde's attributes and container types: the field is named as far as serde lets it
    /// be seen, and its own messages (a `TryFrom` error, "did not match any variant") stay
    /// out of the answer.
    #[tokio::test]
    async fn serde_attributes_and_containers_are_explained_too() {
        let app = App::new().post("/shapes", |Json(_shapes): Json<Shapes>| async move { "ok" });
        let cases = [
            // serde_json calls a list longer than the tuple a syntax error; it is JSON.
            (
                json!({ "pair": [1, 2, 3] }),
                "pair",
                "field `pair` must be a list of 2 items, got a list of 3 items",
            ),
            (
                json!({ "counts": { "7": 300 } }),
                "counts.7",
                "field `counts.7` must be a whole number from 0 to 255, got 300",
            ),
            (
                json!({ "figure": { "type": "hexagon" } }),
                "figure.type",
                r#"field `figure.type` must be one of "circle", got "hexagon""#,
            ),
            (
                json!({ "figure": { "type": "circle" } }),
                "figure.radius",
                "field `figure.radius` is missing",
            ),
            (
                json!({ "title": "" }),
                "title",
                "field `title` is not valid",
            ),
            (
                json!({ "either": [true] }),
                "either",
                "field `either` is not valid",
            ),
        ];
        for (body, parameter, message) in cases {
            let response = app.execute(Request::post("/shapes").json(&body)).await;
            assert_eq!(
                response.status(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "{body}"
            );
            let answer = error_of(&response);
            assert_eq!(answer["parameter"], parameter, "{body}: {answer}");
            assert_eq!(answer["error"], message, "{body}: {answer}");
        }
    }

    #[tokio::test]
    async fn messages_say_what_was_wrong_in_plain_words() {
        let app = app();
        let cases: Vec<(Request, &str)> = vec![
            (
                Request::get("/one/abc"),
                r#"path parameter `id` must be a whole number, got "abc""#,
            ),
            (
                Request::get("/tuple/acme/-3"),
                r#"path parameter `id` must be a whole number from 0 to 4294967295, got "-3""#,
            ),
            (
                Request::get("/flag/yes"),
                r#"path parameter `on` must be true or false, got "yes""#,
            ),
            (
                Request::get("/status/pending"),
                r#"path parameter `status` must be one of "open", "closed", got "pending""#,
            ),
            (
                Request::get("/two/1/2"),
                "the path has 2 parameters where 1 is read",
            ),
            (
                Request::get("/search?page=1&per_page=999"),
                r#"query parameter `per_page` must be a whole number from 0 to 255, got "999""#,
            ),
            (Request::get("/search"), "query parameter `page` is missing"),
            (
                json("{not json"),
                "the body is not valid JSON (line 1, column 2)",
            ),
            (json(""), "the body is empty; expected JSON"),
            (
                json(r#""hello""#),
                r#"the body must be an object, got "hello""#,
            ),
            (
                json(r#"{"title": 5, "done": false}"#),
                "field `title` must be text, got 5",
            ),
            (json(r#"{"done": true}"#), "field `title` is missing"),
            (
                json(r#"{"title": "a", "done": true, "extra": 1}"#),
                "field `extra` is unknown; the accepted fields are `title`, `done`, `items`, `status`",
            ),
            (
                json(r#"{"title": "a", "done": true, "items": [{"title": "b", "weight": 1.5}]}"#),
                "field `items[0].weight` must be a whole number, got 1.5",
            ),
            (
                json(r#"{"title": "a", "done": true, "items": {"title": "b"}}"#),
                "field `items` must be a list, got an object",
            ),
            (
                json(r#"{"title": "a", "done": "yes"}"#),
                r#"field `done` must be true or false, got "yes""#,
            ),
            (
                Request::post("/text").body(vec![b'o', b'k', 0xff]),
                "the body is not valid UTF-8 text (at byte 2)",
            ),
        ];
        for (request, message) in cases {
            let response = app.execute(request).await;
            assert_eq!(error_of(&response)["error"], message, "{}", response.text());
        }
        let long = "z".repeat(1000);
        let response = app.execute(Request::get(format!("/one/{long}"))).await;
        assert_eq!(
            error_of(&response)["error"],
            format!(
                r#"path parameter `id` must be a whole number, got "{}…""#,
                &long[..CAP]
            )
        );
    }
}
