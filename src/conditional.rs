//! Conditional requests (RFC 9110 §13): entity tags ([`ETag`]), a route's validator functions
//! (`App::etag`, `App::last_modified`), and the evaluation of the preconditions in the order of
//! §13.2.2.
//!
//! A route with validators or declared media types (`App::provides`) has its prepared handler
//! wrapped ([`route_semantics`]): the wrapper negotiates the media type, calls the validators
//! with the handler's own request [`Context`] (so a `Dep<T>` they share is built once), answers
//! `304` or `412` without calling the handler when a precondition fails, and adds the validators
//! and `Vary: Accept` to the handler's answer. A route without them is prepared as before and
//! takes exactly the path it took.
//!
//! Dates are written and read by the `httpdate` crate (already in the tree through hyper): it
//! writes IMF-fixdate and reads the three date formats RFC 9110 §5.6.7 requires recipients to
//! accept.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};

use crate::blueprint::PreparedHandler;
use crate::extract::{Context, Needs, Prepare, Rejection};
use crate::function::{AsyncFn, ExtractorFn, FnNode, Prepared};
use crate::names::callable_name;
use crate::negotiate::{self, Offer};
use crate::response::{IntoResponse, Response};

/// An entity tag (RFC 9110 §8.8.3): an opaque validator of a representation, strong or weak.
///
/// A route's ETag function returns one (`App::etag`, `#[get("/x", etag = f)]`); roadie compares
/// it with the request's `If-Match` (strong comparison) and `If-None-Match` (weak comparison),
/// and sends it in the `ETag` header of the route's `2xx` and `304` answers.
///
/// ```
/// use roadie::ETag;
///
/// assert_eq!(ETag::strong("abc").to_string(), r#""abc""#);
/// assert_eq!(ETag::weak("abc").to_string(), r#"W/"abc""#);
/// assert_eq!(ETag::from_version(7).to_string(), r#""v7""#);
/// // A stable hash (64-bit FNV-1a): the same bytes give the same tag on every build.
/// assert_eq!(ETag::from_bytes(b"hello").to_string(), r#""a430d84680aabd0b""#);
/// assert_eq!("W/\"abc\"".parse::<ETag>().unwrap(), ETag::weak("abc"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ETag {
    weak: bool,
    tag: Box<str>,
}

/// Why a text is not an entity tag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidETag {
    /// The opaque tag holds a character outside `!` and `#` to `~` (no `"`, space or control).
    #[error("an entity tag holds visible ASCII characters other than `\"`")]
    Character,
    /// The text is not `"tag"` or `W/"tag"`.
    #[error("an entity tag is written `\"tag\"` or `W/\"tag\"`")]
    Form,
}

fn check_tag(tag: &str) -> Result<(), InvalidETag> {
    if tag.bytes().all(|b| b == 0x21 || (0x23..=0x7e).contains(&b)) {
        Ok(())
    } else {
        Err(InvalidETag::Character)
    }
}

impl ETag {
    /// A strong entity tag: the representation is byte-for-byte the same while it holds.
    ///
    /// # Panics
    /// If `tag` holds a character other than visible ASCII without `"` (`!`, `#` to `~`);
    /// [`ETag::try_new`] checks instead.
    #[track_caller]
    pub fn strong(tag: impl Into<String>) -> Self {
        Self::checked(false, tag.into())
    }

    /// A weak entity tag (`W/"tag"`): the representation is equivalent while it holds, not
    /// necessarily identical.
    ///
    /// # Panics
    /// As [`ETag::strong`].
    #[track_caller]
    pub fn weak(tag: impl Into<String>) -> Self {
        Self::checked(true, tag.into())
    }

    #[track_caller]
    fn checked(weak: bool, tag: String) -> Self {
        match Self::try_new(weak, tag) {
            Ok(etag) => etag,
            Err(error) => panic!("not an entity tag: {error}"),
        }
    }

    /// An entity tag, strong or weak, if `tag` holds only its allowed characters.
    pub fn try_new(weak: bool, tag: impl Into<String>) -> Result<Self, InvalidETag> {
        let tag = tag.into();
        check_tag(&tag)?;
        Ok(Self {
            weak,
            tag: tag.into_boxed_str(),
        })
    }

