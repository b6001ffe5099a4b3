//! What [`App`](crate::App)'s registration methods take: the traits that make a startup
//! provider, a shutdown hook, a lifespan or a request-scoped dependency of a function, and
//! what those functions may return. Route handlers are in [`handler`](crate::handler).
//!
//! Each kind is written once, over the one function of extractors that every node shares.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;

pub use crate::output::{HookOutput, ProviderOutput};
pub use crate::scope::DependencyOutput;

use crate::blueprint::{Body, DependencyNode, Kind, NodeCall, NodeFuture, Registration, RunNode};
use crate::container::{registered_type, type_of, Produced};
use crate::error::{BoxError, Failure};
use crate::extract::{Context, LifespanSlot, NeedKind, Needs, One, Prepare, Rejection};
use crate::function::{
    AsyncFn, ErasedFn, ExtractorFn, FnNode, PlainCall, Prepared, Start, Starting,
};
use crate::names::{callable_name, callable_name_of, short_type_name};
use crate::response::HttpError;
use crate::scope::{Entry, PreparedDependency};
use crate::shutdown::ShutdownTrigger;

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
    fn into_node(self) -> Registration;
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
    fn into_node(self) -> Registration;
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
    fn into_node(self) -> Registration;
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
    fn into_node(self) -> Registration;
}

/// What a function's parameters need.
fn needs_of<F: ExtractorFn<M>, M>() -> Needs {
    let mut needs = Needs::default();
    F::describe(&mut needs);
    needs
}

