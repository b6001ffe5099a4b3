//! What the user's functions return: a startup provider's value ([`ProviderOutput`]), a hook's,
//! lifespan's or release's result ([`HookOutput`]), and the [`Provide`] wrapper that the
//! attributes put around a plain returned `T`.

use std::any::TypeId;

use crate::container::{registered_type, type_of, Produced};
use crate::error::{BoxError, Failure};
use crate::extract::{Each, One, Resources};

/// A value returned by an annotated provider that returns a plain `T`.
///
/// The `#[on_startup]` and `#[dependency]` attributes wrap a plain return type in `Provide<T>`
/// so that the function registers as it is and stays callable: `config().url` reads through
/// it. Closures return `Result<T, E>` instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Provide<T>(pub T);

impl<T> Provide<T> {
    /// The value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Provide<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// What a startup provider returns: `Result<T, E>` registers `T`; `()` and `Result<(), E>`
/// register nothing (the provider only runs); `Provide<T>` registers `T`;
/// `Result<Each<(A, B)>, E>` (or a plain [`Each`]) registers `A` and `B`, each under its own
/// type. `M` tells one value from several apart; the compiler infers it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from a roadie startup provider",
    label = "not a provider result",
    note = "a provider returns `Result<T, E>` (for a closure: `Ok::<_, Infallible>(value)`), or `()`; \
            with the `#[on_startup]` attribute a plain `T` works too",
    note = "`T` must be `Send + Sync + 'static` and `E` must convert into `Box<dyn Error + Send + Sync>`"
)]
pub trait ProviderOutput<M = One>: Send + 'static {
    /// The types registered, with their names: none, one, or several.
    #[doc(hidden)]
    fn provides() -> Vec<(TypeId, &'static str)>;

    #[doc(hidden)]
    fn into_produced(self) -> Result<Option<Produced>, Failure>;
}

impl ProviderOutput for () {
    fn provides() -> Vec<(TypeId, &'static str)> {
        Vec::new()
    }

    fn into_produced(self) -> Result<Option<Produced>, Failure> {
        Ok(None)
    }
}

impl<T: Send + Sync + 'static, E: Into<BoxError> + Send + 'static> ProviderOutput for Result<T, E> {
    fn provides() -> Vec<(TypeId, &'static str)> {
        registered_type(type_of::<T>()).into_iter().collect()
    }

    fn into_produced(self) -> Result<Option<Produced>, Failure> {
        match self {
            Ok(value) => Ok(Produced::new(value)),
            Err(error) => Err(Failure::from_error(error)),
        }
    }
}

impl<T: Send + Sync + 'static> ProviderOutput for Provide<T> {
    fn provides() -> Vec<(TypeId, &'static str)> {
        registered_type(type_of::<T>()).into_iter().collect()
    }

    fn into_produced(self) -> Result<Option<Produced>, Failure> {
        Ok(Produced::new(self.0))
    }
}

impl<R: Resources, E: Into<BoxError> + Send + 'static> ProviderOutput<Each> for Result<Each<R>, E> {
    fn provides() -> Vec<(TypeId, &'static str)> {
        R::types()
    }

    fn into_produced(self) -> Result<Option<Produced>, Failure> {
        self.map(|each| each.into_inner().share().0)
            .map_err(Failure::from_error)
    }
}

impl<R: Resources> ProviderOutput<Each> for Each<R> {
    fn provides() -> Vec<(TypeId, &'static str)> {
        R::types()
    }

    fn into_produced(self) -> Result<Option<Produced>, Failure> {
        Ok(self.into_inner().share().0)
    }
}

/// What a shutdown hook, a lifespan or a release returns: `()` or `Result<(), E>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from a roadie hook or lifespan",
    label = "return `()` or `Result<(), E>`",
    note = "shutdown hooks, lifespans and releases return `()` or `Result<(), E>` where `E` \
            converts into `Box<dyn Error + Send + Sync>`"
)]
pub trait HookOutput: Send + 'static {
    #[doc(hidden)]
    fn into_hook_result(self) -> Result<(), Failure>;
}

impl HookOutput for () {
    fn into_hook_result(self) -> Result<(), Failure> {
        Ok(())
    }
}

impl<E: Into<BoxError> + Send + 'static> HookOutput for Result<(), E> {
    fn into_hook_result(self) -> Result<(), Failure> {
        self.map_err(Failure::from_error)
    }
}

/// What a plain (not async) function can return to be a node: `()`, `Result<T, E>`,
/// `Provide<T>` or `Scoped<T>`. Never a future, so that a function is a plain node or an async
/// one, never both, and the compiler picks one reading without annotations.
#[doc(hidden)]
pub trait PlainOutput: Send + 'static {}

impl PlainOutput for () {}
impl<T: Send + 'static, E: Send + 'static> PlainOutput for Result<T, E> {}
impl<T: Send + 'static> PlainOutput for Provide<T> {}
impl<T: Send + 'static> PlainOutput for Each<T> {}
