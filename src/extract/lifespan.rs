//! Lifespans: setup and teardown in one async function.

use std::fmt;
use std::future::{ready, Future};
use std::marker::PhantomData;
use std::sync::Arc;

use tokio::sync::oneshot;

use super::{Context, FromContext, Needs, Prepare, Rejection};
use crate::container::{Produced, Res};
use crate::names::short_type_name;

/// The handle a lifespan receives to register its value and wait for shutdown.
///
/// A lifespan is an async function that takes `Lifespan<T>` (and any resources it needs),
/// sets `T` up, calls [`Lifespan::ready`], and tears `T` down after it returns:
///
/// ```
/// use roadie::prelude::*;
/// use std::convert::Infallible;
///
/// struct Pool;
/// impl Pool {
///     async fn open() -> Pool { Pool }
///     async fn close(&self) {}
/// }
///
/// async fn pool(lifespan: Lifespan<Pool>) -> Result<(), Infallible> {
///     let pool = Pool::open().await;           // setup
///     let pool = lifespan.ready(pool).await;   // registered; waits until shutdown begins
///     pool.close().await;                      // teardown
///     Ok(())
/// }
///
/// let app = App::new().lifespan(pool);
/// # let _ = app;
/// ```
///
/// An error or a panic before `ready` fails startup; after it, it is a shutdown failure.
/// Returning without calling `ready` fails startup with an error that says so.
/// `Lifespan<()>` registers nothing.
pub struct Lifespan<T> {
    slot: LifespanSlot,
    _value: PhantomData<fn(T)>,
}

/// The channels between a running lifespan and the lifecycle engine.
pub(crate) struct LifespanSlot {
    pub(crate) ready: oneshot::Sender<Option<Produced>>,
    pub(crate) stop: oneshot::Receiver<()>,
}

impl LifespanSlot {
    /// Hands the lifespan's value (if it registers one) to the engine, then waits until
    /// shutdown begins. If the engine is gone (its start was cancelled), it returns at once,
    /// and the teardown runs.
    pub(crate) async fn hand_over(self, produced: Option<Produced>) {
        if self.ready.send(produced).is_ok() {
            let _ = self.stop.await;
        }
    }
}

impl<T: Send + Sync + 'static> Lifespan<T> {
    /// Registers `value` by its type, then waits until shutdown begins and hands it back
    /// (shared: handlers may still hold it while the teardown runs).
    pub async fn ready(self, value: T) -> Res<T> {
        let value = Arc::new(value);
        self.slot
            .hand_over(Produced::shared(Arc::clone(&value)))
            .await;
        Res(value)
    }
}

impl<T> fmt::Debug for Lifespan<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lifespan<{}>", std::any::type_name::<T>())
    }
}

impl<T: Send + Sync + 'static> FromContext for Lifespan<T> {
    type State = ();

    fn describe(needs: &mut Needs) {
        needs.provides::<T>();
    }

    fn prepare(_cx: &Prepare<'_>) -> Self::State {}

    fn from_context<'a>(
        _state: &'a Self::State,
        cx: &'a mut Context<'_>,
    ) -> impl Future<Output = Result<Self, Rejection>> + Send + 'a {
        ready(match cx.lifespan.take() {
            Some(slot) => Ok(Lifespan {
                slot,
                _value: PhantomData,
            }),
            None => Err(Rejection::internal(format!(
                "`Lifespan<{}>` can only be a parameter of a function registered with `App::lifespan`, once",
                short_type_name::<T>()
            ))),
        })
    }
}
