//! The one "function of N extractors": every node kind (startup providers, shutdown hooks,
//! lifespans, request-scoped dependencies, route handlers) is a plain or async function or
//! closure whose parameters are extractors. [`ExtractorFn`] is written here once per arity,
//! from one list of tuples; everything else is written once above it.
//!
//! Each parameter but the last is a [`FromContext`]; the last may also read the body
//! ([`FromRequest`]). Which node kinds may have which parameters (a provider cannot read the
//! request, only a route reads the body) is a validation rule, not a type rule: each
//! parameter says what it needs at registration, and validation reports every misuse at once.

use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::container::Produced;
use crate::error::Failure;
use crate::extract::{Context, FromContext, FromRequest, LifespanSlot, Needs, Prepare, Rejection};
use crate::middleware::Next;
use crate::output::{PlainOutput, ProviderOutput};
use crate::request::Request;
use crate::shutdown::ShutdownTrigger;

/// Marks a plain function or closure.
#[doc(hidden)]
#[derive(Debug)]
pub enum SyncFn {}

/// Marks an async function or a closure returning a future.
#[doc(hidden)]
#[derive(Debug)]
pub enum AsyncFn {}

/// A function of up to 16 extractors, plain or async; `M` tells the forms apart:
/// `(SyncFn | AsyncFn, fn(T1, ..) -> R, the last parameter's marker or ())`.
#[doc(hidden)]
pub trait ExtractorFn<M>: Send + Sync + Sized + 'static {
    /// What calling the function returns: a value, or for an async function its future.
    type Returned;
    /// Whether the function is plain (not async): such a call may block, so it runs on
    /// tokio's blocking pool.
    const PLAIN: bool;
    /// What the call gives once awaited.
    type Output: Send + 'static;
    /// What the parameters prepare once, before the node's first call.
    type State: Send + Sync + 'static;

    /// Records what each parameter needs. Runs once, at registration.
    fn describe(needs: &mut Needs);

    /// Prepares each parameter against the app as it is when the node is prepared.
    fn prepare(prepare: &Prepare<'_>) -> Self::State;

    /// Extracts every parameter, in order, and calls the function; the first parameter that
    /// cannot be extracted rejects the call. `body` goes to the last parameter, if it reads it.
    fn call<'a>(
        &'a self,
        state: &'a Self::State,
        cx: &'a mut Context<'_>,
        body: Bytes,
    ) -> impl Future<Output = Result<Self::Output, Rejection>> + Send + 'a {
        self.call_then(state, cx, body, std::convert::identity)
    }

    /// Like [`ExtractorFn::call`], and gives what `finish` makes of the result: one future
    /// does the extraction, the call and the conversion (a handler's response, a dependency's
    /// scope entry), with no second future around the first.
    fn call_then<'a, Fin, Out>(
        &'a self,
        state: &'a Self::State,
        cx: &'a mut Context<'_>,
        body: Bytes,
        finish: Fin,
    ) -> impl Future<Output = Out> + Send + 'a
    where
        Fin: FnOnce(Result<Self::Output, Rejection>) -> Out + Send + 'a,
        Out: 'a;

    /// Like [`ExtractorFn::call`] without a body, but a plain function runs on tokio's blocking
    /// pool, so that blocking work (loading a file or a model, opening a synchronous pool)
    /// neither stalls the runtime nor escapes a timeout; an async function is awaited in
    /// place. A panic in the plain function is raised again here, where the caller catches it.
    fn call_blocking<'a>(
        self: &'a Arc<Self>,
        state: &'a Self::State,
        cx: &'a mut Context<'_>,
    ) -> impl Future<Output = Result<Self::Output, Rejection>> + Send + 'a;

    /// Prepares the parameters against the container as it is now (`prepare`), and returns
    /// the function's call outside any request, as a startup provider, hook or lifespan makes
    /// it, owning what it needs: it makes the [`Context`] from `start` (which holds this
    /// function, erased), extracts the parameters and calls the function. Its output is made
    /// into the node's result as a [`ProviderOutput<O>`], with the call, so that what crosses
    /// back from a blocking thread is the same type for every function.
    ///
    /// An async function's call is one future. A plain function's is one boxed call
    /// ([`PlainCall`]) that extracts its parameters and calls it, on a blocking thread
    /// ([`Starting`]).
    ///
    /// A startup node holds `F::start::<O>` as a function pointer: each function compiles
    /// this and no wrapper around it.
    fn start<O: 'static>(start: Start, prepare: &Prepare<'_>) -> Starting
    where
        Self::Output: ProviderOutput<O>;
}

