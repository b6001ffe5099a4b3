//! Middleware (`App::wrap`, `App::wrap_route`): nesting order, short-circuits, changes to the
//! request and the response, the request scope shared with the handler, validation at start,
//! panics, and scoping to nested modules and single routes.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use roadie::prelude::*;
use roadie::StartupError;

/// What happened, in order, across a request.
#[derive(Default, Clone)]
struct Journal(Arc<Mutex<Vec<String>>>);

impl Journal {
    fn write(&self, entry: impl Into<String>) {
        self.0.lock().unwrap().push(entry.into());
    }
    fn read(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

fn with_journal(journal: &Journal) -> App {
    let journal = journal.clone();
    App::new().on_startup(move || Ok::<_, Infallible>(journal.clone()))
}

async fn outer(request: Request, next: Next, journal: Res<Journal>) -> Response {
    journal.write("outer before");
    let response = next.run(request).await;
    journal.write("outer after");
    response
}

async fn inner(request: Request, next: Next, journal: Res<Journal>) -> Response {
    journal.write("inner before");
    let response = next.run(request).await;
    journal.write("inner after");
    response
}

#[tokio::test]
async fn middleware_nest_in_registration_order_first_outermost() {
    let journal = Journal::default();
    let app = with_journal(&journal).wrap(outer).wrap(inner).get(
        "/",
        |journal: Res<Journal>| async move {
            journal.write("handler");
            "ok"
        },
    );
    let response = app.execute(Request::get("/")).await;
    assert_eq!(response.text(), "ok");
    assert_eq!(
        journal.read(),
        [
            "outer before",
            "inner before",
            "handler",
            "inner after",
            "outer after"
        ]
    );
}

#[tokio::test]
async fn middleware_registered_after_the_routes_still_wraps_them() {
    let journal = Journal::default();
    let app = with_journal(&journal)
        .get("/", |journal: Res<Journal>| async move {
            journal.write("handler");
            "ok"
        })
        .wrap(outer);
    app.execute(Request::get("/")).await;
    assert_eq!(journal.read(), ["outer before", "handler", "outer after"]);
}

async fn require_token(request: Request, next: Next) -> Response {
    if request.headers().get("authorization").is_none() {
        return (StatusCode::UNAUTHORIZED, "sign in first").into_response();
    }
    next.run(request).await
}

#[tokio::test]
async fn a_middleware_that_answers_without_next_stops_the_handler() {
    let journal = Journal::default();
    let app =
        with_journal(&journal)
            .wrap(require_token)
            .get("/", |journal: Res<Journal>| async move {
                journal.write("handler");
                "ok"
            });
    let refused = app.execute(Request::get("/")).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.text(), "sign in first");
    assert!(journal.read().is_empty(), "the handler must not run");

    let allowed = app
        .execute(Request::get("/").header("authorization", "Bearer x"))
        .await;
    assert_eq!(allowed.text(), "ok");
    assert_eq!(journal.read(), ["handler"]);
}

#[tokio::test]
async fn a_middleware_changes_the_request_before_and_the_response_after() {
    async fn stamp(mut request: Request, next: Next) -> Response {
        request
            .headers_mut()
            .insert("x-user", HeaderValue::from_static("ada"));
        let mut response = next.run(request).await;
        response
            .headers_mut()
            .insert("x-served-by", HeaderValue::from_static("roadie"));
        response
    }
    let app = App::new()
        .wrap(stamp)
        .get("/", |headers: HeaderMap| async move {
            headers["x-user"].to_str().unwrap().to_owned()
        });
    let response = app.execute(Request::get("/")).await;
    assert_eq!(response.text(), "ada");
    assert_eq!(response.header("x-served-by"), Some("roadie"));
}

#[tokio::test]
async fn a_middleware_reads_the_body_and_passes_it_on() {
    async fn measure(request: Request, next: Next) -> Response {
        let length = request.body_bytes().len();
        let mut response = next.run(request).await;
        response
            .headers_mut()
            .insert("x-length", HeaderValue::from(length));
        response
    }
    let app = App::new()
        .wrap(measure)
        .post("/echo", |body: String| async move { body });
    let response = app.execute(Request::post("/echo").body("hello")).await;
    assert_eq!(response.text(), "hello");
    assert_eq!(response.header("x-length"), Some("5"));
}

/// A transaction: counts how often it is opened, and what each release was told.
#[derive(Default, Clone)]
struct Ledger {
    opened: Arc<Mutex<u32>>,
    released: Arc<Mutex<Vec<Outcome>>>,
}

struct Tx {
    id: u32,
}

fn ledger_app(ledger: &Ledger) -> App {
    let ledger = ledger.clone();
    App::new()
        .on_startup(move || Ok::<_, Infallible>(ledger.clone()))
        .dependency(|ledger: Res<Ledger>| async move {
            let id = {
                let mut opened = ledger.opened.lock().unwrap();
                *opened += 1;
                *opened
            };
            let released = Arc::clone(&ledger.released);
            Ok::<_, Infallible>(
                Scoped::new(Tx { id }).on_release(move |_tx, outcome| async move {
                    released.lock().unwrap().push(outcome);
                }),
            )
        })
}

async fn in_transaction(request: Request, next: Next, tx: Dep<Tx>) -> Response {
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert("x-tx", HeaderValue::from(tx.id));
    response
}

#[tokio::test]
async fn a_dep_built_in_a_middleware_is_the_handlers_instance_released_once_with_the_outcome() {
    let ledger = Ledger::default();
    let app = ledger_app(&ledger)
        .wrap(in_transaction)
        .get("/ok", |tx: Dep<Tx>| async move { format!("tx {}", tx.id) })
        .get("/fail", |_tx: Dep<Tx>| async move {
            Err::<&str, _>(HttpError::new(StatusCode::CONFLICT, "taken"))
        });
    let running = app.start().await.unwrap();

    let ok = running.execute(Request::get("/ok")).await;
    assert_eq!(ok.text(), "tx 1");
    assert_eq!(ok.header("x-tx"), Some("1"), "one instance for both");
    assert_eq!(*ledger.opened.lock().unwrap(), 1, "built once");
    assert_eq!(
        *ledger.released.lock().unwrap(),
        [Outcome::Responded(StatusCode::OK)],
        "released once, told it succeeded"
    );

    let failed = running.execute(Request::get("/fail")).await;
    assert_eq!(failed.status(), 409);
    assert_eq!(*ledger.opened.lock().unwrap(), 2);
    assert_eq!(
        ledger.released.lock().unwrap()[1],
        Outcome::Failed(StatusCode::CONFLICT),
        "the handler's failure reaches the middleware's transaction"
    );
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_dep_of_a_short_circuiting_middleware_is_released_told_the_answer() {
    async fn refuse(_request: Request, _next: Next, _tx: Dep<Tx>) -> Response {
        StatusCode::FORBIDDEN.into_response()
    }
    let ledger = Ledger::default();
    let app = ledger_app(&ledger)
        .wrap(refuse)
        .get("/", || async { "never" });
    let response = app.execute(Request::get("/")).await;
    assert_eq!(response.status(), 403);
    assert_eq!(
        *ledger.released.lock().unwrap(),
        [Outcome::Responded(StatusCode::FORBIDDEN)]
    );
}

#[tokio::test]
async fn a_panicking_handler_answers_500_through_the_middleware_and_its_dep_is_told() {
    let ledger = Ledger::default();
    let app = ledger_app(&ledger)
        .wrap(in_transaction)
        .get("/boom", |_tx: Dep<Tx>| async move {
            if true {
                panic!("secret detail");
            }
            "never"
        });
    let response = app.execute(Request::get("/boom")).await;
    assert_eq!(response.status(), 500);
    assert_eq!(
        response.header("x-tx"),
        Some("1"),
        "the middleware saw the 500"
    );
    assert!(!response.text().contains("secret"));
    assert_eq!(*ledger.released.lock().unwrap(), [Outcome::Panicked]);
}

#[tokio::test]
async fn a_panicking_middleware_answers_500_and_the_app_keeps_serving() {
    async fn broken(_request: Request, _next: Next) -> Response {
        panic!("middleware secret");
    }
    let ledger = Ledger::default();
    let app = ledger_app(&ledger)
        .wrap(in_transaction)
        .wrap(broken)
        .get("/", || async { "ok" });
    let running = app.start().await.unwrap();
    let response = running.execute(Request::get("/")).await;
    assert_eq!(response.status(), 500);
    assert!(!response.text().contains("secret"));
    assert_eq!(*ledger.released.lock().unwrap(), [Outcome::Panicked]);
    let again = running.execute(Request::get("/")).await;
    assert_eq!(again.status(), 500, "still answering");
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_middleware_that_hands_next_to_a_task_is_waited_for_before_the_release() {
    async fn spawned(request: Request, next: Next) -> Response {
        tokio::spawn(next.run(request)).await.unwrap()
    }
    let ledger = Ledger::default();
    let app = ledger_app(&ledger)
        .wrap(spawned)
        .get("/", |tx: Dep<Tx>| async move { format!("tx {}", tx.id) });
    assert_eq!(app.execute(Request::get("/")).await.text(), "tx 1");
    assert_eq!(
        *ledger.released.lock().unwrap(),
        [Outcome::Responded(StatusCode::OK)]
    );
}

struct Sessions;

async fn needs_sessions(request: Request, next: Next, _sessions: Res<Sessions>) -> Response {
    next.run(request).await
}

#[tokio::test]
async fn a_middleware_needing_a_missing_resource_fails_validation_naming_it() {
    let app = App::new().wrap(needs_sessions).get("/", || async { "ok" });
    let error = app.start().await.unwrap_err();
    let StartupError::Invalid(invalid) = &error else {
        panic!("expected a validation error, got {error}");
    };
    let text = invalid.to_string();
    assert!(text.contains("Sessions"), "{text}");
    assert!(text.contains("needs_sessions"), "{text}");
}

#[tokio::test]
async fn a_middleware_needing_a_missing_dependency_fails_validation() {
    async fn needs_tx(request: Request, next: Next, _tx: Dep<Tx>) -> Response {
        next.run(request).await
    }
    let error = App::new()
        .wrap(needs_tx)
        .get("/", || async { "ok" })
        .validate()
        .unwrap_err();
    assert!(error.to_string().contains("Tx"), "{error}");
}

#[tokio::test]
async fn a_rejected_middleware_parameter_answers_its_error_and_the_handler_does_not_run() {
    async fn typed(request: Request, next: Next, _page: Query<Page>) -> Response {
        next.run(request).await
    }
    #[derive(serde::Deserialize)]
    struct Page {
        #[allow(dead_code)]
        page: u32,
    }
    let journal = Journal::default();
    let app = with_journal(&journal)
        .wrap(typed)
        .get("/", |journal: Res<Journal>| async move {
            journal.write("handler");
            "ok"
        });
    let response = app.execute(Request::get("/?page=x")).await;
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json();
    assert_eq!(body["parameter"], "page");
    assert!(journal.read().is_empty());
}

#[tokio::test]
async fn app_wide_middleware_sees_the_routers_404_and_405() {
    async fn tag(request: Request, next: Next) -> Response {
        let mut response = next.run(request).await;
        response
            .headers_mut()
            .insert("x-tag", HeaderValue::from_static("seen"));
        response
    }
    let app = App::new().wrap(tag).get("/", || async { "ok" });
    let missing = app.execute(Request::get("/missing")).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.header("x-tag"), Some("seen"));
    let wrong = app.execute(Request::post("/")).await;
    assert_eq!(wrong.status(), 405);
    assert_eq!(wrong.header("allow"), Some("GET, HEAD"));
    assert_eq!(wrong.header("x-tag"), Some("seen"));
}

#[tokio::test]
async fn a_nested_modules_middleware_wraps_only_its_routes() {
    let journal = Journal::default();
    let admin = App::module("admin")
        .wrap(inner)
        .get("/users", || async { "admin users" });
    let app = with_journal(&journal)
        .wrap(outer)
        .get("/", || async { "home" })
        .nest("/admin", admin);

    app.execute(Request::get("/")).await;
    assert_eq!(journal.read(), ["outer before", "outer after"]);

    journal.0.lock().unwrap().clear();
    let response = app.execute(Request::get("/admin/users")).await;
    assert_eq!(response.text(), "admin users");
    assert_eq!(
        journal.read(),
        ["outer before", "inner before", "inner after", "outer after"]
    );
}

#[tokio::test]
async fn wrap_route_wraps_one_route_inside_the_app_wide_ones() {
    let journal = Journal::default();
    let app = with_journal(&journal)
        .wrap(outer)
        .get("/a", || async { "a" })
        .wrap_route(inner)
        .named("route a")
        .get("/b", || async { "b" });

    app.execute(Request::get("/a")).await;
    assert_eq!(
        journal.read(),
        ["outer before", "inner before", "inner after", "outer after"]
    );
    journal.0.lock().unwrap().clear();
    app.execute(Request::get("/b")).await;
    assert_eq!(journal.read(), ["outer before", "outer after"]);
}

#[tokio::test]
async fn wrap_route_after_something_other_than_a_route_is_a_validation_problem() {
    let error = App::new()
        .on_startup(|| Ok::<_, Infallible>(Sessions))
        .wrap_route(needs_sessions)
        .validate()
        .unwrap_err();
    assert!(error.to_string().contains("App::wrap_route"), "{error}");
}

#[tokio::test]
async fn path_parameters_reach_the_handler_through_middleware() {
    let app = App::new().wrap(require_token).get(
        "/users/{id}/posts/{post}",
        |Path((id, post)): Path<(u32, String)>| async move { format!("{id}:{post}") },
    );
    let response = app
        .execute(Request::get("/users/7/posts/hello%20there").header("authorization", "x"))
        .await;
    assert_eq!(response.text(), "7:hello there");
}

#[tokio::test]
async fn a_closure_is_a_middleware_too() {
    let app = App::new()
        .wrap(|request: Request, next: Next| async move {
            let mut response = next.run(request).await;
            *response.status_mut() = StatusCode::ACCEPTED;
            response
        })
        .get("/", || async { "ok" });
    assert_eq!(app.execute(Request::get("/")).await.status(), 202);
}

#[tokio::test]
async fn head_requests_go_through_middleware_and_lose_the_body() {
    let app = App::new()
        .wrap(|request: Request, next: Next| async move { next.run(request).await })
        .get("/", || async { "body" });
    let response = app.execute(Request::head("/")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text(), "");
}

#[tokio::test]
async fn a_next_left_running_in_a_detached_task_still_has_its_dep_released() {
    async fn detach(request: Request, next: Next) -> Response {
        tokio::spawn(next.run(request));
        StatusCode::ACCEPTED.into_response()
    }
    let ledger = Ledger::default();
    let app = ledger_app(&ledger)
        .wrap(detach)
        .get("/", |tx: Dep<Tx>| async move { format!("tx {}", tx.id) });
    let running = app.start().await.unwrap();
    assert_eq!(running.execute(Request::get("/")).await.status(), 202);
    // The handler runs in the detached task; what it acquired is released once it ends.
    for _ in 0..200 {
        if !ledger.released.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(*ledger.opened.lock().unwrap(), 1);
    assert_eq!(ledger.released.lock().unwrap().len(), 1, "released once");
    running.shutdown().await.unwrap();
}
