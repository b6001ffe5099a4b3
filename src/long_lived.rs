//! Long-lived responses: server-sent event streams and WebSocket tasks, which outlive the
//! request that opened them. One tracker per running app counts them, tells them to end when
//! the app stops, and bounds the wait (DESIGN semantics 10).
//!
//! The sequence, for each open stream or socket:
//! 1. **told to end** when a server's drain begins (or, in-process, when a shutdown is asked
//!    for), with background tasks (`ShutdownTrigger::request_stop`): an SSE stream sends its
//!    final event (if it has one) and ends its body; a WebSocket task sees [`WebSocket::shutdown_requested`](crate::ws::WebSocket::shutdown_requested)
//!    resolve;
//! 2. **closed** when the grace period, counted from that moment, is over (or at once on a
//!    second signal): a socket still open is sent Close `1001` ("going away") by roadie and
//!    its task is dropped;
//! 3. **aborted** [`CLOSE_TIMEOUT`] later, if a task still has not ended.
//!
//! The teardown (lifespans, shutdown hooks, resources) runs only once every one of them has
//! ended: what they held (a `Res<T>` clone, a `Dep<T>`) is released first.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio::time::Instant;

/// How long a socket gets, once the grace period is over, to send its Close frame and end
/// before its task is aborted.
pub(crate) const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// The open long-lived responses of one running app.
pub(crate) struct LongLived {
    /// Set when they are told to end.
    ending: watch::Sender<bool>,
    /// When they were told to end: the grace period counts from there.
    told_at: OnceLock<Instant>,
    /// Set when the grace period is over: close what is still open.
    closing: watch::Sender<bool>,
    /// How many are open.
    open: watch::Sender<usize>,
    /// The socket tasks, to abort those that outlive the close timeout.
    tasks: Mutex<Vec<AbortHandle>>,
}

impl fmt::Debug for LongLived {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LongLived")
            .field("open", &*self.open.borrow())
            .field("ending", &*self.ending.borrow())
            .finish_non_exhaustive()
    }
}

impl Default for LongLived {
    fn default() -> Self {
        Self {
            ending: watch::channel(false).0,
            told_at: OnceLock::new(),
            closing: watch::channel(false).0,
            open: watch::channel(0).0,
            tasks: Mutex::new(Vec::new()),
        }
    }
}

/// One open stream or socket, counted until dropped.
#[derive(Debug)]
pub(crate) struct Open(Arc<LongLived>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.send_modify(|open| *open -= 1);
    }
}

impl LongLived {
    /// Counts one more open stream or socket, until the guard is dropped.
    pub(crate) fn enter(self: &Arc<Self>) -> Open {
        self.open.send_modify(|open| *open += 1);
        Open(Arc::clone(self))
    }

    /// Keeps a socket task's handle, to abort it if it outlives the close timeout.
    pub(crate) fn track(&self, task: AbortHandle) {
        let mut tasks = crate::names::lock(&self.tasks);
        tasks.retain(|task| !task.is_finished());
        tasks.push(task);
    }

    /// Tells every open stream and socket to end; the grace period starts now. Again does
    /// nothing more.
    pub(crate) fn end(&self) {
        let _ = self.told_at.get_or_init(Instant::now);
        self.ending.send_replace(true);
    }

    /// Whether they were told to end.
    pub(crate) fn is_ending(&self) -> bool {
        *self.ending.borrow()
    }

    /// Resolves once they are told to end.
    pub(crate) fn ending(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut ending = self.ending.subscribe();
        async move {
            let _ = ending.wait_for(|ending| *ending).await;
        }
    }

    /// Resolves once the grace period is over and what is still open must close.
    pub(crate) fn closing(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut closing = self.closing.subscribe();
        async move {
            let _ = closing.wait_for(|closing| *closing).await;
        }
    }

    /// Resolves once none is open.
    fn all_ended(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut open = self.open.subscribe();
        async move {
            let _ = open.wait_for(|open| *open == 0).await;
        }
    }