/// What a startup node's call gives: the values it registers, if any, or its failure.
pub(crate) type Started = Result<Option<Produced>, Failure>;

/// A startup node's call, as [`ExtractorFn::start`] makes it.
#[doc(hidden)]
pub enum Starting {
    /// An async function's call, whole.
    Async(BoxFuture<'static, Started>),
    /// A plain function's: the extraction of its parameters and the call, to run on a
    /// blocking thread.
    Plain(PlainCall),
}

/// A plain startup function's call, to run on a blocking thread: it extracts the function's
/// parameters there (a parameter that is not ready at once is waited for, with the runtime's
/// handle), calls the function and makes its output the node's result, so nothing typed
/// crosses back. One box, and no future: a parameter outside a request is almost always ready
/// at once.
pub(crate) type PlainCall = Box<dyn CallPlain>;

/// A plain startup function's call ([`PlainCall`]), its parameters prepared.
#[doc(hidden)]
pub trait CallPlain: Send {
    /// Extracts the parameters, calls the function and gives the node's result.
    fn call(self: Box<Self>) -> Started;
}

/// A plain function's [`ExtractorFn::start`], once its parameters are prepared.
pub(crate) trait PlainFn<M>: ExtractorFn<M> {
    /// Extracts each parameter from `state` on this thread, calls the function and makes its
    /// output the node's result. `#[inline]` in each impl: it is compiled into
    /// [`CallPlain::call`]'s unit ([`starting`]), not into the one of the user's module.
    fn call_plain<O: 'static>(start: Start, state: Self::State) -> Started
    where
        Self::Output: ProviderOutput<O>;
}

mod starting {
    //! A plain startup function's call, in a module of its own: rustc compiles an instance
    //! of a generic method in the codegen unit of the module that defines its impl's self
    //! type. [`super::ExtractorFn::start`]'s self type is the user's function, so what it
    //! compiles shares the unit of the user's module; the call, most of a provider's code, is
    //! a method of [`PlainStart`], so a release build optimizes the two units side by side.
    use std::marker::PhantomData;

    use super::{CallPlain, ExtractorFn, PlainFn, Start, Started};
    use crate::output::ProviderOutput;

    /// The call of the plain function `F` of the form `M`, whose output registers as `O`:
    /// what makes its [`crate::extract::Context`], and its parameters' states.
    pub(super) struct PlainStart<F: ExtractorFn<M>, M, O> {
        pub(super) start: Start,
        pub(super) state: F::State,
        pub(super) _marker: PhantomData<fn() -> O>,
    }

    impl<F, M, O> CallPlain for PlainStart<F, M, O>
    where
        F: PlainFn<M>,
        F::Output: ProviderOutput<O>,
        M: 'static,
        O: 'static,
    {
        fn call(self: Box<Self>) -> Started {
            F::call_plain::<O>(self.start, self.state)
        }
    }
}

impl Starting {
    /// The whole call as one future: a plain function's call runs on tokio's blocking pool,
    /// where its panic is caught and raised again here, in the waiting task. Not generic.
    pub(crate) fn into_future(self) -> BoxFuture<'static, Started> {
        match self {
            Self::Async(call) => call,
            Self::Plain(call) => Box::pin(async move {
                match on_blocking_pool(move || call.call()).await {
                    Ok(started) => started,
                    Err(cancelled) => Err(Failure::from_error(cancelled)),
                }
            }),
        }
    }
}

/// A parameter's future, driven to its end on the thread that asks, outside the runtime: a
/// plain startup function's parameters are extracted on its blocking thread.
trait Wait: Future + Sized {
    /// Polls the future once, and gives its output if it is ready (a resource, the shutdown
    /// handle: every parameter roadie itself gives outside a request); otherwise waits for it
    /// with the runtime's handle ([`wait_here`]).
    #[inline]
    fn wait(self) -> Self::Output {
        let mut future = std::pin::pin!(self);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        let mut waiting = Waiting {
            future,
            output: None,
        };
        wait_here(&mut waiting);
        match waiting.output {
            Some(output) => output,
            None => unreachable!("a future waited for to its end has its output"),
        }
    }
}

