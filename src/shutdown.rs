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
#[derive(Clone)]
pub(crate) struct ShutdownTrigger {
    sender: Arc<watch::Sender<bool>>,
    /// The app's open SSE streams and WebSocket tasks ([`crate::long_lived`]).
    long_lived: Arc<LongLived>,
}

impl fmt::Debug for ShutdownTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownTrigger")
            .field("triggered", &self.is_triggered())
            .finish()
    }
}

impl ShutdownTrigger {
    pub(crate) fn new() -> Self {
        Self {
            sender: Arc::new(watch::channel(false).0),
            long_lived: Arc::default(),
        }
    }

    /// Asks for the shutdown; asking again does nothing more.
    pub(crate) fn trigger(&self) {
        self.sender.send_replace(true);
        self.long_lived.end();
    }

    /// The app's open SSE streams and WebSocket tasks.
    pub(crate) fn long_lived(&self) -> &Arc<LongLived> {
        &self.long_lived
    }

    pub(crate) fn is_triggered(&self) -> bool {
        *self.sender.borrow()
    }

    /// Resolves once a shutdown was asked for.
    pub(crate) fn triggered(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut receiver = self.sender.subscribe();
        async move {
            let _ = receiver.wait_for(|triggered| *triggered).await;
        }
    }
}
