//! What was registered: the model that [`App`](crate::App)'s methods fill and that validation,
//! the graph and the lifecycle engine read. It knows nothing of how it is run.
//!
//! Each user function arrives here type-erased, as one of the node traits below
//! ([`RunNode`] for what runs at startup or shutdown, [`DependencyNode`] and [`HandlerNode`]
//! for what is prepared once and then called per request).

use std::any::TypeId;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::Method;
use smallvec::SmallVec;

use crate::background::TaskSpec;
use crate::conditional::RouteSemantics;
use crate::container::Produced;
use crate::error::{Failure, Problem};
use crate::extract::{Context, LifespanSlot, Needs, Prepare};
use crate::function::PlainCall;
use crate::layer::LayerFn;
use crate::middleware::MiddlewareSpec;
use crate::report::ReportSpec;
use crate::response::Response;
use crate::scope::PreparedDependency;
use crate::shutdown::ShutdownTrigger;

/// What kind of node a registration is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Provider,
    Lifespan,
    Hook,
    Dependency,
    Route,
    /// A middleware (`App::wrap`, `App::wrap_route`).
    Middleware,
    /// The error renderer (`App::on_error`).
    Renderer,
    /// An error observer (`App::observe_errors`).
    Observer,
    /// A background task (`App::background`, `App::every`).
    Background,
    /// A route's validator function (`App::etag`, `App::last_modified`).
    Validator,
}

impl Kind {
    /// Whether the node runs at startup (and so takes a place in the startup order).
    pub(crate) fn is_startup(self) -> bool {
        matches!(self, Kind::Provider | Kind::Lifespan)
    }

    /// Whether the node runs outside any request.
    pub(crate) fn is_outside_request(self) -> bool {
        matches!(
            self,
            Kind::Provider
                | Kind::Lifespan
                | Kind::Hook
                | Kind::Renderer
                | Kind::Observer
                | Kind::Background
        )
    }

    /// What errors and DOT output call it.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Kind::Provider => "startup provider",
            Kind::Lifespan => "lifespan",
            Kind::Hook => "shutdown hook",
            Kind::Dependency => "request-scoped dependency",
            Kind::Route => "route",
            Kind::Middleware => "middleware",
            Kind::Renderer => "error renderer",
            Kind::Observer => "error observer",
            Kind::Background => "background task",
            Kind::Validator => "validator",
        }
    }

    /// Where the graph leaves a choice: providers first, then lifespans, then the rest.
    pub(crate) fn rank(self) -> u8 {
        match self {
            Kind::Provider => 0,
            Kind::Lifespan => 1,
            _ => 2,
        }
    }
}

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
    /// How long the server keeps serving, not ready, after a stop signal.
    pub(crate) drain_delay: Duration,
    /// How many connections the server holds open at once; `None` for the default, which
    /// the server computes from the file descriptor limit.
    pub(crate) max_connections: Option<usize>,
    /// How long a request body may go without sending data.
    pub(crate) body_read_timeout: Duration,
    /// How many bytes all request bodies in flight may hold together.
    pub(crate) body_memory_limit: usize,
    /// The longest request target (path and query) accepted, in bytes.
    pub(crate) uri_limit: usize,
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
            drain_delay: Duration::from_secs(3),
            max_connections: None,
            body_read_timeout: Duration::from_secs(30),
            body_memory_limit: 64 * 1024 * 1024,
            uri_limit: 8 * 1024,
        }
    }
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
    /// The tower layers around the whole app (`App::layer`), in registration order: the
    /// first is the outermost.
    pub(crate) layers: Vec<LayerFn>,
    /// Whether any startup provider is a plain function, found on the first start and kept
    /// until the app changes ([`Blueprint::changed`]).
    plain_providers: Memo<bool>,
}

impl Blueprint {
    /// Whether a sequential startup of this app has a run of plain providers to start.
    pub(crate) fn has_plain_providers(&self) -> bool {
        *self
            .plain_providers
            .0
            .get_or_init(|| self.registrations.iter().any(Registration::joins_a_run))
    }