impl<F: Future> Wait for F {}

/// A future being waited for, and its output once it is ready.
struct Waiting<'a, F: Future> {
    future: std::pin::Pin<&'a mut F>,
    output: Option<F::Output>,
}

/// A [`Waiting`] future, its type erased (one method, so each parameter's type compiles one
/// function for it).
trait PollWaiting {
    /// Polls the future, keeping its output once it is ready.
    fn poll_waiting(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()>;
}

impl<F: Future> PollWaiting for Waiting<'_, F> {
    fn poll_waiting(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        let output = std::task::ready!(self.future.as_mut().poll(cx));
        self.output = Some(output);
        std::task::Poll::Ready(())
    }
}

/// Polls `waiting` with the runtime's handle until it is ready, on this thread (a blocking
/// one, where the handle may block). Not generic.
fn wait_here(waiting: &mut dyn PollWaiting) {
    tokio::runtime::Handle::current().block_on(std::future::poll_fn(|cx| waiting.poll_waiting(cx)));
}

impl std::fmt::Debug for Starting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Async(_) => "Starting::Async",
            Self::Plain(_) => "Starting::Plain",
        })
    }
}

/// A function shared by its node and the calls the node starts, its type erased: the
/// shared pointer's code (its clone, its drop) compiles once for every function, and each
/// call reads its own function back by type ([`ErasedFn::get`]).
#[derive(Clone)]
pub(crate) struct ErasedFn(Arc<dyn Any + Send + Sync>);

impl ErasedFn {
    /// The function `f`, boxed, shared and erased. The box is `f`'s one allocation of its
    /// own type; the shared pointer is made from it by code that compiles once.
    pub(crate) fn new(f: Box<dyn Any + Send + Sync>) -> Self {
        Self(Arc::from(f))
    }

    /// The function, read back as the `F` it was made from.
    fn get<F: 'static>(&self) -> &F {
        // Read as a plain `dyn Any`: its `downcast_ref` is the one every type instantiates
        // anyway, and `Send + Sync`'s would be a second function per function.
        let f: &dyn Any = &*self.0;
        match f.downcast_ref::<F>() {
            Some(f) => f,
            None => not_its_function(),
        }
    }
}

/// What [`ErasedFn::get`] cannot meet: a node calls the function it was made from. Not
/// generic, so that each function's `get` compiles no panic of its own.
#[cold]
fn not_its_function() -> ! {
    unreachable!("a node calls the function it was made from")
}

impl std::fmt::Debug for ErasedFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ErasedFn")
    }
}

/// What a startup node's call ([`ExtractorFn::start`]) owns besides its parameters' states,
/// none of it generic: its function, erased, and what makes its [`Context`] (the app's
/// shutdown handle and, for a lifespan, its slot).
#[doc(hidden)]
pub struct Start {
    f: ErasedFn,
    shutdown: ShutdownTrigger,
    lifespan: Option<LifespanSlot>,
}

impl Start {
    /// The call of the function `f` (shared with its node).
    pub(crate) fn new(
        f: &ErasedFn,
        shutdown: ShutdownTrigger,
        lifespan: Option<LifespanSlot>,
    ) -> Self {
        Self {
            f: f.clone(),
            shutdown,
            lifespan,
        }
    }

    /// The function, once the parameters are extracted: the rest is dropped here, not in
    /// each function's call.
    fn into_fn(self) -> ErasedFn {
        self.f
    }
}

impl std::fmt::Debug for Start {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Start")
            .field("lifespan", &self.lifespan.is_some())
            .finish_non_exhaustive()
    }
}

/// A startup node's parameter that could not be extracted, as the node's failure.
fn rejected<T>(rejection: Rejection) -> Result<T, Failure> {
    Err(Failure::from_error(rejection))
}

/// A plain function's call on its way to the blocking pool, and its output on the way back,
/// both boxed: the pool's task (a tokio task, its harness, its join handle) is then compiled
/// once, not once per function.
type BlockingCall = Box<dyn FnOnce() -> BlockingOutput + Send>;

/// What a [`BlockingCall`] returns: the function's output `R`, as a boxed `Option<R>` (taken
/// out with [`unbox`]).
type BlockingOutput = Box<dyn Any + Send>;

