//! Nodes made from functions: startup providers, shutdown hooks, lifespans and request-scoped
//! dependencies, for plain and async functions and closures of up to 16 parameters.

use std::any::TypeId;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::container::Produced;
use crate::error::{BoxError, Failure};
use crate::extract::{Context, FromContext, Needs, Prepare, Rejection};
use crate::lifecycle::ShutdownTrigger;
use crate::lifespan::LifespanSlot;
use crate::names::{callable_name, short_type_name};
use crate::rejection::HttpError;
use crate::scope::{DependencyOutput, Entry, PreparedDependency};

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
/// register nothing (the provider only runs); `Provide<T>` registers `T`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from a roadie startup provider",
    label = "not a provider result",
    note = "a provider returns `Result<T, E>` (for a closure: `Ok::<_, Infallible>(value)`), or `()`; \
            with the `#[on_startup]` attribute a plain `T` works too",
    note = "`T` must be `Send + Sync + 'static` and `E` must convert into `Box<dyn Error + Send + Sync>`"
)]
pub trait ProviderOutput: Send + 'static {
    /// The type registered, or `()` for nothing.
    type Value: Send + Sync + 'static;

    #[doc(hidden)]
    fn into_produced(self) -> Result<Option<Produced>, Failure>;
}

fn produce<T: Send + Sync + 'static>(value: T) -> Option<Produced> {
    if TypeId::of::<T>() == TypeId::of::<()>() {
        None
    } else {
        Some(Produced::new(value))
    }
}

impl ProviderOutput for () {
    type Value = ();

    fn into_produced(self) -> Result<Option<Produced>, Failure> {
        Ok(None)
    }
}

impl<T: Send + Sync + 'static, E: Into<BoxError> + Send + 'static> ProviderOutput for Result<T, E> {
    type Value = T;

    fn into_produced(self) -> Result<Option<Produced>, Failure> {
        self.map(produce).map_err(Failure::from_error)
    }
}

impl<T: Send + Sync + 'static> ProviderOutput for Provide<T> {
    type Value = T;

    fn into_produced(self) -> Result<Option<Produced>, Failure> {
        Ok(produce(self.0))
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

impl<T: Send + Sync + 'static> DependencyOutput<Provide<()>> for Provide<T> {
    type Value = T;

    fn into_entry(self) -> Result<Entry, BoxError> {
        Ok(Entry::new(std::any::type_name::<T>(), self.0, None))
    }
}

/// The call of a startup-side node: its value, if it registers one.
pub(crate) type NodeCall<'a> = BoxFuture<'a, Result<Option<Produced>, Failure>>;

/// A [`NodeCall`] that owns what it needs.
pub(crate) type NodeFuture = NodeCall<'static>;

/// A startup provider, lifespan or hook, type-erased.
pub(crate) trait RunNode: Send + Sync + 'static {
    /// Prepares the parameters against the container as it is now, and returns the call,
    /// which borrows the node: for providers and hooks, run while the app holds them.
    fn call<'a>(&'a self, prepare: &Prepare<'_>, shutdown: ShutdownTrigger) -> NodeCall<'a>;

    /// The same call, owning the node, with the lifespan's slot: for a lifespan, whose run is
    /// a task of its own.
    fn run(
        self: Arc<Self>,
        prepare: &Prepare<'_>,
        shutdown: ShutdownTrigger,
        lifespan: Option<LifespanSlot>,
    ) -> NodeFuture;
}

/// A request-scoped dependency, type-erased.
pub(crate) trait DependencyNode: Send + Sync + 'static {
    fn prepare(&self, prepare: &Prepare<'_>) -> Arc<dyn PreparedDependency>;
}

/// A registered node, as the graph and the lifecycle see it.
#[doc(hidden)]
pub struct NodeSpec {
    pub(crate) name: String,
    pub(crate) needs: Needs,
    pub(crate) provides: Option<(TypeId, &'static str)>,
    pub(crate) body: NodeBody,
}

impl fmt::Debug for NodeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeSpec")
            .field("name", &self.name)
            .field("provides", &self.provides.map(|(_, name)| name))
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub(crate) enum NodeBody {
    Run(Arc<dyn RunNode>),
    Dependency(Arc<dyn DependencyNode>),
}

fn provided<T: 'static>() -> Option<(TypeId, &'static str)> {
    if TypeId::of::<T>() == TypeId::of::<()>() {
        None
    } else {
        Some((TypeId::of::<T>(), short_type_name::<T>()))
    }
}

