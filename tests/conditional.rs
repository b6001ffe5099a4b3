//! Conditional requests (RFC 9110 §13): every row of §13.2.2's evaluation order, strong and
//! weak comparison, `304` with its validators and no body, and `412`/`304` without running the
//! handler or building what only the handler asks for.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use roadie::conditional::unix_time;
use roadie::prelude::*;
use roadie::{ETag, StartupError};

/// The resource's state, and counters of what ran.
#[derive(Default)]
struct Store {
    etag: Option<ETag>,
    modified: Option<SystemTime>,
    handler_runs: AtomicUsize,
    handler_only_built: AtomicUsize,
    shared_built: AtomicUsize,
}

/// A dependency that the validators and the handler both ask for.
struct Shared;
/// A dependency that only the handler asks for.
struct HandlerOnly;

const MODIFIED: u64 = 1_700_000_000;

fn date(seconds: u64) -> String {
    httpdate::fmt_http_date(unix_time(seconds))
}

fn app(store: Arc<Store>) -> App {
    App::new()
        .on_startup(move || Ok::<_, std::convert::Infallible>(StoreRef(Arc::clone(&store))))
        .dependency(shared_of)
        .dependency(handler_only_of)
        .get("/doc", handler_of)
        .etag(etag_of)
        .last_modified(modified_of)
        .put("/doc", handler_of)
        .etag(etag_of)
        .last_modified(modified_of)
        .post("/doc", handler_of)
        .etag(etag_of)
        .last_modified(modified_of)
}

/// The test's store, as the app holds it.
struct StoreRef(Arc<Store>);

async fn shared_of(store: Res<StoreRef>) -> Result<Shared, std::convert::Infallible> {
    store.0.shared_built.fetch_add(1, Ordering::SeqCst);
    Ok(Shared)
}

async fn handler_only_of(store: Res<StoreRef>) -> Result<HandlerOnly, std::convert::Infallible> {
    store.0.handler_only_built.fetch_add(1, Ordering::SeqCst);
    Ok(HandlerOnly)
}

async fn etag_of(store: Res<StoreRef>, _shared: Dep<Shared>) -> Option<ETag> {
    store.0.etag.clone()
}

async fn modified_of(store: Res<StoreRef>, _shared: Dep<Shared>) -> Option<SystemTime> {
    store.0.modified
}

async fn handler_of(
    store: Res<StoreRef>,
    _shared: Dep<Shared>,
    _only: Dep<HandlerOnly>,
) -> &'static str {
    store.0.handler_runs.fetch_add(1, Ordering::SeqCst);
    "the doc"
}

fn existing() -> Store {
    Store {
        etag: Some(ETag::strong("v1")),
        modified: Some(unix_time(MODIFIED)),
        ..Store::default()
    }
}

fn missing() -> Store {
    Store::default()
}

