//! Streaming response bodies: a [`Response`](super::Response) may carry a stream of chunks
//! (or any body, from a layer) instead of its whole body. The server sends it as it comes;
//! `execute`, the tower adapter and Lambda collect it first.

use std::fmt;
use std::sync::{Arc, Mutex};

use crate::body::Body;

/// Where a response's streaming body waits to be sent. Cloning a streaming response shares
/// its body: whichever clone is sent (or collected) first takes it. Locked once per response,
/// to take it; a response without a stream has none.
#[derive(Clone)]
pub(crate) struct StreamSlot(Arc<Mutex<Option<Body>>>);

impl StreamSlot {
    pub(crate) fn new(body: Body) -> Self {
        Self(Arc::new(Mutex::new(Some(body))))
    }

    /// The body, if no clone took it yet.
    pub(crate) fn take(&self) -> Option<Body> {
        crate::names::lock(&self.0).take()
    }
}

impl fmt::Debug for StreamSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StreamSlot")
    }
}