/// Runs `call` on tokio's blocking pool and waits for it: its output, or `Err` when the
/// runtime is shutting down and the call never ran; its panic is raised again here. Compiled
/// twice, for the two calls that are not generic: a [`BlockingCall`] (a request-scoped
/// dependency's, its output unboxed with [`unbox`]) and a [`PlainCall`]'s.
async fn on_blocking_pool<R: Send + 'static>(
    call: impl FnOnce() -> R + Send + 'static,
) -> Result<R, Rejection> {
    match tokio::task::spawn_blocking(call).await {
        Ok(output) => Ok(output),
        Err(join) => match join.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(_) => Err(Rejection::internal(
                "the blocking call was cancelled: the runtime is shutting down",
            )),
        },
    }
}

/// The output of a [`BlockingCall`] that returns an `R`: taken out of the box through a
/// reference (cheaper to compile, per `R`, than moving the box's content out).
fn unbox<R: 'static>(mut output: BlockingOutput) -> R {
    match output.downcast_mut::<Option<R>>() {
        Some(slot) => match slot.take() {
            Some(output) => output,
            None => unreachable!("a blocking call's output is taken once"),
        },
        None => unreachable!("a blocking call returns its function's output"),
    }
}

/// [`ExtractorFn`] for the parameters `$T` (each a [`FromContext`]), and a last one `$Last`
/// that may read the body (absent for no parameters), plain or async.
macro_rules! impl_extractor_fn {
    ([$($T:ident),*] $([$Last:ident, $Mk:ident])?) => {
        impl_extractor_fn!(@form SyncFn R [R: PlainOutput,] [] [blocking] [$($T),*] $([$Last, $Mk])?);
        impl_extractor_fn!(@form AsyncFn Fut [Fut: Future + Send + 'static, Fut::Output: Send + 'static,] [.await] [in_place] [$($T),*] $([$Last, $Mk])?);
    };
    (@call blocking $this:ident ($($arg:ident),*)) => {{
        let f = Arc::clone($this);
        let call: BlockingCall = Box::new(move || -> BlockingOutput { Box::new(Some((*f)($($arg),*))) });
        match on_blocking_pool(call).await {
            Ok(output) => Ok(unbox(output)),
            Err(rejection) => Err(rejection),
        }
    }};
    (@call in_place $this:ident ($($arg:ident),*)) => {
        Ok((**$this)($($arg),*).await)
    };
    (@start blocking $start:ident $state:ident [$($T:ident),*] $([$Last:ident, $Mk:ident])?) => {
        Starting::Plain(Box::new(starting::PlainStart::<Self, _, O> {
            start: $start,
            state: $state,
            _marker: PhantomData,
        }))
    };
    (@start in_place $start:ident $state:ident [$($T:ident),*] $([$Last:ident, $Mk:ident])?) => {
        Starting::Async(Box::pin(async move {
            let mut start = $start;
            let cx = &mut Context::outside_request(&start.shutdown, start.lifespan.take());
            impl_extractor_fn!(@extract await $state cx rejected; [$($T),*] $([$Last, $Mk])?);
            <Self::Output as ProviderOutput<O>>::into_produced((start.f.get::<Self>())($($T,)* $($Last)?).await)
        }))
    };
    // A plain function's call, made on a blocking thread; nothing for an async function.
    (@plain_fn in_place $($rest:tt)*) => {};
    (@plain_fn blocking $form:ident $R:ident [$($bounds:tt)*] [$($T:ident),*] $([$Last:ident, $Mk:ident])?) => {
        impl_extractor_fn!(@impl PlainFn $form $R [$($bounds)*] [$($T),*] $([$Last, $Mk])? {
            #[inline]
            fn call_plain<O: 'static>(mut start: Start, prepared: Self::State) -> Started
            where
                Self::Output: ProviderOutput<O>,
            {
                // The call holds the function and its arguments only: the context and the
                // parameters' states are dropped at the end of the extraction, before it runs.
                let ($($T,)* $($Last,)?) = {
                    let state = prepared;
                    let cx = &mut Context::outside_request(&start.shutdown, start.lifespan.take());
                    impl_extractor_fn!(@extract wait state cx rejected; [$($T),*] $([$Last, $Mk])?);
                    ($($T,)* $($Last,)?)
                };
                <Self::Output as ProviderOutput<O>>::into_produced((start.into_fn().get::<Self>())($($T,)* $($Last)?))
            }
        });
    };
    // `$Trait` (of the function's form `M`) for the functions of the parameters `$T` and
    // `$Last`: one header for every trait a function implements per form.
    (@impl $Trait:ident $form:ident $R:ident [$($bounds:tt)*] [$($T:ident),*] $([$Last:ident, $Mk:ident])? { $($body:tt)* }) => {
        #[allow(non_snake_case, unused_variables, clippy::unused_unit)]
        impl<F, $R, $($T,)* $($Last, $Mk,)?> $Trait<($form, fn($($T,)* $($Last,)?) -> $R, impl_extractor_fn!(@last $($Mk)?))> for F
        where
            F: Fn($($T,)* $($Last)?) -> $R + Send + Sync + 'static,
            $($bounds)*
            $($T: FromContext,)*
            $($Last: FromRequest<$Mk>, $Mk: 'static,)?
        {
            $($body)*
        }
    };
    // Binds each parameter, extracted from `$state` in order, outside any request, each
    // future awaited (`await`) or driven on this thread (`wait`, [`Wait`]); the first that
    // cannot be extracted returns `$fail(rejection)`.
    (@extract $wait:ident $state:ident $cx:ident $fail:path; [$($T:ident),*] $([$Last:ident, $Mk:ident])?) => {
        let ($($T,)* $($Last,)?) = &$state;
        $(let $T = match impl_extractor_fn!(@wait $wait <$T as FromContext>::from_context($T, $cx)) {
            Ok(value) => value,
            Err(rejection) => return $fail(rejection),
        };)*
        $(let $Last = match impl_extractor_fn!(@wait $wait <$Last as FromRequest<$Mk>>::from_request($Last, $cx, Bytes::new())) {
            Ok(value) => value,
            Err(rejection) => return $fail(rejection),
        };)?
    };
    (@form $form:ident $R:ident [$($bounds:tt)*] [$($await:tt)*] [$how:ident] [$($T:ident),*] $([$Last:ident, $Mk:ident])?) => {
        impl_extractor_fn!(@impl ExtractorFn $form $R [$($bounds)*] [$($T),*] $([$Last, $Mk])? {
            type Returned = $R;
            const PLAIN: bool = impl_extractor_fn!(@plain $form);
            type Output = impl_extractor_fn!(@output $form $R);
            type State = ($(<$T as FromContext>::State,)* $(<$Last as FromRequest<$Mk>>::State,)?);

            fn describe(needs: &mut Needs) {
                $(<$T as FromContext>::describe(needs);)*
                $(<$Last as FromRequest<$Mk>>::describe(needs);)?
            }

            fn prepare(prepare: &Prepare<'_>) -> Self::State {
                ($(<$T as FromContext>::prepare(prepare),)* $(<$Last as FromRequest<$Mk>>::prepare(prepare),)?)
            }

            async fn call_then<'a, Fin, Out>(
                &'a self,
                state: &'a Self::State,
                cx: &'a mut Context<'_>,
                body: Bytes,
                finish: Fin,
            ) -> Out
            where
                Fin: FnOnce(Result<Self::Output, Rejection>) -> Out + Send + 'a,
                Out: 'a,
            {
                let ($($T,)* $($Last,)?) = state;
                $(let $T = match <$T as FromContext>::from_context($T, cx).await {
                    Ok(value) => value,
                    Err(rejection) => return finish(Err(rejection)),
                };)*
                $(let $Last = match <$Last as FromRequest<$Mk>>::from_request($Last, cx, body).await {
                    Ok(value) => value,
                    Err(rejection) => return finish(Err(rejection)),
                };)?
                finish(Ok((self)($($T,)* $($Last)?)$($await)*))
            }

            async fn call_blocking(
                self: &Arc<Self>,
                state: &Self::State,
                cx: &mut Context<'_>,
            ) -> Result<Self::Output, Rejection> {
                impl_extractor_fn!(@extract await state cx Err; [$($T),*] $([$Last, $Mk])?);
                impl_extractor_fn!(@call $how self ($($T,)* $($Last)?))
            }

            fn start<O: 'static>(start: Start, prepare: &Prepare<'_>) -> Starting
            where
                Self::Output: ProviderOutput<O>,
            {
                let state = Self::prepare(prepare);
                impl_extractor_fn!(@start $how start state [$($T),*] $([$Last, $Mk])?)
            }
        });

        impl_extractor_fn!(@plain_fn $how $form $R [$($bounds)*] [$($T),*] $([$Last, $Mk])?);
    };
    (@wait await $future:expr) => { $future.await };
    (@wait wait $future:expr) => { $future.wait() };
    (@plain SyncFn) => { true };
    (@plain AsyncFn) => { false };
    (@last) => { () };
    (@last $Mk:ident) => { $Mk };
    (@output SyncFn $R:ident) => { $R };
    (@output AsyncFn $R:ident) => { <$R as Future>::Output };
}