    /// Forgets what was found about the app: it is about to change.
    pub(crate) fn changed(&mut self) {
        self.plain_providers = Memo::default();
    }
}

/// A fact about a blueprint, found once; a copy of the blueprint finds it again.
struct Memo<T>(std::sync::OnceLock<T>);

impl<T> Default for Memo<T> {
    fn default() -> Self {
        Self(std::sync::OnceLock::new())
    }
}

impl<T> Clone for Memo<T> {
    fn clone(&self) -> Self {
        Self::default()
    }
}

/// One registered node: what the registration traits (`IntoProvider`, `Handler`, ...) make.
#[doc(hidden)]
#[derive(Clone)]
pub struct Registration {
    pub(crate) kind: Kind,
    pub(crate) name: String,
    pub(crate) needs: Needs,
    /// The types it registers: none, one, or several (a provider or lifespan of `Each`).
    /// One is held in the registration itself, so that validating thousands of providers
    /// does not chase a pointer per provider.
    pub(crate) provides: SmallVec<[(TypeId, &'static str); 1]>,
    /// Set by `App::timeout`; read by the lifecycle for startup and shutdown nodes and
    /// background tasks only.
    pub(crate) timeout: Option<Duration>,
    /// Set by `App::teardown_timeout`: a lifespan's teardown alone (else `timeout` bounds it).
    pub(crate) teardown_timeout: Option<Duration>,
    /// Set by `App::blocking`: a request-scoped dependency that runs on the blocking pool.
    pub(crate) blocking: bool,
    pub(crate) body: Body,
}

impl Registration {
    /// A node of `kind` with no timeout of its own.
    pub(crate) fn new(
        kind: Kind,
        name: String,
        needs: Needs,
        provides: Option<(TypeId, &'static str)>,
        body: Body,
    ) -> Self {
        Self {
            kind,
            name,
            needs,
            provides: provides.into_iter().collect(),
            timeout: None,
            teardown_timeout: None,
            blocking: false,
            body,
        }
    }

    /// Whether a sequential startup runs it with the plain providers next to it, on one
    /// blocking thread: a provider (not a lifespan, whose setup is a task of its own) whose
    /// function is plain.
    pub(crate) fn joins_a_run(&self) -> bool {
        match &self.body {
            Body::Run(node) => self.kind == Kind::Provider && node.plain(),
            _ => false,
        }
    }

    /// The names of the types it registers, joined for messages: `Database, Cache`.
    pub(crate) fn provided_names(&self) -> Option<String> {
        (!self.provides.is_empty()).then(|| {
            self.provides
                .iter()
                .map(|(_, name)| *name)
                .collect::<Vec<_>>()
                .join(", ")
        })
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("provides", &self.provided_names())
            .finish_non_exhaustive()
    }
}

/// What a node runs.
#[derive(Clone)]
pub(crate) enum Body {
    /// A startup provider, lifespan or shutdown hook.
    Run(Arc<dyn RunNode>),
    /// A request-scoped dependency.
    Dependency(Arc<dyn DependencyNode>),
    /// A route. Boxed: it carries its handler's description, much larger than the others.
    Route(Box<RouteSpec>),
    /// The handler of the paths no route matches (`App::fallback`).
    Fallback(Box<RouteHandler>),
    /// A middleware: around every route of the app (`App::wrap`), or registered here for
    /// validation while a route (or a nested module's routes) holds it.
    Middleware(Box<MiddlewareEntry>),
    /// The error renderer or an error observer.
    Report(Box<ReportSpec>),
    /// A background task.
    Background(Box<TaskSpec>),
    /// A route's validator function, registered here for validation while the route holds it.
    Validator,
}

/// A registered middleware.
#[derive(Clone, Debug)]
pub(crate) struct MiddlewareEntry {
    pub(crate) spec: MiddlewareSpec,
    /// Whether it wraps every route of the app (and its `404`s and `405`s), rather than the
    /// routes that hold it.
    pub(crate) app_wide: bool,
}

/// A route as registered.
#[derive(Clone, Debug)]
pub(crate) struct RouteSpec {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) handler: RouteHandler,
}

impl RouteSpec {
    /// `GET /users/{id}`, for errors.
    pub(crate) fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A handler, type-erased, before it is given a method and a path.
#[doc(hidden)]
#[derive(Clone)]
pub struct RouteHandler {
    pub(crate) name: String,
    pub(crate) needs: Needs,
    pub(crate) node: Arc<dyn HandlerNode>,
    /// The middleware around this handler alone (a nested module's, then its own), outermost
    /// first, inside the app-wide ones.
    pub(crate) middleware: Vec<MiddlewareSpec>,
    /// Its validators and the media types it provides (`App::etag`, `App::provides`).
    pub(crate) semantics: RouteSemantics,
}

impl RouteHandler {
    /// A handler named `name`, without middleware or route settings of its own yet. Not
    /// generic, so that what each registration compiles is the node alone.
    pub(crate) fn new(name: String, needs: Needs, node: Arc<dyn HandlerNode>) -> Self {
        Self {
            name,
            needs,
            node,
            middleware: Vec::new(),
            semantics: RouteSemantics::default(),
        }
    }
}

impl fmt::Debug for RouteHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteHandler")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The call of a startup-side node: its value, if it registers one.
pub(crate) type NodeCall<'a> = BoxFuture<'a, Result<Option<Produced>, Failure>>;

/// A [`NodeCall`] that owns what it needs.
pub(crate) type NodeFuture = NodeCall<'static>;

/// A startup provider, lifespan or hook, type-erased.
pub(crate) trait RunNode: Send + Sync + 'static {
    /// Prepares the parameters against the container as it is now, and returns the call,
    /// which borrows the node: for providers and hooks, run while the app holds them.
    fn call<'a>(&'a self, prepare: &Prepare<'_>, shutdown: ShutdownTrigger) -> NodeCall<'a>;

    /// The same call, owning the node, with the lifespan's slot: for a lifespan, whose run is
    /// a task of its own.
    fn run(
        self: Arc<Self>,
        prepare: &Prepare<'_>,
        shutdown: ShutdownTrigger,
        lifespan: Option<LifespanSlot>,
    ) -> NodeFuture;

    /// Whether the node's function is plain (not async): its call may block, and runs on
    /// tokio's blocking pool. Consecutive plain startup providers share one hop to it.
    fn plain(&self) -> bool {
        false
    }

    /// For a plain node ([`RunNode::plain`]): its call prepared like [`RunNode::call`], as
    /// the plain call that extracts its parameters and calls it, for a run of plain
    /// providers to make in place on its blocking thread. `None` for any other node.
    fn plain_call(&self, _prepare: &Prepare<'_>, _shutdown: ShutdownTrigger) -> Option<PlainCall> {
        None
    }
}

/// A request-scoped dependency, type-erased: prepared once when the app starts.
pub(crate) trait DependencyNode: Send + Sync + 'static {
    fn prepare(&self, prepare: &Prepare<'_>, blocking: bool) -> Arc<dyn PreparedDependency>;
}

/// A route handler, type-erased: prepared once when the app starts (with `prepare`, on
/// `dyn HandlerNode`). What it prepares keeps the node.
pub(crate) trait HandlerNode: Send + Sync + 'static {
    /// Prepares the handler's parameters; what it returns owns `self`.
    fn prepare_owned(self: Arc<Self>, prepare: &Prepare<'_>) -> Arc<dyn PreparedHandler>;
}

impl dyn HandlerNode {
    /// Prepares the handler's parameters against the started app.
    pub(crate) fn prepare(self: &Arc<Self>, prepare: &Prepare<'_>) -> Arc<dyn PreparedHandler> {
        Arc::clone(self).prepare_owned(prepare)
    }
}

/// A prepared route handler: answers one request.
pub(crate) trait PreparedHandler: Send + Sync + 'static {
    fn call<'a>(&'a self, cx: &'a mut Context<'_>, body: Bytes) -> BoxFuture<'a, Response>;
}
