//! Content negotiation (RFC 9110 §12.5.1): a route declares the media types it provides
//! (`App::provides`), the request's `Accept` picks one, and the handler reads it as a
//! [`MediaType`].
//!
//! `Accept` is read with its quality values, wildcards (`*/*`, `text/*`) and parameters. Each
//! declared type takes the quality of the most specific range that matches it; the highest
//! quality above zero wins, ties going to the type declared first. No acceptable type answers
//! `406`, listing the types the route provides; no `Accept` (or none that parses) picks the
//! first declared.

use std::fmt;
use std::future::{ready, Future};
use std::sync::Arc;

use http::{header, HeaderMap, StatusCode};

use crate::extract::{Context, FromContext, Needs, Prepare, Rejection};

/// The media type chosen for a route's answer from those it declared with
/// [`App::provides`](crate::App::provides) (or `provides = [...]` in a route attribute): the
/// handler switches on it.
///
/// ```
/// use roadie::prelude::*;
/// use roadie::MediaType;
///
/// async fn report(media: MediaType) -> Response {
///     if media == "text/csv" {
///         ([(roadie::header::CONTENT_TYPE, "text/csv")], "id,title\n1,pack\n").into_response()
///     } else {
///         Json(serde_json::json!([{ "id": 1, "title": "pack" }])).into_response()
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app = App::new().get("/report", report).provides(["application/json", "text/csv"]);
/// let csv = app.execute(Request::get("/report").header("accept", "text/csv")).await;
/// assert_eq!(csv.text(), "id,title\n1,pack\n");
/// assert_eq!(csv.header("vary"), Some("Accept"));
/// # }
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MediaType(Arc<str>);

impl MediaType {
    /// The type as the route declared it (`application/json`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it is `essence` (`text/csv`), ignoring case and parameters.
    pub fn is(&self, essence: &str) -> bool {
        let own = self.0.split(';').next().unwrap_or_default().trim();
        own.eq_ignore_ascii_case(essence.trim())
    }
}

impl fmt::Debug for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MediaType").field(&&*self.0).finish()
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for MediaType {
    fn eq(&self, other: &str) -> bool {
        self.is(other)
    }
}

impl PartialEq<&str> for MediaType {
    fn eq(&self, other: &&str) -> bool {
        self.is(other)
    }
}

impl FromContext for MediaType {
    type State = ();

    fn describe(needs: &mut Needs) {
        needs.request_part("MediaType");
    }

    fn prepare(_cx: &Prepare<'_>) -> Self::State {}

    fn from_context<'a>(
        _state: &'a Self::State,
        cx: &'a mut Context<'_>,
    ) -> impl Future<Output = Result<Self, Rejection>> + Send + 'a {
        ready(cx.request_parts("MediaType").and_then(|parts| {
            parts.extensions.get::<MediaType>().cloned().ok_or_else(|| {
                Rejection::internal(
                    "`MediaType` is read by a route that declares no media types: declare \
                     them with `.provides([..])` after the route, or `provides = [..]` in its \
                     attribute",
                )
            })
        }))
    }
}

/// A media type a route provides, parsed once.
#[derive(Debug, Clone)]
pub(crate) struct Offer {
    declared: Arc<str>,
    kind: MediaRange,
}

/// `type/subtype;name=value`, lowercased where case does not matter.
#[derive(Debug, Clone)]
struct MediaRange {
    main: String,
    sub: String,
    params: Vec<(String, String)>,
}

fn parse_range(text: &str) -> Option<(MediaRange, f32)> {
    let mut pieces = text.split(';');
    let essence = pieces.next()?.trim();
    let (main, sub) = essence.split_once('/')?;
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+*".contains(&b))
    };
    if !token(main) || !token(sub) {
        return None;
    }
    let mut quality = 1.0_f32;
    let mut params = Vec::new();
    for piece in pieces {
        let (name, value) = piece.split_once('=')?;
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim().trim_matches('"');
        if name == "q" {
            quality = value.parse().ok().filter(|q| (0.0..=1.0).contains(q))?;
            // Parameters after `q` are accept-extensions, not the range's.
            break;
        }
        params.push((name, value.to_owned()));
    }
    Some((
        MediaRange {
            main: main.to_ascii_lowercase(),
            sub: sub.to_ascii_lowercase(),
            params,
        },
        quality,
    ))
}

/// Parses a declared media type: `type/subtype`, parameters allowed, no wildcard.
pub(crate) fn offer(declared: &str) -> Result<Offer, String> {
    match parse_range(declared) {
        Some((kind, _)) if kind.main != "*" && kind.sub != "*" => Ok(Offer {
            declared: declared.trim().into(),
            kind,
        }),
        Some(_) => Err(format!(
            "`{declared}` is a range, not a media type: declare the types the route answers \
             with (`text/csv`)"
        )),
        None => Err(format!(
            "`{declared}` is not a media type (`application/json`, `text/csv`)"
        )),
    }
}

/// How specifically `range` matches `offer`: `None` if it does not; then `*/*`, `type/*`,
/// `type/subtype`, and that with parameters, in rising order.
fn specificity(range: &MediaRange, offer: &MediaRange) -> Option<u8> {
    if range.main == "*" {
        return (range.sub == "*").then_some(0);
    }
    if range.main != offer.main {
        return None;
    }
    if range.sub == "*" {
        return Some(1);
    }
    if range.sub != offer.sub {
        return None;
    }
    let params_match = range.params.iter().all(|(name, value)| {
        offer
            .params
            .iter()
            .any(|(n, v)| n == name && v.eq_ignore_ascii_case(value))
    });
    match (params_match, range.params.is_empty()) {
        (false, _) => None,
        (true, true) => Some(2),
        (true, false) => Some(3),
    }
}

/// The declared type that the request's `Accept` prefers, or the `406` that lists them all.
pub(crate) fn choose(offers: &[Offer], headers: &HeaderMap) -> Result<MediaType, Rejection> {
    let ranges: Vec<(MediaRange, f32)> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(parse_range)
        .collect();
    if ranges.is_empty() {
        return match offers.first() {
            Some(first) => Ok(MediaType(Arc::clone(&first.declared))),
            None => Err(not_acceptable(offers)),
        };
    }
    let mut best: Option<(&Offer, f32)> = None;
    for offer in offers {
        let mut chosen: Option<(u8, f32)> = None;
        for (range, quality) in &ranges {
            if let Some(level) = specificity(range, &offer.kind) {
                if chosen.is_none_or(|(best_level, _)| level > best_level) {
                    chosen = Some((level, *quality));
                }
            }
        }
        let quality = chosen.map_or(0.0, |(_, quality)| quality);
        if quality > 0.0 && best.is_none_or(|(_, best)| quality > best) {
            best = Some((offer, quality));
        }
    }
    match best {
        Some((offer, _)) => Ok(MediaType(Arc::clone(&offer.declared))),
        None => Err(not_acceptable(offers)),
    }
}

fn not_acceptable(offers: &[Offer]) -> Rejection {
    let list = offers
        .iter()
        .map(|offer| &*offer.declared)
        .collect::<Vec<_>>()
        .join(", ");
    Rejection::new(
        StatusCode::NOT_ACCEPTABLE,
        format!("`Accept` allows none of the media types this route provides: {list}"),
    )
    .with_parameter("Accept")
}