/// Calls `$name!` once per arity, 0 to 16: the parameters before the last, then the last with
/// its marker.
macro_rules! all_the_tuples {
    ($name:ident) => {
        $name!([]);
        $name!([] [T1, M1]);
        $name!([T1] [T2, M2]);
        $name!([T1, T2] [T3, M3]);
        $name!([T1, T2, T3] [T4, M4]);
        $name!([T1, T2, T3, T4] [T5, M5]);
        $name!([T1, T2, T3, T4, T5] [T6, M6]);
        $name!([T1, T2, T3, T4, T5, T6] [T7, M7]);
        $name!([T1, T2, T3, T4, T5, T6, T7] [T8, M8]);
        $name!([T1, T2, T3, T4, T5, T6, T7, T8] [T9, M9]);
        $name!([T1, T2, T3, T4, T5, T6, T7, T8, T9] [T10, M10]);
        $name!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10] [T11, M11]);
        $name!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11] [T12, M12]);
        $name!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12] [T13, M13]);
        $name!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13] [T14, M14]);
        $name!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14] [T15, M15]);
        $name!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15] [T16, M16]);
    };
}

all_the_tuples!(impl_extractor_fn);

/// A function that is prepared once per start of the app and then called per request (a
/// request-scoped dependency or a route handler), shared with what it prepares.
pub(crate) struct FnNode<F, M, O = ()> {
    f: Arc<F>,
    _marker: PhantomData<fn() -> (M, O)>,
}

