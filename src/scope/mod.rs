//! The request scope: request-scoped dependencies, built at most once per request on first
//! use, and released in reverse order of acquisition when the request ends, however it ends.

use std::any::{Any, TypeId};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::sync::{Arc, Mutex, OnceLock};

use futures_util::future::BoxFuture;
use http::StatusCode;

mod release;

use self::release::{spawn_release, BackgroundReleases, Releases};
use crate::error::{BoxError, Failure};
use crate::extract::{Context, FromContext, Needs, Prepare, Rejection};
use crate::names::short_type_name;
use crate::output::{HookOutput, PlainOutput, Provide};

/// How a request ended, as told to the release of a [`Scoped`] dependency.
///
/// A transaction commits when [`Outcome::is_success`] and rolls back otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The handler answered with this status (any status, including errors it chose).
    Responded(StatusCode),
    /// The handler returned the `Err` side of a `Result`, or a parameter was rejected; the
    /// status of the error response.
    Failed(StatusCode),
    /// The handler panicked; the client got `500`.
    Panicked,
    /// The request's future was dropped before it finished (client gone, timeout).
    Cancelled,
}

impl Outcome {
    /// Whether the request succeeded: a response that is neither an error nor a 4xx/5xx.
    pub fn is_success(&self) -> bool {
        match self {
            Self::Responded(status) => !status.is_client_error() && !status.is_server_error(),
            _ => false,
        }
    }

    /// The status that was sent, when a response was made.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Responded(status) | Self::Failed(status) => Some(*status),
            Self::Panicked => Some(StatusCode::INTERNAL_SERVER_ERROR),
            Self::Cancelled => None,
        }
    }
}

type ReleaseFn<T> = Box<dyn FnOnce(T, Outcome) -> BoxFuture<'static, Result<(), Failure>> + Send>;

/// A request-scoped value with a release that runs after the response.
///
/// Return it from a request-scoped dependency to give something back when the request ends:
/// a connection to its pool, a transaction committed or rolled back. The release receives
/// the value and the request's [`Outcome`]. It runs on success, error, panic, and when the
/// request is cancelled.
///
/// ```
/// use roadie::prelude::*;
/// use std::convert::Infallible;
///
/// struct Tx { id: u32 }
///
/// async fn transaction() -> Result<Scoped<Tx>, Infallible> {
///     Ok(Scoped::new(Tx { id: 1 }).on_release(|tx, outcome| async move {
///         if outcome.is_success() { /* commit tx */ } else { /* roll back tx */ }
///         let _ = tx.id;
///     }))
/// }
///
/// let app = App::new().dependency(transaction);
/// # let _ = app;
/// ```
pub struct Scoped<T> {
    value: T,
    release: Option<ReleaseFn<T>>,
}

impl<T: Send + 'static> Scoped<T> {
    /// A value with no release (it is dropped after the response).
    pub fn new(value: T) -> Self {
        Self {
            value,
            release: None,
        }
    }

    /// Sets the async release, which receives the value and how the request ended. It may
    /// return `()` or `Result<(), E>`; an error or a panic is logged.
    pub fn on_release<F, Fut>(mut self, release: F) -> Self
    where
        F: FnOnce(T, Outcome) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: HookOutput,
    {
        self.release = Some(Box::new(move |value, outcome| {
            Box::pin(async move { release(value, outcome).await.into_hook_result() })
        }));
        self
    }

    /// A value with an async release: the same as `Scoped::new(value).on_release(release)`.
    pub fn with_release<F, Fut>(value: T, release: F) -> Self
    where
        F: FnOnce(T, Outcome) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: HookOutput,
    {
        Self::new(value).on_release(release)
    }

    /// The value.
    pub fn value(&self) -> &T {
        &self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for Scoped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scoped")
            .field("value", &self.value)
            .field("has_release", &self.release.is_some())
            .finish()
    }
}

/// Where a request-scoped value lives for its request. Shared by every `Dep<T>` of it.
struct Slot<T: Send + Sync + 'static> {
    value: Option<T>,
    /// Never locked: reached through `get_mut` or `into_inner` only, once the slot is owned.
    release: Mutex<Option<ReleaseFn<T>>>,
    outcome: OnceLock<Outcome>,
    name: &'static str,
    /// The request's app, set when a `Dep<T>` outlives its request (moved into a socket's
    /// task): the release it runs when dropped is counted, and the teardown waits for it.
    table: OnceLock<Arc<DependencyTable>>,
}

impl<T: Send + Sync + 'static> Slot<T> {
    fn take_release(&mut self) -> Option<(T, ReleaseFn<T>)> {
        let release = match self.release.get_mut() {
            Ok(release) => release.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        match (self.value.take(), release) {
            (Some(value), Some(release)) => Some((value, release)),
            (value, _) => {
                drop(value);
                None
            }
        }
    }
}

