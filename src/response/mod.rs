//! Responses and the [`IntoResponse`] conversion of handler return values.

use std::fmt;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::BoxError;

mod rejection;

pub use self::rejection::{HttpError, Rejection};

/// An HTTP response with its whole body in memory.
///
/// What [`App::execute`](crate::App::execute) returns, and what every handler's return value
/// turns into. The accessors are made for tests: `status()`, `headers()`, `text()`,
/// `json::<T>()`.
#[derive(Clone)]
pub struct Response {
    inner: http::Response<Bytes>,
}

/// Marks a response made from the `Err` side of a handler's `Result`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HandlerFailed;

pub(crate) const JSON: HeaderValue = HeaderValue::from_static("application/json");
const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const OCTETS: HeaderValue = HeaderValue::from_static("application/octet-stream");

impl Response {
    /// An empty response with `status`.
    pub fn new(status: StatusCode) -> Self {
        let mut inner = http::Response::new(Bytes::new());
        *inner.status_mut() = status;
        Self { inner }
    }

    /// A response with `status` and a body, with no `Content-Type`.
    pub fn with_body(status: StatusCode, body: impl Into<Bytes>) -> Self {
        let mut inner = http::Response::new(body.into());
        *inner.status_mut() = status;
        Self { inner }
    }

    /// A response with a body and its content type, one of the constants below: they are
    /// checked once, at compile time, rather than on every response.
    pub(crate) fn typed(
        status: StatusCode,
        content_type: HeaderValue,
        body: impl Into<Bytes>,
    ) -> Self {
        let mut response = Self::with_body(status, body);
        response
            .inner
            .headers_mut()
            .insert(CONTENT_TYPE, content_type);
        response
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

    /// Converts into an `http::Response`.
    pub fn into_http(self) -> http::Response<Bytes> {
        self.inner
    }

    pub(crate) fn is_handler_failure(&self) -> bool {
        self.inner.extensions().get::<HandlerFailed>().is_some()
    }

    pub(crate) fn strip_body(&mut self) {
        *self.inner.body_mut() = Bytes::new();
    }

    /// A fixed error answer: `{"error": "Not Found"}` and the like.
    pub(crate) fn error(status: StatusCode) -> Self {
        Self::json_value(
            status,
            &serde_json::json!({ "error": status.canonical_reason().unwrap_or("Error") }),
        )
    }

    /// An error answer that closes the connection (HTTP/1.1): what was left of the request
    /// on the wire was not read.
    pub(crate) fn closing(rejection: Rejection) -> Self {
        let mut response = rejection.into_response();
        response
            .headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        response
    }

    pub(crate) fn internal_error() -> Self {
        Self::error(StatusCode::INTERNAL_SERVER_ERROR)
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
            Err(error) => {
                let mut response = error.into_response();
                response.extensions_mut().insert(HandlerFailed);
                response
            }
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
                Response::internal_error()
            }
        }
    }
}

impl IntoResponse for std::convert::Infallible {
    fn into_response(self) -> Response {
        match self {}
    }
}
