//! Extractors that read the app rather than the request: resources and the shutdown handle,
//! plus the request's head (method, URI, headers).

use std::future::{ready, Future};
use std::sync::Arc;

use http::{HeaderMap, Method, Uri};

use super::{Context, FromContext, Needs, Prepare, Rejection};
use crate::container::Res;
use crate::shutdown::ShutdownTrigger;

impl<T: Send + Sync + 'static> FromContext for Res<T> {
    type State = Option<Arc<T>>;

    #[inline]
    fn describe(needs: &mut Needs) {
        needs.resource::<T>();
    }

    #[inline]
    fn prepare(cx: &Prepare<'_>) -> Self::State {
        cx.container.get_arc::<T>()
    }

    #[inline]
    fn from_context<'a>(
        state: &'a Self::State,
        _cx: &'a mut Context<'_>,
    ) -> impl Future<Output = Result<Self, Rejection>> + Send + 'a {
        ready(match state {
            Some(value) => Ok(Res(Arc::clone(value))),
            // Validation makes this unreachable; answer rather than panic all the same.
            None => Err(not_registered(std::any::type_name::<T>())),
        })
    }
}

/// The answer to a resource that is not registered, named `type_name` (in full).
fn not_registered(type_name: &str) -> Rejection {
    Rejection::internal(format!(
        "the resource `{}` is not registered",
        crate::names::shorten(type_name)
    ))
}

impl<T: Send + Sync + 'static> FromContext for Option<Res<T>> {
    type State = Option<Arc<T>>;

    #[inline]
    fn describe(needs: &mut Needs) {
        needs.optional_resource::<T>();
    }

    #[inline]
    fn prepare(cx: &Prepare<'_>) -> Self::State {
        cx.container.get_arc::<T>()
    }

    #[inline]
    fn from_context<'a>(
        state: &'a Self::State,
        _cx: &'a mut Context<'_>,
    ) -> impl Future<Output = Result<Self, Rejection>> + Send + 'a {
        ready(Ok(match state {
            Some(value) => Some(Res(Arc::clone(value))),
            None => None,
        }))
    }
}

/// A handle that starts a graceful shutdown of the app.
///
/// Take it as a parameter of a handler (or a hook, or a provider) and call
/// [`Shutdown::trigger`]: the server stops accepting, in-flight requests finish, and the
/// teardown runs. In-process (with [`App::execute`](crate::App::execute)), the teardown runs
/// once the requests in flight have finished.
#[derive(Debug, Clone)]
pub struct Shutdown {
    trigger: ShutdownTrigger,
}

impl Shutdown {
    /// Asks the app to shut down gracefully. Calling it again does nothing more.
    pub fn trigger(&self) {
        self.trigger.trigger();
    }

    /// Whether a shutdown was asked for: the app stops, or a server began its drain.
    pub fn is_triggered(&self) -> bool {
        self.trigger.is_requested()
    }

    /// Resolves once the app is asked to stop: when a server receives its stop signal and
    /// begins its drain (while it still serves requests), on [`Shutdown::trigger`], or on
    /// [`Running::shutdown`](crate::Running::shutdown). Long-lived work (a background loop,
    /// a stream) awaits it to end in time, before the resources it uses are torn down.
    pub fn requested(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.trigger.requested()
    }
}

impl FromContext for Shutdown {
    type State = ();

    fn describe(_needs: &mut Needs) {}

    fn prepare(_cx: &Prepare<'_>) -> Self::State {}

    fn from_context<'a>(
        _state: &'a Self::State,
        cx: &'a mut Context<'_>,
    ) -> impl Future<Output = Result<Self, Rejection>> + Send + 'a {
        ready(Ok(Shutdown {
            trigger: cx.shutdown.clone(),
        }))
    }
}

macro_rules! head_extractor {
    ($ty:ty, $name:literal, |$parts:ident| $get:expr) => {
        impl FromContext for $ty {
            type State = ();

            fn describe(needs: &mut Needs) {
                needs.request_part($name);
            }

            fn prepare(_cx: &Prepare<'_>) -> Self::State {}

            fn from_context<'a>(
                _state: &'a Self::State,
                cx: &'a mut Context<'_>,
            ) -> impl Future<Output = Result<Self, Rejection>> + Send + 'a {
                ready(cx.request_parts($name).map(|$parts| $get))
            }
        }
    };
}

head_extractor!(HeaderMap, "HeaderMap", |parts| parts.headers.clone());
head_extractor!(Method, "Method", |parts| parts.method.clone());
head_extractor!(Uri, "Uri", |parts| parts.uri.clone());
