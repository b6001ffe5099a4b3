//! [`App`]: the registration API, and the entry points that start, execute and serve it.

use std::any::TypeId;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use tokio::sync::OnceCell;

use crate::error::{Problem, ShutdownError, StartupError, ValidationError};
use crate::extract::Needs;
use crate::graph::{self, Kind};
use crate::handler::{Handler, RouteHandler};
use crate::lifecycle::{self, LifecycleState, Running};
use crate::provider::{IntoDependency, IntoHook, IntoLifespan, IntoProvider, NodeBody, NodeSpec};
use crate::request::Request;
use crate::response::Response;
use crate::routing::RouteSpec;

/// App-wide settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) startup_timeout: Option<Duration>,
    pub(crate) shutdown_timeout: Option<Duration>,
    pub(crate) grace_period: Duration,
    pub(crate) concurrent_startup: bool,
    pub(crate) body_limit: usize,
    pub(crate) header_read_timeout: Duration,
    pub(crate) readiness_path: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            startup_timeout: Some(Duration::from_secs(60)),
            shutdown_timeout: Some(Duration::from_secs(30)),
            grace_period: Duration::from_secs(30),
            concurrent_startup: false,
            body_limit: 2 * 1024 * 1024,
            header_read_timeout: Duration::from_secs(30),
            readiness_path: None,
        }
    }
}

#[derive(Clone)]
pub(crate) enum RegistrationBody {
    Run(Arc<dyn crate::provider::RunNode>),
    Dependency(Arc<dyn crate::provider::DependencyNode>),
    /// Boxed: a route carries its handler's description, much larger than the other bodies.
    Route(Box<RouteSpec>),
}

/// One registered node.
#[derive(Clone)]
pub(crate) struct Registration {
    pub(crate) kind: Kind,
    pub(crate) name: String,
    pub(crate) needs: Needs,
    pub(crate) provides: Option<(TypeId, &'static str)>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) body: RegistrationBody,
}

/// A blueprint that passed validation: its startup order, and its routes.
pub(crate) struct Checked {
    pub(crate) plan: graph::Plan,
    pub(crate) routes: Vec<RouteSpec>,
}

/// Everything registered on an app.
#[derive(Clone, Default)]
pub(crate) struct Blueprint {
    pub(crate) registrations: Vec<Registration>,
    pub(crate) settings: Settings,
    /// Problems found at registration, reported with validation's.
    pub(crate) problems: Vec<Problem>,
    /// The module name, prefixed to node names when this app is merged into another.
    pub(crate) module: Option<String>,
}

impl Blueprint {
    /// Validates everything registered: the graph, the routes and what registration found.
    /// Every problem comes back at once.
    pub(crate) fn check(&self) -> Result<Checked, ValidationError> {
        let routes: Vec<RouteSpec> = self
            .registrations
            .iter()
            .filter_map(|r| match &r.body {
                RegistrationBody::Route(route) => Some(RouteSpec::clone(route)),
                _ => None,
            })
            .collect();
        let mut extra = crate::routing::Router::check(&routes);
        extra.extend(crate::routing::Router::check_readiness(
            &routes,
            self.settings.readiness_path.as_deref(),
        ));
        extra.extend(self.problems.iter().cloned());
        graph::plan(&self.registrations, extra)
            .map(|plan| Checked { plan, routes })
            .map_err(|problems| ValidationError { problems })
    }
}

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
    last: Option<usize>,
    lazy: Arc<Lazy>,
}

/// The instance that [`App::execute`] starts on first use.
#[derive(Default)]
struct Lazy {
    started: OnceCell<Result<Running, StartupError>>,
    /// Set when the first start begins, so that [`App::state`] can tell `Starting`.
    starting: AtomicBool,
}

impl Lazy {
    /// The started instance, starting it if no call did yet (exactly once).
    async fn get_or_start(&self, blueprint: Arc<Blueprint>) -> &Result<Running, StartupError> {
        self.started
            .get_or_init(|| {
                self.starting.store(true, Ordering::Release);
                lifecycle::start(blueprint)
            })
            .await
    }
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
            .field("settings", &self.blueprint.settings)
            .finish()
    }
}

impl App {
    /// An empty app.
    pub fn new() -> Self {
        Self {
            blueprint: Arc::new(Blueprint::default()),
            last: None,
            lazy: Arc::default(),
        }
    }

