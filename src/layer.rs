//! Tower layers around the whole app ([`App::layer`](crate::App::layer)).
//!
//! The layers wrap an [`Endpoint`]: the app's edge (the readiness route, admission, the body
//! read within its limits, dispatch). Every entry point — [`App::execute`](crate::App::execute),
//! [`Running::execute`](crate::Running::execute), [`App::serve`](crate::App::serve), the tower adapter and Lambda —
//! answers through the same stack, so a layer sees every response, roadie's own `404`,
//! `405`, `408`, `413` and `503` and the readiness route included.
//!
//! The stack is built once, when the app starts. Each layer's service is boxed behind an
//! `Endpoint` (the service the next layer out wraps); per request, each layer's service is
//! cloned and driven like tower's `oneshot` (`poll_ready`, then `call`). An app without
//! layers takes none of this: the edge answers directly.
//!
//! What comes back from a layer is turned into a roadie response at once: an `Err` from its
//! service is logged and becomes a `500` (so the layers outside it see a response, never an
//! error), and a body of another type than [`Body`] is boxed into one. A panic in a layer
//! answers `500` too (logged, its text not sent), like a handler's.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Buf;
use futures_util::future::BoxFuture;
use tower_layer::Layer;
use tower_service::Service;

use crate::body::Body;
use crate::edge;
use crate::error::BoxError;
use crate::lifecycle::WeakRunning;
use crate::response::Response;

/// The service an app's tower layers wrap: the app itself, as
/// `Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>`.
///
/// For the innermost layer it is the app's edge: the readiness route, then `503` if the app
/// is stopping, then the request body, read incrementally from the [`Body`] the request
/// carries, within the app's body limit (`413`) and body read timeout (`408`), then the
/// routes (`404`, `405`, the handler). For any other layer, it is the layer registered after
/// it, with everything inside.
///
/// It is always ready, never fails (errors are responses) and is cheap to clone. It holds the
/// app weakly (the app holds the stack), so once the app is dropped it answers `503`.
pub struct Endpoint {
    inner: Inner,
}

enum Inner {
    /// The app's edge.
    Edge(WeakRunning),
    /// A layer's service, with the rest of the stack inside.
    Layer(Box<dyn ErasedService>),
}

impl Endpoint {
    /// The innermost service: the app's edge.
    pub(crate) fn edge(running: WeakRunning) -> Self {
        Self {
            inner: Inner::Edge(running),
        }
    }

    /// Answers one request through this service and everything inside it.
    pub(crate) fn answer(&self, request: http::Request<Body>) -> BoxFuture<'static, Response> {
        match &self.inner {
            Inner::Edge(running) => {
                let running = running.upgrade();
                Box::pin(async move {
                    match running {
                        Some(running) => edge::answer_directly(&running, request).await,
                        None => edge::stopped(),
                    }
                })
            }
            Inner::Layer(service) => service.answer(request),
        }
    }
}

impl Clone for Endpoint {
    fn clone(&self) -> Self {
        Self {
            inner: match &self.inner {
                Inner::Edge(running) => Inner::Edge(running.clone()),
                Inner::Layer(service) => Inner::Layer(service.clone_box()),
            },
        }
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = match self.inner {
            Inner::Edge(_) => "edge",
            Inner::Layer(_) => "layer",
        };
        f.debug_tuple("Endpoint").field(&inner).finish()
    }
}

impl Service<http::Request<Body>> for Endpoint {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = EndpointFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Each call drives a clone of the layer's service to readiness itself.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> EndpointFuture {
        EndpointFuture {
            inner: self.answer(request),
        }
    }
}

/// The future of an [`Endpoint`]'s response.
pub struct EndpointFuture {
    inner: BoxFuture<'static, Response>,
}

impl fmt::Debug for EndpointFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointFuture").finish_non_exhaustive()
    }
}

impl Future for EndpointFuture {
    type Output = Result<http::Response<Body>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner
            .as_mut()
            .poll(cx)
            .map(|response| Ok(response.into_streaming()))
    }
}

/// A layer's service, type-erased.
trait ErasedService: Send + Sync + 'static {
    /// Clones the service, waits until it is ready, and calls it (tower's `oneshot`).
    fn answer(&self, request: http::Request<Body>) -> BoxFuture<'static, Response>;

    fn clone_box(&self) -> Box<dyn ErasedService>;
}

impl<S, B> ErasedService for S
where
    S: Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Buf,
    B::Error: Into<BoxError>,
{
    fn answer(&self, request: http::Request<Body>) -> BoxFuture<'static, Response> {
        let mut service = self.clone();
        Box::pin(async move {
            if let Err(error) = std::future::poll_fn(|cx| service.poll_ready(cx)).await {
                return failed(error.into());
            }
            match service.call(request).await {
                Ok(response) => Response::from_layered(response.map(Body::new)),
                Err(error) => failed(error.into()),
            }
        })
    }

    fn clone_box(&self) -> Box<dyn ErasedService> {
        Box::new(self.clone())
    }
}

/// A layer's service failed: `500`, the error logged (its text is not sent).
fn failed(error: BoxError) -> Response {
    tracing::error!(%error, "a layer's service failed; answering 500");
    let mut response = Response::internal_error();
    response.fault_mut().error = Some(error.to_string());
    response
}

/// A registered layer, type-erased: wraps the service inside it.
pub(crate) type LayerFn = Arc<dyn Fn(Endpoint) -> Endpoint + Send + Sync>;

/// Erases a layer, for [`App::layer`](crate::App::layer).
pub(crate) fn erase<L, B>(layer: L) -> LayerFn
where
    L: Layer<Endpoint> + Send + Sync + 'static,
    L::Service:
        Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
    <L::Service as Service<http::Request<Body>>>::Error: Into<BoxError>,
    <L::Service as Service<http::Request<Body>>>::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Buf,
    B::Error: Into<BoxError>,
{
    Arc::new(move |inner| Endpoint {
        inner: Inner::Layer(Box::new(layer.layer(inner))),
    })
}

/// Builds the stack once, at start: the first registered layer is the outermost.
pub(crate) fn build(layers: &[LayerFn], running: WeakRunning) -> Option<Endpoint> {
    if layers.is_empty() {
        return None;
    }
    let mut stack = Endpoint::edge(running);
    for layer in layers.iter().rev() {
        stack = layer(stack);
    }
    Some(stack)
}
