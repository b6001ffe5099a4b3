//! Route handlers: async functions of up to 16 extractors, the last of which may read the body.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::extract::{Context, FromContext, FromRequest, Needs, Prepare};
use crate::names::callable_name;
use crate::response::{HandlerFailed, IntoResponse, Response};

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

/// A registered handler, type-erased.
#[doc(hidden)]
#[derive(Clone)]
pub struct RouteHandler {
    pub(crate) name: String,
    pub(crate) needs: Needs,
    pub(crate) node: Arc<dyn HandlerNode>,
}

impl fmt::Debug for RouteHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteHandler")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

pub(crate) trait HandlerNode: Send + Sync + 'static {
    fn prepare(&self, prepare: &Prepare<'_>) -> Arc<dyn PreparedHandler>;
}

pub(crate) trait PreparedHandler: Send + Sync + 'static {
    fn call<'a>(&'a self, cx: &'a mut Context<'_>, body: Bytes) -> BoxFuture<'a, Response>;
}

struct HandlerFn<F, M> {
    f: Arc<F>,
    _marker: PhantomData<fn() -> M>,
}

struct PreparedHandlerFn<F, S, M> {
    f: Arc<F>,
    states: S,
    _marker: PhantomData<fn() -> M>,
}

fn rejected(rejection: crate::extract::Rejection) -> Response {
    let mut response = rejection.into_response();
    response.extensions_mut().insert(HandlerFailed);
    response
}

impl<F, Fut> Handler<(fn() -> Fut,)> for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoResponse,
{
    fn into_route_handler(self) -> RouteHandler {
        RouteHandler {
            name: callable_name::<F>(None),
            needs: Needs::default(),
            node: Arc::new(HandlerFn::<F, (fn() -> Fut,)> {
                f: Arc::new(self),
                _marker: PhantomData,
            }),
        }
    }
}

impl<F, Fut> HandlerNode for HandlerFn<F, (fn() -> Fut,)>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoResponse,
{
    fn prepare(&self, _prepare: &Prepare<'_>) -> Arc<dyn PreparedHandler> {
        Arc::new(PreparedHandlerFn::<F, (), (fn() -> Fut,)> {
            f: Arc::clone(&self.f),
            states: (),
            _marker: PhantomData,
        })
    }
}

impl<F, Fut> PreparedHandler for PreparedHandlerFn<F, (), (fn() -> Fut,)>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoResponse,
{
    fn call<'a>(&'a self, _cx: &'a mut Context<'_>, _body: Bytes) -> BoxFuture<'a, Response> {
        Box::pin(async move { (self.f)().await.into_response() })
    }
}

