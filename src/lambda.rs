//! AWS Lambda: run an app behind API Gateway (REST and HTTP APIs), a Lambda function URL or
//! an Application Load Balancer, on the `lambda_http` crate. Needs the `lambda` feature.
//! Function URLs send HTTP API events (payload 2.0) and read the same responses.
//!
//! Startup runs once per cold start (in Lambda's init phase, under [`run`]); warm
//! invocations reuse its resources. A failed start ends the process with the error, so
//! Lambda reports an init failure instead of serving.
//!
//! ```no_run
//! use roadie::prelude::*;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), roadie::BoxError> {
//!     let app = App::new().get("/hello", || async { "hello" });
//!     roadie::lambda::run(app).await
//! }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::Full;
use lambda_http::lambda_runtime::{self, LambdaInvocation};
use lambda_http::request::RequestContext;
use lambda_http::tower::{Layer, Service};
use lambda_http::{Body, RequestExt};
use tokio::sync::watch;

use crate::app::App;
use crate::edge;
use crate::error::{BoxError, Error, StartupError};
use crate::lifecycle::Running;

/// Answers Lambda HTTP events with an app, starting it on the first event (once per cold
/// start) and reusing it for every later one.
///
/// [`run`] is the entry point for `main`; `Handler` is what it runs, made public so tests can
/// send events to it with no AWS at all:
///
/// ```
/// use roadie::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let handler = roadie::lambda::Handler::new(App::new().get("/hello", || async { "hello" }));
///
/// let event = r#"{
///     "version": "2.0", "routeKey": "$default", "rawPath": "/hello", "rawQueryString": "",
///     "headers": { "host": "example.com" },
///     "requestContext": {
///         "accountId": "1", "apiId": "a", "domainName": "example.com", "domainPrefix": "a",
///         "http": { "method": "GET", "path": "/hello", "protocol": "HTTP/1.1",
///                   "sourceIp": "127.0.0.1", "userAgent": "test" },
///         "requestId": "r", "routeKey": "$default", "stage": "$default",
///         "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": 0
///     },
///     "isBase64Encoded": false
/// }"#;
/// let request = lambda_http::request::from_str(event).unwrap();
/// let response = handler.handle(request).await.unwrap();
/// assert_eq!(response.status(), 200);
/// assert_eq!(response.body(), &lambda_http::Body::Text("hello".into()));
/// # }
/// ```
#[derive(Clone)]
pub struct Handler {
    app: App,
}

impl fmt::Debug for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handler").field("app", &self.app).finish()
    }
}

impl Handler {
    /// A handler for `app`; the app starts on the first event.
    pub fn new(app: App) -> Self {
        Self { app }
    }

    /// The started app, starting it if this is the first call (concurrent first calls
    /// start it once). A failed start is kept: every later call returns the same error.
    pub async fn running(&self) -> Result<Running, StartupError> {
        self.app.running().await
    }

    /// Answers one Lambda HTTP event.
    ///
    /// Routes match the path API Gateway, the function URL or the load balancer received
    /// (the event's `path`, or `rawPath` for HTTP APIs and function URLs), with its query
    /// string; an empty query string is no query, and the cookies of a payload 2.0 event come
    /// in one `Cookie` header, separated by `; ` as a browser sends them. Text bodies
    /// (`text/*`, JSON, XML...) come back as text, the rest base64-encoded, as `lambda_http`
    /// decides; a payload 2.0 answer's `Set-Cookie` headers go in its `cookies` array.
    /// A failed start is returned as the error, so Lambda reports it.
    pub async fn handle(
        &self,
        request: lambda_http::Request,
    ) -> Result<lambda_http::Response<Body>, BoxError> {
        let running = self.running().await.map_err(Error::from)?;
        let request = into_http(request);
        let response = edge::answer(&running, request.map(edge::Streamed)).await;
        let response =
            lambda_http::IntoResponse::into_response(edge::into_full(response).await).await;
        Ok(response)
    }
}

