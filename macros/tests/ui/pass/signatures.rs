//! Every signature the attributes accept, registered.
use std::convert::Infallible;

use roadie::prelude::*;

pub struct Config {
    pub url: String,
}
struct Database;
struct Conn;
struct Tx;
struct Metrics;

mod api {
    /// A public annotated function in a module, with docs and lint attributes.
    #[roadie::on_startup]
    #[allow(clippy::needless_return)]
    pub fn config() -> super::Config {
        return super::Config { url: String::new() };
    }

    /// A public route, registered from outside its module.
    #[roadie::get("/api/{*rest}")]
    pub async fn api(roadie::Path(rest): roadie::Path<String>) -> String {
        rest
    }
}

#[on_startup]
async fn database(config: &Config, metrics: Option<&Metrics>) -> Result<Database, std::io::Error> {
    let _ = (&config.url, metrics.is_some());
    Ok(Database)
}

#[on_startup]
fn migrate(_: &Database) {}

#[on_startup]
async fn warm_up(database: &Database) -> Result<(), Infallible> {
    let _ = database;
    Ok(())
}

#[dependency]
fn conn(_db: &Database) -> Conn {
    Conn
}

#[dependency]
async fn tx(_conn: Dep<Conn>) -> Result<Scoped<Tx>, Infallible> {
    Ok(Scoped::new(Tx))
}

#[dependency]
async fn metrics_dep() -> Scoped<u32> {
    Scoped::new(1)
}

#[lifespan]
async fn metrics(lifespan: Lifespan<Metrics>, _config: &Config) -> Result<(), Infallible> {
    let _metrics = lifespan.ready(Metrics).await;
    Ok(())
}

#[on_shutdown]
fn close(_db: &Database) -> Result<(), std::io::Error> {
    Ok(())
}

#[on_shutdown]
async fn r#type(r#type: &Config) {
    let _ = r#type;
}

#[get("/users/{id}")]
async fn get_user(Path(id): Path<u64>, _tx: Dep<Tx>) -> impl IntoResponse {
    format!("user {id}")
}

/// The path is read by a dependency here: the attribute cannot know, so it accepts it.
#[get("/orders/{id}")]
async fn get_order(conn: Dep<Conn>) -> StatusCode {
    let _ = conn;
    StatusCode::OK
}

#[post("/users/{id}/rename")]
async fn rename(Path((id,)): Path<(u64,)>, body: String) -> (StatusCode, String) {
    (StatusCode::OK, format!("{id}: {body}"))
}

#[put("/pairs/{a}/{b}")]
async fn pair(Path((a, b)): Path<(u8, u8)>) -> String {
    format!("{a}{b}")
}

#[patch("/literal/{{braces}}")]
async fn braces(headers: HeaderMap) -> String {
    headers.len().to_string()
}

#[delete("/users/{id}",)]
async fn delete_user(id: Path<u64>, config: Option<&Config>) -> Result<String, HttpError> {
    let _ = config;
    Ok(id.0.to_string())
}

#[route(PURGE, "/cache")]
async fn purge(_config: &Config) {}

#[background]
async fn refresh(config: &Config, metrics: Option<&Metrics>, shutdown: Shutdown) -> Result<(), std::io::Error> {
    let _ = (&config.url, metrics.is_some());
    shutdown.requested().await;
    Ok(())
}

#[roadie::background]
async fn tick() {}

fn main() {
    let app = App::new()
        .on_startup(api::config)
        .on_startup(database)
        .on_startup(migrate)
        .on_startup(warm_up)
        .dependency(conn)
        .dependency(tx)
        .dependency(metrics_dep)
        .lifespan(metrics)
        .on_shutdown(close)
        .on_shutdown(r#type)
        .route(api::api)
        .route(get_user)
        .route(get_order)
        .route(rename)
        .route(pair)
        .route(braces)
        .route(delete_user)
        .route(purge)
        .wrap(audit)
        .background(refresh)
        .every(std::time::Duration::from_secs(60), tick);
    let _ = app;
}

/// A middleware with a resource, a dependency and a header map.
#[middleware]
async fn audit(request: Request, next: Next, db: &Database, _conn: Dep<Conn>, headers: HeaderMap) -> Response {
    let _ = (db, headers);
    next.run(request).await
}
