//! Middleware: async functions of the request, the [`Next`] step and extractors, wrapped
//! around routes in registration order (the first registered is the outermost).
//!
//! A middleware shares the request scope with the handler it wraps: a `Dep<T>` it asks for
//! is the handler's instance, built once and released once, after the whole chain, told how
//! the request ended. Its parameters are validated at start like a handler's.
//!
//! The request scope travels down the chain with the request, inside [`Next`], and is left at
//! home (a slot the edge shares with the chain) when the chain stops: where the handler
//! answered, where a middleware answered without calling `next` (its `Next` is dropped), or
//! where a middleware's parameter was rejected. Once the chain's future is done, the edge is
//! the slot's one owner, and takes the scope from it: no lock, no channel.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use crate::edge;
use crate::extract::{Context, Needs, Params, Prepare, RequestContext};
use crate::function::{Extractors, LeadPrepared, MiddlewareFn};
use crate::names::callable_name;
use crate::request::Request;
use crate::response::{IntoResponse, Response};
use crate::routing::Route;
use crate::scope::Scope;
use crate::shutdown::ShutdownTrigger;

/// What comes after a middleware: the next middleware, or the route's handler.
///
/// Call [`Next::run`] with the request (changed or not) to go on, and get the response to
/// return (changed or not); or drop it and answer without going on. Either way, what the
/// request acquired is released once the whole chain is done.
pub struct Next {
    pending: Option<Box<Pending>>,
}

impl Next {
    /// Runs the rest of the chain with `request`, and gives its response.
    ///
    /// The rest of the chain's future is made at once (nothing runs until it is awaited), so
    /// that a middleware's own future holds only a pointer to it.
    pub fn run(mut self, request: Request) -> impl Future<Output = Response> + Send + 'static {
        match self.pending.take() {
            Some(pending) => pending.proceed(request),
            // `pending` is only taken here, and `run` takes `self`.
            None => unreachable!("`Next` runs once"),
        }
    }
}

impl Drop for Next {
    /// A middleware answered without going on: the scope goes back to the edge.
    fn drop(&mut self) {
        if let Some(pending) = self.pending.take() {
            pending.go_home();
        }
    }
}

impl fmt::Debug for Next {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Next").finish_non_exhaustive()
    }
}

/// Where a request's scope is left when its chain stops, shared by the edge and the chain.
pub(crate) type Home = Arc<std::sync::OnceLock<Scope>>;

/// The prepared middleware around one route, outermost first; shared by its requests.
pub(crate) type Wrappers = Arc<[Arc<dyn PreparedMiddleware>]>;

/// The chain of a request: a route's middleware and handler, or the app-wide middleware
/// around the router's own answer.
pub(crate) enum Endpoint {
    /// A route: its middleware, then its handler (one `Arc` for both).
    Route(Arc<Route>),
    /// A fixed answer (`404`, `405`...) inside the app-wide middleware; boxed, so that the
    /// chain of a route carries one pointer for it. Taken when the chain reaches it.
    Answer(Wrappers, Option<Box<Response>>),
}

impl Endpoint {
    fn wrappers(&self) -> &Wrappers {
        match self {
            Endpoint::Route(route) => &route.wrappers,
            Endpoint::Answer(wrappers, _) => wrappers,
        }
    }
}

/// The rest of a request's chain, and what the request owns on its way down it.
pub(crate) struct Pending {
    position: usize,
    endpoint: Endpoint,
    params: Params,
    scope: Scope,
    shutdown: ShutdownTrigger,
    /// Where the scope goes when the chain stops.
    home: Home,
}

impl Pending {
    /// The chain of a request, and where its scope comes back.
    pub(crate) fn new(
        endpoint: Endpoint,
        params: Params,
        scope: Scope,
        shutdown: ShutdownTrigger,
    ) -> (Box<Self>, Home) {
        let home = Home::default();
        let back = Arc::clone(&home);
        let pending = Box::new(Self {
            position: 0,
            endpoint,
            params,
            scope,
            shutdown,
            home,
        });
        (pending, back)
    }

    /// Calls the next middleware, or the endpoint.
    pub(crate) fn proceed(mut self: Box<Self>, request: Request) -> BoxFuture<'static, Response> {
        match self.endpoint.wrappers().get(self.position).cloned() {
            Some(wrapper) => {
                self.position += 1;
                wrapper.call(self, request)
            }
            None => {
                // Split before the future is made: it holds the parts, not the request too.
                let (parts, body) = request.inner.into_parts();
                Box::pin(self.answer(parts, body))
            }
        }
    }

    async fn answer(mut self: Box<Self>, mut parts: http::request::Parts, body: Bytes) -> Response {
        let Pending {
            endpoint,
            params,
            scope,
            shutdown,
            ..
        } = &mut *self;
        let response = match endpoint {
            Endpoint::Route(route) => {
                edge::call_handler(&*route.handler, &mut parts, params, scope, shutdown, body).await
            }
            Endpoint::Answer(_, response) => match response.take() {
                Some(response) => *response,
                None => unreachable!("the endpoint answers once"),
            },
        };
        self.go_home();
        response
    }

    /// The chain stopped here: the scope goes back to the edge, which releases it.
    // Taken as the box the chain travels in: unboxing it first would copy it.
    #[allow(clippy::boxed_local)]
    fn go_home(self: Box<Self>) {
        let Pending { scope, home, .. } = *self;
        // Set once: the chain stops at one place. Were it set already, or the edge gone (the
        // request cancelled), the scope's own drop releases what it holds.
        let _ = home.set(scope);
    }

    /// The context in which a middleware's extractors are resolved.
    fn context<'a>(&'a mut self, parts: &'a mut http::request::Parts) -> Context<'a> {
        Context {
            request: Some(RequestContext {
                parts,
                params: &mut self.params,
                scope: &mut self.scope,
            }),
            lifespan: None,
            shutdown: &self.shutdown,
        }
    }
}

