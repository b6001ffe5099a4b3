//! Extractors that read the request: path parameters, the query string, and the body.

use std::future::{ready, Future};

use bytes::Bytes;
use http::{header, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::{InputError, Source};
use super::{Context, FromContext, FromRequest, Needs, Prepare, Rejection};
use crate::names::short_type_name;
use crate::response::{IntoResponse, Response, JSON};

/// Typed path parameters: `/users/{id}` read as `Path<u64>`, several as a tuple
/// `Path<(u64, String)>` or as a serde struct.
///
/// A value that does not parse answers `400 Bad Request` naming the parameter by its name in
/// the route (`"parameter": "id"`) and saying what it must be; the value is quoted up to 64
/// characters.
///
/// ```
/// use roadie::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app = App::new().get("/users/{id}", |Path(id): Path<u64>| async move { format!("user {id}") });
/// assert_eq!(app.execute(Request::get("/users/7")).await.text(), "user 7");
/// assert_eq!(app.execute(Request::get("/users/x")).await.status(), 400);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> FromContext for Path<T> {
    type State = ();

    fn describe(needs: &mut Needs) {
        needs.request_part(format!("Path<{}>", short_type_name::<T>()));
    }

    fn prepare(_cx: &Prepare<'_>) -> Self::State {}

    fn from_context<'a>(
        _state: &'a Self::State,
        cx: &'a mut Context<'_>,
    ) -> impl Future<Output = Result<Self, Rejection>> + Send + 'a {
        let result = match &cx.request {
            Some(request) => {
                let params = request.params.read(request.parts.uri.path());
                super::path_de::deserialize_path::<T>(params)
                    .map(Path)
                    .map_err(|error| error.into_rejection(Source::Path, StatusCode::BAD_REQUEST))
            }
            None => Err(Rejection::internal(
                "`Path` can only be read while handling a request",
            )),
        };
        ready(result)
    }
}

impl<T> std::ops::Deref for Path<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The query string, deserialized with serde: `?page=2&per_page=10` as a struct.
///
/// A query that does not parse answers `400 Bad Request` naming the field (`"parameter":
/// "page"`) and saying what it must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> FromContext for Query<T> {
    type State = ();

    fn describe(needs: &mut Needs) {
        needs.request_part(format!("Query<{}>", short_type_name::<T>()));
    }

    fn prepare(_cx: &Prepare<'_>) -> Self::State {}

    fn from_context<'a>(
        _state: &'a Self::State,
        cx: &'a mut Context<'_>,
    ) -> impl Future<Output = Result<Self, Rejection>> + Send + 'a {
        let result = cx.request_parts("Query").and_then(|parts| {
            let query = parts.uri.query().unwrap_or("");
            serde_urlencoded::from_str::<T>(query)
                .map(Query)
                .map_err(|_| query_rejection::<T>(query))
        });
        ready(result)
    }
}

impl<T> std::ops::Deref for Query<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Why `query` is not a `T`, in the client's terms: serde_urlencoded's error says neither
/// which field nor why in words of its own, so the pairs are read again to find out.
#[cold]
fn query_rejection<T: DeserializeOwned>(query: &str) -> Rejection {
    // Reading a query as pairs of text cannot fail: bad escapes are kept as they are.
    let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap_or_default();
    super::path_de::explain_query::<T>(&pairs)
        .unwrap_or_else(InputError::unexplained)
        .into_rejection(Source::Query, StatusCode::BAD_REQUEST)
}

/// A JSON body in (as the last handler parameter) or out (as a response).
///
/// In, the request must say `Content-Type: application/json` (else `415`); a body that is not
/// JSON answers `400` (saying where, by line and column), and JSON of the wrong shape `422`,
/// naming the field by its path in the JSON (`"parameter": "items[0].title"`) and saying in
/// plain words what it must be. Rejections about the body as a whole name `"body"`.
/// Out, the value is serialized with `Content-Type: application/json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Json<T>(pub T);

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

