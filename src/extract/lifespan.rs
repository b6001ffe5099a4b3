//! Lifespans: setup and teardown in one async function.

use std::any::TypeId;
use std::fmt;
use std::future::{ready, Future};
use std::marker::PhantomData;
use std::sync::Arc;

use tokio::sync::oneshot;

use super::{Context, FromContext, Needs, Prepare, Rejection};
use crate::container::{Container, Produced, Res};
use crate::names::{lock, short_type_name};

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
pub struct Lifespan<T, M = One> {
    slot: LifespanSlot,
    _value: PhantomData<fn(T, M)>,
}

/// Marks a [`Lifespan`] that registers one value (the default).
#[doc(hidden)]
#[derive(Debug)]
pub enum One {}

/// The channels between a running lifespan and the lifecycle engine.
pub(crate) struct LifespanSlot {
    pub(crate) ready: oneshot::Sender<Option<Produced>>,
    /// Shutdown began: the teardown may take its values back through the [`Lender`].
    pub(crate) stop: oneshot::Receiver<Option<Lender>>,
}

impl LifespanSlot {
    /// Hands the lifespan's values (if it registers any) to the engine, then waits until
    /// shutdown begins. If the engine is gone (its start was cancelled), it returns at once,
    /// and the teardown runs.
    pub(crate) async fn hand_over(self, produced: Option<Produced>) -> Option<Lender> {
        if self.ready.send(produced).is_ok() {
            self.stop.await.ok().flatten()
        } else {
            None
        }
    }
}

impl<T: Send + Sync + 'static> Lifespan<T> {
    /// Registers `value` by its type, then waits until shutdown begins and hands it back for
    /// the teardown: read it through the [`Teardown`] handle (`pool.close().await`), or take
    /// it back owned with [`Teardown::take`] (`pool.take()?.close().await`).
    pub async fn ready(self, value: T) -> Teardown<T> {
        let value = Arc::new(value);
        let lender = self
            .slot
            .hand_over(Produced::shared(Arc::clone(&value)))
            .await;
        Teardown { value, lender }
    }
}

impl<R: Resources> Lifespan<R, Each> {
    /// Registers each value of the tuple under its own type, then waits until shutdown
    /// begins and hands them back together, one [`Teardown`] handle each.
    pub async fn ready(self, values: R) -> R::Handles {
        let (produced, shared) = values.share();
        let lender = self.slot.hand_over(produced).await;
        R::hand_back(shared, lender)
    }
}

/// A value a lifespan registered, handed back to its teardown once shutdown has begun.
///
/// It reads as the value (`Deref`), so a teardown that closes through `&T` calls
/// `pool.close().await`. A client whose `close` takes `self` calls [`Teardown::take`]:
///
/// ```
/// use roadie::prelude::*;
/// use roadie::BoxError;
///
/// struct Client;
/// impl Client {
///     async fn connect() -> Client { Client }
///     async fn close(self) {}
/// }
///
/// async fn client(lifespan: Lifespan<Client>) -> Result<(), BoxError> {
///     let client = lifespan.ready(Client::connect().await).await;
///     client.take()?.close().await; // owned: every request has released it
///     Ok(())
/// }
/// # let _ = App::new().lifespan(client);
/// ```
pub struct Teardown<T> {
    value: Arc<T>,
    lender: Option<Lender>,
}

impl<T: Send + Sync + 'static> Teardown<T> {
    /// The value, owned. By the time a teardown runs, the drain is over and every request
    /// has released what it held, so the value is normally held by nothing else: the app
    /// gives up its own handle (shutdown hooks that need the type then no longer run, as
    /// for a resource that never started). If something still holds it (a request cut at
    /// the end of the grace period whose release is still running, a task that kept a
    /// clone of `Res<T>`), the error names the type and gives the shared handle back; the
    /// rest of the shutdown goes on.
    pub fn take(self) -> Result<T, StillHeld<T>> {
        let Teardown { value, lender } = self;
        let app_holds = lender.is_some_and(|lender| lender.give_up(&value));
        Arc::try_unwrap(value).map_err(|value| StillHeld {
            others: Arc::strong_count(&value) - 1 - usize::from(app_holds),
            value: Res(value),
        })
    }

    /// The value as a shared handle, like a handler's.
    pub fn into_res(self) -> Res<T> {
        Res(self.value)
    }
}

