//! Rejections: an extractor's refusal, with its status and its reason.

use std::fmt;

use http::StatusCode;

use super::{IntoResponse, Response};

/// Why a parameter could not be extracted: the status to answer with, the parameter, and why.
///
/// It answers with a JSON body `{"error": "...", "parameter": "..."}`. roadie's own extractors
/// name the parameter as the client knows it (`id` for a path parameter, `page` for a query
/// field, `items[0].title` for a JSON field, `body` for the body as a whole) and say what was
/// wrong without Rust type names or a library's error text; a `5xx` other than `503` sends only
/// its status's reason, and logs the message.
///
/// Every error roadie answers is a `Rejection` (`404`, `405`, `408`, `413`, a parameter that
/// did not parse, a `503` while stopping...): [`App::on_error`](crate::App::on_error) renders
/// them all in the app's own shape.
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

impl Rejection {
    /// What the client may read: the message, or for a `5xx` other than `503` only its
    /// status's reason (the message may hold what the client must not see; it is logged
    /// instead). A `503` says why the app cannot answer (`the app is shutting down`).
    pub fn public_message(&self) -> &str {
        if self.is_private() {
            self.status
                .canonical_reason()
                .unwrap_or("Internal Server Error")
        } else {
            &self.message
        }
    }

    /// The default shape of roadie's errors: `{"error": "...", "parameter": "..."}`
    /// (`parameter` when one is named), `application/json`, with [`Rejection::public_message`].
    ///
    /// ```
    /// use roadie::{Rejection, StatusCode};
    ///
    /// let response = Rejection::bad_request("must be a number").with_parameter("id").to_json();
    /// assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    /// assert_eq!(response.text(), r#"{"error":"must be a number","parameter":"id"}"#);
    /// ```
    pub fn to_json(&self) -> Response {
        let message = self.public_message();
        let body = match &self.parameter {
            Some(parameter) => serde_json::json!({ "error": message, "parameter": parameter }),
            None => serde_json::json!({ "error": message }),
        };
        Response::json_value(self.status, &body)
    }

    /// The error as an RFC 9457 problem: `application/problem+json` with `type`
    /// (`about:blank`), `title` (the status's reason), `status`, `detail`
    /// ([`Rejection::public_message`]) and, when one is named, the extension member
    /// `parameter`. Switch an app's errors to it with `.on_error(Rejection::to_problem)`.
    ///
    /// ```
    /// use roadie::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app = App::new().on_error(Rejection::to_problem);
    /// let response = app.execute(Request::get("/missing")).await;
    /// assert_eq!(response.header("content-type"), Some("application/problem+json"));
    /// let problem: serde_json::Value = response.json();
    /// assert_eq!(problem["status"], 404);
    /// assert_eq!(problem["title"], "Not Found");
    /// # }
    /// ```
    pub fn to_problem(&self) -> Response {
        let mut body = serde_json::json!({
            "type": "about:blank",
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.public_message(),
        });
        if let Some(parameter) = &self.parameter {
            body["parameter"] = serde_json::Value::from(parameter.as_str());
        }
        Response::typed(self.status, PROBLEM_JSON, body.to_string())
    }

    /// The default rendering, with the rejection kept on the response for the app's
    /// renderer and observers.
    pub(crate) fn render(self) -> Response {
        let mut response = self.to_json();
        response.fault_mut().rejection = Some(self);
        response
    }
}

const PROBLEM_JSON: http::HeaderValue = http::HeaderValue::from_static("application/problem+json");

impl Rejection {
    /// Whether the message stays in the logs.
    fn is_private(&self) -> bool {
        self.status.is_server_error() && self.status != StatusCode::SERVICE_UNAVAILABLE
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        if self.is_private() {
            tracing::error!(parameter = ?self.parameter, "{}", self.message);
        }
        self.render()
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
