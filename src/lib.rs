//! # roadie
//!
//! A dependency-injection lifecycle container for web services.
//!
//! - **Startup providers** (plain or async functions, fallible or not) return typed values,
//!   registered by type into an app-wide container shared by every request.
//! - Providers declare what they need by their **parameter types**; a graph orders them, and
//!   the whole graph is validated **before anything runs** (missing types, cycles with their
//!   path, duplicate providers, scope violations).
//! - **Handlers, request-scoped dependencies and shutdown hooks** receive resources by type.
//! - **Lifespans** hold setup and teardown in one async function.
//! - Tests call [`App::execute`] in-process: no socket, and startup runs by itself.
//!
//! ```
//! use roadie::prelude::*;
//! use std::convert::Infallible;
//!
//! struct Config { name: String }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = App::new()
//!     .on_startup(|| Ok::<_, Infallible>(Config { name: "roadie".into() }))
//!     .get("/hello/{who}", |Path(who): Path<String>, config: Res<Config>| async move {
//!         format!("hello {who}, from {}", config.name)
//!     });
//!
//! let response = app.execute(Request::get("/hello/world")).await;
//! assert_eq!(response.text(), "hello world, from roadie");
//! # }
//! ```
//!
//! The guide lives in [`guide`].
#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

extern crate self as roadie;

// `async-trait`, which the design names, is not a dependency: async fns in traits and
// `-> impl Future + Send` in trait definitions (Rust 1.75) give every trait here its futures
// without a macro, and the type-erased node traits return `BoxFuture` themselves.

// The model: what was registered, and every rule it must follow.
mod blueprint;
mod graph;
mod validate;

// The functions users register, written once over the one function of extractors.
pub mod background;
mod function;
pub mod handler;
pub mod middleware;
pub mod node;
mod output;
mod report;

// Values, the request and bodies.
pub mod body;
mod container;
pub mod extract;
mod request;
pub mod response;
mod scope;
mod shutdown;

// Long-lived responses: server-sent events and WebSockets, ended in order at shutdown.
mod long_lived;
pub mod sse;
pub mod ws;

// The engine, and the one path a request takes through it, inside the app's layers.
pub mod conditional;
mod edge;
pub mod layer;
mod lifecycle;
mod negotiate;
mod routing;

// The registration API, the server and the adapters.
mod app;
#[cfg(feature = "lambda")]
pub mod lambda;
mod server;
pub mod tower;

pub mod error;
pub mod guide;
mod names;

pub use bytes::Bytes;
pub use http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};

pub use crate::app::App;
pub use crate::background::Backoff;
pub use crate::conditional::ETag;
pub use crate::container::{Container, Res};
pub use crate::error::{
    BoxError, Error, Failure, NodeError, Problem, ShutdownError, Stage, StartupError,
    ValidationError,
};
pub use crate::extract::{
    Each, Json, Lifespan, Path, Query, Resources, Shutdown, StillHeld, Teardown,
};
pub use crate::lifecycle::{LifecycleState, Running};
pub use crate::middleware::{Middleware, Next};
pub use crate::negotiate::MediaType;
pub use crate::node::{value, Value};
pub use crate::output::Provide;
pub use crate::report::{ErrorObserver, ErrorRenderer, FailedRequest};
pub use crate::request::Request;
pub use crate::response::{HttpError, IntoResponse, Rejection, Response};
pub use crate::scope::{Dep, Outcome, Scoped};
pub use crate::server::{Server, ServerHandle};
#[doc(no_inline)]
pub use crate::tower::AppService;

#[cfg(feature = "macros")]
pub use roadie_macros::{
    background, delete, dependency, get, lifespan, middleware, on_shutdown, on_startup, patch,
    post, put, route,
};

/// Items that the macros' generated code names, and the types behind the hidden methods of
/// the registration traits; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::blueprint::{Registration, RouteHandler};
    pub use crate::container::Produced;
    pub use crate::handler::{RouteInfo, Routed};
    pub use crate::middleware::MiddlewareSpec;
    pub use crate::report::ReportSpec;
    pub use crate::scope::Entry;
}

/// The names most apps use: `use roadie::prelude::*;`.
pub mod prelude {
    pub use crate::{
        App, Backoff, Dep, ETag, Each, HeaderMap, HeaderValue, HttpError, IntoResponse, Json,
        Lifespan, MediaType, Method, Next, Outcome, Path, Provide, Query, Rejection, Request, Res,
        Response, Running, Scoped, Shutdown, StatusCode,
    };

    #[cfg(feature = "macros")]
    pub use roadie_macros::{
        background, delete, dependency, get, lifespan, middleware, on_shutdown, on_startup, patch,
        post, put, route,
    };
}