impl<T> std::ops::Deref for Teardown<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> AsRef<T> for Teardown<T> {
    fn as_ref(&self) -> &T {
        &self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for Teardown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.value, f)
    }
}

impl<T> From<Teardown<T>> for Res<T> {
    fn from(teardown: Teardown<T>) -> Self {
        Res(teardown.value)
    }
}

/// [`Teardown::take`] found the value still held elsewhere.
#[derive(thiserror::Error)]
#[error(
    "`{ty}` is still held by {others} handle(s) besides the app's own when its teardown takes it back: a \
     request, a task or a clone of `Res<{ty}>` outlived the drain; end that work before \
     shutdown, or close it through the shared handle (`StillHeld::into_res`)",
    ty = short_type_name::<T>()
)]
pub struct StillHeld<T: Send + Sync + 'static> {
    others: usize,
    value: Res<T>,
}

impl<T: Send + Sync + 'static> StillHeld<T> {
    /// The shared handle, to close through `&T` after all.
    pub fn into_res(self) -> Res<T> {
        self.value
    }

    /// How many handles hold the value, besides the app's own.
    pub fn others(&self) -> usize {
        self.others
    }
}

impl<T: Send + Sync + 'static> fmt::Debug for StillHeld<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StillHeld")
            .field("type", &short_type_name::<T>())
            .field("others", &self.others)
            .finish()
    }
}

/// Where a teardown takes its values back from: the app's container, while the teardown
/// runs (no request reads it any more). Without one (an app whose state is still shared),
/// values can only be taken when nothing else holds them.
#[doc(hidden)]
#[derive(Clone)]
pub struct Lender(Arc<std::sync::Mutex<Container>>);

impl fmt::Debug for Lender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Lender")
    }
}

impl Lender {
    /// A lender of `container`, for the teardown.
    pub(crate) fn new(container: Container) -> Self {
        Self(Arc::new(std::sync::Mutex::new(container)))
    }

    /// Reads the container as it is now.
    pub(crate) fn with<R>(&self, read: impl FnOnce(&Container) -> R) -> R {
        read(&lock(&self.0))
    }

    /// The container back, once the teardown is over (a handle a teardown kept past its end
    /// keeps an empty lender).
    pub(crate) fn into_container(self) -> Container {
        std::mem::take(&mut *lock(&self.0))
    }

    /// Lets the container's handle to `value` go, if it is the only other one: the caller
    /// then owns the value. Otherwise nothing changes, and it answers whether the container
    /// still holds it.
    fn give_up<T: Send + Sync + 'static>(&self, value: &Arc<T>) -> bool {
        let mut container = lock(&self.0);
        let ours = container
            .get::<T>()
            .is_some_and(|held| Arc::ptr_eq(&held.0, value));
        // Ours, the container's, and the one `get` just made (already dropped): two.
        if ours && Arc::strong_count(value) == 2 {
            container.remove::<T>();
            return false;
        }
        ours
    }
}

/// Several resources registered at once, each under its own type: a lifespan's
/// `Lifespan<(A, B), Each>`, or a provider's `Ok(Each::new((a, b)))`. fx's multiple results,
/// in Rust: one setup that opens a database and a cache registers both, and handlers ask for
/// `Res<Database>` and `Res<Cache>`, not for a wrapper.
///
/// ```
/// use roadie::prelude::*;
/// use roadie::{BoxError, Each};
///
/// struct Database(&'static str);
/// struct Cache(u32);
///
/// async fn stores(lifespan: Lifespan<(Database, Cache), Each>) -> Result<(), BoxError> {
///     let (db, cache) = lifespan.ready((Database("main"), Cache(64))).await;
///     // teardown: both come back together, in the order given
///     drop(cache.take()?);
///     drop(db.take()?);
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app = App::new()
///     .lifespan(stores)
///     .get("/", |db: Res<Database>, cache: Res<Cache>| async move {
///         format!("{} {}", db.0, cache.0)
///     });
/// assert_eq!(app.execute(Request::get("/")).await.text(), "main 64");
/// # }
/// ```
///
/// A tuple without `Each` is one resource of the tuple's type. `Each` is not `Sync`: it only
/// carries the values into the app.
pub struct Each<T = ()>(T, PhantomData<std::cell::Cell<()>>);

