//! The HTTP edge: the one path from an incoming `http::Request` to a response, taken by every
//! entry point ([`App::execute`](crate::App::execute), [`Running::execute`], the server, the
//! tower adapter and Lambda), so that every rule below holds the same way everywhere.
//!
//! In order:
//! 1. the **readiness** route, answered before anything else and not counted in flight;
//! 2. **admission**: a request that arrives while the app stops answers `503`; an admitted
//!    one is counted in flight until its response is made, so the drain waits for it;
//! 3. the **body**, read within its bounds (a request target longer than the app's limit
//!    answers `414` first, the body unread): a body declared or found larger than the limit
//!    answers `413`, one that stalls longer than the body read timeout `408` (both close the
//!    connection: the rest was not read); all bodies being read share a memory bound;
//! 4. **dispatch**: the router (`404`, `405` with `Allow`, `204` to `OPTIONS`, `501` to a
//!    method unknown to HTTP), a request scope, the route's middleware (app-wide first, in
//!    registration order) around its handler (a panic answers `500`, its text logged, not
//!    sent), the scope's releases told how the request ended;
//! 5. **errors**: a failed request is told to the app's error observers, and roadie's own
//!    error is rendered by the app's renderer (`App::on_error`); `HEAD` is answered without
//!    the body.
//!
//! The fixed answers (`503`, `404`, `405`, `408`, `413`, `414`, `500`, `501`) are written here
//! once, each as a [`Rejection`]. While a server drains, every HTTP/1.1 response carries `Connection: close`.
//!
//! An app with tower layers ([`App::layer`](crate::App::layer)) answers through them, and the
//! edge answers inside, with the request's body still unread ([`crate::layer`]); an app
//! without layers takes the edge directly.

use std::borrow::Borrow;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::future::{BoxFuture, Either};
use futures_util::FutureExt;
use http::{header, HeaderValue, Method, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use tokio::sync::OwnedSemaphorePermit;

use crate::blueprint::PreparedHandler;
use crate::body::Body;
use crate::error::BoxError;
use crate::extract::{Context, Params, RequestContext};
use crate::lifecycle::{Admitted, BodyLimits, LifecycleState, Live, Running};
use crate::middleware::{Endpoint, Pending};
use crate::request::Request;
use crate::response::{Rejection, Response};
use crate::routing::Lookup;
use crate::scope::{Outcome, Scope};
use crate::shutdown::ShutdownTrigger;

impl Running {
    /// Answers one request in-process: no socket.
    pub fn execute(
        &self,
        request: impl Into<Request>,
    ) -> impl Future<Output = Response> + Send + 'static {
        // The edge's future owns its handle of the app: no future around it.
        let (parts, body) = request.into().inner.into_parts();
        edge::<Running, Bytes, false, true>(self.clone(), parts, body)
    }
}

/// A request body as it arrives: already in memory (`Bytes`, from `execute`), or a stream
/// ([`Streamed`], from a socket or a host) read here within its bounds.
pub(crate) trait IncomingBody: Send {
    /// The body, with the memory it holds among all bodies in flight, or the answer that
    /// refuses it: `413` past the size limit (declared or read), `408` when it stalls, `400`
    /// if it cannot be read.
    fn read(
        self,
        parts: &http::request::Parts,
        limits: &BodyLimits,
    ) -> impl Future<Output = Result<(Bytes, Held), Refused>> + Send;

    /// The body, unread, as the app's layers carry it.
    fn into_body(self) -> Body;

    /// The same answer as [`IncomingBody::read`] without a future to make and poll, when the
    /// body is in memory already (`execute`'s); any other body gives itself back, to be read.
    fn read_in_memory(self, limits: &BodyLimits) -> Result<Result<(Bytes, Held), Refused>, Self>
    where
        Self: Sized,
    {
        let _ = limits;
        Err(self)
    }
}

/// The answer that refuses a body; boxed, so that the common way through stays small.
pub(crate) type Refused = Box<Response>;

/// The share of the body memory bound that a request's body holds until the request ends.
pub(crate) type Held = Option<OwnedSemaphorePermit>;

