//! The connection a request holds, and how its queries run without holding up the runtime.
//!
//! rusqlite is a blocking API: a statement can wait on the disk, and on a lock held by another
//! connection for up to the pool's busy timeout. Run on a runtime thread, that wait stops every
//! other task of that thread, `/ready` included. So every query runs on tokio's blocking pool
//! ([`tokio::task::spawn_blocking`]) and the request's task waits for its answer
//! asynchronously. The pool's size bounds how many blocking threads the database occupies.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, ErrorCode};
use tokio::task::JoinError;

/// One connection, lent to one request by the `connection` dependency.
///
/// Its queries run on the blocking pool, which needs a `'static` handle to the connection: the
/// connection sits behind an `Arc` shared with the query under way, if one is. The mutex is
/// only ever locked on the blocking pool, never on a runtime thread.
pub(crate) struct Conn {
    /// `None` once taken back out for the pool ([`Conn::into_connection`]).
    shared: Arc<Mutex<Option<Connection>>>,
}

impl Conn {
    /// Lends `connection`, taken from the pool, to one request.
    pub(crate) fn new(connection: Connection) -> Self {
        Self {
            shared: Arc::new(Mutex::new(Some(connection))),
        }
    }

    /// Runs `query` on this connection on the blocking pool and waits for its answer.
    ///
    /// If the request is cancelled meanwhile, a query that has started still runs to its end
    /// (blocking work cannot be interrupted), and the connection goes back to the pool once it
    /// has finished; one that had not started by then never runs.
    pub(crate) async fn run<T, F>(&self, query: F) -> Result<T, DbError>
    where
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        blocking(move || match &*lock(&shared) {
            Some(connection) => Ok(query(connection)?),
            // The request ended before this query started; the connection is back in the
            // pool, and the query does not run.
            None => Err(DbError::Abandoned),
        })
        .await
    }

    /// Takes the connection out, to give it back to the pool.
    ///
    /// Without a query under way, which is the rule once a request has ended, this waits for
    /// nothing. Otherwise (the request was cancelled mid-query) it waits, on the blocking pool,
    /// for that query to finish. `None` only if the runtime shut down meanwhile.
    pub(crate) async fn into_connection(self) -> Option<Connection> {
        match Arc::try_unwrap(self.shared) {
            Ok(mutex) => mutex.into_inner().unwrap_or_else(PoisonError::into_inner),
            Err(shared) => tokio::task::spawn_blocking(move || lock(&shared).take())
                .await
                .ok()
                .flatten(),
        }
    }
}

/// Runs blocking database `work` on the blocking pool and waits for it asynchronously: the
/// queries of [`Conn::run`], and opening and closing the pool.
pub(crate) async fn blocking<T, F>(work: F) -> Result<T, DbError>
where
    F: FnOnce() -> Result<T, DbError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(DbError::Interrupted)?
}

/// Locks the connection. Only called on the blocking pool, where waiting is allowed. A query
/// that panicked poisons the mutex but leaves a usable connection: rusqlite resets a statement
/// when it is dropped, unwinding included.
fn lock(shared: &Mutex<Option<Connection>>) -> MutexGuard<'_, Option<Connection>> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why a query gave no answer. The routes turn it into a response (`todos::ApiError`).
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    /// Another connection, of this process or another, held a lock past the busy timeout.
    #[error("the database stayed locked past the busy timeout: {0}")]
    Busy(rusqlite::Error),
    /// The query failed for any other reason.
    #[error("a query failed: {0}")]
    Failed(rusqlite::Error),
    /// The query panicked, or the runtime shut down before it ran.
    #[error("a query did not finish: {0}")]
    Interrupted(JoinError),
    /// The query's request ended before the query started, so it never ran.
    #[error("a query was abandoned: its request ended before it started")]
    Abandoned,
}

impl From<rusqlite::Error> for DbError {
    fn from(error: rusqlite::Error) -> Self {
        match error.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Self::Busy(error),
            _ => Self::Failed(error),
        }
    }
}