    pub(crate) fn blueprint_mut(&mut self) -> &mut Blueprint {
        // A changed app is a new app: it starts afresh on its next `execute`.
        self.lazy = Arc::default();
        Arc::make_mut(&mut self.blueprint)
    }

    fn push(mut self, kind: Kind, spec: NodeSpec) -> Self {
        let body = match spec.body {
            NodeBody::Run(node) => RegistrationBody::Run(node),
            NodeBody::Dependency(node) => RegistrationBody::Dependency(node),
        };
        let blueprint = self.blueprint_mut();
        blueprint.registrations.push(Registration {
            kind,
            name: spec.name,
            needs: spec.needs,
            provides: spec.provides,
            timeout: None,
            body,
        });
        self.last = Some(blueprint.registrations.len() - 1);
        self
    }

    /// Registers a startup provider: a plain or async function or closure whose parameters
    /// are resources ([`Res<T>`](crate::Res), `Option<Res<T>>`) and which returns
    /// `Result<T, E>` (registering `T` for the life of the app) or `()` (it only runs).
    ///
    /// Providers run in the order of what they need; where that leaves a choice, providers
    /// before lifespans, then in registration order.
    pub fn on_startup<M>(self, provider: impl IntoProvider<M>) -> Self {
        self.push(Kind::Provider, provider.into_node())
    }

    /// Registers a lifespan: an async function taking [`Lifespan<T>`](crate::Lifespan) (and
    /// resources) that sets `T` up, calls `ready`, and tears it down after shutdown begins.
    pub fn lifespan<M>(self, lifespan: impl IntoLifespan<M>) -> Self {
        self.push(Kind::Lifespan, lifespan.into_node())
    }

    /// Registers a shutdown hook: a plain or async function or closure whose parameters are
    /// resources, returning `()` or `Result<(), E>`. Hooks run in registration order, after
    /// lifespans' teardown and before resources are dropped.
    pub fn on_shutdown<M>(self, hook: impl IntoHook<M>) -> Self {
        self.push(Kind::Hook, hook.into_node())
    }

    /// Registers a request-scoped dependency: a function whose parameters are resources,
    /// request parts and other dependencies, returning `Result<T, E>`, `Result<Scoped<T>, E>`
    /// or `Scoped<T>`. Handlers receive it as [`Dep<T>`](crate::Dep).
    pub fn dependency<M>(self, dependency: impl IntoDependency<M>) -> Self {
        self.push(Kind::Dependency, dependency.into_node())
    }