/// One row: the request, the resource, and the status it gets.
struct Row {
    what: &'static str,
    method: Method,
    headers: Vec<(&'static str, String)>,
    exists: bool,
    status: u16,
}

fn row(
    what: &'static str,
    method: Method,
    headers: &[(&'static str, &str)],
    exists: bool,
    status: u16,
) -> Row {
    Row {
        what,
        method,
        headers: headers.iter().map(|(n, v)| (*n, (*v).to_owned())).collect(),
        exists,
        status,
    }
}

fn rows() -> Vec<Row> {
    let earlier = date(MODIFIED - 1000);
    let same = date(MODIFIED);
    let later = date(MODIFIED + 1000);
    let get = Method::GET;
    let put = Method::PUT;
    let mut rows = vec![
        row("no precondition", get.clone(), &[], true, 200),
        // 1. If-Match: strong comparison.
        row(
            "If-Match equal",
            get.clone(),
            &[("if-match", "\"v1\"")],
            true,
            200,
        ),
        row(
            "If-Match in a list",
            put.clone(),
            &[("if-match", "\"v0\", \"v1\"")],
            true,
            200,
        ),
        row(
            "If-Match different",
            put.clone(),
            &[("if-match", "\"v2\"")],
            true,
            412,
        ),
        row(
            "If-Match weak never matches",
            put.clone(),
            &[("if-match", "W/\"v1\"")],
            true,
            412,
        ),
        row(
            "If-Match on a read fails with 412",
            get.clone(),
            &[("if-match", "\"v2\"")],
            true,
            412,
        ),
        row(
            "If-Match * existing",
            put.clone(),
            &[("if-match", "*")],
            true,
            200,
        ),
        row(
            "If-Match * missing",
            put.clone(),
            &[("if-match", "*")],
            false,
            412,
        ),
        row(
            "If-Match a tag, missing",
            put.clone(),
            &[("if-match", "\"v1\"")],
            false,
            412,
        ),
        // 2. If-Unmodified-Since, without If-Match.
        row(
            "If-Unmodified-Since before",
            put.clone(),
            &[("if-unmodified-since", &earlier)],
            true,
            412,
        ),
        row(
            "If-Unmodified-Since same",
            put.clone(),
            &[("if-unmodified-since", &same)],
            true,
            200,
        ),
        row(
            "If-Unmodified-Since after",
            put.clone(),
            &[("if-unmodified-since", &later)],
            true,
            200,
        ),
        row(
            "If-Unmodified-Since invalid is ignored",
            put.clone(),
            &[("if-unmodified-since", "yesterday")],
            true,
            200,
        ),
        row(
            "If-Unmodified-Since ignored with If-Match",
            put.clone(),
            &[("if-match", "\"v1\""), ("if-unmodified-since", &earlier)],
            true,
            200,
        ),
        // 3. If-None-Match: weak comparison.
        row(
            "If-None-Match equal on GET",
            get.clone(),
            &[("if-none-match", "\"v1\"")],
            true,
            304,
        ),
        row(
            "If-None-Match weak on GET",
            get.clone(),
            &[("if-none-match", "W/\"v1\"")],
            true,
            304,
        ),
        row(
            "If-None-Match in a list",
            get.clone(),
            &[("if-none-match", "\"a\", W/\"v1\"")],
            true,
            304,
        ),
        row(
            "If-None-Match different",
            get.clone(),
            &[("if-none-match", "\"v2\"")],
            true,
            200,
        ),
        row(
            "If-None-Match * existing GET",
            get.clone(),
            &[("if-none-match", "*")],
            true,
            304,
        ),
        row(
            "If-None-Match on HEAD",
            Method::HEAD,
            &[("if-none-match", "\"v1\"")],
            true,
            304,
        ),
        row(
            "If-None-Match equal on PUT",
            put.clone(),
            &[("if-none-match", "\"v1\"")],
            true,
            412,
        ),
        row(
            "If-None-Match * on PUT, existing (create-only)",
            put.clone(),
            &[("if-none-match", "*")],
            true,
            412,
        ),
        row(
            "If-None-Match * on PUT, missing (create-only)",
            put.clone(),
            &[("if-none-match", "*")],
            false,
            200,
        ),
        row(
            "If-Match holds, then If-None-Match fails",
            put.clone(),
            &[("if-match", "\"v1\""), ("if-none-match", "\"v1\"")],
            true,
            412,
        ),
        // 4. If-Modified-Since: GET and HEAD only, not with If-None-Match.
        row(
            "If-Modified-Since after",
            get.clone(),
            &[("if-modified-since", &later)],
            true,
            304,
        ),
        row(
            "If-Modified-Since same",
            get.clone(),
            &[("if-modified-since", &same)],
            true,
            304,
        ),
        row(
            "If-Modified-Since before",
            get.clone(),
            &[("if-modified-since", &earlier)],
            true,
            200,
        ),
        row(
            "If-Modified-Since on HEAD",
            Method::HEAD,
            &[("if-modified-since", &later)],
            true,
            304,
        ),
        row(
            "If-Modified-Since ignored on POST",
            Method::POST,
            &[("if-modified-since", &later)],
            true,
            200,
        ),
        row(
            "If-Modified-Since invalid is ignored",
            get.clone(),
            &[("if-modified-since", "soon")],
            true,
            200,
        ),
        row(
            "If-Modified-Since in the future is ignored",
            get.clone(),
            &[("if-modified-since", "Fri, 01 Jan 2100 00:00:00 GMT")],
            true,
            200,
        ),
        row(
            "If-Modified-Since ignored with If-None-Match",
            get.clone(),
            &[("if-none-match", "\"v2\""), ("if-modified-since", &later)],
            true,
            200,
        ),
    ];
    rows.shrink_to_fit();
    rows
}

#[tokio::test]
async fn every_row_of_the_evaluation_order() {
    for row in rows() {
        let store = Arc::new(if row.exists { existing() } else { missing() });
        let app = app(Arc::clone(&store));
        let mut request = Request::new(row.method.clone(), "/doc");
        for (name, value) in &row.headers {
            request = request.header(*name, value.as_str());
        }
        let response = app.execute(request).await;
        assert_eq!(response.status().as_u16(), row.status, "{}", row.what);
        let ran = store.handler_runs.load(Ordering::SeqCst);
        let only = store.handler_only_built.load(Ordering::SeqCst);
        if row.status == 200 {
            assert_eq!((ran, only), (1, 1), "{}: the handler runs", row.what);
        } else {
            assert_eq!((ran, only), (0, 0), "{}: the handler never runs", row.what);
        }
        // The validators' shared dependency: built once, whoever asked.
        assert_eq!(store.shared_built.load(Ordering::SeqCst), 1, "{}", row.what);
        if row.status == 304 {
            assert!(
                response.body().is_empty(),
                "{}: a 304 has no body",
                row.what
            );
            assert_eq!(response.header("etag"), Some("\"v1\""), "{}", row.what);
            assert_eq!(
                response.header("last-modified"),
                Some(date(MODIFIED).as_str())
            );
        }
        if row.status == 412 {
            let body: serde_json::Value = response.json();
            assert!(body["error"].as_str().unwrap().contains("precondition"));
        }
    }
}

#[tokio::test]
async fn a_read_carries_its_validators_a_change_does_not_carry_stale_ones() {
    let store = Arc::new(existing());
    let app = app(store);
    let read = app.execute(Request::get("/doc")).await;
    assert_eq!(read.header("etag"), Some("\"v1\""));
    assert_eq!(
        read.header("last-modified"),
        Some("Tue, 14 Nov 2023 22:13:20 GMT")
    );
    assert_eq!(read.text(), "the doc");
    let change = app.execute(Request::put("/doc")).await;
    assert_eq!(change.status(), 200);
    assert_eq!(change.header("etag"), None);
}

#[tokio::test]
async fn the_412_goes_through_the_apps_renderer() {
    let store = Arc::new(existing());
    let app = app(store).on_error(Rejection::to_problem);
    let response = app
        .execute(Request::put("/doc").header("if-match", "\"old\""))
        .await;
    assert_eq!(response.status(), 412);
    assert_eq!(
        response.header("content-type"),
        Some("application/problem+json")
    );
    let problem: serde_json::Value = response.json();
    assert_eq!(problem["parameter"], "If-Match");
}

#[tokio::test]
async fn strong_and_weak_comparison() {
    let strong = ETag::strong("a");
    let weak = ETag::weak("a");
    assert!(strong.strong_eq(&ETag::strong("a")));
    assert!(!strong.strong_eq(&weak));
    assert!(!weak.strong_eq(&weak));
    assert!(strong.weak_eq(&weak));
    assert!(weak.weak_eq(&ETag::weak("a")));
    assert!(!weak.weak_eq(&ETag::weak("b")));
}

#[test]
fn etag_helpers_are_stable() {
    assert_eq!(ETag::from_version(42).to_string(), "\"v42\"");
    // 64-bit FNV-1a test vectors.
    assert_eq!(ETag::from_bytes(b"").tag(), "cbf29ce484222325");
    assert_eq!(ETag::from_bytes(b"a").tag(), "af63dc4c8601ec8c");
    assert_eq!("\"x\"".parse::<ETag>().unwrap(), ETag::strong("x"));
    assert!("x".parse::<ETag>().is_err());
    assert!(ETag::try_new(false, "a\"b").is_err());
}

#[tokio::test]
async fn a_failing_validator_answers_for_itself_and_the_handler_never_runs() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let app = App::new()
        .get("/x", move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { "x" }
        })
        .etag(|| async {
            Err::<Option<ETag>, _>(HttpError::new(StatusCode::SERVICE_UNAVAILABLE, "busy"))
        });
    let response = app.execute(Request::get("/x")).await;
    assert_eq!(response.status(), 503);
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_validators_missing_resource_is_a_startup_error_naming_it() {
    struct Missing;
    async fn needs_missing(_m: Res<Missing>) -> Option<ETag> {
        None
    }
    let app = App::new().get("/x", || async { "x" }).etag(needs_missing);
    let error = app.start().await.unwrap_err();
    let text = error.to_string();
    assert!(text.contains("needs_missing"), "{text}");
    assert!(text.contains("Missing"), "{text}");
    assert!(matches!(error, StartupError::Invalid(_)), "{error:?}");
}

#[tokio::test]
async fn a_route_setting_after_something_else_is_a_validation_problem() {
    let app = App::new()
        .dependency(|| Ok::<_, std::convert::Infallible>(Shared))
        .etag(|| async { None::<ETag> });
    let error = app.validate().unwrap_err().to_string();
    assert!(error.contains("App::etag"), "{error}");
    let app = App::new()
        .on_startup(|| Ok::<_, std::convert::Infallible>(Shared))
        .provides(["application/json"]);
    let error = app.validate().unwrap_err().to_string();
    assert!(error.contains("App::provides"), "{error}");
}

#[tokio::test]
async fn validators_run_after_the_apps_middleware() {
    async fn deny(_request: Request, _next: Next) -> Response {
        (StatusCode::UNAUTHORIZED, "no").into_response()
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let app = App::new()
        .wrap(deny)
        .get("/x", || async { "x" })
        .etag(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Some(ETag::strong("a")) }
        });
    let response = app.execute(Request::get("/x")).await;
    assert_eq!(response.status(), 401);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[cfg(feature = "macros")]
mod attribute {
    use super::*;

    async fn doc_etag(Path(id): Path<u32>) -> Option<ETag> {
        (id == 1).then(|| ETag::from_version(3))
    }

    #[get("/docs/{id}", etag = doc_etag, provides = ["application/json", "text/csv"])]
    async fn doc(Path(id): Path<u32>, media: MediaType) -> String {
        format!("{id} as {media}")
    }

    #[tokio::test]
    async fn the_attribute_declares_the_etag_and_the_media_types() {
        let app = App::new().route(doc);
        let response = app
            .execute(Request::get("/docs/1").header("accept", "text/csv"))
            .await;
        assert_eq!(response.text(), "1 as text/csv");
        assert_eq!(response.header("etag"), Some("\"v3\""));
        assert_eq!(response.header("vary"), Some("Accept"));
        let again = app
            .execute(Request::get("/docs/1").header("if-none-match", "\"v3\""))
            .await;
        assert_eq!(again.status(), 304);
    }
}
