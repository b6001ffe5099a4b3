//! What an app does with its errors: one renderer gives every error roadie answers the app's
//! shape ([`App::on_error`](crate::App::on_error)), and observers are told of every failed
//! request ([`App::observe_errors`](crate::App::observe_errors)).
//!
//! Both run at the edge, once the response is made, so they see every error the same way:
//! the router's `404` and `405`, a rejected parameter, a refused body, the `503` of a
//! stopping app, a handler's error and a panic.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use http::{header, Method, StatusCode, Uri};

use crate::extract::{Context, Needs, Prepare};
use crate::function::{Extractors, LeadPrepared, RefFn};
use crate::names::callable_name;
use crate::output::HookOutput;
use crate::response::{IntoResponse, Rejection, Response};
use crate::shutdown::ShutdownTrigger;

/// A request that failed, as error observers are told of it: what was asked, what was
/// answered, and what went wrong.
///
/// A request fails when roadie answers one of its errors (a [`Rejection`]: unknown path,
/// wrong method, a parameter that did not parse, a body too large, a stopping app...), when a
/// handler or middleware returns the `Err` side of a `Result`, and when one panics.
#[derive(Debug, Clone)]
pub struct FailedRequest {
    method: Method,
    uri: Uri,
    status: StatusCode,
    rejection: Option<Rejection>,
    handler_failed: bool,
    error: Option<String>,
    panic: Option<String>,
}

impl FailedRequest {
    /// The request's method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request's URI.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The status that was answered.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// roadie's own error, when the answer was one (with the full message, which a `5xx`
    /// does not send).
    pub fn rejection(&self) -> Option<&Rejection> {
        self.rejection.as_ref()
    }

    /// Whether the handler (or a middleware) failed: it returned the `Err` side of a
    /// `Result`, one of its parameters was rejected, or it panicked. A request can fail
    /// without it (an unknown path).
    pub fn is_handler_failure(&self) -> bool {
        self.handler_failed
    }

    /// The text of the error that answered `500`, when a handler returned a boxed error.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// The panic's text, when the handler or a middleware panicked (never sent).
    pub fn panic(&self) -> Option<&str> {
        self.panic.as_deref()
    }
}

impl fmt::Display for FailedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} answered {}", self.method, self.uri, self.status)?;
        if let Some(panic) = &self.panic {
            write!(f, ": panicked: {panic}")
        } else if let Some(error) = &self.error {
            write!(f, ": {error}")
        } else if let Some(rejection) = &self.rejection {
            write!(f, ": {rejection}")
        } else {
            Ok(())
        }
    }
}

/// A function that renders roadie's errors: a plain function or closure taking
/// `&Rejection`, then up to 14 resources (`Res<T>`, `Option<Res<T>>`), returning anything
/// that implements [`IntoResponse`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot render roadie's errors",
    label = "not an error renderer",
    note = "an error renderer is a plain function or closure taking `&Rejection`, then resources \
            (`Res<T>`, `Option<Res<T>>`), and returning anything that implements `IntoResponse`; \
            `Rejection::to_problem` is one"
)]
pub trait ErrorRenderer<M>: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_renderer(self) -> ReportSpec;
}

/// A function told of every failed request: a plain function or closure taking
/// `&FailedRequest`, then up to 14 resources, returning `()` or `Result<(), E>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot observe roadie's failed requests",
    label = "not an error observer",
    note = "an error observer is a plain function or closure taking `&FailedRequest`, then \
            resources (`Res<T>`, `Option<Res<T>>`), and returning `()` or `Result<(), E>`"
)]
pub trait ErrorObserver<M>: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_observer(self) -> ReportSpec;
}

/// An error renderer or observer, type-erased, as registered.
#[doc(hidden)]
#[derive(Clone)]
pub struct ReportSpec {
    pub(crate) name: String,
    pub(crate) needs: Needs,
    pub(crate) node: Arc<dyn ReportNode>,
}

impl fmt::Debug for ReportSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReportSpec")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<F, M> ErrorRenderer<M> for F
where
    F: RefFn<Rejection, M>,
    F::Output: IntoResponse,
    M: 'static,
{
    fn into_renderer(self) -> ReportSpec {
        spec::<F, Rejection, M>(self)
    }
}

