//! Attribute macros for [roadie](https://docs.rs/roadie): `#[on_startup]`, `#[on_shutdown]`,
//! `#[dependency]`, `#[lifespan]`, `#[middleware]`, `#[background]`, and the route attributes `#[get]`, `#[post]`, `#[put]`,
//! `#[patch]`, `#[delete]` and `#[route]`.
//!
//! Use them through roadie (`use roadie::prelude::*;`), which re-exports them behind its
//! default `macros` feature. An annotated function:
//!
//! - takes resources as `&T` (the resource `T`, lent for the call) and `Option<&T>` (an
//!   optional one), beside any extractor (`Dep<T>`, `Path<T>`, `Json<T>`, ...);
//! - returns a plain `T`, `Result<T, E>` or nothing;
//! - registers by its name (`App::on_startup(config)`, `App::route(get_user)`), and is named
//!   after itself in errors, DOT output and logs;
//! - stays callable as a plain function: `&T` parameters are passed as `Res::new(value)`, and a
//!   plain returned `T` comes back as `Provide<T>`, which derefs to `T`.
//!
//! The guide chapter `roadie::guide::macros` shows each attribute at work.
//!
//! Every wrong signature is a compile error at the offending token that says what to write
//! instead: `&mut T`, generic parameters, `self`, a returned borrow, a borrowed parameter
//! type, wrong attribute arguments, an invalid route path, and a `{param}` of the path that
//! no parameter can read.

mod args;
mod exports;
mod function;
mod node;
mod path;
mod route;

use proc_macro::TokenStream;

use crate::function::Kind;

/// Runs an expansion; on error, emits the errors and the item unchanged, so that the rest of
/// the crate still sees the function (editors keep completing, and only the real error shows).
fn run(
    item: TokenStream,
    expand: impl FnOnce(proc_macro2::TokenStream) -> syn::Result<proc_macro2::TokenStream>,
) -> TokenStream {
    let original = proc_macro2::TokenStream::from(item);
    match expand(original.clone()) {
        Ok(expanded) => expanded.into(),
        Err(error) => {
            let mut tokens = error.to_compile_error();
            tokens.extend(original);
            tokens.into()
        }
    }
}

/// A startup provider: runs once at startup, in dependency order, and registers what it
/// returns for the life of the app.
///
/// Plain or `async`; parameters are resources (`&T`, `Option<&T>`); returns a plain `T`,
/// `Result<T, E>`, or nothing (it only runs). Register it with `App::on_startup`.
///
/// ```
/// use roadie::prelude::*;
///
/// struct Config { url: String }
/// struct Database { url: String }
///
/// #[on_startup]
/// fn config() -> Config {
///     Config { url: "sqlite::memory:".into() }
/// }
///
/// #[on_startup]                       // needs Config: runs after `config`
/// async fn database(config: &Config) -> Result<Database, std::io::Error> {
///     Ok(Database { url: config.url.clone() })
/// }
///
/// let app = App::new().on_startup(config).on_startup(database);
/// # let _ = app;
/// assert_eq!(config().url, "sqlite::memory:");  // still a plain function
/// ```
#[proc_macro_attribute]
pub fn on_startup(args: TokenStream, item: TokenStream) -> TokenStream {
    run(item, |item| {
        node::expand("on_startup", Kind::Startup, args.into(), item)
    })
}

/// A shutdown hook: runs once when the app stops, after lifespans' teardown, in registration
/// order.
///
/// Plain or `async`; parameters are resources (`&T`, `Option<&T>`); returns nothing or
/// `Result<(), E>`. Register it with `App::on_shutdown`.
///
/// ```
/// use roadie::prelude::*;
///
/// struct Database;
/// impl Database { async fn close(&self) {} }
///
/// #[on_shutdown]
/// async fn close_database(db: &Database) {
///     db.close().await;
/// }
///
/// let app = App::new().on_shutdown(close_database);
/// # let _ = app;
/// ```
#[proc_macro_attribute]
pub fn on_shutdown(args: TokenStream, item: TokenStream) -> TokenStream {
    run(item, |item| {
        node::expand("on_shutdown", Kind::Shutdown, args.into(), item)
    })
}

/// A request-scoped dependency: built at most once per request, on first use, and released
/// after the response.
///
/// Plain or `async`; parameters are resources (`&T`, `Option<&T>`) and request extractors
/// (`Dep<T>`, `Path<T>`, `HeaderMap`, ...); returns a plain `T`, `Result<T, E>`, `Scoped<T>`
/// or `Result<Scoped<T>, E>`. Register it with `App::dependency`; handlers receive `Dep<T>`.
///
/// ```
/// use roadie::prelude::*;
/// use std::convert::Infallible;
///
/// struct Pool;
/// struct Conn;
///
/// #[dependency]
/// async fn connection(_pool: &Pool) -> Result<Scoped<Conn>, Infallible> {
///     Ok(Scoped::new(Conn).on_release(|_conn, outcome| async move {
///         let _committed = outcome.is_success();
///     }))
/// }
///
/// let app = App::new().dependency(connection);
/// # let _ = app;
/// ```
#[proc_macro_attribute]
pub fn dependency(args: TokenStream, item: TokenStream) -> TokenStream {
    run(item, |item| {
        node::expand("dependency", Kind::Dependency, args.into(), item)
    })
}

