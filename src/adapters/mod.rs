//! Adapters that run a started app under other hosts: a tower `Service`, AWS Lambda.
//!
//! Every adapter, and the server, answers through one conversion: the readiness route
//! first, then admission (a stopping app answers `503`), then the body read up to the body
//! limit (`413` past it), then the app's dispatch.

pub(crate) mod tower;

#[cfg(feature = "lambda")]
pub mod lambda;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};

use crate::error::BoxError;
use crate::lifecycle::Running;
use crate::rejection::Rejection;
use crate::request::Request;
use crate::response::{IntoResponse, Response};

/// Answers an `http::Request` whose body is still streaming: the body is read into memory
/// only up to the app's body limit.
pub(crate) async fn answer<B>(running: &Running, request: http::Request<B>) -> Response
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    if let Some(response) = running.readiness(request.uri().path()) {
        return response;
    }
    let Some(admitted) = running.admit() else {
        return crate::lifecycle::shutting_down_response();
    };
    let limit = admitted.body_limit();
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return too_large(limit);
    }
    // Most reads carry no body: skip the collection.
    let body = if body.is_end_stream() {
        Bytes::new()
    } else {
        match read_limited(body, limit).await {
            Ok(body) => body,
            Err(refused) => return refused,
        }
    };
    admitted
        .dispatch(Request::from(http::Request::from_parts(parts, body)))
        .await
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

fn too_large(limit: usize) -> Response {
    let mut response = Rejection::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the request body is larger than the limit of {limit} bytes"),
    )
    .into_response();
    // The rest of the body was not read: the connection cannot be reused.
    response.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    response
}

/// Turns a roadie response into an `http::Response` with a `Full` body, without copying it.
pub(crate) fn into_full(response: Response) -> http::Response<Full<Bytes>> {
    response.into_http().map(Full::new)
}