/// Marks a plain function or closure.
#[doc(hidden)]
#[derive(Debug)]
pub enum SyncFn {}
/// Marks an async function or a closure returning a future.
#[doc(hidden)]
#[derive(Debug)]
pub enum AsyncFn {}

/// A function or closure that can be a startup provider ([`App::on_startup`](crate::App::on_startup)).
///
/// Its parameters are extractors ([`Res<T>`](crate::Res), `Option<Res<T>>`, ...); it may be
/// plain or async, and returns `Result<T, E>` (registering `T`) or `()`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a roadie startup provider",
    label = "not a provider",
    note = "a provider is a plain or async function or closure whose parameters are extractors \
            (`Res<T>`, `Option<Res<T>>`) and that returns `Result<T, E>` or `()`",
    note = "closures return `Ok::<_, Infallible>(value)`; annotate a function with `#[on_startup]` \
            to take `&T` parameters and return a plain `T`"
)]
pub trait IntoProvider<M>: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_node(self) -> NodeSpec;
}

/// A function or closure that can be a shutdown hook ([`App::on_shutdown`](crate::App::on_shutdown)).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a roadie shutdown hook",
    label = "not a hook",
    note = "a hook is a plain or async function or closure whose parameters are extractors \
            (`Res<T>`, `Option<Res<T>>`) and that returns `()` or `Result<(), E>`"
)]
pub trait IntoHook<M>: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_node(self) -> NodeSpec;
}

/// An async function or closure that can be a lifespan ([`App::lifespan`](crate::App::lifespan)).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a roadie lifespan",
    label = "not a lifespan",
    note = "a lifespan is an async function taking `Lifespan<T>` and extractors, that returns \
            `()` or `Result<(), E>`; it sets up, calls `lifespan.ready(value).await`, then tears down"
)]
pub trait IntoLifespan<M>: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_node(self) -> NodeSpec;
}

/// A function or closure that can be a request-scoped dependency
/// ([`App::dependency`](crate::App::dependency)).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a roadie request-scoped dependency",
    label = "not a dependency",
    note = "a dependency is a plain or async function or closure whose parameters are extractors \
            (`Res<T>`, `Dep<T>`, `Path<T>`, `HeaderMap`, ...) and that returns `Result<T, E>`, \
            `Result<Scoped<T>, E>` or `Scoped<T>`"
)]
pub trait IntoDependency<M>: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_node(self) -> NodeSpec;
}

/// A request-scoped dependency's function, shared with what it prepares.
struct FnNode<F, M> {
    f: Arc<F>,
    _marker: PhantomData<fn() -> M>,
}

/// A startup provider's, hook's or lifespan's function, held in place: calling one whose
/// function captures nothing reads no memory of its own.
struct RunFn<F, M> {
    f: F,
    _marker: PhantomData<fn() -> M>,
}

/// A [`RunFn`]'s call, plain or async and of any arity; [`RunNode`] is written once above it.
trait Invoke: Send + Sync + 'static {
    /// What its parameters prepare against the container.
    type States: Send + Sync + 'static;

    fn prepare(prepare: &Prepare<'_>) -> Self::States;

    fn invoke(
        &self,
        states: Self::States,
        shutdown: ShutdownTrigger,
        lifespan: Option<LifespanSlot>,
    ) -> impl Future<Output = Result<Option<Produced>, Failure>> + Send + '_;
}

impl<F, M> RunNode for RunFn<F, M>
where
    Self: Invoke,
{
    fn call<'a>(&'a self, prepare: &Prepare<'_>, shutdown: ShutdownTrigger) -> NodeCall<'a> {
        Box::pin(self.invoke(Self::prepare(prepare), shutdown, None))
    }

    fn run(
        self: Arc<Self>,
        prepare: &Prepare<'_>,
        shutdown: ShutdownTrigger,
        lifespan: Option<LifespanSlot>,
    ) -> NodeFuture {
        let states = Self::prepare(prepare);
        Box::pin(async move { self.invoke(states, shutdown, lifespan).await })
    }
}

struct PreparedFn<F, S, M> {
    f: Arc<F>,
    states: S,
    name: &'static str,
    _marker: PhantomData<fn() -> M>,
}

fn dependency_failure(name: &str, error: BoxError) -> Rejection {
    if let Some(http) = error.downcast_ref::<HttpError>() {
        return Rejection::new(http.status(), http.message().to_owned());
    }
    if let Some(rejection) = error.downcast_ref::<Rejection>() {
        return rejection.clone();
    }
    Rejection::internal(format!(
        "the request-scoped dependency `{name}` failed: {}",
        Failure::Error(Arc::from(error))
    ))
}

