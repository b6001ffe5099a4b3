//! Rejections: an extractor's refusal, with its status and its reason.

use std::fmt;

use http::StatusCode;

use super::{IntoResponse, Response};

/// Why a parameter could not be extracted: the status to answer with, the parameter, and why.
///
/// It answers with a JSON body `{"error": "...", "parameter": "..."}`. roadie's own extractors
/// name the parameter as the client knows it (`id` for a path parameter, `page` for a query
/// field, `items[0].title` for a JSON field, `body` for the body as a whole) and say what was
/// wrong without Rust type names or a library's error text; a `5xx` sends only its status's
/// reason, and logs the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    status: StatusCode,
    parameter: Option<String>,
    message: String,
}

impl Rejection {
    /// A rejection with any status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            parameter: None,
            message: message.into(),
        }
    }

    /// A `400 Bad Request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// A `500 Internal Server Error`; the message is logged, the client sees a generic text.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// Names the parameter that was rejected, in the client's terms (`id`, `title`, `body`).
    pub fn with_parameter(mut self, parameter: impl Into<String>) -> Self {
        self.parameter = Some(parameter.into());
        self
    }

    /// The status it answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The parameter that was rejected, if known.
    pub fn parameter(&self) -> Option<&str> {
        self.parameter.as_deref()
    }

    /// Why.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.parameter {
            Some(parameter) => write!(f, "{} (parameter `{parameter}`)", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Rejection {}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let message = if self.status.is_server_error() {
            tracing::error!(parameter = ?self.parameter, "{}", self.message);
            self.status
                .canonical_reason()
                .unwrap_or("internal error")
                .to_owned()
        } else {
            self.message
        };
        let body = match self.parameter {
            Some(parameter) => serde_json::json!({ "error": message, "parameter": parameter }),
            None => serde_json::json!({ "error": message }),
        };
        Response::json_value(self.status, &body)
    }
}

/// An error that carries the HTTP status it should answer with.
///
/// Return it (or a type that converts into it) from a handler or a request-scoped
/// dependency to answer with that status instead of `500`.
///
/// ```
/// use roadie::{HttpError, StatusCode};
/// let error = HttpError::new(StatusCode::NOT_FOUND, "no such user");
/// assert_eq!(error.status(), StatusCode::NOT_FOUND);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct HttpError {
    status: StatusCode,
    message: String,
}

impl HttpError {
    /// An error answering `status` with `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// The status it answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Its message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        Rejection::new(self.status, self.message).into_response()
    }
}
