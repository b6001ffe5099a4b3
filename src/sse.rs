//! Server-sent events: a response that streams [`Event`]s (`text/event-stream`), with
//! keep-alive comments, and that ends cleanly when the app stops.
//!
//! Return an [`Sse`] from a handler; read the client's `Last-Event-ID` with [`LastEventId`].
//! When the app stops (a server's drain begins, or a shutdown is asked for in-process),
//! an open stream sends its final event ([`Sse::on_shutdown`]), if it has one, and ends its
//! body: the client sees a clean end, and the stream (with whatever it holds: a `Res<T>`
//! clone, a `Dep<T>`) is dropped before the teardown runs.
//!
//! ```
//! use roadie::prelude::*;
//! use roadie::sse::{Event, Sse};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = App::new().get("/events", || async {
//!     let events = futures_util::stream::iter(["one", "two"].map(|text| Event::new().data(text)));
//!     Sse::new(events)
//! });
//! let response = app.execute(Request::get("/events")).await;
//! assert_eq!(response.header("content-type"), Some("text/event-stream"));
//! assert_eq!(response.text(), "data: one\n\ndata: two\n\n");
//! # }
//! ```
//!
//! Under [`App::execute`](crate::App::execute) the body is collected before `execute`
//! returns: a stream that never ends by itself returns once the app shuts down.

use std::convert::Infallible;
use std::fmt::{self, Write as _};
use std::future::{ready, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::HeaderValue;

use crate::extract::{Context, FromContext, Needs, Prepare};
use crate::long_lived::{Attach, LongLived};
use crate::response::{IntoResponse, Rejection, Response};

/// One server-sent event: its data, and optionally its name (`event:`), its id (`id:`), the
/// reconnection delay it asks for (`retry:`) and comments.
///
/// ```
/// use roadie::sse::Event;
/// use std::time::Duration;
///
/// let event = Event::new()
///     .event("greeting")
///     .id("7")
///     .retry(Duration::from_secs(3))
///     .comment("sent by roadie")
///     .data("hello\nworld");
/// assert_eq!(
///     event.to_string(),
///     ": sent by roadie\nevent: greeting\nid: 7\nretry: 3000\ndata: hello\ndata: world\n\n"
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    comments: Vec<String>,
    event: Option<String>,
    id: Option<String>,
    retry: Option<Duration>,
    data: Option<String>,
}

impl Event {
    /// An empty event; set its data with [`Event::data`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The event's data. Data of several lines is sent as several `data:` lines (the client
    /// joins them with `\n` again); setting it again replaces it.
    pub fn data(mut self, data: impl Into<String>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// The event's data, as JSON.
    pub fn json_data<T: serde::Serialize + ?Sized>(
        self,
        value: &T,
    ) -> Result<Self, serde_json::Error> {
        Ok(self.data(serde_json::to_string(value)?))
    }

    /// The event's name (`event:`), which the client's `addEventListener` listens for.
    ///
    /// # Panics
    /// If `name` holds a line break.
    #[track_caller]
    pub fn event(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        assert!(
            !name.contains(['\n', '\r']),
            "an SSE event name cannot hold a line break: {name:?}"
        );
        self.event = Some(name);
        self
    }

    /// The event's id (`id:`), which the client sends back as `Last-Event-ID` when it
    /// reconnects ([`LastEventId`]).
    ///
    /// # Panics
    /// If `id` holds a line break or a NUL.
    #[track_caller]
    pub fn id(mut self, id: impl Into<String>) -> Self {
        let id = id.into();
        assert!(
            !id.contains(['\n', '\r', '\0']),
            "an SSE event id cannot hold a line break or a NUL: {id:?}"
        );
        self.id = Some(id);
        self
    }

    /// How long the client waits before it reconnects (`retry:`, in milliseconds).
    pub fn retry(mut self, delay: Duration) -> Self {
        self.retry = Some(delay);
        self
    }

    /// A comment (`: text`), which the client ignores; several lines make several comments.
    pub fn comment(mut self, comment: impl Into<String>) -> Self {
        self.comments.push(comment.into());
        self
    }

    fn to_bytes(&self) -> Bytes {
        Bytes::from(self.to_string())
    }
}

/// The lines of `text`, split at `\r\n`, `\r` and `\n`, as the client splits them.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let text = rest?;
        match text.find(['\r', '\n']) {
            Some(at) => {
                let skip = if text[at..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&text[at + skip..]);
                Some(&text[..at])
            }
            None => {
                rest = None;
                Some(text)
            }
        }
    })
}