impl IncomingBody for Bytes {
    #[inline]
    fn read(
        self,
        _parts: &http::request::Parts,
        limits: &BodyLimits,
    ) -> impl Future<Output = Result<(Bytes, Held), Refused>> + Send {
        // Ready at once: no state machine to make and poll.
        std::future::ready(in_memory(self, limits))
    }

    fn into_body(self) -> Body {
        self.into()
    }

    #[inline]
    fn read_in_memory(self, limits: &BodyLimits) -> Result<Result<(Bytes, Held), Refused>, Self> {
        Ok(in_memory(self, limits))
    }
}

/// A body in memory, within the size limit or refused (`413`). It holds no share of the
/// memory bound: it is in memory already.
#[inline]
fn in_memory(body: Bytes, limits: &BodyLimits) -> Result<(Bytes, Held), Refused> {
    if body.len() > limits.size {
        Err(Box::new(too_large(limits.size)))
    } else {
        Ok((body, None))
    }
}

/// A body from the app's layers: in memory, as from `execute`, or streamed.
impl IncomingBody for Body {
    async fn read(
        self,
        parts: &http::request::Parts,
        limits: &BodyLimits,
    ) -> Result<(Bytes, Held), Refused> {
        match self.into_full() {
            Ok(bytes) => bytes.read(parts, limits).await,
            Err(body) => Streamed(body).read(parts, limits).await,
        }
    }

    fn into_body(self) -> Body {
        self
    }
}

/// A streaming request body (hyper's, a tower host's, Lambda's).
pub(crate) struct Streamed<B>(pub(crate) B);

impl<B> IncomingBody for Streamed<B>
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    async fn read(
        self,
        parts: &http::request::Parts,
        limits: &BodyLimits,
    ) -> Result<(Bytes, Held), Refused> {
        let Streamed(body) = self;
        // Most reads carry no body: nothing to check or collect.
        if body.is_end_stream() {
            return Ok((Bytes::new(), None));
        }
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok())
            .unwrap_or(0)
            .max(body.size_hint().lower());
        if declared > limits.size as u64 {
            return Err(Box::new(too_large(limits.size)));
        }
        read_bounded(body, limits).await
    }

    fn into_body(self) -> Body {
        Body::new(self.0)
    }
}

/// Reads a body frame by frame: each frame must come within the stall timeout, the whole
/// within the size limit, and each byte takes a permit of the memory bound shared by every
/// body in flight (waiting for one counts against the stall timeout too).
async fn read_bounded<B>(body: B, limits: &BodyLimits) -> Result<(Bytes, Held), Refused>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let mut body = std::pin::pin!(body);
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut length = 0usize;
    let mut held: Held = None;
    let stalled = || {
        Response::closing(Rejection::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body stalled: no data came for {} ms",
                limits.stall.as_millis()
            ),
        ))
    };
    loop {
        let frame = match tokio::time::timeout(limits.stall, body.as_mut().frame()).await {
            Err(_) => {
                tracing::debug!(read = length, "the request body stalled");
                return Err(Box::new(stalled()));
            }
            Ok(None) => break,
            Ok(Some(Err(error))) => {
                let error: BoxError = error.into();
                tracing::debug!(%error, "the request body could not be read");
                return Err(Box::new(Response::closing(Rejection::bad_request(
                    "the request body could not be read to its end",
                ))));
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(mut data) = frame.into_data() else {
            continue; // trailers
        };
        let size = data.remaining();
        length += size;
        if length > limits.size {
            return Err(Box::new(too_large(limits.size)));
        }
        // A chunk larger than the whole bound takes all of it.
        let wanted = u32::try_from(size.min(limits.memory_limit)).unwrap_or(u32::MAX);
        if wanted > 0 {
            let permit = tokio::time::timeout(
                limits.stall,
                Arc::clone(&limits.memory).acquire_many_owned(wanted),
            )
            .await;
            match permit {
                Ok(Ok(permit)) => match &mut held {
                    Some(held) => held.merge(permit),
                    None => held = Some(permit),
                },
                // The semaphore is never closed; a wait past the stall timeout is a stall.
                _ => {
                    tracing::debug!(
                        read = length,
                        "no room for the request body within the stall timeout"
                    );
                    return Err(Box::new(stalled()));
                }
            }
        }
        chunks.push(data.copy_to_bytes(size));
    }
    let body = match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.swap_remove(0),
        _ => {
            let mut whole = BytesMut::with_capacity(length);
            for chunk in chunks {
                whole.extend_from_slice(&chunk);
            }
            whole.freeze()
        }
    };
    Ok((body, held))
}

