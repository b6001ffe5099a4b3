//! Content negotiation (RFC 9110 §12.5.1) and method semantics: `Accept` with quality values,
//! wildcards and parameters, `406` listing the types, `Vary: Accept`; `OPTIONS` answered with
//! `Allow`, `501` for a method unknown to HTTP, `405` kept for known ones, `414` for a long
//! target.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use roadie::prelude::*;

async fn show(media: MediaType) -> String {
    media.to_string()
}

fn app() -> App {
    App::new()
        .get("/doc", show)
        .provides(["application/json", "text/csv", "text/html;level=1"])
}

async fn chosen(accept: Option<&str>) -> (u16, String) {
    let mut request = Request::get("/doc");
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = app().execute(request).await;
    (response.status().as_u16(), response.text())
}

#[tokio::test]
async fn accept_picks_by_quality_wildcard_and_order() {
    for (accept, expected) in [
        (None, "application/json"),
        (Some("text/csv"), "text/csv"),
        (Some("*/*"), "application/json"),
        (Some("text/*"), "text/csv"),
        (Some("text/*;q=0.5, application/json;q=0.4"), "text/csv"),
        (Some("application/json;q=0.2, text/csv;q=0.9"), "text/csv"),
        (
            Some("text/csv;q=0.5, application/json;q=0.5"),
            "application/json",
        ),
        // The most specific range counts: `text/csv;q=0` excludes it despite `text/*`.
        (Some("text/*, text/csv;q=0"), "text/html;level=1"),
        (Some("*/*;q=0.1, text/html;level=1"), "text/html;level=1"),
        // Case does not matter in types.
        (Some("TEXT/CSV"), "text/csv"),
        // An unparsable Accept is as none.
        (Some("nonsense"), "application/json"),
    ] {
        let (status, body) = chosen(accept).await;
        assert_eq!(
            (status, body.as_str()),
            (200, expected),
            "Accept: {accept:?}"
        );
    }
}

#[tokio::test]
async fn no_acceptable_type_is_406_listing_them_and_the_handler_does_not_run() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let app = App::new()
        .get("/doc", move |media: MediaType| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move { media.to_string() }
        })
        .provides(["application/json", "text/csv"]);
    for accept in [
        "image/png",
        "text/html",
        "application/json;q=0, text/csv;q=0",
    ] {
        let response = app
            .execute(Request::get("/doc").header("accept", accept))
            .await;
        assert_eq!(response.status(), 406, "{accept}");
        assert_eq!(response.header("vary"), Some("Accept"));
        let body: serde_json::Value = response.json();
        assert_eq!(
            body["error"],
            "`Accept` allows none of the media types this route provides: application/json, text/csv"
        );
    }
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn responses_of_a_negotiating_route_vary_on_accept() {
    let response = app().execute(Request::get("/doc")).await;
    assert_eq!(response.header("vary"), Some("Accept"));
    // A route that declares nothing is left alone.
    let plain = App::new().get("/", || async { "x" });
    assert_eq!(plain.execute(Request::get("/")).await.header("vary"), None);
}

#[tokio::test]
async fn a_media_type_that_is_not_one_is_a_validation_problem() {
    let error = App::new()
        .get("/doc", show)
        .provides(["text/*"])
        .validate()
        .unwrap_err()
        .to_string();
    assert!(error.contains("App::provides"), "{error}");
    assert!(error.contains("`text/*` is a range"), "{error}");
}

#[tokio::test]
async fn media_type_on_a_route_without_provides_is_a_validation_problem() {
    let error = App::new()
        .get("/doc", show)
        .validate()
        .unwrap_err()
        .to_string();
    assert!(error.contains("reads `MediaType`"), "{error}");
}

fn methods_app() -> App {
    App::new()
        .get("/items", || async { "get" })
        .post("/items", || async { "post" })
        .method(Method::OPTIONS, "/own", || async { "own options" })
}

#[tokio::test]
async fn options_on_a_known_path_is_204_with_allow() {
    let response = methods_app()
        .execute(Request::new(Method::OPTIONS, "/items"))
        .await;
    assert_eq!(response.status(), 204);
    assert_eq!(response.header("allow"), Some("GET, POST, HEAD, OPTIONS"));
    assert!(response.body().is_empty());
}

#[tokio::test]
async fn an_app_that_routes_options_answers_it_itself() {
    let response = methods_app()
        .execute(Request::new(Method::OPTIONS, "/own"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text(), "own options");
}

#[tokio::test]
async fn options_on_an_unknown_path_is_404() {
    let response = methods_app()
        .execute(Request::new(Method::OPTIONS, "/nowhere"))
        .await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn a_method_unknown_to_http_is_501_on_any_path() {
    let foo = Method::from_bytes(b"FOO").unwrap();
    for path in ["/items", "/nowhere"] {
        let response = methods_app().execute(Request::new(foo.clone(), path)).await;
        assert_eq!(response.status(), 501, "{path}");
    }
}

#[tokio::test]
async fn a_known_method_not_routed_stays_405_with_allow() {
    let response = methods_app().execute(Request::delete("/items")).await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.header("allow"), Some("GET, POST, HEAD"));
    let propfind = Method::from_bytes(b"PROPFIND").unwrap();
    let response = methods_app()
        .execute(Request::new(propfind, "/items"))
        .await;
    assert_eq!(response.status(), 405);
}

#[tokio::test]
async fn a_method_the_app_routes_somewhere_is_known_everywhere() {
    let purge = Method::from_bytes(b"PURGE").unwrap();
    let app = methods_app().method(purge.clone(), "/cache", || async { "purged" });
    assert_eq!(
        app.execute(Request::new(purge.clone(), "/cache"))
            .await
            .text(),
        "purged"
    );
    let elsewhere = app.execute(Request::new(purge, "/items")).await;
    assert_eq!(elsewhere.status(), 405);
    assert_eq!(elsewhere.header("allow"), Some("GET, POST, HEAD"));
}

#[tokio::test]
async fn a_request_target_past_the_limit_is_414() {
    let app = methods_app();
    let long = format!("/items?q={}", "a".repeat(8 * 1024));
    let response = app.execute(Request::get(&long)).await;
    assert_eq!(response.status(), 414);
    assert_eq!(response.header("connection"), Some("close"));
    let fine = format!("/items?q={}", "a".repeat(8 * 1024 - 12));
    assert_eq!(app.execute(Request::get(&fine)).await.status(), 200);
    // The limit is a setting.
    let app = methods_app().uri_limit(16);
    assert_eq!(
        app.execute(Request::get("/items?page=12345"))
            .await
            .status(),
        414
    );
    assert_eq!(app.execute(Request::get("/items")).await.status(), 200);
}