    /// A strong tag from a version number that changes with every change of the resource
    /// (a row's `version` column): `"v42"`.
    pub fn from_version(version: u64) -> Self {
        Self {
            weak: false,
            tag: format!("v{version}").into_boxed_str(),
        }
    }

    /// A strong tag from a hash of the representation's bytes: 64-bit FNV-1a, written as 16
    /// hexadecimal digits. FNV-1a is fixed by its definition (offset basis and prime), so the
    /// tag is the same across builds, Rust versions and machines, unlike std's
    /// `DefaultHasher`; it is not a cryptographic hash, and needs not be one: a tag only has
    /// to change when the bytes change.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let hash = bytes.iter().fold(OFFSET, |hash, &byte| {
            (hash ^ u64::from(byte)).wrapping_mul(PRIME)
        });
        Self {
            weak: false,
            tag: format!("{hash:016x}").into_boxed_str(),
        }
    }

    /// Whether the tag is weak.
    pub fn is_weak(&self) -> bool {
        self.weak
    }

    /// The opaque tag, without quotes or `W/`.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// Strong comparison (RFC 9110 §8.8.3.2): both strong, and the same tag.
    pub fn strong_eq(&self, other: &ETag) -> bool {
        !self.weak && !other.weak && self.tag == other.tag
    }

    /// Weak comparison: the same tag, whether either is weak or not.
    pub fn weak_eq(&self, other: &ETag) -> bool {
        self.tag == other.tag
    }

    fn header_value(&self) -> HeaderValue {
        // Checked at construction: visible ASCII only.
        HeaderValue::from_str(&self.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.weak {
            f.write_str("W/")?;
        }
        write!(f, "\"{}\"", self.tag)
    }
}

impl FromStr for ETag {
    type Err = InvalidETag;

    fn from_str(text: &str) -> Result<Self, InvalidETag> {
        let text = text.trim();
        let (weak, rest) = match text.strip_prefix("W/") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let tag = rest
            .strip_prefix('"')
            .and_then(|rest| rest.strip_suffix('"'))
            .ok_or(InvalidETag::Form)?;
        Self::try_new(weak, tag)
    }
}

/// The Unix time `seconds` after 1970-01-01T00:00:00Z, as a `SystemTime`: what a
/// `last_modified` function returns from a stored timestamp.
///
/// ```
/// assert_eq!(roadie::conditional::unix_time(0), std::time::UNIX_EPOCH);
/// ```
pub fn unix_time(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

/// What a validator function may return: `Option<V>` (`None`: the resource does not exist),
/// or `Result<Option<V>, E>` where the error answers the request (`E: IntoResponse`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not what a validator function returns",
    label = "not a validator's output",
    note = "an ETag function returns `Option<ETag>`, a Last-Modified function \
            `Option<SystemTime>`; either may return `Result<Option<..>, E>` where `E: IntoResponse`"
)]
pub trait ValidatorOutput<V>: Send + 'static {
    #[doc(hidden)]
    fn into_validator_result(self) -> Result<Option<V>, Box<Response>>;
}

impl<V: Send + 'static> ValidatorOutput<V> for Option<V> {
    fn into_validator_result(self) -> Result<Option<V>, Box<Response>> {
        Ok(self)
    }
}

impl<V: Send + 'static, E: IntoResponse + Send + 'static> ValidatorOutput<V>
    for Result<Option<V>, E>
{
    fn into_validator_result(self) -> Result<Option<V>, Box<Response>> {
        self.map_err(|error| Box::new(error.into_response().failed()))
    }
}

/// An async function or closure of extractors (`Path<T>`, `Dep<T>`, `Res<T>`, `HeaderMap`,
/// ...; not the body) that tells a route's current validator `V`: its [`ETag`]
/// (`App::etag`) or its last modification time, a `SystemTime` (`App::last_modified`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a roadie validator function",
    label = "not a validator",
    note = "a validator is an async function or closure of extractors (`Path<T>`, `Dep<T>`, \
            `Res<T>`, `HeaderMap`, ...; not the body) returning `Option<ETag>` (for `.etag`) or \
            `Option<SystemTime>` (for `.last_modified`), or a `Result` of those"
)]
pub trait Validator<V, M>: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_validator(self) -> ValidatorSpec<V>;
}

