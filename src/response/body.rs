//! Streaming response bodies: a [`Response`](super::Response) may carry a stream of chunks
//! instead of its whole body. The server sends it chunk by chunk as it comes; `execute`, the
//! tower adapter and Lambda collect it first.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::stream::{BoxStream, Stream, StreamExt};
use http_body::{Body, Frame, SizeHint};

use crate::error::BoxError;

/// A stream of body chunks.
pub(crate) type Chunks = BoxStream<'static, Result<Bytes, BoxError>>;

/// Where a response's stream waits to be sent. Cloning a streaming response shares its
/// stream: whichever clone is sent (or collected) first takes it. Locked once per response,
/// to take it; a response without a stream has none.
#[derive(Clone)]
pub(crate) struct StreamSlot(Arc<Mutex<Option<Chunks>>>);

impl StreamSlot {
    pub(crate) fn new<S, B, E>(stream: S) -> Self
    where
        S: Stream<Item = Result<B, E>> + Send + 'static,
        B: Into<Bytes>,
        E: Into<BoxError>,
    {
        let chunks: Chunks = stream
            .map(|chunk| chunk.map(Into::into).map_err(Into::into))
            .boxed();
        Self(Arc::new(Mutex::new(Some(chunks))))
    }

    /// The stream, if no clone took it yet.
    pub(crate) fn take(&self) -> Option<Chunks> {
        match self.0.lock() {
            Ok(mut slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        }
    }
}

impl fmt::Debug for StreamSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StreamSlot")
    }
}

/// The body the server sends: whole, or streamed chunk by chunk.
pub(crate) enum ResponseBody {
    Full(Option<Bytes>),
    Stream(Chunks),
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Full(body) => Poll::Ready(body.take().map(|body| Ok(Frame::data(body)))),
            Self::Stream(chunks) => chunks
                .poll_next_unpin(cx)
                .map(|chunk| chunk.map(|chunk| chunk.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(body) => body.as_ref().is_none_or(Bytes::is_empty),
            Self::Stream(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(body) => SizeHint::with_exact(body.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Stream(_) => SizeHint::default(),
        }
    }
}
