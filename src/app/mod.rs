//! [`App`]: the registration API. Its entry points (start, execute, validate) are in
//! `entry.rs`, composition and test doubles (merge, nest, replace) in `compose.rs`.

mod background;
mod compose;
mod entry;
mod semantics;
mod wrap;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::Method;

use self::entry::Lazy;
use crate::blueprint::{self, Blueprint, Kind, Registration, RouteSpec};
use crate::body::Body;
use crate::error::{BoxError, Problem};
use crate::handler::{Handler, IntoRoute};
use crate::layer::Endpoint;
use crate::node::{IntoDependency, IntoHook, IntoLifespan, IntoProvider};

/// A web service's lifecycle container: startup providers, lifespans, request-scoped
/// dependencies, shutdown hooks and routes, registered by type.
///
/// Build it with the registration methods, then [`App::execute`] requests in-process (tests),
/// [`App::start`] it, or [`App::serve`] it on a socket.
///
/// ```
/// use roadie::prelude::*;
/// use std::convert::Infallible;
///
/// struct Config { greeting: String }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app = App::new()
///     .on_startup(|| Ok::<_, Infallible>(Config { greeting: "hello".into() }))
///     .get("/", |config: Res<Config>| async move { config.greeting.clone() });
///
/// let response = app.execute(Request::get("/")).await;   // starts the app on first use
/// assert_eq!(response.status(), 200);
/// assert_eq!(response.text(), "hello");
/// # }
/// ```
#[derive(Clone)]
pub struct App {
    blueprint: Arc<Blueprint>,
    last: Last,
    lazy: Arc<Lazy>,
}

/// What `App::named` and `App::timeout` apply to: the last registration.
#[derive(Debug, Clone, Copy)]
enum Last {
    /// Nothing registered yet.
    Nothing,
    /// The registration at this index.
    Node(usize),
    /// The last registration was refused (its problem is reported at validation): settings
    /// that follow it apply to nothing, rather than to the node before it.
    Refused,
}

impl Default for App {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field(
                "nodes",
                &self
                    .blueprint
                    .registrations
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("layers", &self.blueprint.layers.len())
            .field("settings", &self.blueprint.settings)
            .finish()
    }
}

impl App {
    /// An empty app.
    pub fn new() -> Self {
        Self {
            blueprint: Arc::new(Blueprint::default()),
            last: Last::Nothing,
            lazy: Arc::default(),
        }
    }

    pub(crate) fn blueprint_mut(&mut self) -> &mut Blueprint {
        // A changed app is a new app: it starts afresh on its next `execute`.
        self.lazy = Arc::default();
        let blueprint = Arc::make_mut(&mut self.blueprint);
        blueprint.changed();
        blueprint
    }

    fn push(mut self, registration: Registration) -> Self {
        let blueprint = self.blueprint_mut();
        blueprint.registrations.push(registration);
        self.last = Last::Node(blueprint.registrations.len() - 1);
        self
    }

    /// The last registration, for a setting that applies to it.
    #[track_caller]
    fn last_mut(&mut self, setting: &str) -> Option<&mut Registration> {
        // `setting` reads "`App::named` names": the panic says what the call does.
        match self.last {
            Last::Node(last) => Some(&mut self.blueprint_mut().registrations[last]),
            Last::Refused => None,
            Last::Nothing => {
                panic!("{setting} the last registered node, but nothing is registered yet")
            }
        }
    }

    /// Registers a startup provider: a plain or async function or closure whose parameters
    /// are resources ([`Res<T>`](crate::Res), `Option<Res<T>>`) and which returns
    /// `Result<T, E>` (registering `T` for the life of the app) or `()` (it only runs).
    ///
    /// Providers run in the order of what they need; where that leaves a choice, providers
    /// before lifespans, then in registration order.
    pub fn on_startup<M>(self, provider: impl IntoProvider<M>) -> Self {
        self.push(provider.into_node())
    }