    /// What the teardown waits for: every stream and socket ended. They were told to end
    /// (this tells them, if nothing had); those still open when the grace period is over
    /// (or when `hurry` resolves) are closed, and those still running [`CLOSE_TIMEOUT`] later
    /// are aborted.
    pub(crate) async fn finish(&self, grace: Duration, hurry: impl Future<Output = ()>) {
        self.end();
        if *self.open.borrow() == 0 {
            return;
        }
        let told_at = *self.told_at.get_or_init(Instant::now);
        let ended = tokio::select! {
            () = self.all_ended() => true,
            () = tokio::time::sleep_until(told_at + grace) => false,
            () = hurry => false,
        };
        if ended {
            return;
        }
        tracing::warn!(
            open = *self.open.borrow(),
            "the grace period is over: closing the streams and sockets still open"
        );
        self.closing.send_replace(true);
        if tokio::time::timeout(CLOSE_TIMEOUT, self.all_ended())
            .await
            .is_ok()
        {
            return;
        }
        let tasks = std::mem::take(&mut *crate::names::lock(&self.tasks));
        tracing::warn!(
            open = *self.open.borrow(),
            "sockets did not close in time: aborting their tasks"
        );
        for task in tasks {
            task.abort();
        }
        // An aborted task ends at its next await; a stream nobody polls is dropped with its
        // connection, which the server has cut by now.
        if tokio::time::timeout(CLOSE_TIMEOUT, self.all_ended())
            .await
            .is_err()
        {
            tracing::error!(
                open = *self.open.borrow(),
                "streams or sockets still hold what they took; tearing down all the same"
            );
        }
    }
}

/// Where a long-lived response body learns of its app: put in the response's extensions
/// when it is made (it knows no app then), filled by the edge ([`attach`]) once the response
/// leaves its handler, and read by the body when it is first polled.
#[derive(Clone, Default)]
pub(crate) struct Attach(Arc<Mutex<Option<Attached>>>);

struct Attached {
    long_lived: Arc<LongLived>,
    _open: Open,
}

impl fmt::Debug for Attach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Attach")
    }
}

impl Attach {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Attached>> {
        crate::names::lock(&self.0)
    }

    /// The app's tracker, once the response was attached to it.
    pub(crate) fn long_lived(&self) -> Option<Arc<LongLived>> {
        self.slot()
            .as_ref()
            .map(|attached| Arc::clone(&attached.long_lived))
    }

    /// The body has ended (and dropped what it held): it no longer counts as open.
    pub(crate) fn release(&self) {
        let attached = self.slot().take();
        drop(attached);
    }
}

/// Counts a long-lived response (an SSE stream) among its app's, if it is one.
pub(crate) fn attach(response: &mut crate::Response, trigger: &crate::shutdown::ShutdownTrigger) {
    if let Some(attach) = response.extensions_mut().remove::<Attach>() {
        let long_lived = Arc::clone(trigger.long_lived());
        let open = long_lived.enter();
        *attach.slot() = Some(Attached {
            long_lived,
            _open: open,
        });
    }
}

/// What a connection holds that a socket upgraded from it takes over: its place under the
/// server's connection cap. Put in the extensions of a request that asks for an upgrade; the
/// connection keeps it until it ends, unless a WebSocket task took it, which then keeps it as
/// long as it runs.
#[derive(Clone)]
pub(crate) struct Handover(Arc<Mutex<Option<Box<dyn std::any::Any + Send>>>>);

impl fmt::Debug for Handover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Handover")
    }
}

impl Handover {
    pub(crate) fn new(held: Option<Box<dyn std::any::Any + Send>>) -> Self {
        Self(Arc::new(Mutex::new(held)))
    }

    /// Takes what the connection held over.
    pub(crate) fn take(&self) -> Option<Box<dyn std::any::Any + Send>> {
        crate::names::lock(&self.0).take()
    }
}