/// Turns the event into an `http::Request` as a server would have read it, moving the body
/// without copying it:
///
/// - on the path API Gateway or the function URL received (`lambda_http` puts a REST API's
///   stage in front of it), with its query string;
/// - with no query at all when the query string is empty: HTTP API and function URL events
///   carry `rawQueryString: ""` for a request without one;
/// - with a payload 2.0 event's cookies (sent in their own array) in one `Cookie` header,
///   separated by `; ` as a browser sends them (`lambda_http` joins them with `;`).
fn into_http(request: lambda_http::Request) -> http::Request<Full<Bytes>> {
    let raw_path = request.raw_http_path().to_owned();
    let context = request.request_context_ref();
    let payload_v2 = matches!(context, Some(RequestContext::ApiGatewayV2(_)));
    let api_gateway = payload_v2 || matches!(context, Some(RequestContext::ApiGatewayV1(_)));
    let rewrite = api_gateway && raw_path.starts_with('/');
    let (mut parts, body) = request.into_parts();
    let query = parts.uri.query().filter(|query| !query.is_empty());
    if rewrite || (query.is_none() && parts.uri.query().is_some()) {
        let path = if rewrite {
            raw_path.as_str()
        } else {
            parts.uri.path()
        };
        let path_and_query = match query {
            Some(query) => format!("{path}?{query}"),
            None => path.to_owned(),
        };
        let mut uri = std::mem::take(&mut parts.uri).into_parts();
        match path_and_query.parse() {
            Ok(path_and_query) => uri.path_and_query = Some(path_and_query),
            Err(error) => tracing::debug!(%error, "kept lambda_http's path"),
        }
        parts.uri = http::Uri::from_parts(uri).unwrap_or_default();
    }
    if payload_v2 {
        spaced_cookies(&mut parts.headers);
    }
    let body = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
    };
    http::Request::from_parts(parts, Full::new(body))
}

/// Rewrites a `Cookie` header of `a=1;b=2` as `a=1; b=2`. A cookie's name and value never
/// hold a `;`, so splitting on it splits the pairs.
fn spaced_cookies(headers: &mut http::HeaderMap) {
    let Some(cookie) = headers
        .get(http::header::COOKIE)
        .and_then(|cookie| cookie.to_str().ok())
    else {
        return;
    };
    let spaced = cookie
        .split(';')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    if let Ok(spaced) = http::HeaderValue::from_str(&spaced) {
        headers.insert(http::header::COOKIE, spaced);
    }
}

