//! What was wrong with a request's path, query or body, said in the client's terms.
//!
//! The deserializers of the path, the query and (to explain a failure) the JSON body report
//! through [`InputError`], which keeps serde's error categories (a value of the wrong type, a
//! missing field, an unknown field...) as data instead of serde's text. It then says what went
//! wrong with the names the client used (`id`, `page`, `items[0].title`) and in plain words
//! ("a whole number", "text"), never with a Rust type name or a library's message, and quotes
//! at most [`ECHO_LIMIT`] characters of the request's own text.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use http::StatusCode;
use serde::de::{self, Expected, Unexpected};

use crate::response::Rejection;

/// The most characters of the request's own text (a value, a field name) an error message
/// quotes: longer text is cut there and ends with `…`.
pub(crate) const ECHO_LIMIT: usize = 64;

/// The most characters of a field's path (`items[0].title`); a longer one keeps its end.
const PATH_LIMIT: usize = 192;

/// The most names listed among the accepted fields or values.
const LIST_LIMIT: usize = 16;

/// `text`, cut to [`ECHO_LIMIT`] characters (then ending with `…`).
pub(crate) fn echo(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(ECHO_LIMIT) {
        None => Cow::Borrowed(text),
        Some((at, _)) => Cow::Owned(format!("{}…", &text[..at])),
    }
}

/// `text` cut by [`echo`], in double quotes.
pub(crate) fn quoted(text: &str) -> String {
    format!("\"{}\"", echo(text))
}

/// What the value asked for must be, in plain words, by the serde method that asked for it.
/// The deserializers describe what they were asked for with these, rather than repeat the
/// `Expected` text a `Deserialize` impl gives (which names Rust types: `u8`, `struct NewTodo`).
macro_rules! expected {
    (bool) => {
        "true or false"
    };
    (i8) => {
        "a whole number from -128 to 127"
    };
    (i16) => {
        "a whole number from -32768 to 32767"
    };
    (i32) => {
        "a whole number from -2147483648 to 2147483647"
    };
    (i64) => {
        "a whole number"
    };
    (i128) => {
        "a whole number"
    };
    (u8) => {
        "a whole number from 0 to 255"
    };
    (u16) => {
        "a whole number from 0 to 65535"
    };
    (u32) => {
        "a whole number from 0 to 4294967295"
    };
    (u64) => {
        "a whole number (0 or more)"
    };
    (u128) => {
        "a whole number (0 or more)"
    };
    (f32) => {
        "a number"
    };
    (f64) => {
        "a number"
    };
    (char) => {
        "a single character"
    };
    (text) => {
        "text"
    };
    (null) => {
        "null"
    };
    (list) => {
        "a list"
    };
    (object) => {
        "an object"
    };
}
pub(crate) use expected;

/// `a list of 2 items`: what a tuple of `len` must be.
pub(crate) fn list_of(len: usize) -> Cow<'static, str> {
    Cow::Owned(format!("a list of {len} {}", items(len)))
}

/// `one of "open", "closed"`: what an enum must be.
pub(crate) fn one_of(variants: &'static [&'static str]) -> Option<Cow<'static, str>> {
    (!variants.is_empty()).then(|| Cow::Owned(format!("one of {}", list(variants, '"'))))
}

fn items(len: usize) -> &'static str {
    if len == 1 {
        "item"
    } else {
        "items"
    }
}

/// `"a", "b"` or `` `a`, `b` ``, at most [`LIST_LIMIT`] of them.
fn list(names: &[&str], quote: char) -> String {
    let mut out = String::new();
    for (i, name) in names.iter().take(LIST_LIMIT).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{quote}{name}{quote}");
    }
    if names.len() > LIST_LIMIT {
        out.push_str(", …");
    }
    out
}

/// What was given, from serde's description of it: the value itself (cut by [`echo`]) when it
/// is a scalar, its kind otherwise.
fn given(unexpected: Unexpected<'_>) -> String {
    match unexpected {
        Unexpected::Bool(value) => value.to_string(),
        Unexpected::Unsigned(value) => value.to_string(),
        Unexpected::Signed(value) => value.to_string(),
        Unexpected::Float(value) => echo(&value.to_string()).into_owned(),
        Unexpected::Char(value) => quoted(value.encode_utf8(&mut [0; 4])),
        Unexpected::Str(value) => quoted(value),
        Unexpected::Bytes(_) => "bytes".to_owned(),
        Unexpected::Unit | Unexpected::Option => "null".to_owned(),
        Unexpected::Seq => "a list".to_owned(),
        Unexpected::Map => "an object".to_owned(),
        // Variants, newtypes and `Other` (whose text is the deserializer's own words).
        _ => "a value".to_owned(),
    }
}

