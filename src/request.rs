//! The in-memory request that [`App::execute`](crate::App::execute) dispatches.

use std::fmt;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Method, Uri};
use serde::Serialize;

/// An HTTP request with its whole body in memory, with constructors made for tests.
///
/// ```
/// use roadie::Request;
///
/// let request = Request::post("/todos")
///     .header("x-trace", "abc")
///     .json(&serde_json::json!({ "title": "milk" }));
/// assert_eq!(request.method(), "POST");
/// assert_eq!(request.headers()["content-type"], "application/json");
/// ```
pub struct Request {
    pub(crate) inner: http::Request<Bytes>,
}

impl Request {
    /// A request with `method` for `uri`.
    ///
    /// # Panics
    /// If `uri` is not a valid URI, naming it.
    #[track_caller]
    pub fn new(method: Method, uri: impl AsRef<str>) -> Self {
        let uri = uri.as_ref();
        let parsed: Uri = match uri.parse() {
            Ok(parsed) => parsed,
            Err(error) => panic!("`{uri}` is not a valid request URI: {error}"),
        };
        // Built whole before it is wrapped: the request is not moved once more to return.
        let mut inner = http::Request::new(Bytes::new());
        *inner.method_mut() = method;
        *inner.uri_mut() = parsed;
        Self { inner }
    }

    /// A `GET` request.
    #[track_caller]
    pub fn get(uri: impl AsRef<str>) -> Self {
        Self::new(Method::GET, uri)
    }

    /// A `POST` request.
    #[track_caller]
    pub fn post(uri: impl AsRef<str>) -> Self {
        Self::new(Method::POST, uri)
    }

    /// A `PUT` request.
    #[track_caller]
    pub fn put(uri: impl AsRef<str>) -> Self {
        Self::new(Method::PUT, uri)
    }

    /// A `PATCH` request.
    #[track_caller]
    pub fn patch(uri: impl AsRef<str>) -> Self {
        Self::new(Method::PATCH, uri)
    }

    /// A `DELETE` request.
    #[track_caller]
    pub fn delete(uri: impl AsRef<str>) -> Self {
        Self::new(Method::DELETE, uri)
    }

    /// A `HEAD` request.
    #[track_caller]
    pub fn head(uri: impl AsRef<str>) -> Self {
        Self::new(Method::HEAD, uri)
    }

    /// Adds a header.
    ///
    /// # Panics
    /// If the name or the value is not valid in a header, naming it.
    #[track_caller]
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        K::Error: fmt::Display,
        V: TryInto<HeaderValue>,
        V::Error: fmt::Display,
    {
        let name = match name.try_into() {
            Ok(name) => name,
            Err(error) => panic!("invalid header name: {error}"),
        };
        let value = match value.try_into() {
            Ok(value) => value,
            Err(error) => panic!("invalid value for header `{name}`: {error}"),
        };
        self.inner.headers_mut().append(name, value);
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        *self.inner.body_mut() = body.into();
        self
    }

    /// Sets a JSON body and `Content-Type: application/json`.
    ///
    /// # Panics
    /// If `value` cannot be serialized.
    #[track_caller]
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        let body = match serde_json::to_vec(value) {
            Ok(body) => body,
            Err(error) => panic!("the request body could not be serialized to JSON: {error}"),
        };
        *self.inner.body_mut() = body.into();
        self.inner
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self
    }

    /// The method.
    pub fn method(&self) -> &Method {
        self.inner.method()
    }

    /// The URI.
    pub fn uri(&self) -> &Uri {
        self.inner.uri()
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// The headers, mutably.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        self.inner.headers_mut()
    }

    /// The extensions.
    pub fn extensions(&self) -> &http::Extensions {
        self.inner.extensions()
    }

    /// The extensions, mutably.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        self.inner.extensions_mut()
    }

    /// The body.
    pub fn body_bytes(&self) -> &Bytes {
        self.inner.body()
    }

    /// Converts into an `http::Request`.
    pub fn into_http(self) -> http::Request<Bytes> {
        self.inner
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", self.method())
            .field("uri", self.uri())
            .field("headers", self.headers())
            .field("body_len", &self.inner.body().len())
            .finish()
    }
}

impl<B: Into<Bytes>> From<http::Request<B>> for Request {
    fn from(request: http::Request<B>) -> Self {
        Self {
            inner: request.map(Into::into),
        }
    }
}

impl From<Request> for http::Request<Bytes> {
    fn from(request: Request) -> Self {
        request.inner
    }
}
