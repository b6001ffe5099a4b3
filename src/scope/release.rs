//! Releases: what runs when a request-scoped value's request ends, in order, and what takes
//! over (a spawned task the teardown counts and waits for) when the request's future was
//! dropped before its releases ran.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use super::DependencyTable;
use crate::error::Failure;

/// Runs the release of a value whose last `Dep<T>` outlived its request; counted by the app's
/// teardown when the request's app is known.
pub(super) fn spawn_release(
    name: &'static str,
    release: BoxFuture<'static, Result<(), Failure>>,
    table: Option<&Arc<DependencyTable>>,
) {
    spawn_releases(VecDeque::from([(name, release)]), table);
}

pub(super) type Release = (&'static str, BoxFuture<'static, Result<(), Failure>>);

/// Releases waiting to run, in order. Dropped before they all ran (the request's future was
/// dropped, before or while releasing), it hands the rest, the one under way first, to a
/// spawned task, counted by the app's teardown, which waits for it.
pub(super) struct Releases {
    pub(super) queue: VecDeque<Release>,
    /// The request's app, whose teardown waits for releases left to the background.
    pub(super) table: Option<Arc<DependencyTable>>,
}

impl Releases {
    pub(super) async fn run(&mut self) {
        while let Some((name, release)) = self.queue.front_mut() {
            run_release(name, release).await;
            self.queue.pop_front();
        }
    }
}

impl Drop for Releases {
    fn drop(&mut self) {
        if !self.queue.is_empty() {
            spawn_releases(std::mem::take(&mut self.queue), self.table.as_ref());
        }
    }
}

/// Runs releases in order on a task of their own, for values whose request is gone.
fn spawn_releases(releases: VecDeque<Release>, table: Option<&Arc<DependencyTable>>) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            let counted = table.map(BackgroundRelease::begin);
            let mut releases = Releases {
                queue: releases,
                table: None,
            };
            handle.spawn(async move {
                let _counted = counted;
                releases.run().await;
            });
        }
        Err(_) => {
            for (name, release) in releases {
                tracing::error!(
                    dependency = name,
                    "a request-scoped value was dropped outside a tokio runtime; its release could not run"
                );
                drop(release);
            }
        }
    }
}

async fn run_release(name: &'static str, release: &mut BoxFuture<'static, Result<(), Failure>>) {
    let result = match AssertUnwindSafe(release).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => Err(Failure::from_panic(panic)),
    };
    if let Err(failure) = result {
        tracing::error!(dependency = name, %failure, "the release of a request-scoped dependency failed");
    }
}

/// Counts the releases of cancelled requests that run in the background, so that the
/// teardown can wait for them: a connection goes back to its pool before the pool closes.
#[derive(Debug)]
pub(crate) struct BackgroundReleases {
    running: tokio::sync::watch::Sender<usize>,
}

impl Default for BackgroundReleases {
    fn default() -> Self {
        Self {
            running: tokio::sync::watch::channel(0).0,
        }
    }
}

impl BackgroundReleases {
    /// Resolves once no background release is running.
    pub(crate) async fn finished(&self) {
        let mut running = self.running.subscribe();
        let _ = running.wait_for(|running| *running == 0).await;
    }
}

/// One background release, counted until dropped (finished, panicked or never spawned).
struct BackgroundRelease(Arc<DependencyTable>);

impl BackgroundRelease {
    fn begin(table: &Arc<DependencyTable>) -> Self {
        table
            .background
            .running
            .send_modify(|running| *running += 1);
        Self(Arc::clone(table))
    }
}

impl Drop for BackgroundRelease {
    fn drop(&mut self) {
        self.0
            .background
            .running
            .send_modify(|running| *running -= 1);
    }
}