macro_rules! impl_handler {
    ([$($T:ident),*], $Last:ident) => {
        #[allow(non_snake_case)]
        impl<F, Fut, M, $($T,)* $Last> Handler<(M, fn($($T,)* $Last) -> Fut)> for F
        where
            F: Fn($($T,)* $Last) -> Fut + Send + Sync + 'static,
            Fut: Future + Send + 'static,
            Fut::Output: IntoResponse,
            M: 'static,
            $($T: FromContext,)*
            $Last: FromRequest<M>,
        {
            fn into_route_handler(self) -> RouteHandler {
                let mut needs = Needs::default();
                $(<$T as FromContext>::describe(&mut needs);)*
                <$Last as FromRequest<M>>::describe(&mut needs);
                RouteHandler {
                    name: callable_name::<F>(None),
                    needs,
                    node: Arc::new(HandlerFn::<F, (M, fn($($T,)* $Last) -> Fut)> {
                        f: Arc::new(self),
                        _marker: PhantomData,
                    }),
                }
            }
        }

        #[allow(non_snake_case)]
        impl<F, Fut, M, $($T,)* $Last> HandlerNode for HandlerFn<F, (M, fn($($T,)* $Last) -> Fut)>
        where
            F: Fn($($T,)* $Last) -> Fut + Send + Sync + 'static,
            Fut: Future + Send + 'static,
            Fut::Output: IntoResponse,
            M: 'static,
            $($T: FromContext,)*
            $Last: FromRequest<M>,
        {
            fn prepare(&self, prepare: &Prepare<'_>) -> Arc<dyn PreparedHandler> {
                Arc::new(PreparedHandlerFn::<F, _, (M, fn($($T,)* $Last) -> Fut)> {
                    f: Arc::clone(&self.f),
                    states: ($(<$T as FromContext>::prepare(prepare),)* <$Last as FromRequest<M>>::prepare(prepare),),
                    _marker: PhantomData,
                })
            }
        }

        #[allow(non_snake_case)]
        impl<F, Fut, M, $($T,)* $Last> PreparedHandler
            for PreparedHandlerFn<F, ($(<$T as FromContext>::State,)* <$Last as FromRequest<M>>::State,), (M, fn($($T,)* $Last) -> Fut)>
        where
            F: Fn($($T,)* $Last) -> Fut + Send + Sync + 'static,
            Fut: Future + Send + 'static,
            Fut::Output: IntoResponse,
            M: 'static,
            $($T: FromContext,)*
            $Last: FromRequest<M>,
        {
            fn call<'a>(&'a self, cx: &'a mut Context<'_>, body: Bytes) -> BoxFuture<'a, Response> {
                Box::pin(async move {
                    let ($($T,)* $Last,) = &self.states;
                    $(
                        let $T = match <$T as FromContext>::from_context($T, cx).await {
                            Ok(value) => value,
                            Err(rejection) => return rejected(rejection),
                        };
                    )*
                    let $Last = match <$Last as FromRequest<M>>::from_request($Last, cx, body).await {
                        Ok(value) => value,
                        Err(rejection) => return rejected(rejection),
                    };
                    (self.f)($($T,)* $Last).await.into_response()
                })
            }
        }
    };
}

macro_rules! all_the_handlers {
    ($name:ident) => {
        $name!([], T1);
        $name!([T1], T2);
        $name!([T1, T2], T3);
        $name!([T1, T2, T3], T4);
        $name!([T1, T2, T3, T4], T5);
        $name!([T1, T2, T3, T4, T5], T6);
        $name!([T1, T2, T3, T4, T5, T6], T7);
        $name!([T1, T2, T3, T4, T5, T6, T7], T8);
        $name!([T1, T2, T3, T4, T5, T6, T7, T8], T9);
        $name!([T1, T2, T3, T4, T5, T6, T7, T8, T9], T10);
        $name!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10], T11);
        $name!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11], T12);
        $name!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12], T13);
        $name!(
            [T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13],
            T14
        );
        $name!(
            [T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14],
            T15
        );
        $name!(
            [T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15],
            T16
        );
    };
}

all_the_handlers!(impl_handler);

/// The method and path of a route made by a route attribute (`#[get("/users/{id}")]`).
#[doc(hidden)]
pub trait RouteInfo: 'static {
    /// The method, as text (`GET`, or any method for `#[route]`).
    const METHOD: &'static str;
    /// The path pattern.
    const PATH: &'static str;
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
    fn into_route(self) -> (&'static str, &'static str, RouteHandler);
}

impl<F, Fut> IntoRoute<(fn() -> Fut,)> for F
where
    F: Handler<(fn() -> Fut,)> + Fn() -> Fut,
    Fut: RouteFuture,
{
    fn into_route(self) -> (&'static str, &'static str, RouteHandler) {
        let info = (
            <Fut::Info as RouteInfo>::METHOD,
            <Fut::Info as RouteInfo>::PATH,
        );
        (info.0, info.1, self.into_route_handler())
    }
}

macro_rules! impl_into_route {
    ([$($T:ident),*], $Last:ident) => {
        impl<F, Fut, M, $($T,)* $Last> IntoRoute<(M, fn($($T,)* $Last) -> Fut)> for F
        where
            F: Handler<(M, fn($($T,)* $Last) -> Fut)> + Fn($($T,)* $Last) -> Fut,
            Fut: RouteFuture,
        {
            fn into_route(self) -> (&'static str, &'static str, RouteHandler) {
                let info = (<Fut::Info as RouteInfo>::METHOD, <Fut::Info as RouteInfo>::PATH);
                (info.0, info.1, self.into_route_handler())
            }
        }
    };
}

all_the_handlers!(impl_into_route);