impl<F, P, L, V> Validator<V, (AsyncFn, P, L)> for F
where
    F: ExtractorFn<(AsyncFn, P, L)>,
    F::Output: ValidatorOutput<V>,
    P: 'static,
    L: 'static,
    V: Send + 'static,
{
    fn into_validator(self) -> ValidatorSpec<V> {
        let mut needs = Needs::default();
        F::describe(&mut needs);
        ValidatorSpec {
            name: callable_name::<F>(None),
            needs,
            node: Arc::new(FnNode::<F, (AsyncFn, P, L), V>::new(self)),
        }
    }
}

/// A validator function, type-erased, as registered.
#[doc(hidden)]
pub struct ValidatorSpec<V> {
    pub(crate) name: String,
    pub(crate) needs: Needs,
    node: Arc<dyn ValidatorNode<V>>,
}

impl<V> Clone for ValidatorSpec<V> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            needs: self.needs.clone(),
            node: Arc::clone(&self.node),
        }
    }
}

impl<V> fmt::Debug for ValidatorSpec<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidatorSpec")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

trait ValidatorNode<V>: Send + Sync + 'static {
    fn prepare(&self, prepare: &Prepare<'_>) -> Arc<dyn PreparedValidator<V>>;
}

trait PreparedValidator<V>: Send + Sync + 'static {
    /// The validator's value for this request, or the answer its failure gives (boxed: the
    /// common way through carries no response).
    fn call<'a>(
        &'a self,
        cx: &'a mut Context<'_>,
    ) -> BoxFuture<'a, Result<Option<V>, Box<Response>>>;
}

impl<F, M, V> ValidatorNode<V> for FnNode<F, M, V>
where
    F: ExtractorFn<M>,
    F::Output: ValidatorOutput<V>,
    M: 'static,
    V: Send + 'static,
{
    fn prepare(&self, prepare: &Prepare<'_>) -> Arc<dyn PreparedValidator<V>> {
        Arc::new(FnNode::prepare(self, prepare))
    }
}

impl<F, M, V> PreparedValidator<V> for Prepared<F, M, V>
where
    F: ExtractorFn<M>,
    F::Output: ValidatorOutput<V>,
    M: 'static,
    V: Send + 'static,
{
    fn call<'a>(
        &'a self,
        cx: &'a mut Context<'_>,
    ) -> BoxFuture<'a, Result<Option<V>, Box<Response>>> {
        Box::pin(async move {
            let (f, state) = self.parts();
            // A validator never reads the body (validation refuses one that asks for it).
            match f.call(state, cx, Bytes::new()).await {
                Ok(output) => output.into_validator_result(),
                Err(rejection) => Err(Box::new(rejection.into_response().failed())),
            }
        })
    }
}

/// The HTTP semantics a route declares beyond its handler: its validators and the media types
/// it provides. Empty for most routes, which then are prepared as they were.
#[derive(Clone, Debug, Default)]
pub(crate) struct RouteSemantics {
    pub(crate) etag: Option<ValidatorSpec<ETag>>,
    pub(crate) last_modified: Option<ValidatorSpec<SystemTime>>,
    pub(crate) provides: Option<Arc<[Offer]>>,
}

impl RouteSemantics {
    /// Whether the route declares nothing: its handler is prepared as it is.
    pub(crate) fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none() && self.provides.is_none()
    }
}

/// Wraps a route's prepared handler in its semantics, if it declares any.
pub(crate) fn route_semantics(
    semantics: &RouteSemantics,
    inner: Arc<dyn PreparedHandler>,
    prepare: &Prepare<'_>,
) -> Arc<dyn PreparedHandler> {
    if semantics.is_empty() {
        return inner;
    }
    Arc::new(SemanticHandler {
        inner,
        etag: semantics
            .etag
            .as_ref()
            .map(|spec| spec.node.prepare(prepare)),
        last_modified: semantics
            .last_modified
            .as_ref()
            .map(|spec| spec.node.prepare(prepare)),
        provides: semantics.provides.clone(),
    })
}

/// A route's handler inside its semantics.
struct SemanticHandler {
    inner: Arc<dyn PreparedHandler>,
    etag: Option<Arc<dyn PreparedValidator<ETag>>>,
    last_modified: Option<Arc<dyn PreparedValidator<SystemTime>>>,
    provides: Option<Arc<[Offer]>>,
}