fn parameter_failure(rejection: Rejection) -> Failure {
    Failure::from_error(rejection)
}

/// [`Invoke`] for a plain (`SyncFn`) or async (`AsyncFn`) function of the parameters `$T`,
/// returning `$Out`: the two differ only in awaiting the call.
macro_rules! impl_invoke {
    ([$($T:ident),*] $marker:ident $Out:ident [$($bounds:tt)*] [$($await:tt)*]) => {
        #[allow(non_snake_case, unused_variables, unused_mut, clippy::unused_unit)]
        impl<F, $Out, $($T,)*> Invoke for RunFn<F, ($marker, fn($($T,)*) -> $Out)>
        where
            $($bounds)*
            $($T: FromContext,)*
        {
            type States = ($(<$T as FromContext>::State,)*);

            fn prepare(prepare: &Prepare<'_>) -> Self::States {
                ($(<$T as FromContext>::prepare(prepare),)*)
            }

            async fn invoke(
                &self,
                states: Self::States,
                shutdown: ShutdownTrigger,
                lifespan: Option<LifespanSlot>,
            ) -> Result<Option<Produced>, Failure> {
                let mut cx = Context { request: None, lifespan, shutdown: &shutdown };
                let ($($T,)*) = &states;
                $(
                    let $T = <$T as FromContext>::from_context($T, &mut cx).await.map_err(parameter_failure)?;
                )*
                (self.f)($($T),*)$($await)*.into_produced()
            }
        }
    };
}