impl<F: ExtractorFn<M>, M, O> FnNode<F, M, O> {
    pub(crate) fn new(f: F) -> Self {
        Self {
            f: Arc::new(f),
            _marker: PhantomData,
        }
    }

    /// Prepares the parameters against the started app.
    pub(crate) fn prepare(&self, prepare: &Prepare<'_>) -> Prepared<F, M, O> {
        Prepared {
            f: Arc::clone(&self.f),
            state: F::prepare(prepare),
            _marker: PhantomData,
        }
    }
}

/// A [`FnNode`] prepared for a started app: its parameters' states computed once.
pub(crate) struct Prepared<F: ExtractorFn<M>, M, O = ()> {
    f: Arc<F>,
    state: F::State,
    _marker: PhantomData<fn() -> (M, O)>,
}

impl<F: ExtractorFn<M>, M, O> Prepared<F, M, O> {
    /// The function, and its parameters' states: `f.call(state, cx, body)` extracts the
    /// parameters for one call and calls it.
    pub(crate) fn parts(&self) -> (&Arc<F>, &F::State) {
        (&self.f, &self.state)
    }
}

/// The extractors that follow a function's fixed leading arguments, as a tuple: what a
/// middleware takes after its `Request` and `Next`, what an error renderer or observer takes
/// after the error. Resolved in order, the first that cannot be extracted rejecting them all.
#[doc(hidden)]
pub trait Extractors: Send + Sized + 'static {
    /// What the extractors prepare once, before the node's first call.
    type State: Send + Sync + 'static;

    /// Records what each extractor needs. Runs once, at registration.
    fn describe(needs: &mut Needs);

    /// Prepares each extractor against the app as it is when the node is prepared.
    fn prepare(prepare: &Prepare<'_>) -> Self::State;

    /// The value of no extractors at all (`Some(())`), so that a function without extractors
    /// skips extraction; `None` when there are some.
    fn none() -> Option<Self>;

    /// Extracts each, in order.
    fn extract<'a>(
        state: &'a Self::State,
        cx: &'a mut Context<'_>,
    ) -> impl Future<Output = Result<Self, Rejection>> + Send + 'a;
}

