//! Routing: method helpers, typed path parameters, 404, 405 with `Allow`, HEAD, wildcards and
//! route conflicts found at start.

use roadie::extract::{Context, FromContext, Needs, Prepare};
use roadie::prelude::*;
use roadie::{StartupError, Uri};

fn crud_app() -> App {
    App::new()
        .get("/items", || async { "get" })
        .post("/items", || async { "post" })
        .put("/items", || async { "put" })
        .patch("/items", || async { "patch" })
        .delete("/items", || async { "delete" })
        .method(Method::OPTIONS, "/items", || async { "options" })
}

#[tokio::test]
async fn every_method_helper_routes_its_own_method() {
    let app = crud_app();
    for (request, expected) in [
        (Request::get("/items"), "get"),
        (Request::post("/items"), "post"),
        (Request::put("/items"), "put"),
        (Request::patch("/items"), "patch"),
        (Request::delete("/items"), "delete"),
        (Request::new(Method::OPTIONS, "/items"), "options"),
    ] {
        let response = app.execute(request).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text(), expected);
    }
}

#[tokio::test]
async fn method_takes_any_method_including_extension_methods() {
    let purge = Method::from_bytes(b"PURGE").unwrap();
    let app = App::new().method(purge.clone(), "/cache", || async { "purged" });
    let response = app.execute(Request::new(purge, "/cache")).await;
    assert_eq!(response.text(), "purged");
}

#[tokio::test]
async fn a_typed_path_parameter_reaches_the_handler() {
    let app = App::new().get("/users/{id}", |Path(id): Path<u64>| async move {
        format!("user {}", id + 1)
    });
    let response = app.execute(Request::get("/users/41")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text(), "user 42");
}

#[tokio::test]
async fn path_parameters_are_percent_decoded() {
    let app = App::new().get(
        "/files/{name}",
        |Path(name): Path<String>| async move { name },
    );
    let response = app.execute(Request::get("/files/a%20b%2Fc")).await;
    assert_eq!(response.text(), "a b/c");
}

#[tokio::test]
async fn each_path_parameter_is_read_where_its_pattern_puts_it() {
    let app = App::new().get(
        "/users/{id}/posts/{slug}/{*rest}",
        |Path((id, slug, rest)): Path<(u64, String, String)>| async move {
            format!("{id}|{slug}|{rest}")
        },
    );
    // The second value is decoded, the first and the last are not.
    let response = app
        .execute(Request::get("/users/7/posts/hello%20there/a/b%2Fc"))
        .await;
    assert_eq!(response.text(), "7|hello there|a/b/c");
    let response = app.execute(Request::get("/users/8/posts/x/y")).await;
    assert_eq!(response.text(), "8|x|y");
}

#[tokio::test]
async fn a_literal_brace_in_a_pattern_is_one_byte_of_the_path() {
    let app = App::new().get("/{{raw}}/{id}", |Path(id): Path<String>| async move { id });
    let response = app.execute(Request::get("/%7Braw%7D/x")).await;
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "matchit sees the path as sent"
    );
    let response = app.execute(Request::get("/{raw}/abc")).await;
    assert_eq!(response.text(), "abc");
}

/// An extractor that sends the request elsewhere, as a rewriting one might.
struct Rewrite;

impl FromContext for Rewrite {
    type State = ();

    fn describe(needs: &mut Needs) {
        needs.request_part("Rewrite");
    }

    fn prepare(_cx: &Prepare<'_>) -> Self::State {}

    async fn from_context(_state: &(), cx: &mut Context<'_>) -> Result<Self, Rejection> {
        if let Some(parts) = cx.parts_mut() {
            parts.uri = Uri::from_static("/elsewhere/entirely/and/longer");
        }
        Ok(Rewrite)
    }
}

#[tokio::test]
async fn path_parameters_are_those_of_the_path_that_was_routed() {
    let app = App::new().get(
        "/users/{id}/{name}",
        |_: Rewrite, uri: Uri, Path((id, name)): Path<(u64, String)>| async move {
            format!("{id} {name} {}", uri.path())
        },
    );
    let response = app.execute(Request::get("/users/42/ada")).await;
    assert_eq!(response.text(), "42 ada /elsewhere/entirely/and/longer");
}

#[tokio::test]
async fn an_unknown_path_is_404_with_a_json_body() {
    let app = App::new().get("/users", || async { "users" });
    let response = app.execute(Request::get("/nope")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.json::<serde_json::Value>(),
        serde_json::json!({ "error": "Not Found" })
    );
}

#[tokio::test]
async fn a_wrong_method_is_405_with_the_exact_allow_header() {
    let app = App::new()
        .get("/items", || async { "get" })
        .post("/items", || async { "post" })
        .delete("/items", || async { "delete" });
    let response = app.execute(Request::put("/items")).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.header("allow"), Some("GET, POST, DELETE, HEAD"));

