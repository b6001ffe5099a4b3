//! The session-scoped container: one value per type, shared for the life of the app.

use std::any::{Any, TypeId};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Deref;
use std::sync::Arc;

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

/// A shared value of any type `T`, as the container holds it: its `Arc<T>`, boxed (read back
/// through a reference, with `downcast_ref`, which compiles to less per type than
/// downcasting an `Arc<dyn Any>`).
type AnyValue = Box<dyn Any + Send + Sync>;

/// The typed container of session-scoped resources.
///
/// It is filled during startup, one value per type, and frozen once the app runs: readers
/// never take a lock. Values are dropped in the reverse of the order they were registered.
///
/// Each value is held by its type's [`TypeId`], as the `Arc<T>` it was registered with,
/// boxed as `dyn Any`, and is downcast when read: reading happens when
/// the app's functions are prepared at start, not per request. Inserting is not generic, so
/// that each provided type compiles no code of the map's.
pub struct Container {
    map: TypeMap<AnyValue>,
    /// `(type of the value, its name)` in registration order, for dropping in reverse.
    order: Vec<(TypeId, &'static str)>,
}

impl Default for Container {
    fn default() -> Self {
        Self::new()
    }
}

impl Container {
    pub(crate) fn new() -> Self {
        Self {
            map: HashMap::default(),
            order: Vec::new(),
        }
    }

    /// The resource of type `T`, if one was registered.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<Res<T>> {
        self.get_arc::<T>().map(Res)
    }

    /// The shared value of type `T`, if one was registered.
    pub(crate) fn get_arc<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        match self.map.get(&TypeId::of::<T>()) {
            // Read as a plain `dyn Any` (see `ErasedFn::get`): one `downcast_ref` per type.
            Some(value) => match (&**value as &dyn Any).downcast_ref::<Arc<T>>() {
                Some(value) => Some(Arc::clone(value)),
                None => None,
            },
            None => None,
        }
    }

    /// Whether a resource of type `T` was registered.
    pub fn contains<T: Send + Sync + 'static>(&self) -> bool {
        self.contains_type(TypeId::of::<T>())
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
        self.order.iter().map(|(_, name)| *name)
    }

    /// Whether a resource of the type with this id was registered.
    pub(crate) fn contains_type(&self, ty: TypeId) -> bool {
        self.map.contains_key(&ty)
    }

    #[cfg(test)]
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: Arc<T>) {
        self.insert_any(
            TypeId::of::<T>(),
            std::any::type_name::<T>(),
            Box::new(value),
        );
    }

    /// Registers `value`, whose type has the id `ty` and is named `type_name` (in full, as
    /// `type_name` gives it), unless a value of that type is registered already.
    fn insert_any(&mut self, ty: TypeId, type_name: &'static str, value: AnyValue) {
        if let Entry::Vacant(vacant) = self.map.entry(ty) {
            vacant.insert(value);
            self.order.push((ty, crate::names::static_short(type_name)));
        }
    }

    /// Takes the value of type `T` out, so that its other holders may own it. Used by a
    /// lifespan's teardown only, once no request reads the container.
    pub(crate) fn remove<T: Send + Sync + 'static>(&mut self) -> Option<Arc<T>> {
        let value = self.get_arc::<T>()?;
        let ty = TypeId::of::<T>();
        self.map.remove(&ty);
        self.order.retain(|&(of, _)| of != ty);
        Some(value)
    }

    /// Drops every value, last registered first.
    pub(crate) fn drop_in_reverse(&mut self) {
        while let Some((ty, name)) = self.order.pop() {
            let _span = tracing::info_span!("roadie.drop", resource = name).entered();
            let began = std::time::Instant::now();
            drop(self.map.remove(&ty));
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

/// A map keyed by [`TypeId`], hashed with [`TypeIdHasher`].
pub(crate) type TypeMap<V> = HashMap<TypeId, V, BuildHasherDefault<TypeIdHasher>>;

/// Hashes a [`TypeId`], which is already a hash: it keeps the `u64` that `TypeId` writes.
#[derive(Default)]
pub(crate) struct TypeIdHasher(u64);

impl Hasher for TypeIdHasher {
    fn write(&mut self, bytes: &[u8]) {
        // `TypeId` writes one `u64`; fold anything else in all the same.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 ^= value;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Values produced by a provider or a lifespan, on their way into the container: each with
/// its type's id and name.
#[doc(hidden)]
pub struct Produced {
    /// Most nodes register one value: it is held here without an allocation of its own.
    values: smallvec::SmallVec<[(TypeId, &'static str, AnyValue); 1]>,
}

impl Produced {
    /// The value on its way into the container, or `None` for `()`, which registers nothing.
    pub(crate) fn new<T: Send + Sync + 'static>(value: T) -> Option<Self> {
        // Checked before the value is shared, so that `()` allocates nothing.
        let ty = registered(type_of::<T>())?;
        Some(Self::one(ty, Box::new(Arc::new(value))))
    }

    /// Like [`Produced::new`], for a value already shared.
    pub(crate) fn shared<T: Send + Sync + 'static>(value: Arc<T>) -> Option<Self> {
        let ty = registered(type_of::<T>())?;
        Some(Self::one(ty, Box::new(value)))
    }

    /// One value, of the type with the id `ty` and named `type_name` (in full).
    fn one((ty, type_name): (TypeId, &'static str), value: AnyValue) -> Self {
        Self {
            values: smallvec::smallvec![(ty, type_name, value)],
        }
    }

    /// Several values on their way together (`Each`); `None` if none registers anything.
    pub(crate) fn all(produced: impl IntoIterator<Item = Option<Self>>) -> Option<Self> {
        let values: smallvec::SmallVec<_> = produced
            .into_iter()
            .flatten()
            .flat_map(|one| one.values)
            .collect();
        if values.is_empty() {
            return None;
        }
        Some(Self { values })
    }

    pub(crate) fn insert_into(self, container: &mut Container) {
        for (ty, type_name, value) in self.values {
            container.insert_any(ty, type_name, value);
        }
    }
}

/// `T`'s id and its name in full: one function per type, shared by whatever reads either at
/// registration (what a node needs, what it provides) or at start (what it produced).
pub(crate) fn type_of<T: ?Sized + 'static>() -> (TypeId, &'static str) {
    (TypeId::of::<T>(), std::any::type_name::<T>())
}

/// The type a node registers when it produces the type `ty` (its id and full name, from
/// [`type_of`]), with its short name: `None` for `()`, which registers nothing (so several
/// nodes of `()` are not two providers of one type). Not generic; call it at registration,
/// not per call.
pub(crate) fn registered_type(ty: (TypeId, &'static str)) -> Option<(TypeId, &'static str)> {
    registered(ty).map(|(ty, name)| (ty, crate::names::static_short(name)))
}

/// `ty` (its id and name), unless it is `()`.
pub(crate) fn registered(ty: (TypeId, &'static str)) -> Option<(TypeId, &'static str)> {
    (ty.0 != TypeId::of::<()>()).then_some(ty)
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
