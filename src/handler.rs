//! Route handlers: async functions of up to 16 extractors, the last of which may read the
//! body, written once over the one function of extractors (`ExtractorFn`); and the routes
//! that the route attributes (`#[get("/users/{id}")]`) make.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::blueprint::{HandlerNode, PreparedHandler, RouteHandler};
use crate::extract::{Context, Needs, Prepare};
use crate::function::{AsyncFn, ExtractorFn};
use crate::names::callable_name;
use crate::response::{IntoResponse, Response};
use call::PreparedHandlerFn;

/// An async function or closure that can handle a route.
///
/// Its parameters are extractors ([`Res<T>`](crate::Res), [`Dep<T>`](crate::Dep),
/// [`Path<T>`](crate::Path), [`Query<T>`](crate::Query), `HeaderMap`, ...), and the last one
/// may read the body ([`Json<T>`](crate::Json), `String`, `Bytes`); it returns anything that
/// implements [`IntoResponse`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a roadie route handler",
    label = "not a handler",
    note = "a handler is an async function or closure of up to 16 extractors (`Res<T>`, `Dep<T>`, \
            `Path<T>`, `Query<T>`, `HeaderMap`, ...; the body extractor `Json<T>`, `String` or \
            `Bytes` last) whose output implements `IntoResponse`",
    note = "with the route attributes (`#[get(\"/path\")]`), `&T` parameters ask for the resource `T`"
)]
pub trait Handler<M>: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_route_handler(self) -> RouteHandler;
}

impl<F, P, L> Handler<(AsyncFn, P, L)> for F
where
    F: ExtractorFn<(AsyncFn, P, L)>,
    F::Output: IntoResponse,
    P: 'static,
    L: 'static,
{
    fn into_route_handler(self) -> RouteHandler {
        let mut needs = Needs::default();
        F::describe(&mut needs);
        RouteHandler::new(
            callable_name::<F>(None),
            needs,
            Arc::new(HandlerFn::<F, (AsyncFn, P, L)> {
                f: self,
                _marker: PhantomData,
            }),
        )
    }
}

/// A route handler's function, held by value: the node and what it prepares share it through
/// the node's one `Arc`.
struct HandlerFn<F, M> {
    f: F,
    _marker: PhantomData<fn() -> M>,
}

impl<F, M> HandlerNode for HandlerFn<F, M>
where
    F: ExtractorFn<M>,
    F::Output: IntoResponse,
    M: 'static,
{
    fn prepare_owned(self: Arc<Self>, prepare: &Prepare<'_>) -> Arc<dyn PreparedHandler> {
        Arc::new(PreparedHandlerFn {
            node: self,
            state: F::prepare(prepare),
        })
    }
}

mod call {
    //! The request side of a route handler, in a module of its own: rustc's partition puts
    //! each handler's request path (its extraction, call and response, inlined together) in
    //! a codegen unit apart from the start side's, so a release build optimizes the two in
    //! parallel.
    use super::*;

    /// A [`HandlerFn`] prepared for a started app: its parameters' states computed once.
    pub(super) struct PreparedHandlerFn<F: ExtractorFn<M>, M> {
        pub(super) node: Arc<HandlerFn<F, M>>,
        pub(super) state: F::State,
    }

    impl<F, M> PreparedHandler for PreparedHandlerFn<F, M>
    where
        F: ExtractorFn<M>,
        F::Output: IntoResponse,
        M: 'static,
    {
        fn call<'a>(&'a self, cx: &'a mut Context<'_>, body: Bytes) -> BoxFuture<'a, Response> {
            // Nothing runs until the future is polled (the extraction, the call and the response
            // are one async function): a panic in any is caught where it is awaited.
            Box::pin(
                self.node
                    .f
                    .call_then(&self.state, cx, body, respond::<F::Output>),
            )
        }
    }

    /// The response to a handler's call: its output's, or, for a rejected parameter, the
    /// rejection's, marked as the request's failure (as told to releases).
    fn respond<O: IntoResponse>(called: Result<O, crate::extract::Rejection>) -> Response {
        match called {
            Ok(output) => output.into_response(),
            Err(rejection) => rejection.into_response().failed(),
        }
    }
}

/// The method and path of a route made by a route attribute (`#[get("/users/{id}")]`).
#[doc(hidden)]
pub trait RouteInfo: 'static {
    /// The method, as text (`GET`, or any method for `#[route]`).
    const METHOD: &'static str;
    /// The path pattern.
    const PATH: &'static str;

    /// Applies the attribute's route settings (`etag = f`, `last_modified = f`,
    /// `provides = [..]`) to the app that just registered the route.
    fn settings(app: crate::App) -> crate::App {
        app
    }
}

pin_project_lite::pin_project! {
    /// The future of a function annotated with a route attribute: it awaits to the function's
    /// own output, and carries the route's method and path in its type.
    #[doc(hidden)]
    pub struct Routed<Fut, I> {
        #[pin]
        future: Fut,
        info: PhantomData<fn() -> I>,
    }
}

impl<Fut, I> Routed<Fut, I> {
    #[doc(hidden)]
    pub fn new(future: Fut) -> Self {
        Self {
            future,
            info: PhantomData,
        }
    }
}

impl<Fut: Future, I> Future for Routed<Fut, I> {
    type Output = Fut::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.project().future.poll(cx)
    }
}

impl<Fut, I> fmt::Debug for Routed<Fut, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Routed").finish_non_exhaustive()
    }
}

/// The route information carried by an annotated function's future.
#[doc(hidden)]
pub trait RouteFuture {
    type Info: RouteInfo;
}

impl<Fut, I: RouteInfo> RouteFuture for Routed<Fut, I> {
    type Info = I;
}

/// A function annotated with a route attribute, ready for [`App::route`](crate::App::route).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an annotated route",
    label = "not made by a route attribute",
    note = "`App::route` takes a function annotated with `#[get(\"/path\")]`, `#[post]`, `#[put]`, \
            `#[patch]`, `#[delete]` or `#[route(METHOD, \"/path\")]`; register a plain handler with \
            `App::get(path, handler)` and friends"
)]
pub trait IntoRoute<M>: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_route(
        self,
    ) -> (
        &'static str,
        &'static str,
        RouteHandler,
        fn(crate::App) -> crate::App,
    );
}

impl<F, M> IntoRoute<M> for F
where
    F: Handler<M> + ExtractorFn<M>,
    F::Returned: RouteFuture,
{
    fn into_route(
        self,
    ) -> (
        &'static str,
        &'static str,
        RouteHandler,
        fn(crate::App) -> crate::App,
    ) {
        type Info<F, M> = <<F as ExtractorFn<M>>::Returned as RouteFuture>::Info;
        (
            <Info<F, M> as RouteInfo>::METHOD,
            <Info<F, M> as RouteInfo>::PATH,
            self.into_route_handler(),
            <Info<F, M> as RouteInfo>::settings,
        )
    }
}