/// An async function or closure that can wrap routes: its parameters are the [`Request`],
/// the [`Next`] step, then up to 14 extractors ([`Res<T>`](crate::Res),
/// [`Dep<T>`](crate::Dep), `HeaderMap`, ...); it returns anything that implements
/// [`IntoResponse`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a roadie middleware",
    label = "not a middleware",
    note = "a middleware is an async function or closure taking `Request`, then `Next`, then up \
            to 14 extractors (`Res<T>`, `Dep<T>`, `HeaderMap`, ...; not the body, which is in the \
            `Request`), whose output implements `IntoResponse`"
)]
pub trait Middleware<M>: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_middleware(self) -> MiddlewareSpec;
}

impl<F, M> Middleware<M> for F
where
    F: MiddlewareFn<M>,
    F::Output: IntoResponse,
    M: 'static,
{
    fn into_middleware(self) -> MiddlewareSpec {
        let mut needs = Needs::default();
        <F::Args as Extractors>::describe(&mut needs);
        MiddlewareSpec {
            name: callable_name::<F>(None),
            needs,
            node: Arc::new(MiddlewareFnNode::<F, M> {
                f: Arc::new(self),
                _marker: std::marker::PhantomData,
            }),
        }
    }
}

/// A middleware, type-erased, as registered.
#[doc(hidden)]
#[derive(Clone)]
pub struct MiddlewareSpec {
    pub(crate) name: String,
    pub(crate) needs: Needs,
    pub(crate) node: Arc<dyn MiddlewareNode>,
}

impl fmt::Debug for MiddlewareSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MiddlewareSpec")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A middleware, type-erased: prepared once when the app starts.
pub(crate) trait MiddlewareNode: Send + Sync + 'static {
    fn prepare(&self, prepare: &Prepare<'_>, name: &str) -> Arc<dyn PreparedMiddleware>;
}

/// A prepared middleware: takes a request and the rest of its chain.
pub(crate) trait PreparedMiddleware: Send + Sync + 'static {
    fn call(
        self: Arc<Self>,
        pending: Box<Pending>,
        request: Request,
    ) -> BoxFuture<'static, Response>;
}

struct MiddlewareFnNode<F, M> {
    f: Arc<F>,
    _marker: std::marker::PhantomData<fn() -> M>,
}

struct PreparedFn<F, M: 'static>
where
    F: MiddlewareFn<M>,
{
    prepared: LeadPrepared<F, F::Args>,
    name: Arc<str>,
}

impl<F, M> MiddlewareNode for MiddlewareFnNode<F, M>
where
    F: MiddlewareFn<M>,
    F::Output: IntoResponse,
    M: 'static,
{
    fn prepare(&self, prepare: &Prepare<'_>, name: &str) -> Arc<dyn PreparedMiddleware> {
        Arc::new(PreparedFn::<F, M> {
            prepared: LeadPrepared {
                f: Arc::clone(&self.f),
                state: <F::Args as Extractors>::prepare(prepare),
            },
            name: name.into(),
        })
    }
}

impl<F, M> PreparedMiddleware for PreparedFn<F, M>
where
    F: MiddlewareFn<M>,
    F::Output: IntoResponse,
    M: 'static,
{
    fn call(
        self: Arc<Self>,
        mut pending: Box<Pending>,
        request: Request,
    ) -> BoxFuture<'static, Response> {
        // Without extractors, the request goes to the function as it came.
        if let Some(args) = <F::Args as Extractors>::none() {
            let next = Next {
                pending: Some(pending),
            };
            return Box::pin(self.invoke(request, next, args));
        }
        Box::pin(async move {
            let (mut parts, body) = request.inner.into_parts();
            let args = {
                let mut cx = pending.context(&mut parts);
                <F::Args as Extractors>::extract(&self.prepared.state, &mut cx).await
            };
            let args = match args {
                Ok(args) => args,
                Err(rejection) => {
                    pending.go_home();
                    return rejection.into_response().failed();
                }
            };
            let request = Request {
                inner: http::Request::from_parts(parts, body),
            };
            let next = Next {
                pending: Some(pending),
            };
            self.invoke(request, next, args).await
        })
    }
}

impl<F, M> PreparedFn<F, M>
where
    F: MiddlewareFn<M>,
    F::Output: IntoResponse,
    M: 'static,
{
    /// Calls the function; a panic answers `500`, its text logged and kept for observers.
    async fn invoke(self: Arc<Self>, request: Request, next: Next, args: F::Args) -> Response {
        let f = &self.prepared.f;
        // Inside the async block, so that a closure that panics before its future is made is
        // caught too.
        let run = async move { f.invoke(request, next, args).await };
        match AssertUnwindSafe(run).catch_unwind().await {
            Ok(output) => output.into_response(),
            Err(panic) => {
                let panic = crate::error::panic_message(panic.as_ref());
                tracing::error!(middleware = %self.name, %panic, "middleware panicked");
                Response::panicked(panic)
            }
        }
    }
}