impl<T: Send + Sync + 'static> Drop for Slot<T> {
    /// Runs when the last `Dep<T>` outlived its request (moved into a spawned task): the release
    /// still runs, then, with the outcome the request had.
    fn drop(&mut self) {
        let outcome = self.outcome.get().copied().unwrap_or(Outcome::Cancelled);
        let name = self.name;
        if let Some((value, release)) = self.take_release() {
            spawn_release(name, release(value, outcome), self.table.get());
        }
    }
}

/// A request-scoped dependency of type `T`, built at most once per request.
///
/// Name `Dep<T>` as a parameter of a handler or of another dependency; register the function
/// that makes `T` with [`App::dependency`](crate::App::dependency). A startup provider that asks
/// for `Dep<T>` fails validation: session-scoped values cannot hold request-scoped ones.
pub struct Dep<T: Send + Sync + 'static>(Arc<Slot<T>>);

impl<T: Send + Sync + 'static> Deref for Dep<T> {
    type Target = T;
    fn deref(&self) -> &T {
        match &self.0.value {
            Some(value) => value,
            // The value is only taken out once every `Dep<T>` is gone.
            None => unreachable!("a request-scoped value was read after its release"),
        }
    }
}

impl<T: Send + Sync + 'static> Clone for Dep<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T: Send + Sync + fmt::Debug + 'static> fmt::Debug for Dep<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: Send + Sync + 'static> FromContext for Dep<T> {
    type State = Option<usize>;

    fn describe(needs: &mut Needs) {
        needs.dependency::<T>();
    }

    fn prepare(cx: &Prepare<'_>) -> Self::State {
        cx.dependencies
            .and_then(|index| index.get(TypeId::of::<T>()))
    }

    async fn from_context(state: &Self::State, cx: &mut Context<'_>) -> Result<Self, Rejection> {
        let missing = || {
            Rejection::internal(format!(
                "`Dep<{}>` can only be used while handling a request, with a registered dependency",
                short_type_name::<T>()
            ))
        };
        let index = state.ok_or_else(missing)?;
        let scope = &mut cx.request.as_mut().ok_or_else(missing)?.scope;
        if let Some(entry) = scope.entries.get(index).and_then(Option::as_ref) {
            return entry.dep::<T>().ok_or_else(missing);
        }
        let table = Arc::clone(&scope.table);
        let entry = table.dependencies[index].build(cx).await?;
        let dep = entry.dep::<T>().ok_or_else(missing)?;
        let scope = &mut cx.request.as_mut().ok_or_else(missing)?.scope;
        scope.insert(index, entry);
        Ok(dep)
    }
}

/// A built request-scoped value, type-erased, as the scope keeps it.
#[doc(hidden)]
pub struct Entry {
    slot: Box<dyn ErasedSlot>,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry").finish_non_exhaustive()
    }
}

impl Entry {
    pub(crate) fn new<T: Send + Sync + 'static>(
        name: &'static str,
        value: T,
        release: Option<ReleaseFn<T>>,
    ) -> Self {
        let slot = Arc::new(Slot {
            value: Some(value),
            release: Mutex::new(release),
            outcome: OnceLock::new(),
            name,
            table: OnceLock::new(),
        });
        Self {
            slot: Box::new(slot),
        }
    }

    fn dep<T: Send + Sync + 'static>(&self) -> Option<Dep<T>> {
        self.slot
            .as_any()
            .downcast_ref::<Arc<Slot<T>>>()
            .map(|slot| Dep(Arc::clone(slot)))
    }
}

trait ErasedSlot: Send + Sync {
    fn as_any(&self) -> &dyn Any;
    /// Ends the value's request: returns its release to run now, if the scope held the last
    /// reference; otherwise the last `Dep<T>` runs it when dropped.
    fn finish(
        self: Box<Self>,
        outcome: Outcome,
        table: &Arc<DependencyTable>,
    ) -> Option<(&'static str, BoxFuture<'static, Result<(), Failure>>)>;
}

impl<T: Send + Sync + 'static> ErasedSlot for Arc<Slot<T>> {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn finish(
        self: Box<Self>,
        outcome: Outcome,
        table: &Arc<DependencyTable>,
    ) -> Option<(&'static str, BoxFuture<'static, Result<(), Failure>>)> {
        let _ = self.outcome.set(outcome);
        let name = self.name;
        match Arc::try_unwrap(*self) {
            Ok(mut slot) => slot
                .take_release()
                .map(|(value, release)| (name, release(value, outcome))),
            Err(shared) => {
                let _ = shared.table.set(Arc::clone(table));
                tracing::debug!(
                    dependency = name,
                    "a `Dep` outlived its request; its release runs when the last one is dropped"
                );
                drop(shared);
                None
            }
        }
    }
}

/// Builds one request-scoped dependency for one request.
pub(crate) trait PreparedDependency: Send + Sync {
    fn build<'a>(&'a self, cx: &'a mut Context<'_>) -> BoxFuture<'a, Result<Entry, Rejection>>;
}

/// The prepared request-scoped dependencies of a running app, by index.
pub(crate) struct DependencyTable {
    pub(crate) dependencies: Vec<Arc<dyn PreparedDependency>>,
    /// Releases of cancelled requests still running in the background.
    pub(crate) background: BackgroundReleases,
}