/// An async function of a [`Request`], the [`Next`] step and up to 16 extractors: a
/// middleware. `M` is `fn(T1, ..) -> Fut`.
#[doc(hidden)]
pub trait MiddlewareFn<M>: Send + Sync + Sized + 'static {
    /// The extractors after `Request` and `Next`.
    type Args: Extractors;
    /// What the middleware's future gives.
    type Output: Send + 'static;
    /// The middleware's future.
    type Future: Future<Output = Self::Output> + Send + 'static;

    /// Calls the function.
    fn invoke(&self, request: Request, next: Next, args: Self::Args) -> Self::Future;
}

/// A plain function of a borrowed `X` and up to 16 extractors: an error renderer (`X` is the
/// [`Rejection`]) or an error observer. `M` is `fn(T1, ..) -> R`.
#[doc(hidden)]
pub trait RefFn<X: 'static, M>: Send + Sync + Sized + 'static {
    /// The extractors after the borrowed value.
    type Args: Extractors;
    /// What the function returns.
    type Output;

    /// Calls the function.
    fn invoke(&self, value: &X, args: Self::Args) -> Self::Output;
}

/// [`Extractors`], [`MiddlewareFn`] and [`RefFn`] for the extractors `$T`.
macro_rules! impl_lead_fns {
    (@none) => { Some(()) };
    (@none $($T:ident)+) => { None };
    ($($T:ident),*) => {
        #[allow(non_snake_case, unused_variables, clippy::unused_unit)]
        impl<$($T: FromContext,)*> Extractors for ($($T,)*) {
            type State = ($(<$T as FromContext>::State,)*);

            fn describe(needs: &mut Needs) {
                $(<$T as FromContext>::describe(needs);)*
            }

            fn prepare(prepare: &Prepare<'_>) -> Self::State {
                ($(<$T as FromContext>::prepare(prepare),)*)
            }

            fn none() -> Option<Self> {
                impl_lead_fns!(@none $($T)*)
            }

            async fn extract(state: &Self::State, cx: &mut Context<'_>) -> Result<Self, Rejection> {
                let ($($T,)*) = state;
                Ok(($(<$T as FromContext>::from_context($T, cx).await?,)*))
            }
        }

        #[allow(non_snake_case)]
        impl<F, Fut, $($T,)*> MiddlewareFn<fn($($T,)*) -> Fut> for F
        where
            F: Fn(Request, Next, $($T,)*) -> Fut + Send + Sync + 'static,
            Fut: Future + Send + 'static,
            Fut::Output: Send + 'static,
            $($T: FromContext,)*
        {
            type Args = ($($T,)*);
            type Output = Fut::Output;
            type Future = Fut;

            fn invoke(&self, request: Request, next: Next, ($($T,)*): Self::Args) -> Fut {
                (self)(request, next, $($T,)*)
            }
        }

        #[allow(non_snake_case)]
        impl<F, X, R, $($T,)*> RefFn<X, fn($($T,)*) -> R> for F
        where
            F: Fn(&X, $($T,)*) -> R + Send + Sync + 'static,
            X: 'static,
            $($T: FromContext,)*
        {
            type Args = ($($T,)*);
            type Output = R;

            fn invoke(&self, value: &X, ($($T,)*): Self::Args) -> R {
                (self)(value, $($T,)*)
            }
        }
    };
}

impl_lead_fns!();
impl_lead_fns!(T1);
impl_lead_fns!(T1, T2);
impl_lead_fns!(T1, T2, T3);
impl_lead_fns!(T1, T2, T3, T4);
impl_lead_fns!(T1, T2, T3, T4, T5);
impl_lead_fns!(T1, T2, T3, T4, T5, T6);
impl_lead_fns!(T1, T2, T3, T4, T5, T6, T7);
impl_lead_fns!(T1, T2, T3, T4, T5, T6, T7, T8);
impl_lead_fns!(T1, T2, T3, T4, T5, T6, T7, T8, T9);
impl_lead_fns!(T1, T2, T3, T4, T5, T6, T7, T8, T9, T10);
impl_lead_fns!(T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11);
impl_lead_fns!(T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12);
impl_lead_fns!(T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13);
impl_lead_fns!(T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14);

/// What a function of leading arguments and extractors keeps for a started app: the function,
/// and its extractors' states, computed once.
pub(crate) struct LeadPrepared<F, A: Extractors> {
    pub(crate) f: Arc<F>,
    pub(crate) state: A::State,
}