/// What a startup node registers, read at registration.
enum Provides {
    /// The types its function's output registers ([`ProviderOutput::provides`]).
    Output(fn() -> Vec<(std::any::TypeId, &'static str)>),
    /// Nothing: a shutdown hook.
    Nothing,
    /// The `T` of its `Lifespan<T>` parameter, or each type of its `Lifespan<(A, B), Each>`:
    /// a lifespan.
    Lifespan,
}

/// A startup node's function, as its registration takes it: each part that depends on the
/// function's type is a function pointer or a value, so that the registration's code
/// ([`run_registration`]) compiles once, and each function only its
/// [`ExtractorFn::start`].
struct RunFn {
    /// The function's type's name ([`std::any::type_name`]), which the node is named for.
    type_name: fn() -> &'static str,
    /// Records what the function's parameters need ([`ExtractorFn::describe`]).
    describe: fn(&mut Needs),
    provides: Provides,
    node: FnRunNode,
}

/// The [`RunFn`] of the function `$f`, an `F: ExtractorFn<M>` whose output is converted as
/// a `ProviderOutput<O>`: written out in each `into_node`, so that a registration compiles
/// no function of its own besides that one and [`ExtractorFn::start`].
macro_rules! run_fn {
    ($f:expr, <$F:ty as $M:ty, $O:ty>, $provides:expr) => {
        RunFn {
            type_name: std::any::type_name::<$F>,
            describe: <$F as ExtractorFn<$M>>::describe,
            provides: $provides,
            node: FnRunNode {
                f: ErasedFn::new(Box::new($f)),
                start: <$F as ExtractorFn<$M>>::start::<$O>,
                plain: <$F as ExtractorFn<$M>>::PLAIN,
            },
        }
    };
}

/// The registration of a startup node of the kind `kind`, named for its function and for
/// what it provides. Not generic.
fn run_registration(kind: Kind, run: RunFn) -> Registration {
    let RunFn {
        type_name,
        describe,
        provides,
        node,
    } = run;
    let mut needs = Needs::default();
    describe(&mut needs);
    let provides = match provides {
        Provides::Output(provides) => provides(),
        Provides::Nothing => Vec::new(),
        Provides::Lifespan => needs
            .items
            .iter()
            .filter(|need| matches!(need.kind, NeedKind::Provides { .. }))
            .filter_map(|need| need.registered())
            .collect(),
    };
    let mut registration =
        Registration::new(kind, String::new(), needs, None, Body::Run(Arc::new(node)));
    registration.provides = provides.into_iter().collect();
    registration.name = callable_name_of(type_name(), registration.provided_names().as_deref());
    registration
}

impl<F, M, O> IntoProvider<(M, O)> for F
where
    F: ExtractorFn<M>,
    F::Output: ProviderOutput<O>,
    M: 'static,
    O: 'static,
{
    fn into_node(self) -> Registration {
        let provides = Provides::Output(<F::Output as ProviderOutput<O>>::provides);
        run_registration(Kind::Provider, run_fn!(self, <F as M, O>, provides))
    }
}

impl<F, M> IntoHook<M> for F
where
    F: ExtractorFn<M>,
    F::Output: ProviderOutput + HookOutput,
    M: 'static,
{
    fn into_node(self) -> Registration {
        run_registration(Kind::Hook, run_fn!(self, <F as M, One>, Provides::Nothing))
    }
}

impl<F, P, L> IntoLifespan<(AsyncFn, P, L)> for F
where
    F: ExtractorFn<(AsyncFn, P, L)>,
    F::Output: ProviderOutput + HookOutput,
    P: 'static,
    L: 'static,
{
    fn into_node(self) -> Registration {
        let run = run_fn!(self, <F as (AsyncFn, P, L), One>, Provides::Lifespan);
        run_registration(Kind::Lifespan, run)
    }
}

impl<F, M, O> IntoDependency<(M, O)> for F
where
    F: ExtractorFn<M>,
    F::Output: DependencyOutput<O>,
    M: 'static,
    O: 'static,
{
    fn into_node(self) -> Registration {
        type Value<F, M, O> = <<F as ExtractorFn<M>>::Output as DependencyOutput<O>>::Value;
        let name = short_type_name::<Value<F, M, O>>();
        Registration::new(
            Kind::Dependency,
            callable_name::<F>(Some(name)),
            needs_of::<F, M>(),
            Some((std::any::TypeId::of::<Value<F, M, O>>(), name)),
            Body::Dependency(Arc::new(FnNode::<F, M, O>::new(self))),
        )
    }
}

/// The node of every startup provider, hook and lifespan made from a function: one type,
/// holding the function erased and its type's [`ExtractorFn::start`], so that a registration
/// compiles only that function.
struct FnRunNode {
    f: ErasedFn,
    start: fn(Start, &Prepare<'_>) -> Starting,
    /// Whether the function is plain (not async): see [`RunNode::plain`].
    plain: bool,
}

impl RunNode for FnRunNode {
    fn call<'a>(&'a self, prepare: &Prepare<'_>, shutdown: ShutdownTrigger) -> NodeCall<'a> {
        (self.start)(Start::new(&self.f, shutdown, None), prepare).into_future()
    }

    fn run(
        self: Arc<Self>,
        prepare: &Prepare<'_>,
        shutdown: ShutdownTrigger,
        lifespan: Option<LifespanSlot>,
    ) -> NodeFuture {
        (self.start)(Start::new(&self.f, shutdown, lifespan), prepare).into_future()
    }

    fn plain(&self) -> bool {
        self.plain
    }

    fn plain_call(&self, prepare: &Prepare<'_>, shutdown: ShutdownTrigger) -> Option<PlainCall> {
        match (self.start)(Start::new(&self.f, shutdown, None), prepare) {
            Starting::Plain(call) => Some(call),
            Starting::Async(_) => None,
        }
    }
}

impl<F, M, O> DependencyNode for FnNode<F, M, O>
where
    F: ExtractorFn<M>,
    F::Output: DependencyOutput<O>,
    M: 'static,
    O: 'static,
{
    fn prepare(&self, prepare: &Prepare<'_>, blocking: bool) -> Arc<dyn PreparedDependency> {
        let prepared = FnNode::prepare(self, prepare);
        if blocking {
            Arc::new(OnBlockingPool(prepared))
        } else {
            Arc::new(prepared)
        }
    }
}

/// A request-scoped dependency registered with [`App::blocking`](crate::App::blocking): a
/// plain function runs on tokio's blocking pool instead of inline.
struct OnBlockingPool<P>(P);

impl<F, M, O> PreparedDependency for OnBlockingPool<Prepared<F, M, O>>
where
    F: ExtractorFn<M>,
    F::Output: DependencyOutput<O>,
    M: 'static,
    O: 'static,
{
    fn build<'a>(&'a self, cx: &'a mut Context<'_>) -> BoxFuture<'a, Result<Entry, Rejection>> {
        Box::pin(async move {
            let (f, state) = self.0.parts();
            into_entry::<F, M, O>(f.call_blocking(state, cx).await)
        })
    }
}

impl<F, M, O> PreparedDependency for Prepared<F, M, O>
where
    F: ExtractorFn<M>,
    F::Output: DependencyOutput<O>,
    M: 'static,
    O: 'static,
{
    fn build<'a>(&'a self, cx: &'a mut Context<'_>) -> BoxFuture<'a, Result<Entry, Rejection>> {
        let (f, state) = self.parts();
        Box::pin(f.call_then(state, cx, Bytes::new(), into_entry::<F, M, O>))
    }
}

