//! Accepting and draining: connections up to the cap, quiet back-off when descriptors run
//! out, and the drain sequence from the stop signal to the teardown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::connection::{self, Phase, Protocols};
use super::{Stop, Triggers};
use crate::error::Error;
use crate::lifecycle::Running;

/// What keeps a connection counted while it is open: its place under the connection cap.
type Slot = tokio::sync::OwnedSemaphorePermit;

/// Accepts until shutdown, drains, cuts, and tears down.
///
/// The drain, in order: the readiness route turns `503` and HTTP/1.1 responses carry
/// `Connection: close`, while the server still accepts and serves for the drain delay; then it
/// accepts what is already waiting in the backlog and stops accepting; connections finish
/// their requests and close (HTTP/2 with GOAWAY, an idle HTTP/1.1 connection between requests,
/// a connection accepted last after its first request) within the grace period; then what is
/// still open is cut, and the teardown runs.
pub(super) async fn serve(
    listener: TcpListener,
    running: Running,
    triggers: &mut Triggers,
) -> Result<(), Error> {
    let attachment = running.attach_server();
    let mut acceptor = Acceptor {
        protocols: connection::protocols(),
        phase: watch::channel(Phase::Serving).0,
        connections: JoinSet::new(),
        slots: Arc::new(tokio::sync::Semaphore::new(
            running
                .settings()
                .max_connections
                .unwrap_or_else(default_max_connections)
                .min(tokio::sync::Semaphore::MAX_PERMITS),
        )),
        running: running.clone(),
        backoff: Backoff::default(),
    };
    tracing::info!("serving");

    // Serve until a stop is asked for: by a signal or a handle (a deploy: drain with the
    // delay), or by the app itself through a `Shutdown` handle (it stops at once).
    let requested = running.shutdown_requested();
    tokio::pin!(requested);
    let deploy = tokio::select! {
        biased;
        () = triggers.reached(Stop::Graceful) => true,
        () = &mut requested => false,
        () = acceptor.accept_forever(&listener) => unreachable!("accepting never ends by itself"),
    };

    running.begin_drain();
    acceptor.phase.send_replace(Phase::Draining);
    let delay = running.settings().drain_delay;
    if deploy && !delay.is_zero() {
        tracing::info!(
            delay_ms = delay.as_millis() as u64,
            "draining: not ready, still serving until the delay ends"
        );
        tokio::select! {
            biased;
            () = triggers.reached(Stop::Now) => running.skip_grace(),
            () = tokio::time::sleep(delay) => {}
            () = acceptor.accept_forever(&listener) => unreachable!("accepting never ends by itself"),
        }
    }
    // Connections the kernel completed before now were asked for by clients that already
    // sent, or are sending, a request: accept them rather than reset them with the listener.
    acceptor.accept_backlog(listener);
    let Acceptor {
        phase,
        mut connections,
        ..
    } = acceptor;
    tracing::info!(
        connections = connections.len(),
        "stopped accepting; draining"
    );
    phase.send_replace(Phase::Closing);

    // Drain: connections finish their requests and close, still served (each response
    // closing its connection); the grace period or a second signal cuts the rest. An app that
    // stopped itself keeps its grace period in the lifecycle.
    let grace = running.settings().grace_period;
    let cut = running.cut_requested();
    let drained = tokio::select! {
        () = async { while connections.join_next().await.is_some() {} } => true,
        () = tokio::time::sleep(grace) => false,
        () = cut => false,
        () = triggers.reached(Stop::Now) => false,
    };
    if !drained {
        tracing::warn!("the grace period is over: cutting the connections still open");
        running.skip_grace();
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
    drop(attachment);

    running.trigger_shutdown();
    running.shutdown().await.map_err(Error::from)
}

/// Accepts connections, up to the cap, and serves each on a task of its own.
struct Acceptor {
    protocols: Arc<Protocols>,
    /// Where the drain is: each connection closes between requests as it says.
    phase: watch::Sender<Phase>,
    connections: JoinSet<()>,
    /// One permit per open connection: at the cap, accepting waits for one to close.
    slots: Arc<tokio::sync::Semaphore>,
    running: Running,
    backoff: Backoff,
}

impl Acceptor {
    /// Accepts and serves until dropped (cancelled by the caller's `select!`).
    async fn accept_forever(&mut self, listener: &TcpListener) {
        loop {
            // Reap finished connections as they end, so the set does not grow.
            while self.connections.try_join_next().is_some() {}
            let slot = tokio::select! {
                slot = Arc::clone(&self.slots).acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => return std::future::pending().await,
                },
                Some(_) = self.connections.join_next(), if !self.connections.is_empty() => continue,
            };
            match listener.accept().await {
                Ok((stream, peer)) => {
                    self.backoff.reset();
                    self.spawn(stream, peer, Some(slot));
                }
                Err(error) => self.backoff.failed(&error).await,
            }
        }
    }

    /// Accepts the connections waiting in the listener's backlog, then closes it.
    fn accept_backlog(&mut self, listener: TcpListener) {
        let Ok(listener) = listener.into_std() else {
            return;
        };
        while let Ok((stream, peer)) = listener.accept() {
            let stream = stream
                .set_nonblocking(true)
                .and_then(|()| tokio::net::TcpStream::from_std(stream));
            match stream {
                // Past the cap, these few are served all the same: they are already here.
                Ok(stream) => {
                    let slot = Arc::clone(&self.slots).try_acquire_owned().ok();
                    self.spawn(stream, peer, slot);
                }
                Err(error) => tracing::debug!(%peer, %error, "could not take over a connection"),
            }
        }
    }

    fn spawn(&mut self, stream: tokio::net::TcpStream, peer: SocketAddr, slot: Option<Slot>) {
        let connection = connection::serve(
            &self.protocols,
            stream,
            peer,
            self.running.clone(),
            self.phase.subscribe(),
            // Held by the connection, or by a WebSocket upgraded from it.
            crate::long_lived::Handover::new(slot.map(|slot| Box::new(slot) as Box<_>)),
        );
        self.connections.spawn(connection);
    }
}