    /// Names the last registered node for diagnostics, DOT output and logs.
    ///
    /// # Panics
    /// If nothing was registered yet.
    #[track_caller]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        let Some(last) = self.last else {
            panic!("`App::named` names the last registered node, but nothing is registered yet");
        };
        self.blueprint_mut().registrations[last].name = name.into();
        self
    }

    /// Sets the timeout of the last registered node (its startup, its teardown or its hook
    /// run), overriding the app-wide default.
    ///
    /// # Panics
    /// If nothing was registered yet.
    #[track_caller]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        let Some(last) = self.last else {
            panic!(
                "`App::timeout` applies to the last registered node, but nothing is registered yet"
            );
        };
        self.blueprint_mut().registrations[last].timeout = Some(timeout);
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

    /// How long a connection may take to send a request's headers (default 30 s).
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.blueprint_mut().settings.header_read_timeout = timeout;
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

    /// Registers a handler for `method` on `path` (`/users/{id}`, `/files/{*rest}`).
    pub fn method<M>(mut self, method: Method, path: &str, handler: impl Handler<M>) -> Self {
        let handler = handler.into_route_handler();
        self.push_route(method, path, handler);
        self
    }

    pub(crate) fn push_route(&mut self, method: Method, path: &str, handler: RouteHandler) {
        let needs = handler.needs.clone();
        let name = handler.name.clone();
        let blueprint = self.blueprint_mut();
        blueprint.registrations.push(Registration {
            kind: Kind::Route,
            name: format!("{method} {path} ({name})"),
            needs,
            provides: None,
            timeout: None,
            body: RegistrationBody::Route(Box::new(RouteSpec {
                method,
                path: path.to_owned(),
                handler,
            })),
        });
        self.last = Some(blueprint.registrations.len() - 1);
    }

    /// Registers a function annotated with a route attribute (`#[get("/users/{id}")]`,
    /// `#[route(OPTIONS, "/x")]`...), at the method and path the attribute names.
    pub fn route<M>(mut self, route: impl crate::handler::IntoRoute<M>) -> Self {
        let (method, path, handler) = route.into_route();
        match Method::from_bytes(method.as_bytes()) {
            Ok(method) => self.push_route(method, path, handler),
            Err(_) => self.blueprint_mut().problems.push(Problem::Route {
                route: format!("{method} {path}"),
                reason: format!("`{method}` is not a valid HTTP method"),
            }),
        }
        self
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

    /// Validates the app without running anything, and returns the names of the startup
    /// nodes in the order they would start.
    pub fn startup_order(&self) -> Result<Vec<String>, StartupError> {
        let checked = self.blueprint.check()?;
        Ok(checked
            .plan
            .startup
            .iter()
            .map(|&i| self.blueprint.registrations[i].name.clone())
            .collect())
    }

    /// Validates the app without running anything.
    pub fn validate(&self) -> Result<(), StartupError> {
        self.blueprint
            .check()
            .map(drop)
            .map_err(StartupError::Invalid)
    }

    /// The graph as Graphviz DOT: every node, and an edge for each type one hands another.
    pub fn to_dot(&self) -> String {
        graph::to_dot(&self.blueprint.registrations)
    }

    /// Validates the graph, then runs startup providers and lifespans in order.
    ///
    /// On failure (a validation problem, or a node's error, panic or timeout), everything
    /// that had started is torn down in reverse before the error is returned. Each call
    /// starts a new, independent instance.
    pub fn start(&self) -> impl Future<Output = Result<Running, StartupError>> + Send + 'static {
        lifecycle::start(Arc::clone(&self.blueprint))
    }

    /// Answers one request in-process, with no socket: the app starts on first use, exactly
    /// once even under concurrent first calls. If that start fails, every call answers `503`
    /// and the error is logged; [`App::start`] returns the error itself.
    pub fn execute(
        &self,
        request: impl Into<Request>,
    ) -> impl Future<Output = Response> + Send + 'static {
        let request = request.into();
        let blueprint = Arc::clone(&self.blueprint);
        let lazy = Arc::clone(&self.lazy);
        async move {
            // Once started, skip `get_or_init`: its future holds the whole start future, and
            // copying that around costs every request. The first calls box it instead.
            let started = match lazy.started.get() {
                Some(started) => started,
                None => Box::pin(lazy.get_or_start(blueprint)).await,
            };
            match started {
                Ok(running) => running.dispatch(request).await,
                Err(error) => {
                    tracing::error!(%error, "request refused: the app failed to start");
                    lifecycle::startup_failed_response()
                }
            }
        }
    }

    /// The instance that [`App::execute`] started, starting it if needed.
    pub fn running(&self) -> impl Future<Output = Result<Running, StartupError>> + Send + 'static {
        let blueprint = Arc::clone(&self.blueprint);
        let lazy = Arc::clone(&self.lazy);
        async move { lazy.get_or_start(blueprint).await.clone() }
    }

    /// Where the instance that [`App::execute`] starts is in its life: `Created` before the
    /// first call, `Starting` while it starts, `Failed` if its start failed, then `Running`,
    /// `Stopping` and `Stopped` as [`Running::state`] tells them.
    ///
    /// ```
    /// use roadie::{App, LifecycleState, Request};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app = App::new().get("/", || async { "hi" });
    /// assert_eq!(app.state(), LifecycleState::Created);
    /// app.execute(Request::get("/")).await;
    /// assert_eq!(app.state(), LifecycleState::Running);
    /// app.shutdown().await.unwrap();
    /// assert_eq!(app.state(), LifecycleState::Stopped);
    /// # }
    /// ```
    pub fn state(&self) -> LifecycleState {
        match self.lazy.started.get() {
            Some(Ok(running)) => running.state(),
            Some(Err(_)) => LifecycleState::Failed,
            None if self.lazy.starting.load(Ordering::Acquire) => LifecycleState::Starting,
            None => LifecycleState::Created,
        }
    }

    /// Shuts down the instance that [`App::execute`] started, if it started.
    pub fn shutdown(&self) -> impl Future<Output = Result<(), ShutdownError>> + Send + 'static {
        let lazy = Arc::clone(&self.lazy);
        async move {
            match lazy.started.get() {
                Some(Ok(running)) => running.shutdown().await,
                _ => Ok(()),
            }
        }
    }

    pub(crate) fn blueprint(&self) -> &Arc<Blueprint> {
        &self.blueprint
    }

    pub(crate) fn set_last(&mut self, last: Option<usize>) {
        self.last = last;
    }
}
