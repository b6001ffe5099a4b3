//! The entry points of an [`App`]: validate it, start it, and answer requests with the
//! instance that [`App::execute`] starts on first use.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures_util::future::Either;
use tokio::sync::OnceCell;

use super::App;
use crate::blueprint::Blueprint;
use crate::edge;
use crate::error::{ShutdownError, StartupError};
use crate::lifecycle::{self, LifecycleState, Running};
use crate::request::Request;
use crate::response::Response;
use crate::validate;

/// The instance that [`App::execute`] starts on first use.
#[derive(Default)]
pub(super) struct Lazy {
    started: OnceCell<Result<Running, StartupError>>,
    /// Set when the first start begins, so that [`App::state`] can tell `Starting`.
    starting: AtomicBool,
}

impl Lazy {
    /// The started instance, starting it if no call did yet (exactly once).
    async fn get_or_start(&self, blueprint: Arc<Blueprint>) -> &Result<Running, StartupError> {
        self.started
            .get_or_init(|| {
                self.starting.store(true, Ordering::Release);
                lifecycle::start(blueprint)
            })
            .await
    }
}

impl App {
    /// Validates the app without running anything, and returns the names of the startup
    /// nodes in the order they would start.
    pub fn startup_order(&self) -> Result<Vec<String>, StartupError> {
        let checked = validate::check(&self.blueprint)?;
        Ok(checked
            .plan
            .startup
            .iter()
            .map(|&i| self.blueprint.registrations[i].name.clone())
            .collect())
    }

    /// Validates the app without running anything.
    pub fn validate(&self) -> Result<(), StartupError> {
        validate::check(&self.blueprint)
            .map(drop)
            .map_err(StartupError::Invalid)
    }

    /// The graph as Graphviz DOT: every node, and an edge for each type one hands another.
    pub fn to_dot(&self) -> String {
        validate::to_dot(&self.blueprint.registrations)
    }

    /// Validates the graph, then runs startup providers and lifespans in order.
    ///
    /// On failure (a validation problem, or a node's error, panic or timeout), everything
    /// that had started is torn down in reverse before the error is returned. Each call
    /// starts a new, independent instance.
    pub fn start(&self) -> impl Future<Output = Result<Running, StartupError>> + Send + 'static {
        lifecycle::start(Arc::clone(&self.blueprint))
    }

    /// Answers one request in-process, with no socket: the app starts on first use, exactly
    /// once even under concurrent first calls. If that start fails, every call answers `503`
    /// and the error is logged; [`App::start`] returns the error itself.
    pub fn execute(
        &self,
        request: impl Into<Request>,
    ) -> impl Future<Output = Response> + Send + 'static {
        let request = request.into();
        // Once started, the request goes straight to the instance's edge: no handles of the
        // app to clone and no future around the edge's.
        if let Some(Ok(running)) = self.lazy.started.get() {
            return Either::Left(running.execute(request));
        }
        let blueprint = Arc::clone(&self.blueprint);
        let lazy = Arc::clone(&self.lazy);
        Either::Right(async move {
            // Once started, skip `get_or_init`: its future holds the whole start future, and
            // copying that around costs every request. The first calls box it instead.
            let started = match lazy.started.get() {
                Some(started) => started,
                None => Box::pin(lazy.get_or_start(blueprint)).await,
            };
            match started {
                Ok(running) => edge::answer_in_process(running, request.inner).await,
                Err(error) => {
                    tracing::error!(%error, "request refused: the app failed to start");
                    edge::startup_failed()
                }
            }
        })
    }

    /// The instance that [`App::execute`] started, starting it if needed.
    pub fn running(&self) -> impl Future<Output = Result<Running, StartupError>> + Send + 'static {
        let blueprint = Arc::clone(&self.blueprint);
        let lazy = Arc::clone(&self.lazy);
        async move { lazy.get_or_start(blueprint).await.clone() }
    }

    /// Where the instance that [`App::execute`] starts is in its life: `Created` before the
    /// first call, `Starting` while it starts, `Failed` if its start failed, then `Running`,
    /// `Stopping` and `Stopped` as [`Running::state`] tells them.
    ///
    /// ```
    /// use roadie::{App, LifecycleState, Request};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app = App::new().get("/", || async { "hi" });
    /// assert_eq!(app.state(), LifecycleState::Created);
    /// app.execute(Request::get("/")).await;
    /// assert_eq!(app.state(), LifecycleState::Running);
    /// app.shutdown().await.unwrap();
    /// assert_eq!(app.state(), LifecycleState::Stopped);
    /// # }
    /// ```
    pub fn state(&self) -> LifecycleState {
        match self.lazy.started.get() {
            Some(Ok(running)) => running.state(),
            Some(Err(_)) => LifecycleState::Failed,
            None if self.lazy.starting.load(Ordering::Acquire) => LifecycleState::Starting,
            None => LifecycleState::Created,
        }
    }

    /// Shuts down the instance that [`App::execute`] started, if it started.
    pub fn shutdown(&self) -> impl Future<Output = Result<(), ShutdownError>> + Send + 'static {
        let lazy = Arc::clone(&self.lazy);
        async move {
            match lazy.started.get() {
                Some(Ok(running)) => running.shutdown().await,
                _ => Ok(()),
            }
        }
    }
}