/// The event as it is sent, ending with its blank line.
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for comment in &self.comments {
            for line in lines(comment) {
                writeln!(f, ": {line}")?;
            }
        }
        if let Some(event) = &self.event {
            writeln!(f, "event: {event}")?;
        }
        if let Some(id) = &self.id {
            writeln!(f, "id: {id}")?;
        }
        if let Some(retry) = self.retry {
            writeln!(f, "retry: {}", retry.as_millis())?;
        }
        if let Some(data) = &self.data {
            for line in lines(data) {
                writeln!(f, "data: {line}")?;
            }
        }
        f.write_char('\n')
    }
}

/// A server-sent events response, made from a [`Stream`] of [`Event`]s.
///
/// It answers `200` with `content-type: text/event-stream` and `cache-control: no-cache`,
/// and sends each event as it comes. The body ends when the stream ends, or when the app
/// stops: then the final event ([`Sse::on_shutdown`]) is sent, if there is one, the stream
/// is dropped, and the body ends.
pub struct Sse<S> {
    stream: S,
    keep_alive: Option<Duration>,
    on_shutdown: Option<Event>,
}

impl<S> fmt::Debug for Sse<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sse")
            .field("keep_alive", &self.keep_alive)
            .field("on_shutdown", &self.on_shutdown)
            .finish_non_exhaustive()
    }
}

impl<S> Sse<S>
where
    S: Stream<Item = Event> + Send + 'static,
{
    /// Events from `stream`, without keep-alive comments and without a final event.
    pub fn new(stream: S) -> Self {
        Self {
            stream,
            keep_alive: None,
            on_shutdown: None,
        }
    }

    /// Sends a comment (`: keep-alive`) whenever no event was sent for `interval`, so that
    /// proxies and clients do not take a quiet stream for a dead one.
    ///
    /// # Panics
    /// If `interval` is zero.
    #[track_caller]
    pub fn keep_alive(mut self, interval: Duration) -> Self {
        assert!(
            !interval.is_zero(),
            "the keep-alive interval cannot be zero"
        );
        self.keep_alive = Some(interval);
        self
    }

    /// The last event sent when the app stops with this stream open (for example one that
    /// tells the client to reconnect elsewhere, or later with `retry`).
    pub fn on_shutdown(mut self, event: Event) -> Self {
        self.on_shutdown = Some(event);
        self
    }
}

impl<S> IntoResponse for Sse<S>
where
    S: Stream<Item = Event> + Send + 'static,
{
    fn into_response(self) -> Response {
        let attach = Attach::default();
        let body = SseBody {
            stream: Some(Box::pin(self.stream)),
            keep_alive: self.keep_alive.map(|interval| KeepAlive {
                interval,
                sleep: None,
            }),
            on_shutdown: self.on_shutdown,
            ending: None,
            attached: false,
            attach: attach.clone(),
        };
        let mut response = Response::stream(body);
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response.extensions_mut().insert(attach);
        response
    }
}