impl<F, M> ErrorObserver<M> for F
where
    F: RefFn<FailedRequest, M>,
    F::Output: HookOutput,
    M: 'static,
{
    fn into_observer(self) -> ReportSpec {
        spec::<F, FailedRequest, M>(self)
    }
}

fn spec<F, X, M>(f: F) -> ReportSpec
where
    F: RefFn<X, M>,
    X: 'static,
    M: 'static,
    RefNode<F, X, M>: ReportNode,
{
    let mut needs = Needs::default();
    <F::Args as Extractors>::describe(&mut needs);
    ReportSpec {
        name: callable_name::<F>(None),
        needs,
        node: Arc::new(RefNode::<F, X, M> {
            f: Arc::new(f),
            _marker: std::marker::PhantomData,
        }),
    }
}

/// A renderer or observer, type-erased: prepared once when the app starts.
pub(crate) trait ReportNode: Send + Sync + 'static {
    fn prepare(&self, prepare: &Prepare<'_>, name: &str) -> Prepared;
}

/// A prepared renderer or observer.
pub(crate) enum Prepared {
    Renderer(Arc<dyn PreparedRenderer>),
    Observer(Arc<dyn PreparedObserver>),
}

pub(crate) trait PreparedRenderer: Send + Sync + 'static {
    /// The app's answer for `rejection`, or `None` if the renderer failed (it is logged, and
    /// the default shape stays).
    fn render<'a>(
        &'a self,
        rejection: &'a Rejection,
        shutdown: &'a ShutdownTrigger,
    ) -> BoxFuture<'a, Option<Response>>;
}

pub(crate) trait PreparedObserver: Send + Sync + 'static {
    fn observe<'a>(
        &'a self,
        failed: &'a FailedRequest,
        shutdown: &'a ShutdownTrigger,
    ) -> BoxFuture<'a, ()>;
}

pub(crate) struct RefNode<F, X, M> {
    f: Arc<F>,
    _marker: std::marker::PhantomData<fn() -> (X, M)>,
}

struct PreparedRef<F: RefFn<X, M>, X: 'static, M> {
    prepared: LeadPrepared<F, F::Args>,
    name: Arc<str>,
}

impl<F: RefFn<X, M>, X: 'static, M> PreparedRef<F, X, M> {
    /// Extracts the function's resources and calls it; `None` if an extractor refused or the
    /// function panicked (logged).
    async fn call(&self, value: &X, shutdown: &ShutdownTrigger) -> Option<F::Output> {
        let mut cx = Context::outside_request(shutdown, None);
        let args = match <F::Args as Extractors>::extract(&self.prepared.state, &mut cx).await {
            Ok(args) => args,
            Err(rejection) => {
                tracing::error!(node = %self.name, %rejection, "a parameter could not be extracted");
                return None;
            }
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.prepared.f.invoke(value, args))) {
            Ok(output) => Some(output),
            Err(panic) => {
                let panic = crate::error::panic_message(panic.as_ref());
                tracing::error!(node = %self.name, %panic, "panicked");
                None
            }
        }
    }
}

impl<F, M> ReportNode for RefNode<F, Rejection, M>
where
    F: RefFn<Rejection, M>,
    F::Output: IntoResponse,
    M: 'static,
{
    fn prepare(&self, prepare: &Prepare<'_>, name: &str) -> Prepared {
        Prepared::Renderer(Arc::new(PreparedRef::<F, Rejection, M> {
            prepared: LeadPrepared {
                f: Arc::clone(&self.f),
                state: <F::Args as Extractors>::prepare(prepare),
            },
            name: name.into(),
        }))
    }
}

impl<F, M> ReportNode for RefNode<F, FailedRequest, M>
where
    F: RefFn<FailedRequest, M>,
    F::Output: HookOutput,
    M: 'static,
{
    fn prepare(&self, prepare: &Prepare<'_>, name: &str) -> Prepared {
        Prepared::Observer(Arc::new(PreparedRef::<F, FailedRequest, M> {
            prepared: LeadPrepared {
                f: Arc::clone(&self.f),
                state: <F::Args as Extractors>::prepare(prepare),
            },
            name: name.into(),
        }))
    }
}

