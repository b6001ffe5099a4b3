//! [`Body`]: the body of the requests and responses that pass through the app's tower layers
//! ([`App::layer`](crate::App::layer)), and of every response the server sends.
//!
//! It is an [`http_body::Body`] of [`Bytes`] whose errors are [`BoxError`]s: whole in memory,
//! a stream of chunks ([`Response::stream`](crate::Response::stream)), or any other body,
//! boxed. A body in memory reports its exact size ([`http_body::Body::size_hint`]), so the
//! server still sends its `Content-Length` after layers that wrap it.

use std::any::Any;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use futures_util::stream::{BoxStream, Stream, StreamExt};
use http_body::{Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;

use crate::error::BoxError;

/// A stream of body chunks.
pub(crate) type Chunks = BoxStream<'static, Result<Bytes, BoxError>>;

/// The body of a request or a response as tower layers see it: an
/// [`http_body::Body`]`<Data = Bytes, Error = BoxError>`, `Send`, `'static`, and empty by
/// [`Default`].
///
/// Make one from [`Bytes`] (or `String`, `Vec<u8>`, `&'static str`), from any
/// `http_body::Body` with [`Body::new`], or from a stream of chunks with
/// [`Body::from_stream`].
///
/// ```
/// use http_body::Body as _;
/// use roadie::body::Body;
///
/// let body = Body::from("hello");
/// assert_eq!(body.size_hint().exact(), Some(5));
///
/// // Any other body is boxed; a roadie `Body` given to `Body::new` comes back as it was.
/// let wrapped = Body::new(http_body_util::Full::new(roadie::Bytes::from("hi")));
/// assert_eq!(wrapped.size_hint().exact(), Some(2));
/// ```
pub struct Body {
    kind: Kind,
}

enum Kind {
    /// Whole in memory; `None` once sent.
    Full(Option<Bytes>),
    /// A stream of chunks (`Response::stream`).
    Stream(Chunks),
    /// Any other body.
    Boxed(UnsyncBoxBody<Bytes, BoxError>),
}

impl Body {
    /// An empty body.
    pub fn empty() -> Self {
        Self {
            kind: Kind::Full(None),
        }
    }

    /// Wraps any `http_body::Body` whose chunks are [`Buf`]s: boxed, keeping its size hint
    /// and its end. A roadie `Body` is taken back as it is, without boxing.
    pub fn new<B>(body: B) -> Self
    where
        B: http_body::Body + Send + 'static,
        B::Data: Buf,
        B::Error: Into<BoxError>,
    {
        match downcast::<Self, B>(body) {
            Ok(body) => body,
            Err(body) => Self {
                kind: Kind::Boxed(UnsyncBoxBody::new(IntoBytes { body })),
            },
        }
    }

    /// A body made of a stream of chunks, sent as they come. An error from the stream ends
    /// the body there.
    pub fn from_stream<S, B, E>(stream: S) -> Self
    where
        S: Stream<Item = Result<B, E>> + Send + 'static,
        B: Into<Bytes>,
        E: Into<BoxError>,
    {
        Self {
            kind: Kind::Stream(
                stream
                    .map(|chunk| chunk.map(Into::into).map_err(Into::into))
                    .boxed(),
            ),
        }
    }

    /// The whole body, if it is in memory; the body itself otherwise.
    pub(crate) fn into_full(self) -> Result<Bytes, Self> {
        match self.kind {
            Kind::Full(bytes) => Ok(bytes.unwrap_or_default()),
            kind => Err(Self { kind }),
        }
    }
}

/// `value` as a `T`, if it is one: how a roadie body comes back from a layer without boxing.
fn downcast<T: 'static, K: 'static>(value: K) -> Result<T, K> {
    let mut slot = Some(value);
    match (&mut slot as &mut dyn Any).downcast_mut::<Option<T>>() {
        Some(own) => Ok(own.take().expect("the slot was just filled")),
        None => Err(slot.expect("the slot was just filled")),
    }
}

pin_project_lite::pin_project! {
    /// Any body as one of `Bytes` and `BoxError`, keeping its size hint and its end (which
    /// `http_body_util`'s `map_frame` forgets: a mapped frame could change size; this one
    /// cannot).
    struct IntoBytes<B> {
        #[pin]
        body: B,
    }
}

impl<B> http_body::Body for IntoBytes<B>
where
    B: http_body::Body,
    B::Data: Buf,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.project().body.poll_frame(cx).map(|frame| {
            frame.map(|frame| {
                frame
                    .map(|frame| frame.map_data(|mut data| data.copy_to_bytes(data.remaining())))
                    .map_err(Into::into)
            })
        })
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Default for Body {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Full(_) => "Full",
            Kind::Stream(_) => "Stream",
            Kind::Boxed(_) => "Boxed",
        };
        f.debug_tuple("Body").field(&kind).finish()
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Self {
            kind: Kind::Full(Some(bytes)),
        }
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Bytes::from(text).into()
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Self {
        Bytes::from_static(text.as_bytes()).into()
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Bytes::from(bytes).into()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().kind {
            Kind::Full(body) => Poll::Ready(
                body.take()
                    .filter(|body| !body.is_empty())
                    .map(|body| Ok(Frame::data(body))),
            ),
            Kind::Stream(chunks) => chunks
                .poll_next_unpin(cx)
                .map(|chunk| chunk.map(|chunk| chunk.map(Frame::data))),
            Kind::Boxed(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(body) => body.as_ref().is_none_or(Bytes::is_empty),
            Kind::Stream(_) => false,
            Kind::Boxed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(body) => SizeHint::with_exact(body.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Stream(_) => SizeHint::default(),
            Kind::Boxed(body) => body.size_hint(),
        }
    }
}
