//! A fixed set of SQLite connections, shared by the `todo` example and its axum peer
//! (`examples/todo_axum.rs`, which `scripts/load.sh` measures it against).

use std::sync::Mutex;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::Semaphore;

/// Connections to one database; a semaphore counts the idle ones.
pub(crate) struct Pool {
    idle: Mutex<Vec<Connection>>,
    available: Semaphore,
}

impl Pool {
    /// Opens `size` connections to the database at `path` and creates the table.
    pub(crate) fn open(path: &str, size: usize) -> rusqlite::Result<Self> {
        let mut connections = Vec::with_capacity(size);
        for _ in 0..size.max(1) {
            let connection = Connection::open(path)?;
            connection.busy_timeout(Duration::from_secs(5))?;
            connections.push(connection);
        }
        connections[0].execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE IF NOT EXISTS todos (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 title TEXT NOT NULL,
                 done INTEGER NOT NULL DEFAULT 0
             );",
        )?;
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