impl PreparedHandler for SemanticHandler {
    fn call<'a>(&'a self, cx: &'a mut Context<'_>, body: Bytes) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            let mut response = self.answer(cx, body).await;
            if self.provides.is_some() {
                vary_accept(response.headers_mut());
            }
            response
        })
    }
}

impl SemanticHandler {
    async fn answer(&self, cx: &mut Context<'_>, body: Bytes) -> Response {
        // 1. The media type: `406` before anything is looked up.
        if let Some(offers) = &self.provides {
            let Some(parts) = cx.parts_mut() else {
                return Response::internal_error();
            };
            match negotiate::choose(offers, &parts.headers) {
                Ok(media) => {
                    parts.extensions.insert(media);
                }
                Err(rejection) => return rejection.into_response(),
            }
        }
        // 2. The validators, in the handler's scope.
        let etag = match &self.etag {
            Some(validator) => match validator.call(cx).await {
                Ok(etag) => etag,
                Err(response) => return *response,
            },
            None => None,
        };
        let modified = match &self.last_modified {
            Some(validator) => match validator.call(cx).await {
                Ok(modified) => modified.map(to_seconds),
                Err(response) => return *response,
            },
            None => None,
        };
        let has_validators = self.etag.is_some() || self.last_modified.is_some();
        let Some(parts) = cx.parts() else {
            return Response::internal_error();
        };
        let safe = parts.method == Method::GET || parts.method == Method::HEAD;
        // 3. The preconditions: the handler runs only if they hold.
        if has_validators {
            let current = Current {
                etag: etag.as_ref(),
                modified,
            };
            match evaluate(&parts.method, &parts.headers, &current) {
                Verdict::Proceed => {}
                Verdict::NotModified => {
                    let mut response = Response::new(StatusCode::NOT_MODIFIED);
                    add_validators(response.headers_mut(), &current);
                    return response;
                }
                Verdict::Failed(field) => {
                    return Rejection::new(
                        StatusCode::PRECONDITION_FAILED,
                        format!("the precondition in `{field}` does not hold for the resource's current state"),
                    )
                    .with_parameter(field)
                    .into_response();
                }
            }
        }
        // 4. The handler; its successful answer to a read carries the validators. (To a
        // change, the validators read before it are stale: the handler sets the new ones.)
        let mut response = self.inner.call(cx, body).await;
        if safe && response.status().is_success() {
            add_validators(
                response.headers_mut(),
                &Current {
                    etag: etag.as_ref(),
                    modified,
                },
            );
        }
        response
    }
}

/// Whole seconds: HTTP dates carry no more, and a comparison with a finer time would never
/// find a resource unmodified.
fn to_seconds(time: SystemTime) -> SystemTime {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => UNIX_EPOCH + Duration::from_secs(since.as_secs()),
        Err(_) => UNIX_EPOCH,
    }
}

/// Adds `Accept` to the response's `Vary`, unless it is there already.
fn vary_accept(headers: &mut HeaderMap) {
    let present = headers.get_all(header::VARY).iter().any(|value| {
        value.to_str().is_ok_and(|value| {
            value
                .split(',')
                .any(|name| name.trim().eq_ignore_ascii_case("accept") || name.trim() == "*")
        })
    });
    if !present {
        headers.append(header::VARY, HeaderValue::from_static("Accept"));
    }
}

/// Sets `ETag` and `Last-Modified` where the response has none.
fn add_validators(headers: &mut HeaderMap, current: &Current<'_>) {
    if let Some(etag) = current.etag {
        if !headers.contains_key(header::ETAG) {
            headers.insert(header::ETAG, etag.header_value());
        }
    }
    if let Some(modified) = current.modified {
        if !headers.contains_key(header::LAST_MODIFIED) {
            if let Ok(value) = HeaderValue::from_str(&httpdate::fmt_http_date(modified)) {
                headers.insert(header::LAST_MODIFIED, value);
            }
        }
    }
}

/// The resource's current validators, as its functions told them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Current<'a> {
    pub(crate) etag: Option<&'a ETag>,
    /// In whole seconds.
    pub(crate) modified: Option<SystemTime>,
}

impl Current<'_> {
    /// Whether the resource has a current representation: a validator told one.
    fn exists(&self) -> bool {
        self.etag.is_some() || self.modified.is_some()
    }
}