macro_rules! impl_nodes {
    ([$($T:ident),*]) => {
        // ---- startup providers and hooks, plain ----
        impl_invoke!([$($T),*] SyncFn R [
            F: Fn($($T),*) -> R + Send + Sync + 'static,
            R: ProviderOutput,
        ] []);

        // ---- startup providers, hooks and lifespans, async ----
        impl_invoke!([$($T),*] AsyncFn Fut [
            F: Fn($($T),*) -> Fut + Send + Sync + 'static,
            Fut: Future + Send + 'static,
            Fut::Output: ProviderOutput,
        ] [.await]);

        #[allow(non_snake_case)]
        impl<F, R, $($T,)*> IntoProvider<(SyncFn, fn($($T,)*) -> R)> for F
        where
            F: Fn($($T),*) -> R + Send + Sync + 'static,
            R: ProviderOutput,
            $($T: FromContext,)*
        {
            fn into_node(self) -> NodeSpec {
                #[allow(unused_mut)]
                let mut needs = Needs::default();
                $(<$T as FromContext>::describe(&mut needs);)*
                let provides = provided::<R::Value>();
                NodeSpec {
                    name: callable_name::<F>(provides.map(|(_, name)| name)),
                    needs,
                    provides,
                    body: NodeBody::Run(Arc::new(RunFn::<F, (SyncFn, fn($($T,)*) -> R)> { f: self, _marker: PhantomData })),
                }
            }
        }

        #[allow(non_snake_case)]
        impl<F, Fut, $($T,)*> IntoProvider<(AsyncFn, fn($($T,)*) -> Fut)> for F
        where
            F: Fn($($T),*) -> Fut + Send + Sync + 'static,
            Fut: Future + Send + 'static,
            Fut::Output: ProviderOutput,
            $($T: FromContext,)*
        {
            fn into_node(self) -> NodeSpec {
                #[allow(unused_mut)]
                let mut needs = Needs::default();
                $(<$T as FromContext>::describe(&mut needs);)*
                let provides = provided::<<Fut::Output as ProviderOutput>::Value>();
                NodeSpec {
                    name: callable_name::<F>(provides.map(|(_, name)| name)),
                    needs,
                    provides,
                    body: NodeBody::Run(Arc::new(RunFn::<F, (AsyncFn, fn($($T,)*) -> Fut)> { f: self, _marker: PhantomData })),
                }
            }
        }

        #[allow(non_snake_case)]
        impl<F, R, $($T,)*> IntoHook<(SyncFn, fn($($T,)*) -> R)> for F
        where
            F: Fn($($T),*) -> R + Send + Sync + 'static,
            R: ProviderOutput + HookOutput,
            $($T: FromContext,)*
        {
            fn into_node(self) -> NodeSpec {
                #[allow(unused_mut)]
                let mut needs = Needs::default();
                $(<$T as FromContext>::describe(&mut needs);)*
                NodeSpec {
                    name: callable_name::<F>(None),
                    needs,
                    provides: None,
                    body: NodeBody::Run(Arc::new(RunFn::<F, (SyncFn, fn($($T,)*) -> R)> { f: self, _marker: PhantomData })),
                }
            }
        }

        #[allow(non_snake_case)]
        impl<F, Fut, $($T,)*> IntoHook<(AsyncFn, fn($($T,)*) -> Fut)> for F
        where
            F: Fn($($T),*) -> Fut + Send + Sync + 'static,
            Fut: Future + Send + 'static,
            Fut::Output: ProviderOutput + HookOutput,
            $($T: FromContext,)*
        {
            fn into_node(self) -> NodeSpec {
                #[allow(unused_mut)]
                let mut needs = Needs::default();
                $(<$T as FromContext>::describe(&mut needs);)*
                NodeSpec {
                    name: callable_name::<F>(None),
                    needs,
                    provides: None,
                    body: NodeBody::Run(Arc::new(RunFn::<F, (AsyncFn, fn($($T,)*) -> Fut)> { f: self, _marker: PhantomData })),
                }
            }
        }

        #[allow(non_snake_case)]
        impl<F, Fut, $($T,)*> IntoLifespan<(AsyncFn, fn($($T,)*) -> Fut)> for F
        where
            F: Fn($($T),*) -> Fut + Send + Sync + 'static,
            Fut: Future + Send + 'static,
            Fut::Output: ProviderOutput + HookOutput,
            $($T: FromContext,)*
        {
            fn into_node(self) -> NodeSpec {
                #[allow(unused_mut)]
                let mut needs = Needs::default();
                $(<$T as FromContext>::describe(&mut needs);)*
                let provides = needs
                    .items
                    .iter()
                    .find(|need| need.kind == crate::extract::NeedKind::Provides)
                    .filter(|need| need.ty != TypeId::of::<()>())
                    .map(|need| (need.ty, need.ty_name));
                NodeSpec {
                    name: callable_name::<F>(provides.map(|(_, name)| name)),
                    needs,
                    provides,
                    body: NodeBody::Run(Arc::new(RunFn::<F, (AsyncFn, fn($($T,)*) -> Fut)> { f: self, _marker: PhantomData })),
                }
            }
        }

        // ---- request-scoped dependencies ----
        #[allow(non_snake_case, unused_variables, unused_mut)]
        impl<F, R, O, $($T,)*> PreparedDependency for PreparedFn<F, ($(<$T as FromContext>::State,)*), (SyncFn, O, fn($($T,)*) -> R)>
        where
            F: Fn($($T),*) -> R + Send + Sync + 'static,
            R: DependencyOutput<O>,
            O: 'static,
            $($T: FromContext,)*
        {
            fn build<'a>(&'a self, cx: &'a mut Context<'_>) -> BoxFuture<'a, Result<Entry, Rejection>> {
                Box::pin(async move {
                    let ($($T,)*) = &self.states;
                    $(
                        let $T = <$T as FromContext>::from_context($T, cx).await?;
                    )*
                    (self.f)($($T),*).into_entry().map_err(|error| dependency_failure(self.name, error))
                })
            }
        }

        #[allow(non_snake_case, unused_variables, unused_mut)]
        impl<F, Fut, O, $($T,)*> PreparedDependency for PreparedFn<F, ($(<$T as FromContext>::State,)*), (AsyncFn, O, fn($($T,)*) -> Fut)>
        where
            F: Fn($($T),*) -> Fut + Send + Sync + 'static,
            Fut: Future + Send + 'static,
            Fut::Output: DependencyOutput<O>,
            O: 'static,
            $($T: FromContext,)*
        {
            fn build<'a>(&'a self, cx: &'a mut Context<'_>) -> BoxFuture<'a, Result<Entry, Rejection>> {
                Box::pin(async move {
                    let ($($T,)*) = &self.states;
                    $(
                        let $T = <$T as FromContext>::from_context($T, cx).await?;
                    )*
                    (self.f)($($T),*).await.into_entry().map_err(|error| dependency_failure(self.name, error))
                })
            }
        }

        #[allow(non_snake_case, unused_variables)]
        impl<F, R, O, $($T,)*> DependencyNode for FnNode<F, (SyncFn, O, fn($($T,)*) -> R)>
        where
            F: Fn($($T),*) -> R + Send + Sync + 'static,
            R: DependencyOutput<O>,
            O: 'static,
            $($T: FromContext,)*
        {
            fn prepare(&self, prepare: &Prepare<'_>) -> Arc<dyn PreparedDependency> {
                Arc::new(PreparedFn::<F, _, (SyncFn, O, fn($($T,)*) -> R)> {
                    f: Arc::clone(&self.f),
                    states: ($(<$T as FromContext>::prepare(prepare),)*),
                    name: short_type_name::<R::Value>(),
                    _marker: PhantomData,
                })
            }
        }

        #[allow(non_snake_case, unused_variables)]
        impl<F, Fut, O, $($T,)*> DependencyNode for FnNode<F, (AsyncFn, O, fn($($T,)*) -> Fut)>
        where
            F: Fn($($T),*) -> Fut + Send + Sync + 'static,
            Fut: Future + Send + 'static,
            Fut::Output: DependencyOutput<O>,
            O: 'static,
            $($T: FromContext,)*
        {
            fn prepare(&self, prepare: &Prepare<'_>) -> Arc<dyn PreparedDependency> {
                Arc::new(PreparedFn::<F, _, (AsyncFn, O, fn($($T,)*) -> Fut)> {
                    f: Arc::clone(&self.f),
                    states: ($(<$T as FromContext>::prepare(prepare),)*),
                    name: short_type_name::<<Fut::Output as DependencyOutput<O>>::Value>(),
                    _marker: PhantomData,
                })
            }
        }

        #[allow(non_snake_case)]
        impl<F, R, O, $($T,)*> IntoDependency<(SyncFn, O, fn($($T,)*) -> R)> for F
        where
            F: Fn($($T),*) -> R + Send + Sync + 'static,
            R: DependencyOutput<O>,
            O: 'static,
            $($T: FromContext,)*
        {
            fn into_node(self) -> NodeSpec {
                #[allow(unused_mut)]
                let mut needs = Needs::default();
                $(<$T as FromContext>::describe(&mut needs);)*
                let provides = Some((TypeId::of::<R::Value>(), short_type_name::<R::Value>()));
                NodeSpec {
                    name: callable_name::<F>(provides.map(|(_, name)| name)),
                    needs,
                    provides,
                    body: NodeBody::Dependency(Arc::new(FnNode::<F, (SyncFn, O, fn($($T,)*) -> R)> { f: Arc::new(self), _marker: PhantomData })),
                }
            }
        }

        #[allow(non_snake_case)]
        impl<F, Fut, O, $($T,)*> IntoDependency<(AsyncFn, O, fn($($T,)*) -> Fut)> for F
        where
            F: Fn($($T),*) -> Fut + Send + Sync + 'static,
            Fut: Future + Send + 'static,
            Fut::Output: DependencyOutput<O>,
            O: 'static,
            $($T: FromContext,)*
        {
            fn into_node(self) -> NodeSpec {
                #[allow(unused_mut)]
                let mut needs = Needs::default();
                $(<$T as FromContext>::describe(&mut needs);)*
                type V<Fut, O> = <<Fut as Future>::Output as DependencyOutput<O>>::Value;
                let provides = Some((TypeId::of::<V<Fut, O>>(), short_type_name::<V<Fut, O>>()));
                NodeSpec {
                    name: callable_name::<F>(provides.map(|(_, name)| name)),
                    needs,
                    provides,
                    body: NodeBody::Dependency(Arc::new(FnNode::<F, (AsyncFn, O, fn($($T,)*) -> Fut)> { f: Arc::new(self), _marker: PhantomData })),
                }
            }
        }
    };
}

macro_rules! all_the_tuples {
    ($name:ident) => {
        $name!([]);
        $name!([T1]);
        $name!([T1, T2]);
        $name!([T1, T2, T3]);
        $name!([T1, T2, T3, T4]);
        $name!([T1, T2, T3, T4, T5]);
        $name!([T1, T2, T3, T4, T5, T6]);
        $name!([T1, T2, T3, T4, T5, T6, T7]);
        $name!([T1, T2, T3, T4, T5, T6, T7, T8]);
        $name!([T1, T2, T3, T4, T5, T6, T7, T8, T9]);
        $name!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10]);
        $name!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11]);
        $name!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12]);
        $name!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13]);
        $name!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14]);
        $name!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15]);
        $name!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15, T16]);
    };
}

all_the_tuples!(impl_nodes);