struct KeepAlive {
    interval: Duration,
    /// Armed on the first poll (a timer needs the runtime, which making the response does
    /// not), and again after each event or comment.
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl KeepAlive {
    /// Starts the interval again from now.
    fn reset(&mut self) {
        let next = tokio::time::Instant::now() + self.interval;
        match self.sleep.as_mut() {
            Some(sleep) => sleep.as_mut().reset(next),
            None => self.sleep = Some(Box::pin(tokio::time::sleep_until(next))),
        }
    }

    /// Whether a comment is due; if so, the interval starts again.
    fn due(&mut self, cx: &mut TaskContext<'_>) -> bool {
        if self.sleep.is_none() {
            self.reset();
        }
        let due = self
            .sleep
            .as_mut()
            .is_some_and(|sleep| sleep.as_mut().poll(cx).is_ready());
        if due {
            self.reset();
            // Registers the new deadline's wake-up.
            if let Some(sleep) = self.sleep.as_mut() {
                let _ = sleep.as_mut().poll(cx);
            }
        }
        due
    }
}

/// The body of an [`Sse`] response: the user's stream, keep-alive comments, and the app's
/// shutdown.
struct SseBody {
    /// Dropped as soon as the body ends, before it stops counting as open.
    stream: Option<Pin<Box<dyn Stream<Item = Event> + Send>>>,
    keep_alive: Option<KeepAlive>,
    on_shutdown: Option<Event>,
    /// Resolves when the app tells its long-lived responses to end.
    ending: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    /// Whether the app was looked for (on the first poll).
    attached: bool,
    attach: Attach,
}

impl SseBody {
    /// Ends the body: the stream and what it holds are dropped, then the body no longer
    /// counts among the app's open streams.
    fn finish(&mut self) {
        self.stream = None;
        self.keep_alive = None;
        self.ending = None;
        self.attach.release();
    }
}

impl Stream for SseBody {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if !this.attached {
            this.attached = true;
            this.ending = this
                .attach
                .long_lived()
                .map(|long_lived: Arc<LongLived>| Box::pin(long_lived.ending()) as Pin<Box<_>>);
        }
        let Some(stream) = this.stream.as_mut() else {
            return Poll::Ready(None);
        };
        if let Some(ending) = this.ending.as_mut() {
            if ending.as_mut().poll(cx).is_ready() {
                let last = this.on_shutdown.take();
                this.finish();
                return Poll::Ready(last.map(|event| Ok(event.to_bytes())));
            }
        }
        match stream.as_mut().poll_next(cx) {
            Poll::Ready(Some(event)) => {
                if let Some(keep_alive) = this.keep_alive.as_mut() {
                    keep_alive.reset();
                }
                return Poll::Ready(Some(Ok(event.to_bytes())));
            }
            Poll::Ready(None) => {
                this.finish();
                return Poll::Ready(None);
            }
            Poll::Pending => {}
        }
        if let Some(keep_alive) = this.keep_alive.as_mut() {
            if keep_alive.due(cx) {
                return Poll::Ready(Some(Ok(Bytes::from_static(b": keep-alive\n\n"))));
            }
        }
        Poll::Pending
    }
}

impl Drop for SseBody {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The `Last-Event-ID` header a reconnecting client sends: the id of the last event it saw
/// ([`Event::id`]), or `None` on a first connection.
///
/// ```
/// use roadie::prelude::*;
/// use roadie::sse::LastEventId;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app = App::new().get("/events", |LastEventId(last): LastEventId| async move {
///     format!("resume after {}", last.as_deref().unwrap_or("nothing"))
/// });
/// let response = app.execute(Request::get("/events").header("last-event-id", "41")).await;
/// assert_eq!(response.text(), "resume after 41");
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastEventId(pub Option<String>);

impl FromContext for LastEventId {
    type State = ();

    fn describe(needs: &mut Needs) {
        needs.request_part("LastEventId");
    }

    fn prepare(_cx: &Prepare<'_>) -> Self::State {}

    fn from_context<'a>(
        _state: &'a Self::State,
        cx: &'a mut Context<'_>,
    ) -> impl Future<Output = Result<Self, Rejection>> + Send + 'a {
        ready(cx.request_parts("LastEventId").and_then(|parts| {
            match parts.headers.get("last-event-id") {
                None => Ok(LastEventId(None)),
                Some(value) => value
                    .to_str()
                    .map(|id| LastEventId(Some(id.to_owned())))
                    .map_err(|_| {
                        Rejection::bad_request("must be visible ASCII text")
                            .with_parameter("Last-Event-ID")
                    }),
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_of_several_lines_makes_several_data_lines() {
        let event = Event::new().data("a\r\nb\rc\n");
        assert_eq!(event.to_string(), "data: a\ndata: b\ndata: c\ndata: \n\n");
    }

    #[test]
    fn a_response_can_be_made_outside_a_runtime() {
        let sse = Sse::new(futures_util::stream::empty()).keep_alive(Duration::from_secs(1));
        assert_eq!(
            sse.into_response().header("content-type"),
            Some("text/event-stream")
        );
    }

    #[test]
    #[should_panic(expected = "cannot hold a line break")]
    fn an_event_name_with_a_line_break_is_refused() {
        let _ = Event::new().event("a\nb");
    }
}