/// Where the input came from: it names the parameter (`path parameter `id``).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The route's path parameters.
    Path,
    /// The query string.
    Query,
    /// The request body.
    Body,
}

impl Source {
    /// The name of the input as a whole, for an error not about one field.
    fn whole(self) -> &'static str {
        match self {
            Self::Path => "path",
            Self::Query => "query",
            Self::Body => "body",
        }
    }
}

/// One step of the path to a field: an object's key or a list's index.
#[derive(Debug, Clone)]
enum Segment {
    Key(String),
    Index(usize),
}

#[derive(Debug)]
enum Kind {
    /// A value of the wrong type, or out of range (serde's "invalid type" and "invalid
    /// value"): what was given, if it can be quoted.
    Value {
        given: Option<String>,
    },
    /// A list of the wrong length.
    Length(usize),
    /// A value that is none of an enum's.
    Variant {
        given: String,
        allowed: &'static [&'static str],
    },
    /// A field the type does not have (`#[serde(deny_unknown_fields)]`).
    UnknownField {
        name: String,
        allowed: &'static [&'static str],
    },
    MissingField(&'static str),
    DuplicateField(&'static str),
    /// A `Deserialize` impl's own message, which may be a library's text: it is logged, and
    /// the client is told that the value is not valid.
    Custom {
        given: Option<String>,
    },
    /// One text value asked to hold a list or an object.
    Unsupported(&'static str),
    /// roadie's own words, about the input as a whole.
    Shape(String),
}

/// Why the path, the query or the body did not deserialize, with serde's categories kept as
/// data and the path of the field at fault. See the module docs.
///
/// Boxed: it is the error side of every path extraction, which should stay small.
#[derive(Debug)]
pub(crate) struct InputError(Box<Fault>);

#[derive(Debug)]
struct Fault {
    kind: Kind,
    /// The steps to the field at fault, innermost first (pushed as the error goes out).
    path: Vec<Segment>,
    /// What the value must be, in plain words.
    expected: Option<Cow<'static, str>>,
    /// Whether the deserializer closest to the fault described it (`expected`, and what was
    /// given); outer ones leave it as it is.
    described: bool,
    /// serde's own text, for the log only.
    detail: Option<String>,
}

impl InputError {
    fn new(kind: Kind) -> Self {
        Self(Box::new(Fault {
            kind,
            path: Vec::new(),
            expected: None,
            described: false,
            detail: None,
        }))
    }

    /// roadie's own message about the input as a whole.
    pub(crate) fn shape(message: impl Into<String>) -> Self {
        Self::new(Kind::Shape(message.into()))
    }

    /// One text value cannot hold `what` (`a list`, `an object`).
    pub(crate) fn unsupported(what: &'static str) -> Self {
        Self::new(Kind::Unsupported(what))
    }

    /// `text` does not parse as what was asked for.
    pub(crate) fn unparsed(text: &str, expected: &'static str) -> Self {
        let mut error = Self::new(Kind::Value {
            given: Some(quoted(text)),
        });
        error.0.expected = Some(Cow::Borrowed(expected));
        error.0.described = true;
        error
    }

    /// A message for when the input was refused but explaining it found nothing at fault.
    pub(crate) fn unexplained() -> Self {
        Self::new(Kind::Custom { given: None })
    }

    /// The error happened inside the value of `key`.
    pub(crate) fn at_key(mut self, key: &str) -> Self {
        self.0.path.push(Segment::Key(echo(key).into_owned()));
        self
    }

    /// The error happened in reading `key` itself (a map's key of the wrong type): it is the
    /// field at fault, unless the error already names it (an unknown field).
    pub(crate) fn about_key(self, key: &str) -> Self {
        match self.0.kind {
            Kind::UnknownField { .. } => self,
            _ => self.at_key(key),
        }
    }

    /// The error happened inside the list element at `index`.
    pub(crate) fn at_index(mut self, index: usize) -> Self {
        self.0.path.push(Segment::Index(index));
        self
    }

    /// Describes the fault, unless a deserializer closer to it already did: what the value
    /// must be, and what was given when the error could not say (`given` is called then only).
    pub(crate) fn expecting(
        mut self,
        expected: Option<Cow<'static, str>>,
        given: impl FnOnce() -> Option<String>,
    ) -> Self {
        if self.0.described {
            return self;
        }
        self.0.described = true;
        self.0.expected = expected;
        if let Kind::Value { given: slot } | Kind::Custom { given: slot } = &mut self.0.kind {
            if slot.is_none() {
                *slot = given();
            }
        }
        self
    }

    /// Whether it is about the length of a list.
    pub(crate) fn is_length(&self) -> bool {
        matches!(self.0.kind, Kind::Length(_))
    }

    /// The field at fault, by the client's names: `title`, `items[0].title`; empty when the
    /// error is about the input as a whole.
    fn field(&self) -> String {
        let own = match &self.0.kind {
            Kind::MissingField(name) | Kind::DuplicateField(name) => Some(*name),
            Kind::UnknownField { name, .. } => Some(name.as_str()),
            _ => None,
        };
        let mut out = String::new();
        let keys = self.0.path.iter().rev().map(|segment| match segment {
            Segment::Key(key) => Ok(key.as_str()),
            Segment::Index(index) => Err(*index),
        });
        for step in keys.chain(own.map(Ok)) {
            match step {
                Ok(key) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(key);
                }
                Err(index) => {
                    let _ = write!(out, "[{index}]");
                }
            }
        }
        match out.char_indices().rev().nth(PATH_LIMIT - 1) {
            Some((at, _)) if at > 0 => format!("…{}", &out[at..]),
            _ => out,
        }
    }

    /// The message, with `subject` naming what it is about.
    fn message(&self, subject: &str, source: Source) -> String {
        let expected = self.0.expected.as_deref();
        match &self.0.kind {
            Kind::Value { given } => match (expected, given) {
                (Some(expected), Some(given)) => {
                    format!("{subject} must be {expected}, got {given}")
                }
                (Some(expected), None) => format!("{subject} must be {expected}"),
                (None, Some(given)) => format!("{subject} is not valid: got {given}"),
                (None, None) => format!("{subject} is not valid"),
            },
            Kind::Length(len) => match expected {
                Some(expected) => format!(
                    "{subject} must be {expected}, got a list of {len} {}",
                    items(*len)
                ),
                None => format!("{subject} has the wrong number of items ({len})"),
            },
            Kind::Variant { given, allowed } => match one_of(allowed) {
                Some(one_of) => format!("{subject} must be {one_of}, got {given}"),
                None => format!("{subject} cannot be {given}"),
            },
            Kind::UnknownField { allowed, .. } => {
                let what = match source {
                    Source::Body => "fields",
                    Source::Path | Source::Query => "parameters",
                };
                if allowed.is_empty() {
                    format!("{subject} is unknown")
                } else {
                    format!(
                        "{subject} is unknown; the accepted {what} are {}",
                        list(allowed, '`')
                    )
                }
            }
            Kind::MissingField(_) => format!("{subject} is missing"),
            Kind::DuplicateField(_) => format!("{subject} is given more than once"),
            Kind::Custom { given: Some(given) } => {
                format!("{subject} is not valid: got {given}")
            }
            Kind::Custom { given: None } => format!("{subject} is not valid"),
            Kind::Unsupported(what) => format!("{subject} cannot hold {what}"),
            Kind::Shape(message) => message.clone(),
        }
    }

    /// The rejection to answer with: `status`, the field (or the input as a whole) as the
    /// parameter, and the message. serde's own text goes to the log at debug level.
    pub(crate) fn into_rejection(self, source: Source, status: StatusCode) -> Rejection {
        let field = self.field();
        let subject = match (source, field.is_empty()) {
            (Source::Path, true) => "the path".to_owned(),
            (Source::Query, true) => "the query string".to_owned(),
            (Source::Body, true) => "the body".to_owned(),
            (Source::Path, false) => format!("path parameter `{field}`"),
            (Source::Query, false) => format!("query parameter `{field}`"),
            (Source::Body, false) => format!("field `{field}`"),
        };
        let message = self.message(&subject, source);
        let parameter = if field.is_empty() {
            source.whole().to_owned()
        } else {
            field
        };
        if let Some(detail) = &self.0.detail {
            tracing::debug!(%parameter, %detail, "rejected the request's {}", source.whole());
        }
        Rejection::new(status, message).with_parameter(parameter)
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = self.field();
        let subject = if field.is_empty() {
            "the input".to_owned()
        } else {
            format!("`{field}`")
        };
        f.write_str(&self.message(&subject, Source::Body))
    }
}

impl std::error::Error for InputError {}

/// serde's categories, kept as data; the `Expected` text is kept for the log only.
impl de::Error for InputError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        let mut error = Self::new(Kind::Custom { given: None });
        error.0.detail = Some(message.to_string());
        error
    }

    fn invalid_type(unexpected: Unexpected<'_>, expected: &dyn Expected) -> Self {
        let mut error = Self::new(Kind::Value {
            given: Some(given(unexpected)),
        });
        error.0.detail = Some(format!("invalid type, expected {expected}"));
        error
    }

    fn invalid_value(unexpected: Unexpected<'_>, expected: &dyn Expected) -> Self {
        let mut error = Self::new(Kind::Value {
            given: Some(given(unexpected)),
        });
        error.0.detail = Some(format!("invalid value, expected {expected}"));
        error
    }

    fn invalid_length(len: usize, expected: &dyn Expected) -> Self {
        let mut error = Self::new(Kind::Length(len));
        error.0.detail = Some(format!("invalid length {len}, expected {expected}"));
        error
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Self::new(Kind::Variant {
            given: quoted(variant),
            allowed: expected,
        })
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        Self::new(Kind::UnknownField {
            name: echo(field).into_owned(),
            allowed: expected,
        })
    }

    fn missing_field(field: &'static str) -> Self {
        Self::new(Kind::MissingField(field))
    }

    fn duplicate_field(field: &'static str) -> Self {
        Self::new(Kind::DuplicateField(field))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::Error as _;

    fn render(error: InputError, source: Source) -> (String, String) {
        let rejection = error.into_rejection(source, StatusCode::BAD_REQUEST);
        (
            rejection.parameter().unwrap_or_default().to_owned(),
            rejection.message().to_owned(),
        )
    }

    #[test]
    fn echo_cuts_at_the_limit_on_a_character_boundary() {
        assert_eq!(echo("short"), "short");
        let exact = "é".repeat(ECHO_LIMIT);
        assert_eq!(echo(&exact), exact);
        let long = "é".repeat(ECHO_LIMIT + 1);
        assert_eq!(echo(&long), format!("{}…", "é".repeat(ECHO_LIMIT)));
    }

    #[test]
    fn serde_categories_become_plain_words() {
        let error = InputError::invalid_type(Unexpected::Str("x"), &"struct NewTodo")
            .expecting(Some(Cow::Borrowed(expected!(object))), || None)
            .at_key("title");
        assert_eq!(
            render(error, Source::Body),
            (
                "title".to_owned(),
                "field `title` must be an object, got \"x\"".to_owned()
            )
        );
        let error = InputError::missing_field("title")
            .at_index(0)
            .at_key("items");
        assert_eq!(
            render(error, Source::Body),
            (
                "items[0].title".to_owned(),
                "field `items[0].title` is missing".to_owned()
            )
        );
        let error = InputError::unknown_field("extra", &["title", "done"]);
        assert_eq!(
            render(error, Source::Body).1,
            "field `extra` is unknown; the accepted fields are `title`, `done`"
        );
        let error = InputError::unknown_variant("pending", &["open", "closed"]).at_key("status");
        assert_eq!(
            render(error, Source::Query).1,
            "query parameter `status` must be one of \"open\", \"closed\", got \"pending\""
        );
    }

    #[test]
    fn custom_text_is_not_sent() {
        let error = InputError::custom("premature end of input in chrono::format")
            .expecting(None, || Some(quoted("2024-13")))
            .at_key("when");
        let (parameter, message) = render(error, Source::Body);
        assert_eq!(parameter, "when");
        assert_eq!(message, "field `when` is not valid: got \"2024-13\"");
    }

    #[test]
    fn echoed_names_and_long_paths_are_capped() {
        let key = "k".repeat(1000);
        let error = InputError::unknown_field(&key, &[]).at_key(&key);
        let (parameter, _) = render(error, Source::Body);
        assert!(parameter.chars().count() <= PATH_LIMIT + 1, "{parameter}");
        assert!(!parameter.contains(&"k".repeat(ECHO_LIMIT + 1)));

        let mut error = InputError::missing_field("x");
        for _ in 0..200 {
            error = error.at_key("abc");
        }
        let (parameter, _) = render(error, Source::Body);
        assert!(parameter.starts_with('…') && parameter.ends_with("abc.x"));
        assert_eq!(parameter.chars().count(), PATH_LIMIT + 1);
    }
}