/// Answers a request in memory, as in-process callers (`execute`) get it: a streaming body
/// is read to its end.
pub(crate) fn answer_in_process(
    running: &Running,
    request: http::Request<Bytes>,
) -> impl Future<Output = Response> + Send + '_ {
    let (parts, body) = request.into_parts();
    edge::<&Running, Bytes, false, true>(running, parts, body)
}

/// Answers one request, whatever its body: through the app's layers if it has any, the
/// whole edge inside them.
pub(crate) fn answer<'a, B: IncomingBody + 'a>(
    running: &'a Running,
    request: http::Request<B>,
) -> impl Future<Output = Response> + Send + 'a {
    let (parts, body) = request.into_parts();
    edge::<&Running, B, false, false>(running, parts, body)
}

/// The whole edge, inside the app's layers: what the innermost of them wraps.
pub(crate) fn answer_directly<'a, B: IncomingBody + 'a>(
    running: &'a Running,
    request: http::Request<B>,
) -> impl Future<Output = Response> + Send + 'a {
    let (parts, body) = request.into_parts();
    edge::<&Running, B, true, false>(running, parts, body)
}

/// Reads a streaming response's body to its end, for the in-process callers.
async fn collected(response: Response) -> Response {
    if response.is_streaming() {
        // Boxed: most responses are in memory, and carry no collection in their future.
        Box::pin(response.collect()).await
    } else {
        response
    }
}

/// Answers through the app's layers. The edge inside renders and reports its own errors;
/// a layer's failure (its error, its panic) is made out here, and reported here.
async fn answer_layered<B: IncomingBody>(
    running: &Running,
    stack: &crate::layer::Endpoint,
    request: http::Request<B>,
) -> Response {
    // Cheap clones (shared bytes), kept to log a panic with and to tell observers.
    let (method, uri) = (request.method().clone(), request.uri().clone());
    let answered = AssertUnwindSafe(stack.answer(request.map(IncomingBody::into_body)))
        .catch_unwind()
        .await;
    let response = answered.unwrap_or_else(|panic| {
        // A handler's panic is caught inside; this one is a layer's.
        let panic = crate::error::panic_message(panic.as_ref());
        tracing::error!(%method, path = uri.path(), %panic, "a layer panicked");
        Response::panicked(panic)
    });
    if response.fault().is_none() {
        return response;
    }
    let live = running.live();
    report(live.as_deref(), response, &method, &uri, running.trigger()).await
}

