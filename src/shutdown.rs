//! The shutdown signal: one flag per running app, set once when stopping is asked for, and
//! awaited by everything that must stop with the app.
//!
//! It sits below the lifecycle engine and the extractors alike: a [`Shutdown`](crate::Shutdown)
//! handle (an extractor) sets it, and the engine waits on it.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::watch;

use crate::long_lived::LongLived;

/// Asks a running app to shut down; shared by every [`Shutdown`](crate::Shutdown) handle.
///
/// It has three levels, which only go up: running; **stop requested** (a server began its
/// drain: long-lived work, background tasks and streams, should end now, while requests are
/// still served); **triggered** (the app stops: in-process, this starts its shutdown).
#[derive(Clone)]
pub(crate) struct ShutdownTrigger {
    /// One `Arc` for both, so that a clone (one per request that goes through middleware)
    /// costs one count.
    inner: Arc<Inner>,
}

struct Inner {
    sender: watch::Sender<u8>,
    /// The app's open SSE streams and WebSocket tasks ([`crate::long_lived`]).
    long_lived: Arc<LongLived>,
}

const REQUESTED: u8 = 1;
const TRIGGERED: u8 = 2;

impl fmt::Debug for ShutdownTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownTrigger")
            .field("requested", &self.is_requested())
            .field("triggered", &self.is_triggered())
            .finish()
    }
}

impl ShutdownTrigger {
    pub(crate) fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                sender: watch::channel(0).0,
                long_lived: Arc::default(),
            }),
        }
    }

    /// Raises the level to `level`, never lowers it.
    fn raise(&self, level: u8) {
        self.inner.sender.send_if_modified(|current| {
            let raised = *current < level;
            if raised {
                *current = level;
            }
            raised
        });
    }

    /// Asks for the shutdown; asking again does nothing more.
    pub(crate) fn trigger(&self) {
        self.raise(TRIGGERED);
        self.inner.long_lived.end();
    }

    /// The app's open SSE streams and WebSocket tasks.
    pub(crate) fn long_lived(&self) -> &Arc<LongLived> {
        &self.inner.long_lived
    }

    /// Tells long-lived work to end, without stopping the app yet: a server's drain began.
    pub(crate) fn request_stop(&self) {
        self.raise(REQUESTED);
        self.inner.long_lived.end();
    }

    /// Whether the app stops.
    pub(crate) fn is_triggered(&self) -> bool {
        *self.inner.sender.borrow() >= TRIGGERED
    }

    /// Whether long-lived work was told to end (a drain began, or the app stops).
    pub(crate) fn is_requested(&self) -> bool {
        *self.inner.sender.borrow() >= REQUESTED
    }

    /// Resolves once a shutdown was asked for.
    pub(crate) fn triggered(&self) -> impl Future<Output = ()> + Send + 'static {
        self.reached(TRIGGERED)
    }

    /// Resolves once long-lived work is told to end: a drain began, or the app stops.
    pub(crate) fn requested(&self) -> impl Future<Output = ()> + Send + 'static {
        self.reached(REQUESTED)
    }

    fn reached(&self, level: u8) -> impl Future<Output = ()> + Send + 'static {
        let mut receiver = self.inner.sender.subscribe();
        async move {
            let _ = receiver.wait_for(|current| *current >= level).await;
        }
    }
}
