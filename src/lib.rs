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

mod adapters;
mod app;
mod compose;
mod container;
mod error;
mod extract;
mod graph;
mod handler;
mod lifecycle;
mod lifespan;
mod names;
mod path_de;
mod provider;
mod rejection;
mod request;
mod response;
mod routing;
mod scope;
mod server;

pub mod guide;

#[cfg(feature = "lambda")]
pub use crate::adapters::lambda;

pub use bytes::Bytes;
pub use http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};

pub use crate::adapters::tower::{AppService, ResponseFuture};
pub use crate::app::App;
pub use crate::compose::{value, Value};
pub use crate::container::{Container, Res};
pub use crate::error::{
    BoxError, Error, Failure, NodeError, Problem, ShutdownError, Stage, StartupError,
    ValidationError,
};
pub use crate::extract::{
    Context, FromContext, FromRequest, Json, Need, Needs, Path, Prepare, Query, Shutdown,
};
pub use crate::handler::{Handler, IntoRoute};
pub use crate::lifecycle::{LifecycleState, Running};
pub use crate::lifespan::Lifespan;
pub use crate::provider::{
    HookOutput, IntoDependency, IntoHook, IntoLifespan, IntoProvider, Provide, ProviderOutput,
};
pub use crate::rejection::{HttpError, Rejection};
pub use crate::request::Request;
pub use crate::response::{IntoResponse, Response};
pub use crate::scope::{Dep, DependencyIndex, DependencyOutput, Outcome, Scoped};
pub use crate::server::{Server, ServerHandle};

#[cfg(feature = "macros")]
pub use roadie_macros::{
    delete, dependency, get, lifespan, on_shutdown, on_startup, patch, post, put, route,
};

/// Items that generated code names; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::container::Produced;
    pub use crate::handler::{RouteHandler, RouteInfo, Routed};
    pub use crate::provider::NodeSpec;
    pub use crate::scope::Entry;
}

/// The names most apps use: `use roadie::prelude::*;`.
pub mod prelude {
    pub use crate::{
        App, Dep, HeaderMap, HttpError, IntoResponse, Json, Lifespan, Method, Outcome, Path,
        Provide, Query, Request, Res, Response, Running, Scoped, Shutdown, StatusCode,
    };

    #[cfg(feature = "macros")]
    pub use roadie_macros::{
        delete, dependency, get, lifespan, on_shutdown, on_startup, patch, post, put, route,
    };
}
