//! Stopping: the drain of requests in flight within the grace period, then background tasks
//! awaited within their timeouts, then lifespans' teardown in reverse start order, shutdown hooks in registration order, and resources
//! dropped in reverse start order.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument;

use super::{
    elapsed_ms, join_failure, with_timeout, LifecycleState, Live, Shared, StartedLifespan, Teardown,
};
use crate::blueprint::{Body, Registration, Settings};
use crate::container::Container;
use crate::error::{Failure, NodeError, ShutdownError, Stage};
use crate::extract::{Lender, NeedKind, Prepare};
use crate::shutdown::ShutdownTrigger;

/// The resources as the teardown sees them.
pub(super) enum TeardownResources {
    /// The container, no longer shared with requests: lifespans' teardowns may take their
    /// values back owned.
    Owned(Lender),
    /// The app's state, still shared (something outlived the drain): values stay shared.
    Shared(Arc<Live>),
}

impl TeardownResources {
    fn lender(&self) -> Option<Lender> {
        match self {
            Self::Owned(lender) => Some(lender.clone()),
            Self::Shared(_) => None,
        }
    }

    fn with<R>(&self, read: impl FnOnce(&Container) -> R) -> R {
        match self {
            Self::Owned(lender) => lender.with(read),
            Self::Shared(live) => read(&live.container),
        }
    }

    /// Drops the resources, last started first, if the teardown owns them; else they go
    /// when their last holder ends.
    pub(super) fn drop_in_reverse(self) {
        if let Self::Owned(lender) = self {
            lender.into_container().drop_in_reverse();
        }
    }
}

/// Tears down what started: lifespans in reverse, then hooks (those whose required resources
/// exist) in registration order. Resources are dropped by the caller afterwards.
pub(super) async fn tear_down(
    lifespans: Vec<StartedLifespan>,
    hooks: &[Registration],
    resources: &TeardownResources,
    trigger: &ShutdownTrigger,
    settings: &Settings,
) -> Vec<NodeError> {
    let mut failures = Vec::new();
    for lifespan in lifespans.into_iter().rev() {
        let StartedLifespan {
            name,
            timeout,
            stop,
            mut task,
        } = lifespan;
        let span = tracing::info_span!("roadie.teardown", node = %name);
        let began = Instant::now();
        let _ = stop.send(resources.lender());
        let limit = timeout.or(settings.shutdown_timeout);
        let result = async {
            let outcome = match limit {
                Some(limit) => match tokio::time::timeout(limit, &mut task).await {
                    Ok(joined) => joined,
                    Err(_) => {
                        // Cancel it and wait until what it held is released.
                        task.abort();
                        let _ = task.await;
                        return Err(Failure::Timeout(limit));
                    }
                },
                None => task.await,
            };
            match outcome {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(failure)) => Err(failure),
                Err(join) => Err(join_failure(join)),
            }
        }
        .instrument(span.clone())
        .await;
        let _enter = span.enter();
        match result {
            Ok(()) => tracing::debug!(elapsed_ms = elapsed_ms(began), "torn down"),
            Err(failure) => {
                tracing::error!(elapsed_ms = elapsed_ms(began), error = %failure, "teardown failed");
                failures.push(NodeError::new(name, Stage::Teardown, failure));
            }
        }
    }

    for hook in hooks {
        let Body::Run(node) = &hook.body else {
            continue;
        };
        // Prepared against the container as it is now: a value a teardown took back owned
        // is gone, like one that never started.
        let run = resources.with(|container| {
            let runnable = hook.needs.items.iter().all(|need| match need.kind {
                NeedKind::Resource { optional: false } => container.contains_type(need.ty),
                _ => true,
            });
            runnable.then(|| {
                node.call(
                    &Prepare {
                        container,
                        dependencies: None,
                    },
                    trigger.clone(),
                )
            })
        });
        let Some(run) = run else {
            tracing::debug!(
                node = %hook.name,
                "skipped: a resource it needs was never started, or its teardown took it back"
            );
            continue;
        };
        let span = tracing::info_span!("roadie.shutdown", node = %hook.name);
        let began = Instant::now();
        let result = with_timeout(hook.timeout.or(settings.shutdown_timeout), run)
            .instrument(span.clone())
            .await;
        let _enter = span.enter();
        match result {
            Ok(_) => tracing::debug!(elapsed_ms = elapsed_ms(began), "shutdown hook ran"),
            Err(failure) => {
                tracing::error!(elapsed_ms = elapsed_ms(began), error = %failure, "shutdown hook failed");
                failures.push(NodeError::new(hook.name.clone(), Stage::Shutdown, failure));
            }
        }
    }
    failures
}