/// A lifespan: setup and teardown in one `async fn` that takes `Lifespan<T>`.
///
/// It sets `T` up, calls `lifespan.ready(value).await` (which registers `T` and waits until
/// shutdown begins), then tears it down. Other parameters are resources (`&T`, `Option<&T>`);
/// returns nothing or `Result<(), E>`. Register it with `App::lifespan`.
///
/// ```
/// use roadie::prelude::*;
///
/// struct Pool;
///
/// #[lifespan]
/// async fn pool(lifespan: Lifespan<Pool>) {
///     let pool = lifespan.ready(Pool).await;   // runs until shutdown
///     drop(pool);                              // teardown
/// }
///
/// let app = App::new().lifespan(pool);
/// # let _ = app;
/// ```
#[proc_macro_attribute]
pub fn lifespan(args: TokenStream, item: TokenStream) -> TokenStream {
    run(item, |item| {
        node::expand("lifespan", Kind::Lifespan, args.into(), item)
    })
}

/// A middleware: an async function taking the `Request`, then the `Next` step, then
/// extractors, wrapped around routes with `App::wrap` (every route) or `App::wrap_route` (the
/// last one registered).
///
/// Like the other attributes, `&T` parameters ask for the resource `T`.
///
/// ```
/// use roadie::prelude::*;
///
/// struct Sessions;
/// impl Sessions {
///     fn knows(&self, token: &str) -> bool { token == "Bearer s3cret" }
/// }
///
/// #[middleware]
/// async fn require_user(request: Request, next: Next, sessions: &Sessions) -> Response {
///     let token = request.headers().get("authorization").and_then(|v| v.to_str().ok());
///     if !token.is_some_and(|token| sessions.knows(token)) {
///         return StatusCode::UNAUTHORIZED.into_response();
///     }
///     next.run(request).await
/// }
///
/// let app = App::new().wrap(require_user);
/// # let _ = app;
/// ```
#[proc_macro_attribute]
pub fn middleware(args: TokenStream, item: TokenStream) -> TokenStream {
    run(item, |item| {
        node::expand("middleware", Kind::Middleware, args.into(), item)
    })
}

/// A background task: runs for as long as the app runs, from once every provider and
/// lifespan is up until shutdown, when it is told to stop first.
///
/// `async`; parameters are resources (`&T`, `Option<&T>`) and `Shutdown`; returns nothing or
/// `Result<(), E>`. Register it with `App::background`, or `App::every(period, f)` to run it
/// periodically.
///
/// ```
/// use roadie::prelude::*;
/// use std::time::Duration;
///
/// struct Cache;
/// impl Cache { async fn refresh(&self) -> Result<(), std::io::Error> { Ok(()) } }
///
/// #[background]
/// async fn refresh_cache(cache: &Cache, shutdown: Shutdown) -> Result<(), std::io::Error> {
///     loop {
///         cache.refresh().await?;
///         tokio::select! {
///             _ = shutdown.requested() => return Ok(()),
///             _ = tokio::time::sleep(Duration::from_secs(60)) => {}
///         }
///     }
/// }
///
/// let app = App::new().background(refresh_cache);
/// # let _ = app;
/// ```
#[proc_macro_attribute]
pub fn background(args: TokenStream, item: TokenStream) -> TokenStream {
    run(item, |item| {
        node::expand("background", Kind::Background, args.into(), item)
    })
}

/// A `GET` route (which also answers `HEAD`): `#[get("/users/{id}")]`.
///
/// The handler is an `async fn` of extractors and resources (`&T`, `Option<&T>`) whose output
/// is a response. Register it with `App::route`.
///
/// ```
/// use roadie::prelude::*;
///
/// struct Greeting(String);
///
/// #[get("/hello/{name}")]
/// async fn hello(Path(name): Path<String>, greeting: &Greeting) -> String {
///     format!("{} {name}", greeting.0)
/// }
///
/// let app = App::new().route(hello);
/// # let _ = app;
/// ```
#[proc_macro_attribute]
pub fn get(args: TokenStream, item: TokenStream) -> TokenStream {
    run(item, |item| {
        route::expand("get", Some("GET"), args.into(), item)
    })
}

/// A `POST` route: `#[post("/users")]`. See [`macro@get`].
#[proc_macro_attribute]
pub fn post(args: TokenStream, item: TokenStream) -> TokenStream {
    run(item, |item| {
        route::expand("post", Some("POST"), args.into(), item)
    })
}

/// A `PUT` route: `#[put("/users/{id}")]`. See [`macro@get`].
#[proc_macro_attribute]
pub fn put(args: TokenStream, item: TokenStream) -> TokenStream {
    run(item, |item| {
        route::expand("put", Some("PUT"), args.into(), item)
    })
}

/// A `PATCH` route: `#[patch("/users/{id}")]`. See [`macro@get`].
#[proc_macro_attribute]
pub fn patch(args: TokenStream, item: TokenStream) -> TokenStream {
    run(item, |item| {
        route::expand("patch", Some("PATCH"), args.into(), item)
    })
}

/// A `DELETE` route: `#[delete("/users/{id}")]`. See [`macro@get`].
#[proc_macro_attribute]
pub fn delete(args: TokenStream, item: TokenStream) -> TokenStream {
    run(item, |item| {
        route::expand("delete", Some("DELETE"), args.into(), item)
    })
}

/// A route for any method, written in uppercase: `#[route(OPTIONS, "/users")]`.
/// See [`macro@get`].
///
/// ```
/// use roadie::prelude::*;
///
/// #[route(OPTIONS, "/users")]
/// async fn user_options() -> StatusCode {
///     StatusCode::NO_CONTENT
/// }
///
/// let app = App::new().route(user_options);
/// # let _ = app;
/// ```
#[proc_macro_attribute]
pub fn route(args: TokenStream, item: TokenStream) -> TokenStream {
    run(item, |item| route::expand("route", None, args.into(), item))
}
