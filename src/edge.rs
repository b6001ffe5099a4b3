//! The HTTP edge: the one path from an incoming `http::Request` to a response, taken by every
//! entry point ([`App::execute`](crate::App::execute), [`Running::execute`], the server, the
//! tower adapter and Lambda), so that every rule below holds the same way everywhere.
//!
//! In order:
//! 1. the **readiness** route, answered before anything else and not counted in flight;
//! 2. **admission**: a request that arrives while the app stops answers `503`; an admitted
//!    one is counted in flight until its response is made, so the drain waits for it;
//! 3. the **body limit**: a body declared or found larger than the limit answers `413`
//!    (with `Connection: close`, as the rest of it was not read); the body is read up to it;
//! 4. **dispatch**: the router (`404`, `405` with `Allow`), a request scope, the handler
//!    (a panic answers `500`, its text logged, not sent), the scope's releases told how the
//!    request ended, and `HEAD` answered without the body.
//!
//! The fixed answers (`503`, `404`, `405`, `413`, `500`) are written here once.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::FutureExt;
use http::{header, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};

use crate::error::BoxError;
use crate::extract::{Context, RequestContext};
use crate::lifecycle::{Admitted, LifecycleState, Live, Running};
use crate::request::Request;
use crate::response::{IntoResponse, Rejection, Response};
use crate::routing::Lookup;
use crate::scope::{Outcome, Scope};

impl Running {
    /// Answers one request in-process: no socket.
    pub fn execute(
        &self,
        request: impl Into<Request>,
    ) -> impl Future<Output = Response> + Send + 'static {
        let request = request.into();
        let running = self.clone();
        async move { answer(&running, request.inner).await }
    }
}

/// A request body as it arrives: already in memory (`Bytes`, from `execute`), or a stream
/// ([`Streamed`], from a socket or a host) read here up to the limit.
pub(crate) trait IncomingBody: Send {
    /// The body, or the answer that refuses it: `413` past `limit` bytes (declared or read),
    /// `400` if it cannot be read.
    fn read(
        self,
        parts: &http::request::Parts,
        limit: usize,
    ) -> impl Future<Output = Result<Bytes, Response>> + Send;
}

impl IncomingBody for Bytes {
    async fn read(self, _parts: &http::request::Parts, limit: usize) -> Result<Bytes, Response> {
        if self.len() > limit {
            return Err(too_large(limit));
        }
        Ok(self)
    }
}

/// A streaming request body (hyper's, a tower host's, Lambda's).
pub(crate) struct Streamed<B>(pub(crate) B);

impl<B> IncomingBody for Streamed<B>
where
    B: http_body::Body + Send,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    async fn read(self, parts: &http::request::Parts, limit: usize) -> Result<Bytes, Response> {
        let Streamed(body) = self;
        // Most reads carry no body: nothing to check or collect.
        if body.is_end_stream() {
            return Ok(Bytes::new());
        }
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok())
            .unwrap_or(0)
            .max(body.size_hint().lower());
        if declared > limit as u64 {
            return Err(too_large(limit));
        }
        read_limited(body, limit).await
    }
}

/// Answers one request, whatever its body: the whole edge, steps 1 to 4.
pub(crate) async fn answer<B: IncomingBody>(
    running: &Running,
    request: http::Request<B>,
) -> Response {
    if let Some(response) = readiness(running, request.uri().path()) {
        return response;
    }
    let Some(admitted) = running.admit() else {
        return unavailable("the app is shutting down");
    };
    let (parts, body) = request.into_parts();
    match body.read(&parts, admitted.body_limit()).await {
        Ok(body) => dispatch(admitted, parts, body).await,
        Err(refused) => refused,
    }
}

/// The readiness route's answer, if `path` is the readiness path
/// ([`App::readiness`](crate::App::readiness)): `200` while running, `503` otherwise.
fn readiness(running: &Running, path: &str) -> Option<Response> {
    let ready = running.settings().readiness_path.as_deref()?;
    if ready != path {
        return None;
    }
    let state = running.state();
    let status = if state == LifecycleState::Running {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut response = Response::json_value(
        status,
        &serde_json::json!({ "state": state.to_string().to_lowercase() }),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Some(response)
}

/// Reads a body into memory, refusing it (`413`) once it passes `limit` bytes.
async fn read_limited<B>(body: B, limit: usize) -> Result<Bytes, Response>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => Err(too_large(limit)),
        Err(error) => {
            tracing::debug!(%error, "the request body could not be read");
            Err(
                Rejection::bad_request(format!("the request body could not be read: {error}"))
                    .into_response(),
            )
        }
    }
}

/// Routes an admitted request and runs its handler in a request scope.
async fn dispatch(admitted: Admitted, mut parts: http::request::Parts, body: Bytes) -> Response {
    let Some(live) = admitted.live() else {
        return unavailable("the app has stopped");
    };
    let Live {
        router,
        dependencies,
        ..
    } = &*live;
    let (handler, params) = match router.find(&parts.method, parts.uri.path()) {
        Lookup::Handler { handler, params } => (handler, params),
        Lookup::NotFound => return Response::error(StatusCode::NOT_FOUND),
        Lookup::MethodNotAllowed(allow) => {
            let mut response = Response::error(StatusCode::METHOD_NOT_ALLOWED);
            response.headers_mut().insert(header::ALLOW, allow);
            return response;
        }
    };
    let head = parts.method == Method::HEAD;
    let mut scope = Scope::new(Arc::clone(dependencies));
    let result = {
        let mut cx = Context {
            request: Some(RequestContext {
                parts: &mut parts,
                params: &params,
                scope: &mut scope,
            }),
            lifespan: None,
            shutdown: admitted.trigger(),
        };
        AssertUnwindSafe(handler.call(&mut cx, body))
            .catch_unwind()
            .await
    };
    let (mut response, outcome) = match result {
        Ok(response) => {
            let status = response.status();
            let outcome = if response.is_handler_failure() {
                Outcome::Failed(status)
            } else {
                Outcome::Responded(status)
            };
            (response, outcome)
        }
        Err(panic) => {
            tracing::error!(
                method = %parts.method,
                path = parts.uri.path(),
                panic = %crate::error::panic_message(panic.as_ref()),
                "handler panicked"
            );
            (Response::internal_error(), Outcome::Panicked)
        }
    };
    scope.finish(outcome).await;
    if head {
        response.strip_body();
    }
    response
}

/// `503`, closing the connection: the app cannot answer (starting failed, or stopping).
fn unavailable(message: &str) -> Response {
    let mut response = Response::json_value(
        StatusCode::SERVICE_UNAVAILABLE,
        &serde_json::json!({ "error": message }),
    );
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The answer to every request of an app whose start failed.
pub(crate) fn startup_failed() -> Response {
    unavailable("the app failed to start")
}

/// `413`, closing the connection: the rest of the body was not read.
fn too_large(limit: usize) -> Response {
    let mut response = Rejection::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the request body is larger than the limit of {limit} bytes"),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Turns a roadie response into an `http::Response` with a `Full` body, without copying it:
/// what the server, the tower adapter and Lambda send.
pub(crate) fn into_full(response: Response) -> http::Response<Full<Bytes>> {
    response.into_http().map(Full::new)
}