/// The whole edge, steps 1 to 5: what an app without layers answers with, and what the
/// innermost of its layers wraps (`INSIDE_LAYERS`); an in-process caller's answer has its
/// streaming body read (`COLLECT`). One function with these checks in it, and with the
/// route's handler called in place, rather than functions around functions, so that a
/// request's parts and its response are moved as few times as can be. It owns the app's
/// handle (`R` is `Running`) for `Running::execute`, and borrows it elsewhere.
// Written out, not as an `async fn`: see the comment on its `async` block.
#[allow(clippy::manual_async_fn)]
fn edge<R, B, const INSIDE_LAYERS: bool, const COLLECT: bool>(
    running: R,
    mut parts: http::request::Parts,
    body: B,
) -> impl Future<Output = Response> + Send
where
    R: Borrow<Running> + Send,
    B: IncomingBody,
{
    // An `async` block rather than an `async fn`: it uses the arguments where the call put
    // them, where an `async fn` would first move each into a binding of its own (a copy of
    // the request's parts, about 30 instructions per request under callgrind).
    async move {
        let running: &Running = running.borrow();
        if !INSIDE_LAYERS {
            if let Some(stack) = running.layers() {
                // Boxed: an app without layers carries none of it in its future.
                let request = http::Request::from_parts(parts, body);
                let response = Box::pin(answer_layered(running, stack, request)).await;
                return if COLLECT {
                    collected(response).await
                } else {
                    response
                };
            }
        }
        // Asked here, so that an app without a readiness route pays no call for it.
        if running.settings().readiness_path.is_some() {
            if let Some(response) = readiness(running, parts.uri.path()) {
                return response;
            }
        }
        let head = parts.method == Method::HEAD;
        let Some(admitted) = running.admit() else {
            let refused = unavailable("the app is shutting down");
            let live = running.live();
            let (method, uri) = (&parts.method, &parts.uri);
            return Box::pin(report(
                live.as_deref(),
                refused,
                method,
                uri,
                running.trigger(),
            ))
            .await;
        };
        let draining = running.is_draining() && parts.version <= Version::HTTP_11;
        let live = admitted.live();
        let Some(live) = &*live else {
            // Stopped since it was admitted: the body is not read.
            return stopped();
        };
        // Kept for error observers only when there are some; boxed, so that an app without
        // them carries a pointer.
        let asked = if live.reporting.observes() {
            Some(Box::new((parts.method.clone(), parts.uri.clone())))
        } else {
            None
        };
        let target = parts
            .uri
            .path_and_query()
            .map_or(0, |target| target.as_str().len());
        let uri_limit = running.settings().uri_limit;
        // Set where it is made, each way below, rather than passed out of nested blocks: the
        // response (about 150 bytes) is moved the fewer times.
        let mut response: Response;
        if target > uri_limit {
            // Before the body is read: the request is refused whatever it holds.
            response = uri_too_long(uri_limit);
        } else {
            let read = match body.read_in_memory(admitted.body_limits()) {
                Ok(read) => read,
                Err(body) => body.read(&parts, admitted.body_limits()).await,
            };
            match read {
                Ok((body, held)) => {
                    let mut params = Params::default();
                    let lookup = live
                        .router
                        .find(&parts.method, parts.uri.path(), &mut params);
                    match lookup {
                        // A route without middleware: its handler is called here, in place.
                        Lookup::Handler(route) if route.wrappers.is_empty() => {
                            // As `call_handler` does, written out: its output would be moved
                            // once more.
                            let mut scope = Scope::new(Arc::clone(&live.dependencies));
                            let mut cx = Context {
                                request: Some(RequestContext {
                                    parts: &mut parts,
                                    params: &mut params,
                                    scope: &mut scope,
                                }),
                                lifespan: None,
                                shutdown: admitted.trigger(),
                            };
                            // Assigned in each arm: the answer is moved once, not through a
                            // `Result` and then again.
                            match AssertUnwindSafe(route.handler.call(&mut cx, body))
                                .catch_unwind()
                                .await
                            {
                                Ok(answered) => response = answered,
                                Err(panic) => response = panicked(&parts, panic),
                            }
                            // Most requests acquire nothing: no release future to make and poll.
                            if scope.holds_anything() {
                                scope.finish(outcome(&response)).await;
                            }
                        }
                        lookup => {
                            response = dispatch(&admitted, live, lookup, parts, params, body).await;
                        }
                    }
                    drop(held);
                }
                Err(refused) => response = *refused,
            }
        }
        // An SSE stream counts among the app's long-lived responses from here on. (Only a
        // streaming response can be one: the others skip the look.)
        if response.is_streaming() {
            crate::long_lived::attach(&mut response, admitted.trigger());
        }
        if response.fault().is_some() {
            // Boxed: most responses report no failure, and carry none of this in their future.
            let asked = asked.map(|asked| *asked);
            response = Box::pin(live.reporting.report(response, asked, admitted.trigger())).await;
        }
        if head {
            response.strip_body();
        }
        if draining && response.status() != StatusCode::SWITCHING_PROTOCOLS {
            // Clients move their next request elsewhere: this instance is going away. (A socket
            // upgraded keeps its `Connection: upgrade`; it is told to end with the others.)
            response.close_connection();
        }
        if COLLECT && response.is_streaming() {
            // Boxed: most responses are in memory, and carry no collection in their future.
            response = Box::pin(response.collect()).await;
        }
        response
    }
}

