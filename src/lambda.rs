//! AWS Lambda: run an app behind API Gateway (REST and HTTP APIs) or an Application Load
//! Balancer, on the `lambda_http` crate. Needs the `lambda` feature.
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

use bytes::Bytes;
use http_body_util::Full;
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};

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
    /// Routes match the path API Gateway or the load balancer received (the event's
    /// `path`, or `rawPath` for HTTP APIs), with its query string. Text bodies (`text/*`,
    /// JSON, XML...) come back as text, the rest base64-encoded, as `lambda_http` decides.
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

/// Turns the event into an `http::Request` on the path API Gateway received, moving the
/// body without copying it.
fn into_http(request: lambda_http::Request) -> http::Request<Full<Bytes>> {
    let raw_path = request.raw_http_path().to_owned();
    let rewrite = matches!(
        request.request_context_ref(),
        Some(RequestContext::ApiGatewayV1(_) | RequestContext::ApiGatewayV2(_))
    ) && raw_path.starts_with('/');
    let (mut parts, body) = request.into_parts();
    if rewrite {
        let path_and_query = match parts.uri.query() {
            Some(query) => format!("{raw_path}?{query}"),
            None => raw_path,
        };
        let mut uri = std::mem::take(&mut parts.uri).into_parts();
        match path_and_query.parse() {
            Ok(path_and_query) => uri.path_and_query = Some(path_and_query),
            Err(error) => tracing::debug!(%error, "kept lambda_http's path"),
        }
        parts.uri = http::Uri::from_parts(uri).unwrap_or_default();
    }
    let body = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
    };
    http::Request::from_parts(parts, Full::new(body))
}

/// Runs `app` on AWS Lambda: starts it (once per cold start), answers events until the
/// runtime stops, then shuts it down.
///
/// A failed start returns [`Error::Startup`] (boxed) before any
/// event is answered, so the init phase fails and Lambda reports it. On Unix, SIGTERM (which
/// Lambda sends before it stops an environment that has an extension registered) runs the
/// app's shutdown: its hooks and teardown.
pub async fn run(app: App) -> Result<(), BoxError> {
    let handler = Handler::new(app);
    let running = handler.running().await.map_err(Error::from)?;
    let service = lambda_http::service_fn(|request| {
        let handler = handler.clone();
        async move { handler.handle(request).await }
    });
    let outcome = tokio::select! {
        outcome = lambda_http::run(service) => outcome,
        () = terminated() => Ok(()),
    };
    running.shutdown().await.map_err(Error::from)?;
    outcome
}

#[cfg(unix)]
async fn terminated() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            terminate.recv().await;
        }
        Err(error) => {
            tracing::warn!(%error, "could not listen for SIGTERM");
            std::future::pending::<()>().await
        }
    }
}

#[cfg(not(unix))]
async fn terminated() {
    std::future::pending::<()>().await
}
