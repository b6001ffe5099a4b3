//! The guide: one chapter per topic. Every code block here is compiled and run as a test.

/// The README, compiled so that its example stays true.
#[cfg(feature = "macros")]
#[doc(hidden)]
#[doc = include_str!("../README.md")]
pub mod readme {}

/// Modules and test doubles: apps built from modules with `merge` and `nest`, and providers
/// replaced in tests.
#[doc = include_str!("../docs/modules.md")]
pub mod modules {}

/// The attribute macros: `#[on_startup]`, `#[on_shutdown]`, `#[dependency]`, `#[lifespan]` and
/// the route attributes, what they accept and what they write.
#[cfg(feature = "macros")]
#[doc = include_str!("../docs/macros.md")]
pub mod macros {}

/// Startup and shutdown: providers, the order of every step, shutdown hooks, failed starts and
/// timeouts.
#[doc = include_str!("../docs/startup-and-shutdown.md")]
pub mod startup_and_shutdown {}

/// Lifespans: setup and teardown in one async function.
#[doc = include_str!("../docs/lifespans.md")]
pub mod lifespans {}

/// The dependency graph: validation errors and their texts, order rules, DOT export and
/// concurrent startup.
#[doc = include_str!("../docs/dependency-graph.md")]
pub mod dependency_graph {}

/// Handlers and extractors: routes, the parameters a handler can take, rejections, responses
/// and panics.
#[doc = include_str!("../docs/handlers-and-extractors.md")]
pub mod handlers_and_extractors {}

/// Dependency injection: resources (session scope) and request-scoped dependencies, with
/// releases told how the request ended.
#[doc = include_str!("../docs/dependency-injection.md")]
pub mod dependency_injection {}

/// Middleware, layers and the app's errors: tower layers (CORS, compression), middleware with
/// dependency injection (authentication, a transaction per request), a custom 404, the app's
/// own error shape (RFC 9457 problem details) and error observers.
#[cfg(feature = "macros")]
#[doc = include_str!("../docs/middleware.md")]
pub mod middleware {}

/// Long-lived work: background tasks that run while the app runs and periodic tasks, started
/// once the app is up and stopped before anything they use is torn down.
#[doc = include_str!("../docs/long-lived.md")]
pub mod long_lived {}
/// HTTP semantics: conditional requests (ETag, Last-Modified, `304`, `412`), content
/// negotiation (`provides`, `MediaType`, `406`), `OPTIONS`, `501` and `414`, with the order of
/// decisions.
#[cfg(feature = "macros")]
#[doc = include_str!("../docs/http-semantics.md")]
pub mod http_semantics {}

/// Streams: server-sent events and WebSockets, and how they end when the app stops.
#[doc = include_str!("../docs/streams.md")]
pub mod streams {}

/// Testing with `execute`, and test doubles.
#[doc = include_str!("../docs/testing.md")]
pub mod testing {}

/// Development: the runner that rebuilds on change and swaps processes on one socket, serving
/// an inherited socket (`LISTEN_FDS`), and what happens to requests during a swap.
#[doc = include_str!("../docs/development.md")]
pub mod development {}

/// Deployment: signals and graceful drain, systemd, Docker, a process supervisor, Kubernetes
/// probes, AWS Lambda, and mounting inside another server.
#[cfg(feature = "lambda")]
#[doc = include_str!("../docs/deployment.md")]
pub mod deployment {}

/// Architecture: the map of the crate's modules, the path of a registration and of a request,
/// and where each rule of the design lives.
#[doc = include_str!("../docs/architecture.md")]
pub mod architecture {}