/// The connection cap when the app sets none: 4,096, or 64 below the soft limit on open files
/// where that is lower (read from `/proc/self/limits` on Linux), leaving descriptors for the
/// app's own files and sockets.
fn default_max_connections() -> usize {
    cap_for_limits(&std::fs::read_to_string("/proc/self/limits").unwrap_or_default())
}

/// The default cap for the text of `/proc/self/limits` (empty where there is none).
fn cap_for_limits(limits: &str) -> usize {
    const DEFAULT: usize = 4096;
    let soft_limit = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|soft| soft.parse::<usize>().ok());
    match soft_limit {
        Some(limit) => DEFAULT.min(limit.saturating_sub(64).max(1)),
        None => DEFAULT,
    }
}

/// Accept failures, logged without flooding: file descriptors running out (`EMFILE`,
/// `ENFILE`) back off, from 10 ms doubling to 1 s, and are logged once a second at most.
#[derive(Default)]
struct Backoff {
    delay: Option<Duration>,
    last_warning: Option<tokio::time::Instant>,
    quiet: u64,
}

impl Backoff {
    fn reset(&mut self) {
        self.delay = None;
    }

    async fn failed(&mut self, error: &std::io::Error) {
        // ENFILE (23) and EMFILE (24): the process or the system is out of descriptors.
        let exhausted = matches!(error.raw_os_error(), Some(23 | 24));
        if !exhausted {
            // A connection reset before it was accepted, and the like: this one only.
            tracing::debug!(%error, "accept failed");
            return;
        }
        let now = tokio::time::Instant::now();
        if self
            .last_warning
            .is_none_or(|last| now - last >= Duration::from_secs(1))
        {
            tracing::warn!(
                %error,
                suppressed = self.quiet,
                "accept failed: out of file descriptors; backing off (lower `App::max_connections` below the descriptor limit)"
            );
            self.last_warning = Some(now);
            self.quiet = 0;
        } else {
            self.quiet += 1;
        }
        let delay = self.delay.map_or(Duration::from_millis(10), |delay| {
            (delay * 2).min(Duration::from_secs(1))
        });
        self.delay = Some(delay);
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::cap_for_limits;

    #[test]
    fn the_default_cap_stays_below_the_open_files_limit() {
        let limits = |soft: &str| {
            format!(
                "Limit                     Soft Limit           Hard Limit           Units\n\
                 Max processes             63704                63704                processes\n\
                 Max open files            {soft}                 4096                 files\n"
            )
        };
        assert_eq!(cap_for_limits(&limits("256")), 192);
        assert_eq!(cap_for_limits(&limits("20000")), 4096);
        assert_eq!(cap_for_limits(&limits("unlimited")), 4096);
        assert_eq!(cap_for_limits(&limits("10")), 1);
        assert_eq!(cap_for_limits(""), 4096);
    }
}
