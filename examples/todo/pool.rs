//! A fixed set of SQLite connections, shared by the `todo` example and its axum peer
//! (`examples/todo_axum.rs`, which `scripts/load.sh` measures it against).
//!
//! Every method here is quick and never waits on SQLite except [`Pool::open`] and
//! [`Pool::close`], which open and close files: the `todo` example calls those two on tokio's
//! blocking pool (see `conn.rs`). [`Pool::take`] waits for a free connection asynchronously.

use std::sync::Mutex;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::Semaphore;

/// How long a statement waits for a lock that another connection (of this process or another)
/// holds, before it fails with `SQLITE_BUSY`, unless the pool is opened with a timeout of its
/// own. Long enough to ride out ordinary write contention (a SQLite write takes milliseconds),
/// short enough that a client hears back within a couple of seconds when the file stays locked.
pub(crate) const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// Connections to one database; a semaphore counts the idle ones.
pub(crate) struct Pool {
    idle: Mutex<Vec<Connection>>,
    available: Semaphore,
}

impl Pool {
    /// Opens `size` connections to the database at `path` and creates the table, with the
    /// [`DEFAULT_BUSY_TIMEOUT`].
    #[allow(
        dead_code,
        reason = "the axum peer opens its pool with the default; the todo example passes its own"
    )]
    pub(crate) fn open(path: &str, size: usize) -> rusqlite::Result<Self> {
        Self::open_with_busy_timeout(path, size, DEFAULT_BUSY_TIMEOUT)
    }

    /// Opens `size` connections to the database at `path` and creates the table (or adds the
    /// `version` column to a table made before it had one); a statement
    /// on any of them waits at most `busy_timeout` for a lock held elsewhere.
    ///
    /// Blocks on file I/O, and on a lock for up to `busy_timeout`.
    pub(crate) fn open_with_busy_timeout(
        path: &str,
        size: usize,
        busy_timeout: Duration,
    ) -> rusqlite::Result<Self> {
        let mut connections = Vec::with_capacity(size);
        for _ in 0..size.max(1) {
            let connection = Connection::open(path)?;
            connection.busy_timeout(busy_timeout)?;
            connections.push(connection);
        }
        // WAL: readers never wait for the writer, nor the writer for readers; only writers
        // wait for each other (up to the busy timeout).
        connections[0].execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE IF NOT EXISTS todos (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 title TEXT NOT NULL,
                 done INTEGER NOT NULL DEFAULT 0,
                 version INTEGER NOT NULL DEFAULT 1
             );",
        )?;
        // A database made before todos had versions: every todo starts at version 1.
        let versioned = connections[0]
            .prepare("SELECT 1 FROM pragma_table_info('todos') WHERE name = 'version'")?
            .exists([])?;
        if !versioned {
            connections[0].execute_batch(
                "ALTER TABLE todos ADD COLUMN version INTEGER NOT NULL DEFAULT 1;",
            )?;
        }
        Ok(Self {
            available: Semaphore::new(connections.len()),
            idle: Mutex::new(connections),
        })
    }

    /// Waits for an idle connection and takes it out of the pool; `None` once closed.
    pub(crate) async fn take(&self) -> Option<Connection> {
        self.available.acquire().await.ok()?.forget();
        self.lock().pop()
    }

    /// Returns a connection taken with [`Pool::take`].
    pub(crate) fn give_back(&self, connection: Connection) {
        self.lock().push(connection);
        self.available.add_permits(1);
    }

    /// How many connections are idle.
    #[allow(
        dead_code,
        reason = "the todo example's tests read it; its axum peer does not"
    )]
    pub(crate) fn idle(&self) -> usize {
        self.lock().len()
    }

    /// Closes the idle connections and refuses every later `take`; how many it closed.
    ///
    /// Blocks on file I/O: the last connection to close checkpoints the write-ahead log.
    pub(crate) fn close(&self) -> rusqlite::Result<usize> {
        self.available.close();
        let idle = std::mem::take(&mut *self.lock());
        let count = idle.len();
        for connection in idle {
            connection.close().map_err(|(_, error)| error)?;
        }
        Ok(count)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
