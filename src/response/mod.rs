//! Responses and the [`IntoResponse`] conversion of handler return values.

use std::fmt;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::BoxError;

mod body;
mod rejection;

use self::body::StreamSlot;
use crate::body::Body;

pub use self::rejection::{HttpError, Rejection};

/// An HTTP response: its whole body in memory, or a stream of chunks ([`Response::stream`]).
///
/// What [`App::execute`](crate::App::execute) returns, and what every handler's return value
/// turns into. The accessors are made for tests: `status()`, `headers()`, `text()`,
/// `json::<T>()`; `execute` collects a streaming body before it returns, so they see all of it.
#[derive(Clone)]
pub struct Response {
    inner: http::Response<Bytes>,
    /// A streaming body or a failure, which most responses have neither of: boxed, so that
    /// such a response carries one pointer for both.
    extra: Option<Box<Extra>>,
}

/// What few responses carry.
#[derive(Clone, Default)]
struct Extra {
    /// A streaming body, not collected yet; `inner`'s body is then empty.
    stream: Option<StreamSlot>,
    /// What went wrong, when the response reports a failure.
    fault: Option<Fault>,
}

/// What went wrong, on a response that reports a failure: what the error renderer re-renders,
/// what error observers are told, and how the request scope's releases learn the outcome.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fault {
    /// roadie's own error, sent in the default shape until the app's renderer renders it.
    pub(crate) rejection: Option<Rejection>,
    /// The request failed in its handler or a middleware: the `Err` side of a `Result`, a
    /// rejected parameter, a panic.
    pub(crate) failed: bool,
    /// The text of a panic (logged, never sent).
    pub(crate) panic: Option<String>,
    /// The text of an error that answered `500` (logged, never sent).
    pub(crate) error: Option<String>,
}

pub(crate) const JSON: HeaderValue = HeaderValue::from_static("application/json");
const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const OCTETS: HeaderValue = HeaderValue::from_static("application/octet-stream");

impl Response {
    /// An empty response with `status`.
    pub fn new(status: StatusCode) -> Self {
        Self::with_body(status, Bytes::new())
    }

    /// A response with `status` and a body, with no `Content-Type`.
    pub fn with_body(status: StatusCode, body: impl Into<Bytes>) -> Self {
        let mut inner = http::Response::new(body.into());
        *inner.status_mut() = status;
        Self { inner, extra: None }
    }

    /// A `200` response whose body is a stream of chunks, sent as they come (chunked over
    /// HTTP/1.1), so that a large answer never has to exist whole in memory. An error from
    /// the stream ends the response early (the connection is closed: the client sees it cut).
    ///
    /// [`App::execute`](crate::App::execute) collects the stream before it returns.
    ///
    /// ```
    /// use roadie::prelude::*;
    /// use std::convert::Infallible;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app = App::new().get("/numbers", || async {
    ///     let chunks = (1..=3).map(|n| Ok::<_, Infallible>(format!("{n}\n")));
    ///     Response::stream(futures_util::stream::iter(chunks))
    /// });
    /// assert_eq!(app.execute(Request::get("/numbers")).await.text(), "1\n2\n3\n");
    /// # }
    /// ```
    pub fn stream<S, B, E>(stream: S) -> Self
    where
        S: futures_util::Stream<Item = Result<B, E>> + Send + 'static,
        B: Into<Bytes>,
        E: Into<BoxError>,
    {
        let mut response = Self::new(StatusCode::OK);
        response.extra_mut().stream = Some(StreamSlot::new(Body::from_stream(stream)));
        response
    }

    /// Whether the body is a stream not collected yet.
    pub fn is_streaming(&self) -> bool {
        self.extra
            .as_ref()
            .is_some_and(|extra| extra.stream.is_some())
    }

    /// What few responses carry, made on first use.
    fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// The streaming body, taken out.
    fn take_stream(&mut self) -> Option<StreamSlot> {
        self.extra.as_mut().and_then(|extra| extra.stream.take())
    }

    /// Reads a streaming body to its end into memory; a response in memory comes back as it
    /// is. An error from the stream ends the body there, and is logged.
    pub(crate) async fn collect(mut self) -> Self {
        let Some(slot) = self.take_stream() else {
            return self;
        };
        let Some(mut stream) = slot.take() else {
            return self;
        };
        let mut body = bytes::BytesMut::new();
        while let Some(frame) = http_body_util::BodyExt::frame(&mut stream).await {
            match frame {
                Ok(frame) => {
                    if let Some(chunk) = frame.data_ref() {
                        body.extend_from_slice(chunk);
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "a streaming response body failed; it ends here");
                    break;
                }
            }
        }
        *self.inner.body_mut() = body.freeze();
        self
    }