impl<T: Resources> Each<T> {
    /// The values, each to be registered under its own type.
    pub fn new(values: T) -> Self {
        Self(values, PhantomData)
    }

    /// The values.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Each<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Each<{}>", short_type_name::<T>())
    }
}

/// A tuple of two to eight resources of distinct types, registered together by [`Each`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be registered as several resources",
    label = "not a tuple of resources",
    note = "`Each` takes a tuple of 2 to 8 values, each `Send + Sync + 'static`: `(Database, Cache)`"
)]
pub trait Resources: Send + Sized + 'static {
    /// The values shared with the app: one `Arc` each.
    #[doc(hidden)]
    type Shared: Send;
    /// What the teardown gets back: one [`Teardown`] each, in the tuple's order.
    type Handles;

    /// The types, in order, with their names.
    #[doc(hidden)]
    fn types() -> Vec<(TypeId, &'static str)>;

    /// Shares the values: what goes into the container, and what comes back.
    #[doc(hidden)]
    fn share(self) -> (Option<Produced>, Self::Shared);

    /// The teardown's handles.
    #[doc(hidden)]
    fn hand_back(shared: Self::Shared, lender: Option<Lender>) -> Self::Handles;
}

macro_rules! impl_resources {
    ($($T:ident),+) => {
        #[allow(non_snake_case)]
        impl<$($T: Send + Sync + 'static),+> Resources for ($($T,)+) {
            type Shared = ($(Arc<$T>,)+);
            type Handles = ($(Teardown<$T>,)+);

            fn types() -> Vec<(TypeId, &'static str)> {
                vec![$((TypeId::of::<$T>(), short_type_name::<$T>())),+]
            }

            fn share(self) -> (Option<Produced>, Self::Shared) {
                let ($($T,)+) = self;
                let shared = ($(Arc::new($T),)+);
                let ($($T,)+) = &shared;
                let produced = Produced::all([$(Produced::shared(Arc::clone($T))),+]);
                (produced, shared)
            }

            fn hand_back(shared: Self::Shared, lender: Option<Lender>) -> Self::Handles {
                let ($($T,)+) = shared;
                ($(Teardown { value: $T, lender: lender.clone() },)+)
            }
        }
    };
}

impl_resources!(A, B);
impl_resources!(A, B, C);
impl_resources!(A, B, C, D);
impl_resources!(A, B, C, D, E);
impl_resources!(A, B, C, D, E, F);
impl_resources!(A, B, C, D, E, F, G);
impl_resources!(A, B, C, D, E, F, G, H);

impl<T, M> fmt::Debug for Lifespan<T, M> {
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
        ready(take_slot::<T>(cx).map(|slot| Lifespan {
            slot,
            _value: PhantomData,
        }))
    }
}

impl<R: Resources> FromContext for Lifespan<R, Each> {
    type State = ();

    fn describe(needs: &mut Needs) {
        needs.provides_each(
            &R::types(),
            format!("Lifespan<{}, Each>", short_type_name::<R>()),
        );
    }

    fn prepare(_cx: &Prepare<'_>) -> Self::State {}

    fn from_context<'a>(
        _state: &'a Self::State,
        cx: &'a mut Context<'_>,
    ) -> impl Future<Output = Result<Self, Rejection>> + Send + 'a {
        ready(take_slot::<R>(cx).map(|slot| Lifespan {
            slot,
            _value: PhantomData,
        }))
    }
}

fn take_slot<T>(cx: &mut Context<'_>) -> Result<LifespanSlot, Rejection> {
    cx.lifespan.take().ok_or_else(|| {
        Rejection::internal(format!(
            "`Lifespan<{}>` can only be a parameter of a function registered with `App::lifespan`, once",
            short_type_name::<T>()
        ))
    })
}