    let only_post = App::new().post("/form", || async { "post" });
    let response = only_post.execute(Request::get("/form")).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.header("allow"), Some("POST"));
    let response = only_post.execute(Request::head("/form")).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn head_is_answered_by_get_without_a_body() {
    let app = App::new().get("/page", || async {
        (
            StatusCode::OK,
            [(roadie::header::CONTENT_TYPE, "text/plain")],
            "a body that must not be sent",
        )
    });
    let response = app.execute(Request::head("/page")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.header("content-type"), Some("text/plain"));
    assert!(response.body().is_empty());

    let response = app.execute(Request::get("/page")).await;
    assert_eq!(response.text(), "a body that must not be sent");
}

#[tokio::test]
async fn an_explicit_head_handler_wins_over_get() {
    let app = App::new()
        .get("/page", || async { "get" })
        .method(Method::HEAD, "/page", || async {
            (StatusCode::ACCEPTED, "head")
        });
    let response = app.execute(Request::head("/page")).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert!(response.body().is_empty());
}

#[tokio::test]
async fn a_wildcard_catches_the_rest_of_the_path() {
    let app = App::new()
        .get(
            "/static/{*rest}",
            |Path(rest): Path<String>| async move { rest },
        )
        .get("/static/index", || async { "index" });
    assert_eq!(
        app.execute(Request::get("/static/css/site.css"))
            .await
            .text(),
        "css/site.css"
    );
    assert_eq!(
        app.execute(Request::get("/static/index")).await.text(),
        "index"
    );
}

#[tokio::test]
async fn overlapping_routes_are_a_start_error_naming_both() {
    let app = App::new()
        .get("/users/{id}", |Path(id): Path<u64>| async move {
            id.to_string()
        })
        .get(
            "/users/{name}",
            |Path(name): Path<String>| async move { name },
        );
    let error = app.start().await.expect_err("the routes conflict");
    assert!(matches!(error, StartupError::Invalid(_)), "{error}");
    let text = error.to_string();
    assert!(text.contains("/users/{name}"), "{text}");
    assert!(text.contains("/users/{id}"), "{text}");
    // The app never serves: `execute` answers 503.
    let response = app.execute(Request::get("/users/1")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn the_same_method_and_path_twice_is_a_start_error() {
    let app = App::new()
        .get("/a", || async { "one" })
        .get("/a", || async { "two" });
    let error = app.start().await.expect_err("registered twice");
    assert!(error.to_string().contains("registered twice"), "{error}");
}

#[tokio::test]
async fn a_path_without_a_leading_slash_is_a_start_error() {
    let app = App::new().get("users", || async { "users" });
    let error = app.start().await.expect_err("not a path");
    assert!(error.to_string().contains("must start with `/`"), "{error}");
}

#[tokio::test]
async fn a_fallback_answers_unmatched_paths_with_extractors_like_any_handler() {
    struct Site(&'static str);
    let app = App::new()
        .on_startup(|| Ok::<_, std::convert::Infallible>(Site("roadie")))
        .get("/", || async { "home" })
        .post("/todos", || async { "made" })
        .fallback(
            |uri: roadie::Uri, method: Method, site: Res<Site>| async move {
                (
                    StatusCode::NOT_FOUND,
                    format!("{} has no {method} {}", site.0, uri.path()),
                )
            },
        );
    let missing = app.execute(Request::get("/nothing/here")).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.text(), "roadie has no GET /nothing/here");
    assert_eq!(
        app.execute(Request::delete("/deep/path?x=1")).await.text(),
        "roadie has no DELETE /deep/path"
    );
    // A known path with another method is still 405 with `Allow`, and routes still answer.
    let wrong_method = app.execute(Request::get("/todos")).await;
    assert_eq!(wrong_method.status(), 405);
    assert_eq!(wrong_method.header("allow"), Some("POST"));
    assert_eq!(app.execute(Request::get("/")).await.text(), "home");
}

#[test]
fn an_app_has_one_fallback_and_its_needs_are_validated() {
    struct Missing;
    let two = App::new()
        .fallback(|| async { "first" })
        .fallback(|| async { "second" });
    let error = two.validate().unwrap_err().to_string();
    assert!(
        error.contains("route `fallback`: registered twice"),
        "{error}"
    );

    let needy = App::new().fallback(|_missing: Res<Missing>| async { "never" });
    let error = needy.validate().unwrap_err().to_string();
    assert!(error.contains("`fallback (closure in "), "{error}");
    assert!(error.contains("needs the resource `Missing`"), "{error}");
}

#[tokio::test]
async fn a_merged_modules_fallback_is_the_apps() {
    let module = App::module("pages").fallback(|| async { (StatusCode::NOT_FOUND, "no page") });
    let app = App::new()
        .get("/", || async { "home" })
        .nest("/pages", module);
    assert_eq!(
        app.execute(Request::get("/elsewhere")).await.text(),
        "no page"
    );
    assert!(
        app.to_dot().contains("fallback (pages::"),
        "{}",
        app.to_dot()
    );
}