    /// The response as the server sends it: whole, or streamed.
    pub(crate) fn into_streaming(mut self) -> http::Response<Body> {
        let stream = self.take_stream().and_then(|slot| slot.take());
        self.inner.map(|body| stream.unwrap_or_else(|| body.into()))
    }

    /// A response with a body and its content type, one of the constants below: they are
    /// checked once, at compile time, rather than on every response.
    pub(crate) fn typed(
        status: StatusCode,
        content_type: HeaderValue,
        body: impl Into<Bytes>,
    ) -> Self {
        // Built whole before it is wrapped: the response is not moved once more to return.
        let mut inner = http::Response::new(body.into());
        *inner.status_mut() = status;
        inner.headers_mut().insert(CONTENT_TYPE, content_type);
        Self { inner, extra: None }
    }

    pub(crate) fn json_value(status: StatusCode, value: &serde_json::Value) -> Self {
        Self::typed(status, JSON, value.to_string())
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    /// The status, mutably.
    pub fn status_mut(&mut self) -> &mut StatusCode {
        self.inner.status_mut()
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// The headers, mutably.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        self.inner.headers_mut()
    }

    /// The value of header `name` as text, if present and valid.
    pub fn header(&self, name: impl http::header::AsHeaderName) -> Option<&str> {
        self.inner.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        self.inner.body()
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(self.inner.body()).into_owned()
    }

    /// The body parsed as JSON.
    ///
    /// # Panics
    /// If the body is not JSON of type `T`, with the body in the message; made for tests.
    /// Use [`Response::try_json`] to handle the error.
    #[track_caller]
    pub fn json<T: DeserializeOwned>(&self) -> T {
        match self.try_json() {
            Ok(value) => value,
            Err(error) => panic!(
                "the response body is not JSON of type `{}`: {error}; body: {}",
                std::any::type_name::<T>(),
                self.text()
            ),
        }
    }

    /// The body parsed as JSON.
    pub fn try_json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(self.inner.body())
    }

    /// The extensions.
    pub fn extensions(&self) -> &http::Extensions {
        self.inner.extensions()
    }

    /// The extensions, mutably.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        self.inner.extensions_mut()
    }

    /// Converts into an `http::Response`. A streaming body that was not collected is not
    /// part of it (its body is empty): [`App::execute`](crate::App::execute) collects streams.
    pub fn into_http(self) -> http::Response<Bytes> {
        self.inner
    }

    /// What went wrong, if the response reports a failure.
    pub(crate) fn fault(&self) -> Option<&Fault> {
        self.extra.as_ref().and_then(|extra| extra.fault.as_ref())
    }

    /// What went wrong, made on first use.
    pub(crate) fn fault_mut(&mut self) -> &mut Fault {
        self.extra_mut().fault.get_or_insert_with(Fault::default)
    }

    /// Carries `other`'s fault over to this response, which answers in its place.
    pub(crate) fn keep_fault(&mut self, other: Response) {
        if let Some(fault) = other.extra.and_then(|extra| extra.fault) {
            self.extra_mut().fault = Some(fault);
        }
    }

    /// Marks the response as the request's failure (told to releases and observers).
    pub(crate) fn failed(mut self) -> Self {
        self.fault_mut().failed = true;
        self
    }

    /// The `500` of a panic: its text is logged by the caller and kept for error observers,
    /// never sent.
    pub(crate) fn panicked(panic: String) -> Self {
        let mut response = Self::internal_error();
        let fault = response.fault_mut();
        fault.failed = true;
        fault.panic = Some(panic);
        response
    }

    pub(crate) fn strip_body(&mut self) {
        *self.inner.body_mut() = Bytes::new();
        self.take_stream();
    }

    /// A fixed error answer: `{"error": "Not Found"}` and the like.
    pub(crate) fn error(status: StatusCode) -> Self {
        Rejection::new(status, status.canonical_reason().unwrap_or("Error")).render()
    }

    /// An error answer that closes the connection (HTTP/1.1): what was left of the request
    /// on the wire was not read.
    pub(crate) fn closing(rejection: Rejection) -> Self {
        let mut response = rejection.into_response();
        response.close_connection();
        response
    }

    /// Tells an HTTP/1.1 client to close its connection after this response.
    pub(crate) fn close_connection(&mut self) {
        self.headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }

    pub(crate) fn internal_error() -> Self {
        Self::error(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// A response from the app's tower layers: a body in memory is taken back as it is,
    /// any other is streamed (or collected by `execute`).
    pub(crate) fn from_layered(response: http::Response<Body>) -> Self {
        let (parts, body) = response.into_parts();
        match body.into_full() {
            Ok(bytes) => Self::from(http::Response::from_parts(parts, bytes)),
            Err(body) => {
                let mut response = Self::from(http::Response::from_parts(parts, Bytes::new()));
                response.extra_mut().stream = Some(StreamSlot::new(body));
                response
            }
        }
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status())
            .field("headers", self.headers())
            .field("body", &self.text())
            .finish()
    }
}

