//! A started app as a [`tower_service::Service`], to mount it where tower fits: inside an
//! axum router (`Router::nest_service`), under tower-http layers, in any hyper server.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::Full;

use crate::edge;
use crate::error::BoxError;
use crate::lifecycle::Running;

/// A started app as a `tower::Service<http::Request<B>>`, for any request body `B`.
///
/// Made by [`Running::into_service`] (or `AppService::from(running)`). Each request goes the
/// way it goes under [`App::serve`](crate::App::serve): through the app's own layers
/// ([`App::layer`](crate::App::layer)), and inside them the readiness route, then `503` if
/// the app is stopping, then the body read up to the app's body limit (`413` past it),
/// then the app's routes. It never fails: errors are responses. Cloning it is cheap and
/// shares the app.
///
/// The app's lifecycle stays with its owner: keep the [`Running`] and call
/// [`Running::shutdown`] when the host stops.
///
/// ```
/// use roadie::prelude::*;
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let running = App::new()
///     .get("/hello", || async { "hello" })
///     .start()
///     .await
///     .unwrap();
///
/// let request = http::Request::get("/hello")
///     .body(http_body_util::Empty::<bytes::Bytes>::new())
///     .unwrap();
/// let response = running.clone().into_service().oneshot(request).await.unwrap();
/// assert_eq!(response.status(), 200);
/// # running.shutdown().await.unwrap();
/// # }
/// ```
#[derive(Clone)]
pub struct AppService {
    running: Running,
}

impl fmt::Debug for AppService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppService")
            .field("running", &self.running)
            .finish()
    }
}

impl AppService {
    /// The app this service answers with.
    pub fn running(&self) -> &Running {
        &self.running
    }
}

impl From<Running> for AppService {
    fn from(running: Running) -> Self {
        Self { running }
    }
}

impl Running {
    /// This app as a tower `Service`; see [`AppService`].
    pub fn into_service(self) -> AppService {
        AppService::from(self)
    }
}

impl<B> tower_service::Service<http::Request<B>> for AppService
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = http::Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let running = self.running.clone();
        ResponseFuture {
            inner: Box::pin(async move {
                let response = edge::answer(&running, request.map(edge::Streamed)).await;
                Ok(edge::into_full(response).await)
            }),
        }
    }
}

type BoxedAnswer =
    Pin<Box<dyn Future<Output = Result<http::Response<Full<Bytes>>, Infallible>> + Send>>;

/// The future of [`AppService`]'s response.
pub struct ResponseFuture {
    inner: BoxedAnswer,
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl Future for ResponseFuture {
    type Output = Result<http::Response<Full<Bytes>>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}
