//! DESIGN.md's sketch of "the next layer", written as a user would write it: it must compile
//! and answer as the sketch says. A guard on the public names the sketch gives.

use std::convert::Infallible;

use futures_util::stream::{self, Stream};
use roadie::prelude::*;
use roadie::sse::{Event, Sse};
use roadie::ws::WebSocketUpgrade;

struct Sessions;
struct User(&'static str);
struct Cache;
struct Bus;
struct Room;

#[derive(Debug, thiserror::Error)]
#[error("the cache could not refresh")]
struct Error;

async fn require_user(
    req: Request,
    next: Next,
    _sessions: Res<Sessions>,
    user: Dep<User>,
) -> Response {
    if user.0.is_empty() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    next.run(req).await
}

async fn refresh_cache(_cache: Res<Cache>, shutdown: Shutdown) -> Result<(), Error> {
    shutdown.requested().await;
    Ok(())
}

#[get("/events")]
async fn events(_bus: Res<Bus>) -> Sse<impl Stream<Item = Event>> {
    Sse::new(stream::iter([Event::new().data("hello")]))
}

#[get("/chat")]
async fn chat(ws: WebSocketUpgrade, _room: Res<Room>) -> Response {
    ws.on_upgrade(|_socket| async {})
}

async fn todo_etag(Path(id): Path<i64>) -> Option<ETag> {
    Some(ETag::from_version(id as u64))
}

#[get("/todos/{id}", etag = todo_etag, provides = ["application/json", "text/csv"])]
async fn get_todo(Path(id): Path<i64>, media: MediaType) -> Response {
    if media == "text/csv" {
        format!("id\n{id}\n").into_response()
    } else {
        Json(serde_json::json!({ "id": id })).into_response()
    }
}

async fn not_found(uri: roadie::Uri) -> (StatusCode, String) {
    (StatusCode::NOT_FOUND, format!("nothing at {}", uri.path()))
}

fn app() -> App {
    App::new()
        .on_startup(|| Ok::<_, Infallible>(Sessions))
        .on_startup(|| Ok::<_, Infallible>(Cache))
        .on_startup(|| Ok::<_, Infallible>(Bus))
        .on_startup(|| Ok::<_, Infallible>(Room))
        .dependency(|| Ok::<_, Infallible>(User("ada")))
        .layer(tower_http::cors::CorsLayer::permissive())
        .wrap(require_user)
        .fallback(not_found)
        .on_error(|err: &Rejection| (err.status(), err.message().to_owned()).into_response())
        .background(refresh_cache)
        .route(events)
        .route(chat)
        .route(get_todo)
}

#[tokio::test]
async fn the_sketch_compiles_and_answers() {
    let running = app().start().await.unwrap();

    let todo = running.execute(Request::get("/todos/7")).await;
    assert_eq!(todo.status(), 200);
    assert_eq!(todo.header("etag"), Some("\"v7\""));
    assert!(todo
        .header("vary")
        .is_some_and(|vary| vary.eq_ignore_ascii_case("accept")));
    let csv = running
        .execute(Request::get("/todos/7").header("accept", "text/csv"))
        .await;
    assert_eq!(csv.text(), "id\n7\n");
    let none = running
        .execute(Request::get("/todos/7").header("accept", "image/png"))
        .await;
    assert_eq!(none.status(), 406);

    let missing = running.execute(Request::get("/nowhere")).await;
    assert_eq!(missing.text(), "nothing at /nowhere");
    assert!(missing.header("access-control-allow-origin").is_some());

    let bad = running.execute(Request::get("/todos/x")).await;
    assert_eq!(bad.status(), 400);
    assert!(
        !bad.text().starts_with('{'),
        "the app's renderer: {}",
        bad.text()
    );

    running.shutdown().await.unwrap();
}

// Without the macros, route settings follow the route they apply to.
async fn show_doc(media: MediaType) -> String {
    media.as_str().to_owned()
}

async fn doc_etag() -> Option<ETag> {
    Some(ETag::strong("doc-1"))
}

#[tokio::test]
async fn route_settings_follow_their_route() {
    let app = App::new()
        .get("/doc", show_doc)
        .etag(doc_etag)
        .provides(["application/json", "text/csv"]);
    let response = app.execute(Request::get("/doc")).await;
    assert_eq!(response.text(), "application/json");
    let again = app
        .execute(Request::get("/doc").header("if-none-match", "\"doc-1\""))
        .await;
    assert_eq!(again.status(), 304);
}
