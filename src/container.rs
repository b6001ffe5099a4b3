//! The session-scoped container: one value per type, shared for the life of the app.

use std::any::TypeId;
use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use anymap2::raw::RawMap;
use anymap2::SendSyncAnyMap;

/// A shared, read-only handle to a session-scoped resource of type `T`.
///
/// Handlers, request-scoped dependencies, startup providers and shutdown hooks receive a
/// resource by naming `Res<T>` as a parameter. The value was registered by a startup provider or
/// a lifespan, lives for the whole app, and is shared by every request: a `Res<T>` costs one
/// reference-count increment.
///
/// ```
/// use roadie::prelude::*;
/// use std::convert::Infallible;
///
/// struct Greeting(&'static str);
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app = App::new()
///     .on_startup(|| Ok::<_, Infallible>(Greeting("hello")))
///     .get("/", |greeting: Res<Greeting>| async move { greeting.0 });
///
/// let res = app.execute(Request::get("/")).await;
/// assert_eq!(res.text(), "hello");
/// # }
/// ```
///
/// Ask for `Option<Res<T>>` to accept an app where nothing provides `T`.
pub struct Res<T: ?Sized>(pub(crate) Arc<T>);

impl<T: ?Sized> Res<T> {
    /// The shared pointer behind this handle (or behind a lifespan's
    /// [`Teardown`](crate::Teardown) handle).
    pub fn into_arc(this: impl Into<Self>) -> Arc<T> {
        this.into().0
    }

    /// Wraps a shared value, for calling a function that takes `Res<T>` directly in a test.
    pub fn from_arc(value: Arc<T>) -> Self {
        Self(value)
    }
}

impl<T> Res<T> {
    /// Wraps a value, for calling a function that takes `Res<T>` directly in a test.
    pub fn new(value: T) -> Self {
        Self(Arc::new(value))
    }
}

impl<T: ?Sized> Clone for Res<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T: ?Sized> Deref for Res<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: ?Sized> AsRef<T> for Res<T> {
    fn as_ref(&self) -> &T {
        &self.0
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Res<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for Res<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

/// The typed container of session-scoped resources.
///
/// It is filled during startup, one value per type, and frozen once the app runs: readers
/// never take a lock. Values are dropped in the reverse of the order they were registered.
pub struct Container {
    map: SendSyncAnyMap,
    /// `(key in the map, type of the value, name)` in registration order, for dropping in
    /// reverse.
    order: Vec<(TypeId, TypeId, &'static str)>,
    /// The types of the values, to answer `contains_type` without a scan.
    types: HashSet<TypeId>,
}

impl Default for Container {
    fn default() -> Self {
        Self::new()
    }
}

impl Container {
    pub(crate) fn new() -> Self {
        Self {
            map: SendSyncAnyMap::new(),
            order: Vec::new(),
            types: HashSet::new(),
        }
    }

    /// The resource of type `T`, if one was registered.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<Res<T>> {
        self.map.get::<Arc<T>>().map(|arc| Res(Arc::clone(arc)))
    }

    /// Whether a resource of type `T` was registered.
    pub fn contains<T: Send + Sync + 'static>(&self) -> bool {
        self.map.contains::<Arc<T>>()
    }

    /// How many resources are registered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether no resource is registered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The names of the registered resources, in registration order.
    pub fn type_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.order.iter().map(|(_, _, name)| *name)
    }

    /// Whether a resource of the type with this id was registered.
    pub(crate) fn contains_type(&self, ty: TypeId) -> bool {
        self.types.contains(&ty)
    }

    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: Arc<T>) {
        if self.map.insert(value).is_none() {
            self.types.insert(TypeId::of::<T>());
            self.order.push((
                TypeId::of::<Arc<T>>(),
                TypeId::of::<T>(),
                crate::names::short_type_name::<T>(),
            ));
        }
    }

    /// Takes the value of type `T` out, so that its other holders may own it. Used by a
    /// lifespan's teardown only, once no request reads the container.
    pub(crate) fn remove<T: Send + Sync + 'static>(&mut self) -> Option<Arc<T>> {
        let removed = self.map.remove::<Arc<T>>()?;
        let ty = TypeId::of::<T>();
        self.types.remove(&ty);
        self.order.retain(|&(_, of, _)| of != ty);
        Some(removed)
    }

    /// Drops every value, last registered first.
    pub(crate) fn drop_in_reverse(&mut self) {
        let raw: &mut RawMap<_> = self.map.as_mut();
        while let Some((key, ty, name)) = self.order.pop() {
            self.types.remove(&ty);
            let _span = tracing::info_span!("roadie.drop", resource = name).entered();
            let began = std::time::Instant::now();
            drop(raw.remove(&key));
            tracing::debug!(
                elapsed_ms = began.elapsed().as_secs_f64() * 1000.0,
                "resource dropped"
            );
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        self.drop_in_reverse();
    }
}

impl fmt::Debug for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.type_names()).finish()
    }
}

/// A value produced by a provider, on its way into the container.
#[doc(hidden)]
pub struct Produced {
    insert: Box<dyn FnOnce(&mut Container) + Send>,
}

impl Produced {
    /// The value on its way into the container, or `None` for `()`, which registers nothing.
    pub(crate) fn new<T: Send + Sync + 'static>(value: T) -> Option<Self> {
        (!is_unit::<T>()).then(|| Self::from_arc(Arc::new(value)))
    }

    /// Like [`Produced::new`], for a value already shared.
    pub(crate) fn shared<T: Send + Sync + 'static>(value: Arc<T>) -> Option<Self> {
        (!is_unit::<T>()).then(|| Self::from_arc(value))
    }

    fn from_arc<T: Send + Sync + 'static>(value: Arc<T>) -> Self {
        Self {
            insert: Box::new(move |container| container.insert(value)),
        }
    }

    /// Several values on their way together (`Each`); `None` if none registers anything.
    pub(crate) fn all(produced: impl IntoIterator<Item = Option<Self>>) -> Option<Self> {
        let all: Vec<Self> = produced.into_iter().flatten().collect();
        (!all.is_empty()).then(|| Self {
            insert: Box::new(move |container| {
                for one in all {
                    one.insert_into(container);
                }
            }),
        })
    }

    pub(crate) fn insert_into(self, container: &mut Container) {
        (self.insert)(container);
    }
}

/// The type a node registers when it produces a `T`, with its name: `None` for `()`, which
/// registers nothing (so several nodes of `()` are not two providers of one type).
/// Names the type once: call it at registration, not per call.
pub(crate) fn registered_type<T: 'static>() -> Option<(TypeId, &'static str)> {
    (!is_unit::<T>()).then(|| (TypeId::of::<T>(), crate::names::short_type_name::<T>()))
}

/// Whether `T` is `()`.
fn is_unit<T: 'static>() -> bool {
    TypeId::of::<T>() == TypeId::of::<()>()
}

impl fmt::Debug for Produced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Produced")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Noisy(&'static str, Arc<Mutex<Vec<&'static str>>>);
    impl Drop for Noisy {
        fn drop(&mut self) {
            self.1.lock().unwrap().push(self.0);
        }
    }
    struct Other(#[expect(dead_code, reason = "only its drop matters")] Noisy);

    #[test]
    fn drops_in_reverse_registration_order() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut c = Container::new();
        c.insert(Arc::new(Noisy("first", log.clone())));
        c.insert(Arc::new(Other(Noisy("second", log.clone()))));
        assert_eq!(c.len(), 2);
        assert!(c.get::<Noisy>().is_some());
        drop(c);
        assert_eq!(*log.lock().unwrap(), ["second", "first"]);
    }
}