/// Observes and renders a response made outside the admitted edge: the refusal of a request
/// that arrived while the app stops, and a layer's own failure. (Without a live app there is
/// no renderer: the default shape stays.) A `HEAD` answer loses the body again.
async fn report(
    live: Option<&Live>,
    response: Response,
    method: &Method,
    uri: &http::Uri,
    shutdown: &ShutdownTrigger,
) -> Response {
    let mut response = match live {
        Some(live) => {
            let asked = live
                .reporting
                .observes()
                .then(|| (method.clone(), uri.clone()));
            live.reporting.report(response, asked, shutdown).await
        }
        None => response,
    };
    if method == Method::HEAD {
        response.strip_body();
    }
    response
}

/// The readiness route's answer, if `path` is the readiness path
/// ([`App::readiness`](crate::App::readiness)): `200` while running, `503` otherwise.
fn readiness(running: &Running, path: &str) -> Option<Response> {
    let ready = running.settings().readiness_path.as_deref()?;
    if ready != path {
        return None;
    }
    let (status, state) = match running.state() {
        LifecycleState::Running if running.is_draining() => {
            (StatusCode::SERVICE_UNAVAILABLE, "draining".to_owned())
        }
        LifecycleState::Running => (StatusCode::OK, "running".to_owned()),
        state => (
            StatusCode::SERVICE_UNAVAILABLE,
            state.to_string().to_lowercase(),
        ),
    };
    let mut response = Response::json_value(status, &serde_json::json!({ "state": state }));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Some(response)
}

/// What the router found for a request that is not answered in place (see [`edge`]): the
/// router's own answer (`404`, `405`...), or a route inside its middleware, each in a request
/// scope whose releases are told how the request ended.
fn dispatch<'a>(
    admitted: &'a Admitted<'_>,
    live: &'a Arc<Live>,
    lookup: Lookup<'_>,
    parts: http::request::Parts,
    params: Params,
    body: Bytes,
) -> Either<std::future::Ready<Response>, BoxFuture<'a, Response>> {
    let response = match lookup {
        Lookup::Handler(route) => {
            // Boxed by `wrapped`: an app without middleware carries none of the chain in
            // its future.
            let endpoint = Endpoint::Route(Arc::clone(route));
            return Either::Right(wrapped(admitted, live, endpoint, parts, params, body));
        }
        Lookup::NotFound => Response::error(StatusCode::NOT_FOUND),
        Lookup::MethodNotAllowed(allow) => {
            let mut response = Response::error(StatusCode::METHOD_NOT_ALLOWED);
            response.headers_mut().insert(header::ALLOW, allow);
            response
        }
        Lookup::Options(allow) => {
            let mut response = Response::new(StatusCode::NO_CONTENT);
            response.headers_mut().insert(header::ALLOW, allow);
            response
        }
        Lookup::NotImplemented => Response::error(StatusCode::NOT_IMPLEMENTED),
    };
    around(admitted, live, response, parts, body)
}

/// The router's own answer, inside the app-wide middleware if there are some.
fn around<'a>(
    admitted: &'a Admitted<'_>,
    live: &'a Arc<Live>,
    response: Response,
    parts: http::request::Parts,
    body: Bytes,
) -> Either<std::future::Ready<Response>, BoxFuture<'a, Response>> {
    let wrappers = live.router.wrappers();
    if wrappers.is_empty() {
        return Either::Left(std::future::ready(response));
    }
    let endpoint = Endpoint::Answer(Arc::clone(wrappers), Some(Box::new(response)));
    Either::Right(wrapped(
        admitted,
        live,
        endpoint,
        parts,
        Params::default(),
        body,
    ))
}