/// Runs `app` on AWS Lambda: starts it (once per cold start), answers events until the
/// runtime stops, then shuts it down.
///
/// A failed start returns [`Error::Startup`] (boxed) before any event is answered, so the
/// init phase fails and Lambda reports it.
///
/// On Unix, SIGTERM (which Lambda sends before it stops an environment that has an extension
/// registered) stops the app as the contract says: no event is asked for again; an invocation
/// in flight finishes, and its response is posted to the runtime API, within the grace period
/// (a second SIGTERM cuts it); then lifespans' teardown, then shutdown hooks, then resources
/// dropped; and `run` returns `Ok(())` unless a hook failed. A [`Shutdown`](crate::Shutdown)
/// handle triggered by a handler stops it the same way.
pub async fn run(app: App) -> Result<(), BoxError> {
    let handler = Handler::new(app);
    let running = handler.running().await.map_err(Error::from)?;
    // Listened for from here on: a SIGTERM while the runtime waits for an event is not lost.
    let mut terminations = Terminations::new();
    let invocations = Invocations::new();
    let service = lambda_http::service_fn(|request| {
        let handler = handler.clone();
        async move { handler.handle(request).await }
    });
    // What `lambda_http::run` runs, with the invocations counted outermost: from the event
    // to the response posted back.
    let runtime = lambda_runtime::Runtime::new(lambda_http::Adapter::from(service))
        .layer(lambda_runtime::layers::TracingLayer::new())
        .layer(invocations.clone());
    // The teardown waits until the runtime is dropped, like a server's connections.
    let attachment = running.attach_server();
    let mut serving = Box::pin(runtime.run());

    let requested = running.shutdown_requested();
    let ended = tokio::select! {
        biased;
        () = terminations.next() => None,
        () = requested => None,
        outcome = &mut serving => Some(outcome),
    };
    let outcome = match ended {
        // The runtime API failed: nothing more will come.
        Some(outcome) => {
            drop(serving);
            drop(attachment);
            outcome
        }
        None => {
            tracing::info!("stopping: no more events are asked for");
            // The stop runs beside the rest of the invocation in flight: it refuses new
            // requests, waits for the ones in flight and for the runtime within the grace
            // period, then tears down.
            running.trigger_shutdown();
            let stopping = running.shutdown();
            let finishing = async {
                let cut = running.cut_requested();
                tokio::pin!(cut);
                let outcome = loop {
                    tokio::select! {
                        biased;
                        () = invocations.idle() => break Ok(()),
                        () = &mut cut => {
                            tracing::warn!("the grace period is over: cutting the invocation");
                            break Ok(());
                        }
                        () = terminations.next() => running.skip_grace(),
                        outcome = &mut serving => break outcome,
                    }
                };
                // Not polled again: the next event is never asked for.
                drop(serving);
                drop(attachment);
                outcome
            };
            // The stop's result is read again below.
            let (_, outcome) = tokio::join!(stopping, finishing);
            outcome
        }
    };
    running.shutdown().await.map_err(Error::from)?;
    outcome
}

/// The invocations in progress, each counted from its event to the response posted back to
/// the runtime API: a `Layer` over the runtime's service.
#[derive(Clone)]
struct Invocations(Arc<watch::Sender<usize>>);

impl Invocations {
    fn new() -> Self {
        Self(Arc::new(watch::channel(0).0))
    }

    /// Resolves when no invocation is in progress.
    async fn idle(&self) {
        let mut count = self.0.subscribe();
        let _ = count.wait_for(|count| *count == 0).await;
    }
}

impl<S> Layer<S> for Invocations {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            invocations: self.clone(),
        }
    }
}

/// The runtime's service, with its invocations counted.
struct Counted<S> {
    inner: S,
    invocations: Invocations,
}

impl<S> Service<LambdaInvocation> for Counted<S>
where
    S: Service<LambdaInvocation, Response = (), Error = BoxError>,
{
    type Response = ();
    type Error = BoxError;
    type Future = CountedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        self.invocations.0.send_modify(|count| *count += 1);
        CountedFuture {
            inner: self.inner.call(invocation),
            _counted: InProgress(Arc::clone(&self.invocations.0)),
        }
    }
}

/// One invocation in progress, until dropped.
struct InProgress(Arc<watch::Sender<usize>>);

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.send_modify(|count| *count -= 1);
    }
}

pin_project_lite::pin_project! {
    /// An invocation's future, counted until it is done or dropped.
    struct CountedFuture<F> {
        #[pin]
        inner: F,
        _counted: InProgress,
    }
}

impl<F: Future> Future for CountedFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().inner.poll(cx)
    }
}

/// SIGTERM, listened for from before the first event until [`run`] returns.
struct Terminations {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Terminations {
    #[cfg(unix)]
    fn new() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        let signal = signal(SignalKind::terminate())
            .inspect_err(|error| tracing::warn!(%error, "could not listen for SIGTERM"))
            .ok();
        Self { signal }
    }

    #[cfg(not(unix))]
    fn new() -> Self {
        Self {}
    }

    /// Resolves on the next SIGTERM; never where there is none.
    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = &mut self.signal {
            if signal.recv().await.is_some() {
                tracing::info!("SIGTERM received, shutting down");
                return;
            }
        }
        std::future::pending::<()>().await
    }
}
