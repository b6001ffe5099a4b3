//! Helpers shared by the lifecycle tests: an event log and values that log when dropped.

#![allow(dead_code, unreachable_pub)]

use std::fmt;
use std::sync::{Arc, Mutex};

/// What happened, in order, shared by every node of a test.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&self, entry: impl Into<String>) {
        self.0.lock().unwrap().push(entry.into());
    }

    /// Everything logged so far, leaving the log empty.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// Everything logged so far.
    pub fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// A value that logs `drop <name>` when dropped.
    pub fn tracked(&self, name: &str) -> Tracked {
        Tracked {
            log: self.clone(),
            name: name.to_owned(),
        }
    }
}

/// Logs `drop <name>` when dropped.
pub struct Tracked {
    log: Log,
    name: String,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.log.push(format!("drop {}", self.name));
    }
}

macro_rules! resources {
    ($($name:ident),*) => {$(
        /// A resource type of its own, holding a value that logs its drop.
        pub struct $name(pub Tracked);
    )*};
}
resources!(A, B, C, D, E, F);

/// An error with a cause, to check that cause chains are kept.
#[derive(Debug)]
pub struct Failed {
    pub what: &'static str,
    pub cause: Option<Cause>,
}

impl Failed {
    pub fn new(what: &'static str) -> Self {
        Self { what, cause: None }
    }

    pub fn caused_by(what: &'static str, cause: &'static str) -> Self {
        Self {
            what,
            cause: Some(Cause(cause)),
        }
    }
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)
    }
}

impl std::error::Error for Failed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.as_ref().map(|c| c as _)
    }
}

/// The cause of a [`Failed`].
#[derive(Debug)]
pub struct Cause(pub &'static str);

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Cause {}