pub(super) async fn stop(shared: Arc<Shared>) -> Result<(), ShutdownError> {
    let span = tracing::info_span!("roadie.stop");
    async move {
        let began = Instant::now();
        shared
            .state
            .store(LifecycleState::Stopping.as_u8(), Ordering::SeqCst);
        shared.trigger.trigger();

        // Drain: wait for requests in flight and for servers to close their connections,
        // within the grace period (which a second signal ends early).
        let mut servers = shared.servers.subscribe();
        let drain = async {
            loop {
                let notified = shared.idle.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if shared.in_flight.load(Ordering::SeqCst) == 0 {
                    break;
                }
                notified.await;
            }
            let _ = servers.wait_for(|servers| *servers == 0).await;
        };
        let mut hurry = shared.hurry.subscribe();
        let drained = tokio::select! {
            drained = tokio::time::timeout(shared.settings.grace_period, drain) => drained.is_ok(),
            _ = hurry.wait_for(|hurry| *hurry) => false,
        };
        if !drained {
            tracing::warn!(
                in_flight = shared.in_flight.load(Ordering::SeqCst),
                "the grace period ended with requests in flight; cutting them"
            );
        }
        // Servers cut what is still open; wait until they have (cutting drops the requests'
        // futures, which releases their request scopes).
        shared.cut.send_replace(true);
        let _ = servers.wait_for(|servers| *servers == 0).await;
        // SSE streams and WebSocket tasks end (within the grace period, then closed): what
        // they hold is released before the teardown.
        let mut hurry = shared.hurry.subscribe();
        let hurry = async move {
            let _ = hurry.wait_for(|hurry| *hurry).await;
        };
        let long_lived = shared.trigger.long_lived();
        long_lived.finish(shared.settings.grace_period, hurry).await;
        // Cancelled requests release their dependencies in the background: let those
        // releases finish before the teardown closes what they give back to.
        if let Some(live) = shared.live.load_full() {
            let releases = live.dependencies.background.finished();
            let finished = match shared.settings.shutdown_timeout {
                Some(limit) => tokio::time::timeout(limit, releases).await.is_ok(),
                None => {
                    releases.await;
                    true
                }
            };
            if !finished {
                tracing::warn!("releases of cancelled requests were still running");
            }
        }

        // Background tasks were told to stop with the signal above: they end before anything
        // they use is torn down.
        let background = shared
            .background
            .stop(shared.settings.shutdown_timeout)
            .await;
        let teardown = crate::names::lock(&shared.teardown).take();
        let live = shared.live.swap(None);
        let mut failures = background.failures;
        if let (Some(Teardown { lifespans, hooks }), Some(live)) = (teardown, live) {
            // Nothing serves any more: what requests were prepared with goes first, so that
            // the container holds the only shared handle to each value and a teardown can
            // take its values back owned.
            let resources = match Arc::try_unwrap(live) {
                Ok(Live {
                    router,
                    reporting,
                    dependencies,
                    container,
                }) => {
                    drop((router, reporting, dependencies));
                    TeardownResources::Owned(Lender::new(container))
                }
                Err(live) => {
                    tracing::warn!(
                        "requests still in flight hold resources; they are dropped when those end"
                    );
                    TeardownResources::Shared(live)
                }
            };
            let teardown = tear_down(
                lifespans,
                &hooks,
                &resources,
                &shared.trigger,
                &shared.settings,
            )
            .await;
            failures.extend(teardown);
            drop(hooks);
            resources.drop_in_reverse();
        }
        shared
            .state
            .store(LifecycleState::Stopped.as_u8(), Ordering::SeqCst);
        tracing::info!(
            elapsed_ms = elapsed_ms(began),
            failures = failures.len(),
            "stopped"
        );
        if failures.is_empty() {
            Ok(())
        } else {
            Err(ShutdownError {
                failures,
                caused: background.caused,
            })
        }
    }
    .instrument(span)
    .await
}