impl<F, M> PreparedRenderer for PreparedRef<F, Rejection, M>
where
    F: RefFn<Rejection, M>,
    F::Output: IntoResponse,
    M: 'static,
{
    fn render<'a>(
        &'a self,
        rejection: &'a Rejection,
        shutdown: &'a ShutdownTrigger,
    ) -> BoxFuture<'a, Option<Response>> {
        Box::pin(async move {
            let output = self.call(rejection, shutdown).await?;
            match std::panic::catch_unwind(AssertUnwindSafe(|| output.into_response())) {
                Ok(response) => Some(response),
                Err(panic) => {
                    let panic = crate::error::panic_message(panic.as_ref());
                    tracing::error!(node = %self.name, %panic, "the error renderer panicked");
                    None
                }
            }
        })
    }
}

impl<F, M> PreparedObserver for PreparedRef<F, FailedRequest, M>
where
    F: RefFn<FailedRequest, M>,
    F::Output: HookOutput,
    M: 'static,
{
    fn observe<'a>(
        &'a self,
        failed: &'a FailedRequest,
        shutdown: &'a ShutdownTrigger,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Some(output) = self.call(failed, shutdown).await {
                if let Err(failure) = output.into_hook_result() {
                    tracing::error!(observer = %self.name, %failure, "an error observer failed");
                }
            }
        })
    }
}

/// What a running app does with its errors, prepared at start.
#[derive(Default)]
pub(crate) struct Reporting {
    pub(crate) renderer: Option<Arc<dyn PreparedRenderer>>,
    pub(crate) observers: Vec<Arc<dyn PreparedObserver>>,
}

impl Reporting {
    /// Prepares the registered renderer and observers.
    pub(crate) fn prepare(specs: &[ReportSpec], prepare: &Prepare<'_>) -> Self {
        let mut reporting = Self::default();
        for spec in specs {
            match spec.node.prepare(prepare, &spec.name) {
                Prepared::Renderer(renderer) => reporting.renderer = Some(renderer),
                Prepared::Observer(observer) => reporting.observers.push(observer),
            }
        }
        reporting
    }

    /// Whether a request's method and URI must be kept for observers.
    pub(crate) fn observes(&self) -> bool {
        !self.observers.is_empty()
    }

    /// Tells the observers of a failed request, then renders roadie's error in the app's
    /// shape. `asked` is the request's method and URI, kept when [`Reporting::observes`].
    pub(crate) async fn report(
        &self,
        response: Response,
        asked: Option<(Method, Uri)>,
        shutdown: &ShutdownTrigger,
    ) -> Response {
        let Some(fault) = response.fault() else {
            return response;
        };
        if let Some((method, uri)) = asked {
            let failed = FailedRequest {
                method,
                uri,
                status: response.status(),
                rejection: fault.rejection.clone(),
                handler_failed: fault.failed,
                error: fault.error.clone(),
                panic: fault.panic.clone(),
            };
            for observer in &self.observers {
                observer.observe(&failed, shutdown).await;
            }
        }
        match &self.renderer {
            Some(renderer) => render(renderer.as_ref(), response, shutdown).await,
            None => response,
        }
    }
}

/// Re-renders a response that carries roadie's error with the app's renderer, keeping the
/// headers the error had that the renderer did not set (`Allow`, `Connection`...).
async fn render(
    renderer: &dyn PreparedRenderer,
    original: Response,
    shutdown: &ShutdownTrigger,
) -> Response {
    let Some(rejection) = original.fault().and_then(|fault| fault.rejection.as_ref()) else {
        return original;
    };
    let Some(mut rendered) = renderer.render(rejection, shutdown).await else {
        return original;
    };
    for (name, value) in original.headers() {
        if name != header::CONTENT_TYPE
            && name != header::CONTENT_LENGTH
            && !rendered.headers().contains_key(name)
        {
            rendered.headers_mut().append(name.clone(), value.clone());
        }
    }
    rendered.keep_fault(original);
    rendered
}