impl From<Response> for http::Response<Bytes> {
    fn from(response: Response) -> Self {
        response.inner
    }
}

impl<B: Into<Bytes>> From<http::Response<B>> for Response {
    fn from(response: http::Response<B>) -> Self {
        Self {
            inner: response.map(Into::into),
            extra: None,
        }
    }
}

/// Turns a handler's return value into a [`Response`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from a roadie handler",
    label = "not a response",
    note = "handlers return a `Response` or something that turns into one: `&'static str`, \
            `String`, `Bytes`, `Json<T>`, `StatusCode`, `(StatusCode, T)`, `()`, `Option<T>`, \
            `Result<T, E>` where `T` and `E` both do"
)]
pub trait IntoResponse {
    /// Makes the response.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl<B: Into<Bytes>> IntoResponse for http::Response<B> {
    fn into_response(self) -> Response {
        self.into()
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        Response::typed(StatusCode::OK, TEXT, self)
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        Response::typed(StatusCode::OK, TEXT, self)
    }
}

impl IntoResponse for Bytes {
    fn into_response(self) -> Response {
        Response::typed(StatusCode::OK, OCTETS, self)
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        Response::typed(StatusCode::OK, OCTETS, self)
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        Response::new(self)
    }
}

impl IntoResponse for () {
    fn into_response(self) -> Response {
        Response::new(StatusCode::NO_CONTENT)
    }
}

impl<T: IntoResponse> IntoResponse for Option<T> {
    fn into_response(self) -> Response {
        match self {
            Some(value) => value.into_response(),
            None => Response::error(StatusCode::NOT_FOUND),
        }
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(value) => value.into_response(),
            Err(error) => error.into_response().failed(),
        }
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        let mut response = self.1.into_response();
        *response.status_mut() = self.0;
        response
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, HeaderMap, T) {
    fn into_response(self) -> Response {
        let mut response = self.2.into_response();
        *response.status_mut() = self.0;
        response.headers_mut().extend(self.1);
        response
    }
}

impl<T: IntoResponse, const N: usize> IntoResponse
    for (StatusCode, [(HeaderName, &'static str); N], T)
{
    fn into_response(self) -> Response {
        let mut response = self.2.into_response();
        *response.status_mut() = self.0;
        for (name, value) in self.1 {
            response
                .headers_mut()
                .insert(name, HeaderValue::from_static(value));
        }
        response
    }
}

impl<T: IntoResponse, const N: usize> IntoResponse for ([(HeaderName, &'static str); N], T) {
    fn into_response(self) -> Response {
        let mut response = self.1.into_response();
        for (name, value) in self.0 {
            response
                .headers_mut()
                .insert(name, HeaderValue::from_static(value));
        }
        response
    }
}

/// A boxed error answers `500` (its text is logged, not sent), or its own status when it is
/// an [`HttpError`].
impl IntoResponse for BoxError {
    fn into_response(self) -> Response {
        match self.downcast::<HttpError>() {
            Ok(http) => (*http).into_response(),
            Err(error) => {
                tracing::error!(error = %error, "handler failed");
                let mut response = Response::internal_error();
                response.fault_mut().error = Some(error.to_string());
                response
            }
        }
    }
}

impl IntoResponse for std::convert::Infallible {
    fn into_response(self) -> Response {
        match self {}
    }
}