/// What the preconditions decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// They hold (or there are none): the handler runs.
    Proceed,
    /// `304 Not Modified`: a `GET` or `HEAD` whose cached copy is current.
    NotModified,
    /// `412 Precondition Failed`, naming the header field whose condition failed.
    Failed(&'static str),
}

/// The entity tags of an `If-Match` or `If-None-Match` field: `*`, or a list.
enum Tags {
    Any,
    List(Vec<ETag>),
}

/// The tags of every line of the field `name`, or `None` if the request has none. Members
/// that do not parse are left out (they match nothing).
fn tags(headers: &HeaderMap, name: header::HeaderName) -> Option<Tags> {
    let mut values = headers.get_all(name).iter().peekable();
    values.peek()?;
    let mut list = Vec::new();
    for value in values {
        let Ok(value) = value.to_str() else { continue };
        if value.trim() == "*" {
            return Some(Tags::Any);
        }
        list.extend(parse_list(value));
    }
    Some(Tags::List(list))
}

/// The entity tags of a comma-separated list: `"a", W/"b"`.
fn parse_list(value: &str) -> Vec<ETag> {
    let mut tags = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            break;
        }
        let (weak, after) = match rest.strip_prefix("W/") {
            Some(after) => (true, after),
            None => (false, rest),
        };
        let Some(open) = after.strip_prefix('"') else {
            break;
        };
        let Some(close) = open.find('"') else { break };
        if let Ok(tag) = ETag::try_new(weak, &open[..close]) {
            tags.push(tag);
        }
        rest = &open[close + 1..];
    }
    tags
}

/// The date of the field `name`, if present and valid (an invalid date is ignored, RFC 9110
/// §13.1.3 and §13.1.4).
fn date(headers: &HeaderMap, name: header::HeaderName) -> Option<SystemTime> {
    let value = headers.get(name)?.to_str().ok()?;
    httpdate::parse_http_date(value.trim()).ok()
}

/// Evaluates the request's preconditions against the resource's current validators, in the
/// order of RFC 9110 §13.2.2:
///
/// 1. `If-Match`: strong comparison (`*`: the resource exists); false → `412`;
/// 2. otherwise `If-Unmodified-Since`: modified since → `412`;
/// 3. `If-None-Match`: weak comparison (`*`: the resource exists); a match → `304` for `GET`
///    and `HEAD`, `412` for other methods;
/// 4. otherwise, for `GET` and `HEAD`, `If-Modified-Since`: not modified since → `304`;
/// 5. otherwise the request proceeds.
pub(crate) fn evaluate(method: &Method, headers: &HeaderMap, current: &Current<'_>) -> Verdict {
    let read = *method == Method::GET || *method == Method::HEAD;
    // 1.
    match tags(headers, header::IF_MATCH) {
        Some(Tags::Any) if !current.exists() => return Verdict::Failed("If-Match"),
        Some(Tags::List(list)) => {
            let matched = current
                .etag
                .is_some_and(|etag| list.iter().any(|tag| tag.strong_eq(etag)));
            if !matched {
                return Verdict::Failed("If-Match");
            }
        }
        Some(Tags::Any) => {}
        // 2. Only without `If-Match`.
        None => {
            if let (Some(since), Some(modified)) =
                (date(headers, header::IF_UNMODIFIED_SINCE), current.modified)
            {
                if modified > since {
                    return Verdict::Failed("If-Unmodified-Since");
                }
            }
        }
    }
    // 3.
    let none_match = tags(headers, header::IF_NONE_MATCH);
    if let Some(tags) = &none_match {
        let matched = match tags {
            Tags::Any => current.exists(),
            Tags::List(list) => current
                .etag
                .is_some_and(|etag| list.iter().any(|tag| tag.weak_eq(etag))),
        };
        if matched {
            return if read {
                Verdict::NotModified
            } else {
                Verdict::Failed("If-None-Match")
            };
        }
        return Verdict::Proceed;
    }
    // 4. Only without `If-None-Match`, and only for reads.
    if read {
        if let (Some(since), Some(modified)) =
            (date(headers, header::IF_MODIFIED_SINCE), current.modified)
        {
            // A date in the future is invalid (RFC 9110 §13.1.3).
            if since <= SystemTime::now() && modified <= since {
                return Verdict::NotModified;
            }
        }
    }
    Verdict::Proceed
}