/// A dependency function's call, made into its scope entry: its value, or the answer to its
/// failure.
fn into_entry<F, M, O>(called: Result<F::Output, Rejection>) -> Result<Entry, Rejection>
where
    F: ExtractorFn<M>,
    F::Output: DependencyOutput<O>,
{
    match called?.into_entry() {
        Ok(entry) => Ok(entry),
        Err(error) => Err(dependency_failure::<
            <F::Output as DependencyOutput<O>>::Value,
        >(error)),
    }
}

/// The answer to a dependency function's error: its own status for an [`HttpError`] or a
/// [`Rejection`], else `500` (the error is logged, not sent).
fn dependency_failure<T>(error: BoxError) -> Rejection {
    if let Some(http) = error.downcast_ref::<HttpError>() {
        return Rejection::new(http.status(), http.message().to_owned());
    }
    if let Some(rejection) = error.downcast_ref::<Rejection>() {
        return rejection.clone();
    }
    // Named here, on the failure path only: `short_type_name` is for registration.
    Rejection::internal(format!(
        "the request-scoped dependency `{}` failed: {}",
        crate::names::shorten(std::any::type_name::<T>()),
        Failure::Error(Arc::from(error))
    ))
}

/// A plain provider standing in for a lifespan (`App::replace`): it hands its value over where
/// the lifespan would call `ready`, and its teardown does nothing.
pub(crate) struct InPlaceOfLifespan(pub(crate) Arc<dyn RunNode>);

impl RunNode for InPlaceOfLifespan {
    fn call<'a>(&'a self, prepare: &Prepare<'_>, shutdown: ShutdownTrigger) -> NodeCall<'a> {
        self.0.call(prepare, shutdown)
    }

    fn run(
        self: Arc<Self>,
        prepare: &Prepare<'_>,
        shutdown: ShutdownTrigger,
        lifespan: Option<LifespanSlot>,
    ) -> NodeFuture {
        let run = Arc::clone(&self.0).run(prepare, shutdown, None);
        Box::pin(async move {
            let produced = run.await?;
            match lifespan {
                Some(slot) => {
                    // A double has nothing to tear down: what the teardown could take back
                    // is dropped with the container.
                    let _ = slot.hand_over(produced).await;
                    Ok(None)
                }
                None => Ok(produced),
            }
        })
    }
}

/// A provider of a ready-made value, made by [`value`].
#[derive(Debug)]
pub struct Value<T> {
    value: Arc<T>,
}

/// A provider of a ready-made value: `app.on_startup(roadie::value(config))`, or
/// `app.replace(roadie::value(fake))` in a test. Every start of the app shares the value.
pub fn value<T: Send + Sync + 'static>(value: T) -> Value<T> {
    Value {
        value: Arc::new(value),
    }
}

#[doc(hidden)]
#[derive(Debug)]
pub enum ValueMarker {}

impl<T: Send + Sync + 'static> RunNode for Value<T> {
    fn call<'a>(&'a self, _prepare: &Prepare<'_>, _shutdown: ShutdownTrigger) -> NodeCall<'a> {
        let value = Arc::clone(&self.value);
        Box::pin(async move { Ok(Produced::shared(value)) })
    }

    fn run(
        self: Arc<Self>,
        _prepare: &Prepare<'_>,
        _shutdown: ShutdownTrigger,
        _lifespan: Option<LifespanSlot>,
    ) -> NodeFuture {
        let value = Arc::clone(&self.value);
        Box::pin(async move { Ok(Produced::shared(value)) })
    }
}

impl<T: Send + Sync + 'static> IntoProvider<ValueMarker> for Value<T> {
    fn into_node(self) -> Registration {
        Registration::new(
            Kind::Provider,
            format!("value({})", short_type_name::<T>()),
            Needs::default(),
            registered_type(type_of::<T>()),
            Body::Run(Arc::new(self)),
        )
    }
}
