//! Registering background tasks: [`App::background`], [`App::every`], and their
//! [`App::restart`] setting. What runs them is in [`crate::background`].

use std::time::Duration;

use super::App;
use crate::background::{Backoff, IntoBackground};
use crate::blueprint::Body;
use crate::error::Problem;

impl App {
    /// Registers a background task: an async function or closure of extractors that live
    /// outside any request ([`Res<T>`](crate::Res), `Option<Res<T>>`,
    /// [`Shutdown`](crate::Shutdown)), returning `()` or `Result<(), E>`, that runs for as long
    /// as the app runs.
    ///
    /// Tasks start once every provider and lifespan is up, before [`App::start`] returns, in
    /// registration order. At shutdown they are told to stop first
    /// (`shutdown.requested().await` resolves) and awaited within their timeout
    /// ([`App::timeout`] after this call, else the app's shutdown timeout), before any
    /// lifespan tears down or shutdown hook runs; one still running after its timeout is
    /// cancelled and reported. A task that returns `Err` or panics stops the app, and its
    /// failure is the shutdown's [`cause`](crate::ShutdownError::cause) (so `serve` returns
    /// `Err`), unless [`App::restart`] follows it. One that returns `Ok(())` just ends.
    ///
    /// ```
    /// use roadie::prelude::*;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::time::Duration;
    ///
    /// #[derive(Default)]
    /// struct Cache { refreshed: AtomicU64 }
    ///
    /// async fn refresh_cache(cache: Res<Cache>, shutdown: Shutdown) -> Result<(), std::io::Error> {
    ///     loop {
    ///         cache.refreshed.fetch_add(1, Ordering::Relaxed);
    ///         tokio::select! {
    ///             _ = shutdown.requested() => return Ok(()),
    ///             _ = tokio::time::sleep(Duration::from_secs(60)) => {}
    ///         }
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app = App::new()
    ///     .on_startup(|| Ok::<_, std::convert::Infallible>(Cache::default()))
    ///     .background(refresh_cache)
    ///     .timeout(Duration::from_secs(5));   // how long the stop may wait for it
    /// let running = app.start().await.unwrap();
    /// tokio::task::yield_now().await;
    /// assert_eq!(running.resource::<Cache>().unwrap().refreshed.load(Ordering::Relaxed), 1);
    /// running.shutdown().await.unwrap();
    /// # }
    /// ```
    pub fn background<M>(self, task: impl IntoBackground<M>) -> Self {
        self.push(task.into_node())
    }

    /// Registers a periodic task: `task` (like [`App::background`]'s) runs at once, then
    /// every `period`, until shutdown.
    ///
    /// A run never overlaps itself: the next tick waits for the run to finish. Missed ticks
    /// do not pile up: a run that takes longer than `period` is followed by one run at once
    /// (not one per tick it missed), and the schedule goes on `period` after that. At shutdown no new run begins, and a run in progress is awaited within
    /// the task's timeout, as for [`App::background`]. A run that fails stops the app, unless
    /// [`App::restart`] follows: then the failure is logged, and the next run waits for the
    /// backoff delay, then for the next tick.
    ///
    /// ```
    /// use roadie::prelude::*;
    /// use std::time::Duration;
    ///
    /// struct Sessions;
    /// impl Sessions { async fn purge_expired(&self) {} }
    ///
    /// let app = App::new()
    ///     .on_startup(|| Ok::<_, std::convert::Infallible>(Sessions))
    ///     .every(Duration::from_secs(60), |sessions: Res<Sessions>| async move {
    ///         sessions.purge_expired().await;
    ///     });
    /// # let _ = app;
    /// ```
    ///
    /// # Panics
    /// If `period` is zero.
    #[track_caller]
    pub fn every<M>(self, period: Duration, task: impl IntoBackground<M>) -> Self {
        assert!(!period.is_zero(), "`App::every` takes a period above zero");
        let mut registration = task.into_node();
        if let Body::Background(spec) = &mut registration.body {
            spec.period = Some(period);
        }
        registration.name = format!("{} (every {period:?})", registration.name);
        self.push(registration)
    }

    /// Restarts the background task registered just before (with [`App::background`] or
    /// [`App::every`]) when it fails, instead of stopping the app: each failure is logged,
    /// and the task runs again after the [`Backoff`] delay, which doubles after each failure
    /// in a row up to its cap. Shutdown ends a delay early.
    ///
    /// After anything but a background task it is a validation problem.
    ///
    /// ```
    /// use roadie::prelude::*;
    /// use std::time::Duration;
    ///
    /// async fn follow_feed(shutdown: Shutdown) -> Result<(), std::io::Error> {
    ///     shutdown.requested().await;
    ///     Ok(())
    /// }
    ///
    /// let app = App::new()
    ///     .background(follow_feed)
    ///     .restart(Backoff::exponential(Duration::from_millis(100), Duration::from_secs(30)));
    /// assert!(app.validate().is_ok());
    /// ```
    ///
    /// # Panics
    /// If nothing was registered yet.
    #[track_caller]
    pub fn restart(mut self, backoff: Backoff) -> Self {
        let Some(last) = self.last_mut("`App::restart` applies to") else {
            return self;
        };
        if let Body::Background(spec) = &mut last.body {
            spec.restart = Some(backoff);
            return self;
        }
        let problem = Problem::Setting {
            node: last.name.clone(),
            setting: "App::restart",
            why: format!(
                "a restart policy applies to background tasks, and this is a {}; call \
                 `.restart(..)` right after `.background(..)` or `.every(..)`",
                last.kind.label()
            ),
        };
        self.blueprint_mut().problems.push(problem);
        self
    }
}