/// Runs a request down its middleware to its endpoint, then releases its scope, which comes
/// back once the chain has stopped (wherever it stopped).
///
/// The chain is started here, before the future is made, so that the future holds only the
/// chain's (boxed) call and is small to box. Boxed, so that `dispatch`'s future, which every
/// request of an app without middleware carries, is no larger for it.
fn wrapped(
    admitted: &Admitted<'_>,
    live: &Arc<Live>,
    endpoint: Endpoint,
    parts: http::request::Parts,
    mut params: Params,
    body: Bytes,
) -> BoxFuture<'static, Response> {
    // The middleware own the request, and may change its path.
    params.own(parts.uri.path());
    let scope = Scope::new(Arc::clone(&live.dependencies));
    let (pending, back) = Pending::new(endpoint, params, scope, admitted.trigger().clone());
    let request = Request {
        inner: http::Request::from_parts(parts, body),
    };
    let chain = pending.proceed(request);
    let mut home = back;
    Box::pin(async move {
        let response = chain.await;
        // The chain is done, so it left the scope at home and let go of it. (Unless a
        // middleware handed its `Next` to a task it did not wait for: the scope is then
        // released, as cancelled, when that task lets go of it.)
        match Arc::get_mut(&mut home).and_then(std::sync::OnceLock::take) {
            Some(mut scope) => scope.finish(outcome(&response)).await,
            None => tracing::debug!(
                "a middleware's `Next` outlived its chain; the request's scope is released when it ends"
            ),
        }
        response
    })
}

/// Calls a route's handler in the request's scope; a panic answers `500` ([`panicked`]).
/// What a middleware chain ends with, and what the edge calls in place for a route without
/// middleware.
pub(crate) async fn call_handler(
    handler: &dyn PreparedHandler,
    parts: &mut http::request::Parts,
    params: &mut Params,
    scope: &mut Scope,
    shutdown: &ShutdownTrigger,
    body: Bytes,
) -> Response {
    let result = {
        let mut cx = Context {
            request: Some(RequestContext {
                parts: &mut *parts,
                params,
                scope,
            }),
            lifespan: None,
            shutdown,
        };
        AssertUnwindSafe(handler.call(&mut cx, body))
            .catch_unwind()
            .await
    };
    result.unwrap_or_else(|panic| panicked(parts, panic))
}

/// The answer to a handler's panic: `500`, its text logged and kept for error observers,
/// never sent.
fn panicked(parts: &http::request::Parts, panic: Box<dyn std::any::Any + Send>) -> Response {
    let panic = crate::error::panic_message(panic.as_ref());
    tracing::error!(
        method = %parts.method,
        path = parts.uri.path(),
        %panic,
        "handler panicked"
    );
    Response::panicked(panic)
}

/// How a request ended, as its scope's releases are told.
fn outcome(response: &Response) -> Outcome {
    match response.fault() {
        Some(fault) if fault.panic.is_some() => Outcome::Panicked,
        Some(fault) if fault.failed => Outcome::Failed(response.status()),
        _ => Outcome::Responded(response.status()),
    }
}

/// `503`, closing the connection: the app cannot answer (starting failed, or stopping).
fn unavailable(message: &str) -> Response {
    Response::closing(Rejection::new(StatusCode::SERVICE_UNAVAILABLE, message))
}

/// The answer to a request of an app that has stopped.
pub(crate) fn stopped() -> Response {
    unavailable("the app has stopped")
}

/// The answer to every request of an app whose start failed.
pub(crate) fn startup_failed() -> Response {
    unavailable("the app failed to start")
}

/// `414`, closing the connection: the body was not read.
fn uri_too_long(limit: usize) -> Response {
    Response::closing(Rejection::new(
        StatusCode::URI_TOO_LONG,
        format!("the request target is longer than the limit of {limit} bytes"),
    ))
}

/// `413`, closing the connection: the rest of the body was not read.
fn too_large(limit: usize) -> Response {
    Response::closing(Rejection::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the request body is larger than the limit of {limit} bytes"),
    ))
}

/// Turns a roadie response into an `http::Response` with a `Full` body, without copying a
/// body in memory and collecting a streaming one: what the tower adapter and Lambda send.
pub(crate) async fn into_full(response: Response) -> http::Response<Full<Bytes>> {
    response.collect().await.into_http().map(Full::new)
}