    /// Registers a lifespan: an async function taking [`Lifespan<T>`](crate::Lifespan) (and
    /// resources) that sets `T` up, calls `ready`, and tears it down after shutdown begins.
    pub fn lifespan<M>(self, lifespan: impl IntoLifespan<M>) -> Self {
        self.push(lifespan.into_node())
    }

    /// Registers a shutdown hook: a plain or async function or closure whose parameters are
    /// resources, returning `()` or `Result<(), E>`. Hooks run in registration order, after
    /// lifespans' teardown and before resources are dropped.
    pub fn on_shutdown<M>(self, hook: impl IntoHook<M>) -> Self {
        self.push(hook.into_node())
    }

    /// Registers a request-scoped dependency: a function whose parameters are resources,
    /// request parts and other dependencies, returning `Result<T, E>`, `Result<Scoped<T>, E>`
    /// or `Scoped<T>`. Handlers receive it as [`Dep<T>`](crate::Dep).
    pub fn dependency<M>(self, dependency: impl IntoDependency<M>) -> Self {
        self.push(dependency.into_node())
    }

    /// Names the last registered node for diagnostics, DOT output and logs.
    ///
    /// # Panics
    /// If nothing was registered yet.
    #[track_caller]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        if let Some(last) = self.last_mut("`App::named` names") {
            last.name = name.into();
        }
        self
    }

    /// Sets the timeout of the last registered node (its startup, its teardown or its hook
    /// run), overriding the app-wide default. It applies to startup providers, lifespans and
    /// shutdown hooks; on a route or a request-scoped dependency it is a validation problem.
    ///
    /// # Panics
    /// If nothing was registered yet.
    #[track_caller]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        if let Some(last) = self.last_mut("`App::timeout` applies to") {
            last.timeout = Some(timeout);
        }
        self
    }

    /// Sets the timeout of the last registered lifespan's teardown alone, so that its setup and
    /// its teardown have bounds of their own: `.lifespan(pool).timeout(setup).teardown_timeout(teardown)`.
    /// Without it, [`App::timeout`] bounds both, and the app's `shutdown_timeout` the teardown.
    /// On anything but a lifespan it is a validation problem.
    ///
    /// # Panics
    /// If nothing was registered yet.
    #[track_caller]
    pub fn teardown_timeout(mut self, timeout: Duration) -> Self {
        if let Some(last) = self.last_mut("`App::teardown_timeout` applies to") {
            last.teardown_timeout = Some(timeout);
        }
        self
    }

    /// Runs the last registered request-scoped dependency on tokio's blocking pool, for a
    /// plain function that blocks (a synchronous database driver, a file read): the runtime
    /// keeps serving other requests meanwhile. Without it a plain dependency runs inline, which
    /// is right for cheap work (parsing a header, reading a config value); an async function
    /// is awaited in place either way. Plain startup providers and shutdown hooks always run on
    /// the blocking pool; on anything but a dependency this call is a validation problem.
    ///
    /// ```
    /// use roadie::prelude::*;
    /// use std::convert::Infallible;
    ///
    /// struct Report(String);
    ///
    /// fn report() -> Result<Report, Infallible> {
    ///     // Blocking work: a synchronous client, a file.
    ///     Ok(Report(std::fs::read_to_string("Cargo.toml").map(|_| "read".into()).unwrap_or_default()))
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app = App::new()
    ///     .dependency(report)
    ///     .blocking()
    ///     .get("/", |report: Dep<Report>| async move { report.0.clone() });
    /// assert_eq!(app.execute(Request::get("/")).await.text(), "read");
    /// # }
    /// ```
    ///
    /// # Panics
    /// If nothing was registered yet.
    #[track_caller]
    pub fn blocking(mut self) -> Self {
        if let Some(last) = self.last_mut("`App::blocking` applies to") {
            last.blocking = true;
        }
        self
    }

    /// The default timeout of each startup node (default 60 s; `None` for no limit).
    pub fn startup_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.blueprint_mut().settings.startup_timeout = timeout.into();
        self
    }

    /// The default timeout of each lifespan teardown and shutdown hook (default 30 s).
    pub fn shutdown_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.blueprint_mut().settings.shutdown_timeout = timeout.into();
        self
    }

    /// How long shutdown waits for requests in flight (default 30 s).
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.blueprint_mut().settings.grace_period = grace;
        self
    }

    /// Starts independent nodes at once, so startup takes about as long as the graph's
    /// critical path. Off by default: nodes start one after another.
    pub fn concurrent_startup(mut self, concurrent: bool) -> Self {
        self.blueprint_mut().settings.concurrent_startup = concurrent;
        self
    }

    /// The largest request body accepted, in bytes (default 2 MiB); larger ones answer `413`.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.blueprint_mut().settings.body_limit = bytes;
        self
    }

    /// How long a connection may take to send a request's head (default 30 s): a client
    /// that sends its headers too slowly, or a keep-alive connection idle between requests,
    /// is closed after it. It never applies while a response is being written: a slow reader
    /// is not a slow sender.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.blueprint_mut().settings.header_read_timeout = timeout;
        self
    }

    /// How long a request body may go without sending data (default 30 s): a stalled upload
    /// is cut with `408 Request Timeout`, and what it held is released.
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.blueprint_mut().settings.body_read_timeout = timeout;
        self
    }

    /// How many bytes all request bodies being read may hold together (default 64 MiB). A body
    /// that would pass it waits for room, within the body read timeout (then `408`): many slow
    /// uploads cannot hold the server's memory.
    pub fn body_memory_limit(mut self, bytes: usize) -> Self {
        self.blueprint_mut().settings.body_memory_limit = bytes;
        self
    }

    /// How many connections the server holds open at once. At the cap it stops accepting, and
    /// new connections wait in the kernel's backlog until one closes.
    ///
    /// The default is 4,096, or less where the process may open fewer files: on Linux, 64
    /// below the soft limit on open files (`ulimit -n`), so that the cap comes before the
    /// descriptors run out.
    ///
    /// # Panics
    /// If `connections` is zero.
    #[track_caller]
    pub fn max_connections(mut self, connections: usize) -> Self {
        assert!(
            connections > 0,
            "`App::max_connections` takes at least one connection"
        );
        self.blueprint_mut().settings.max_connections = Some(connections);
        self
    }

    /// How long the server keeps accepting and serving after a stop signal (SIGTERM, SIGINT or
    /// [`ServerHandle::shutdown`](crate::ServerHandle::shutdown)) before it stops accepting
    /// (default 3 s; zero stops accepting at once).
    ///
    /// During the delay the readiness route answers `503` (`{"state":"draining"}`), so that a
    /// load balancer takes the instance out of rotation, while every request is still served;
    /// each HTTP/1.1 response carries `Connection: close` and each HTTP/2 connection gets
    /// GOAWAY, so that clients move their next request to another instance. Then the server
    /// stops accepting, and requests in flight finish within the grace period. A second
    /// signal ends the delay and the grace period at once.
    pub fn drain_delay(mut self, delay: Duration) -> Self {
        self.blueprint_mut().settings.drain_delay = delay;
        self
    }

    /// Adds a readiness route at `path` (for load balancers and Kubernetes readiness
    /// probes): it answers `200` while the app is running and `503` before that and while it
    /// stops, with a JSON body naming the state (`{"state":"running"}`).
    ///
    /// It is answered before routing, by every entry point ([`App::execute`],
    /// [`App::serve`], the tower and Lambda adapters), and it is not counted as a request in
    /// flight.
    ///
    /// ```
    /// use roadie::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app = App::new().readiness("/ready");
    /// let running = app.start().await.unwrap();
    /// assert_eq!(running.execute(Request::get("/ready")).await.status(), 200);
    ///
    /// running.shutdown().await.unwrap();
    /// assert_eq!(running.execute(Request::get("/ready")).await.status(), 503);
    /// # }
    /// ```
    ///
    /// # Panics
    /// If `path` does not start with `/`.
    #[track_caller]
    pub fn readiness(mut self, path: impl Into<String>) -> Self {
        let path = path.into();
        assert!(
            path.starts_with('/'),
            "`App::readiness` takes a path that starts with `/`, got `{path}`"
        );
        self.blueprint_mut().settings.readiness_path = Some(path);
        self
    }

    /// Wraps the whole app in a tower [`Layer`](tower_layer::Layer): tower-http's
    /// `CorsLayer`, `CompressionLayer`, `TraceLayer`, `SetResponseHeaderLayer`,
    /// `TimeoutLayer`, tower's `MapResponseLayer`, or your own.
    ///
    /// The layers apply the same way under every entry point ([`App::execute`],
    /// [`Running::execute`](crate::Running::execute), [`App::serve`], the tower adapter and
    /// Lambda), to every response: roadie's own `404`, `405`, `408`, `413` and `503`, and the
    /// readiness route, too. Inside the innermost layer is an [`Endpoint`]: the app's edge,
    /// which reads the request's [`Body`] (still unread when the layers see it) within the
    /// app's body limits, then routes it.
    ///
    /// **Order**: the first layer registered is the outermost; it sees the request first and
    /// the response last, as `wrap` middleware nest in registration order.
    ///
    /// The layer's service may fail (its error converts into a [`BoxError`]): the error is
    /// logged and answers `500`, and the layers outside it see that response. Its response
    /// body may be any `http_body::Body` (a compressed one, say): a roadie [`Body`] comes back
    /// as it is, any other is streamed by the server and collected by `execute`.
    ///
    /// A layer belongs to the app that serves: one on a module merged or nested into another
    /// app would not wrap only the module's routes, so it is a validation problem there.
    ///
    /// The stack is built once when the app starts; an app without layers pays nothing for
    /// them.
    ///
    /// ```
    /// use roadie::prelude::*;
    /// use tower::util::MapResponseLayer;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app = App::new()
    ///     .layer(MapResponseLayer::new(|mut response: http::Response<roadie::body::Body>| {
    ///         response.headers_mut().insert("x-served-by", roadie::HeaderValue::from_static("roadie"));
    ///         response
    ///     }))
    ///     .get("/", || async { "hello" });
    ///
    /// let response = app.execute(Request::get("/")).await;
    /// assert_eq!(response.header("x-served-by"), Some("roadie"));
    /// // roadie's own answers pass through the layers too.
    /// let missing = app.execute(Request::get("/missing")).await;
    /// assert_eq!(missing.status(), 404);
    /// assert_eq!(missing.header("x-served-by"), Some("roadie"));
    /// # }
    /// ```
    ///
    /// [`Endpoint`]: crate::layer::Endpoint
    /// [`Body`]: crate::body::Body
    /// [`BoxError`]: crate::BoxError
    pub fn layer<L, B>(mut self, layer: L) -> Self
    where
        L: tower_layer::Layer<Endpoint> + Send + Sync + 'static,
        L::Service: tower_service::Service<http::Request<Body>, Response = http::Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as tower_service::Service<http::Request<Body>>>::Error: Into<BoxError>,
        <L::Service as tower_service::Service<http::Request<Body>>>::Future: Send + 'static,
        B: http_body::Body + Send + 'static,
        B::Data: bytes::Buf,
        B::Error: Into<BoxError>,
    {
        self.blueprint_mut().layers.push(crate::layer::erase(layer));
        self
    }

    /// Registers a handler for `method` on `path` (`/users/{id}`, `/files/{*rest}`).
    pub fn method<M>(self, method: Method, path: &str, handler: impl Handler<M>) -> Self {
        self.push_route(method, path, handler.into_route_handler())
    }

    fn push_route(
        self,
        method: Method,
        path: &str,
        handler: crate::blueprint::RouteHandler,
    ) -> Self {
        self.push(Registration::new(
            Kind::Route,
            format!("{method} {path} ({})", handler.name),
            handler.needs.clone(),
            None,
            blueprint::Body::Route(Box::new(RouteSpec {
                method,
                path: path.to_owned(),
                handler,
            })),
        ))
    }

    /// Registers the handler of the paths no route matches, instead of the default `404`: a
    /// handler like any other, taking extractors (`Uri`, `Method`, `Res<T>`, `Dep<T>`, the
    /// body...) and validated at start like a route. An app has one; a merged or nested
    /// module's fallback is the app's.
    ///
    /// A path that a route matches with another method still answers `405` with `Allow`.
    ///
    /// ```
    /// use roadie::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app = App::new()
    ///     .get("/", || async { "home" })
    ///     .fallback(|uri: roadie::Uri| async move {
    ///         (StatusCode::NOT_FOUND, format!("nothing at {}", uri.path()))
    ///     });
    /// let response = app.execute(Request::get("/missing")).await;
    /// assert_eq!(response.status(), 404);
    /// assert_eq!(response.text(), "nothing at /missing");
    /// # }
    /// ```
    pub fn fallback<M>(self, handler: impl Handler<M>) -> Self {
        let handler = handler.into_route_handler();
        self.push(Registration::new(
            Kind::Route,
            format!("fallback ({})", handler.name),
            handler.needs.clone(),
            None,
            blueprint::Body::Fallback(Box::new(handler)),
        ))
    }

    /// Registers a function annotated with a route attribute (`#[get("/users/{id}")]`,
    /// `#[route(OPTIONS, "/x")]`...), at the method and path the attribute names.
    pub fn route<M>(mut self, route: impl IntoRoute<M>) -> Self {
        let (method, path, handler, settings) = route.into_route();
        match Method::from_bytes(method.as_bytes()) {
            Ok(method) => settings(self.push_route(method, path, handler)),
            Err(_) => {
                self.blueprint_mut().problems.push(Problem::Route {
                    route: format!("{method} {path} ({})", handler.name),
                    reason: format!("`{method}` is not a valid HTTP method"),
                });
                self.last = Last::Refused;
                self
            }
        }
    }

    /// Registers a `GET` handler (which also answers `HEAD`, without the body).
    pub fn get<M>(self, path: &str, handler: impl Handler<M>) -> Self {
        self.method(Method::GET, path, handler)
    }

    /// Registers a `POST` handler.
    pub fn post<M>(self, path: &str, handler: impl Handler<M>) -> Self {
        self.method(Method::POST, path, handler)
    }

    /// Registers a `PUT` handler.
    pub fn put<M>(self, path: &str, handler: impl Handler<M>) -> Self {
        self.method(Method::PUT, path, handler)
    }

    /// Registers a `PATCH` handler.
    pub fn patch<M>(self, path: &str, handler: impl Handler<M>) -> Self {
        self.method(Method::PATCH, path, handler)
    }

    /// Registers a `DELETE` handler.
    pub fn delete<M>(self, path: &str, handler: impl Handler<M>) -> Self {
        self.method(Method::DELETE, path, handler)
    }

    pub(crate) fn blueprint(&self) -> &Arc<Blueprint> {
        &self.blueprint
    }

    /// After a merge or a replacement: settings apply to this registration.
    pub(crate) fn set_last(&mut self, last: Option<usize>) {
        self.last = last.map_or(Last::Nothing, Last::Node);
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::App;

    /// The blueprint finds whether it has plain providers once, and again after every change:
    /// the app is changed in place (its blueprint not shared), so nothing but the change
    /// itself can tell it to look again.
    #[test]
    fn a_blueprint_looks_for_plain_providers_again_after_a_change() {
        let app = App::new().on_startup(|| async { Ok::<_, Infallible>(1u8) });
        assert!(!app.blueprint.has_plain_providers());
        let app = app.on_startup(|_: crate::Res<u8>| Ok::<_, Infallible>(2u16));
        assert!(app.blueprint.has_plain_providers());
        let app = app.replace(|| async { Ok::<_, Infallible>(3u16) });
        assert!(!app.blueprint.has_plain_providers());
        // A changed copy looks again; the app it was copied from keeps what it found.
        let copy = app.clone().replace(|| Ok::<_, Infallible>(4u16));
        assert!(copy.blueprint.has_plain_providers());
        assert!(!app.blueprint.has_plain_providers());
    }
}