/// Where each request-scoped type lives in the [`DependencyTable`], computed once at start.
#[derive(Debug, Default)]
pub(crate) struct DependencyIndex {
    by_type: crate::container::TypeMap<usize>,
}

impl DependencyIndex {
    pub(crate) fn insert(&mut self, ty: TypeId, index: usize) {
        self.by_type.insert(ty, index);
    }

    pub(crate) fn get(&self, ty: TypeId) -> Option<usize> {
        self.by_type.get(&ty).copied()
    }
}

/// One request's scope: the values built so far and the order they were acquired in.
pub(crate) struct Scope {
    table: Arc<DependencyTable>,
    entries: Vec<Option<Entry>>,
    acquired: Vec<usize>,
}

impl Scope {
    pub(crate) fn new(table: Arc<DependencyTable>) -> Self {
        Self {
            table,
            entries: Vec::new(),
            acquired: Vec::new(),
        }
    }

    fn insert(&mut self, index: usize, entry: Entry) {
        if self.entries.len() <= index {
            self.entries
                .resize_with(self.table.dependencies.len().max(index + 1), || None);
        }
        self.entries[index] = Some(entry);
        self.acquired.push(index);
    }

    fn take_in_release_order(&mut self, outcome: Outcome) -> Releases {
        let mut releases = Releases {
            queue: VecDeque::new(),
            table: Some(Arc::clone(&self.table)),
        };
        while let Some(index) = self.acquired.pop() {
            if let Some(entry) = self.entries.get_mut(index).and_then(Option::take) {
                if let Some(release) = entry.slot.finish(outcome, &self.table) {
                    releases.queue.push_back(release);
                }
            }
        }
        releases
    }

    /// Whether the request acquired anything that [`Scope::finish`] would release.
    pub(crate) fn holds_anything(&self) -> bool {
        !self.acquired.is_empty()
    }

    /// Releases every value, last acquired first, telling each how the request ended.
    ///
    /// If this future is dropped part-way, the releases left run on a spawned task.
    pub(crate) async fn finish(&mut self, outcome: Outcome) {
        // Most requests acquire nothing: nothing to gather, nothing to run.
        if self.acquired.is_empty() {
            return;
        }
        self.take_in_release_order(outcome).run().await;
    }
}

impl Drop for Scope {
    /// The request was cancelled (its future dropped): release in the background.
    fn drop(&mut self) {
        if self.acquired.is_empty() {
            return;
        }
        // Dropping them hands them to a spawned task, in release order.
        drop(self.take_in_release_order(Outcome::Cancelled));
    }
}

/// The result of a request-scoped dependency function: `Result<T, E>`, `Result<Scoped<T>, E>`
/// or `Scoped<T>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from a roadie request-scoped dependency",
    label = "not a dependency result",
    note = "a dependency returns `Result<T, E>`, `Result<Scoped<T>, E>` or `Scoped<T>` (with the \
            `#[dependency]` attribute, a plain `T` works too); `T` must be `Send + Sync + 'static`"
)]
pub trait DependencyOutput<M>: Send + 'static {
    /// The type registered in the request scope.
    type Value: Send + Sync + 'static;

    #[doc(hidden)]
    fn into_entry(self) -> Result<Entry, BoxError>;
}

#[doc(hidden)]
#[derive(Debug)]
pub enum PlainValue {}
#[doc(hidden)]
#[derive(Debug)]
pub enum ScopedValue {}
#[doc(hidden)]
#[derive(Debug)]
pub enum InfallibleScoped {}

impl<T, E> DependencyOutput<PlainValue> for Result<T, E>
where
    T: Send + Sync + 'static,
    E: Into<BoxError> + Send + 'static,
{
    type Value = T;

    fn into_entry(self) -> Result<Entry, BoxError> {
        let name = std::any::type_name::<T>();
        self.map(|value| Entry::new(name, value, None))
            .map_err(Into::into)
    }
}

impl<T, E> DependencyOutput<ScopedValue> for Result<Scoped<T>, E>
where
    T: Send + Sync + 'static,
    E: Into<BoxError> + Send + 'static,
{
    type Value = T;

    fn into_entry(self) -> Result<Entry, BoxError> {
        let name = std::any::type_name::<T>();
        self.map(|scoped| Entry::new(name, scoped.value, scoped.release))
            .map_err(Into::into)
    }
}

impl<T: Send + Sync + 'static> DependencyOutput<InfallibleScoped> for Scoped<T> {
    type Value = T;

    fn into_entry(self) -> Result<Entry, BoxError> {
        let name = std::any::type_name::<T>();
        Ok(Entry::new(name, self.value, self.release))
    }
}

impl<T: Send + Sync + 'static> DependencyOutput<Provide<()>> for Provide<T> {
    type Value = T;

    fn into_entry(self) -> Result<Entry, BoxError> {
        Ok(Entry::new(std::any::type_name::<T>(), self.0, None))
    }
}

impl<T: Send + 'static> PlainOutput for Scoped<T> {}