fn is_json(parts: &http::request::Parts) -> bool {
    let Some(value) = parts.headers.get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    // Compared without building a lowercase copy: this runs on every JSON request.
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype
                .len()
                .checked_sub(5)
                .and_then(|at| subtype.get(at..))
                .is_some_and(|suffix| suffix.eq_ignore_ascii_case("+json")))
}

impl<T: DeserializeOwned + Send + 'static> FromRequest for Json<T> {
    type State = ();

    fn describe(needs: &mut Needs) {
        needs.body(format!("Json<{}>", short_type_name::<T>()));
    }

    fn prepare(_cx: &Prepare<'_>) -> Self::State {}

    fn from_request<'a>(
        _state: &'a Self::State,
        cx: &'a mut Context<'_>,
        body: Bytes,
    ) -> impl Future<Output = Result<Self, Rejection>> + Send + 'a {
        let result = cx.request_parts("Json").and_then(|parts| {
            if !is_json(parts) {
                return Err(Rejection::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "expected a request with `Content-Type: application/json`",
                )
                .with_parameter(BODY));
            }
            serde_json::from_slice::<T>(&body)
                .map(Json)
                .map_err(|_| json_rejection::<T>(&body))
        });
        ready(result)
    }
}

/// The parameter a rejection of the body as a whole names.
const BODY: &str = "body";

/// Why `body` is not a `T`, in the client's terms: `400` when it is not JSON at all (where,
/// by line and column), `422` when it is JSON of the wrong shape (which field, and why).
#[cold]
fn json_rejection<T: DeserializeOwned>(body: &[u8]) -> Rejection {
    use serde_json::error::Category;

    // Read again as a `Value`, to tell the two apart: serde_json stops at the first value of
    // the wrong shape, before it has seen the rest, and reports some shapes (a list longer
    // than a tuple, a key that is not a number) as syntax.
    let error = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => {
            return super::json_de::explain_json::<T>(&value)
                .unwrap_or_else(InputError::unexplained)
                .into_rejection(Source::Body, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(error) => error,
    };
    let message = if body.iter().all(u8::is_ascii_whitespace) {
        "the body is empty; expected JSON".to_owned()
    } else if error.classify() == Category::Eof {
        format!(
            "the body is not valid JSON: it ends too soon (line {}, column {})",
            error.line(),
            error.column()
        )
    } else {
        format!(
            "the body is not valid JSON (line {}, column {})",
            error.line(),
            error.column()
        )
    };
    Rejection::bad_request(message).with_parameter(BODY)
}

impl FromRequest for Bytes {
    type State = ();

    fn describe(needs: &mut Needs) {
        needs.body("Bytes");
    }

    fn prepare(_cx: &Prepare<'_>) -> Self::State {}

    fn from_request<'a>(
        _state: &'a Self::State,
        _cx: &'a mut Context<'_>,
        body: Bytes,
    ) -> impl Future<Output = Result<Self, Rejection>> + Send + 'a {
        ready(Ok(body))
    }
}

impl FromRequest for String {
    type State = ();

    fn describe(needs: &mut Needs) {
        needs.body("String");
    }

    fn prepare(_cx: &Prepare<'_>) -> Self::State {}

    fn from_request<'a>(
        _state: &'a Self::State,
        _cx: &'a mut Context<'_>,
        body: Bytes,
    ) -> impl Future<Output = Result<Self, Rejection>> + Send + 'a {
        ready(String::from_utf8(Vec::from(body)).map_err(|error| {
            Rejection::bad_request(format!(
                "the body is not valid UTF-8 text (at byte {})",
                error.utf8_error().valid_up_to()
            ))
            .with_parameter(BODY)
        }))
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => Response::typed(StatusCode::OK, JSON, body),
            Err(error) => {
                tracing::error!(%error, "could not serialize a JSON response");
                Response::internal_error()
            }
        }
    }
}
