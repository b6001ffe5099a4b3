//! What wraps an app's routes and what it does with its errors: middleware (`wrap`,
//! `wrap_route`), the error renderer (`on_error`) and error observers (`observe_errors`).

use super::App;
use crate::blueprint::{Body, Kind, MiddlewareEntry, Registration};
use crate::error::Problem;
use crate::middleware::Middleware;
use crate::report::{ErrorObserver, ErrorRenderer, ReportSpec};

impl App {
    /// Wraps every route of the app (and its own `404`s and `405`s) in a middleware: an async
    /// function taking the [`Request`](crate::Request), the [`Next`](crate::Next) step, then
    /// extractors (`Res<T>`, `Dep<T>`, `HeaderMap`, ...), returning anything that implements
    /// [`IntoResponse`](crate::IntoResponse).
    ///
    /// Middleware nest in registration order: the first registered is the outermost. Each may
    /// change the request before calling `next.run(request)` and the response after, or
    /// answer without calling it. A `Dep<T>` that a middleware asks for is the handler's
    /// instance too: built once per request and released once, after the whole chain, told
    /// how the request ended. Its parameters are validated at start like a handler's: a
    /// resource nothing provides is a startup error, not a `500`.
    ///
    /// Middleware run once the router has matched the path: one that rewrites the path
    /// changes what the handler reads, not which handler runs. On a module merged or nested
    /// into another app, it wraps that module's routes only.
    ///
    /// ```
    /// use roadie::prelude::*;
    /// use std::convert::Infallible;
    ///
    /// struct Sessions;
    /// impl Sessions {
    ///     fn user(&self, token: &str) -> Option<String> {
    ///         (token == "Bearer s3cret").then(|| "ada".to_owned())
    ///     }
    /// }
    ///
    /// async fn require_user(request: Request, next: Next, sessions: Res<Sessions>) -> Response {
    ///     let token = request.headers().get("authorization").and_then(|v| v.to_str().ok());
    ///     match token.and_then(|token| sessions.user(token)) {
    ///         Some(_) => next.run(request).await,
    ///         None => (StatusCode::UNAUTHORIZED, "sign in first").into_response(),
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app = App::new()
    ///     .on_startup(|| Ok::<_, Infallible>(Sessions))
    ///     .wrap(require_user)
    ///     .get("/me", || async { "ada" });
    ///
    /// assert_eq!(app.execute(Request::get("/me")).await.status(), 401);
    /// let signed_in = Request::get("/me").header("authorization", "Bearer s3cret");
    /// assert_eq!(app.execute(signed_in).await.text(), "ada");
    /// # }
    /// ```
    pub fn wrap<M>(self, middleware: impl Middleware<M>) -> Self {
        let spec = middleware.into_middleware();
        self.push(Registration::new(
            Kind::Middleware,
            format!("middleware {}", spec.name),
            spec.needs.clone(),
            None,
            Body::Middleware(Box::new(MiddlewareEntry {
                spec,
                app_wide: true,
            })),
        ))
    }

    /// Wraps the last registered route (or the fallback) in a middleware, inside the
    /// app-wide ones; see [`App::wrap`]. Called several times, the first is the outermost.
    ///
    /// ```
    /// use roadie::prelude::*;
    ///
    /// async fn no_store(request: Request, next: Next) -> Response {
    ///     let mut response = next.run(request).await;
    ///     response.headers_mut().insert("cache-control", "no-store".parse().unwrap());
    ///     response
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app = App::new()
    ///     .get("/secret", || async { "s3cret" })
    ///     .wrap_route(no_store)
    ///     .get("/public", || async { "hello" });
    ///
    /// let secret = app.execute(Request::get("/secret")).await;
    /// assert_eq!(secret.header("cache-control"), Some("no-store"));
    /// let public = app.execute(Request::get("/public")).await;
    /// assert_eq!(public.header("cache-control"), None);
    /// # }
    /// ```
    ///
    /// # Panics
    /// If nothing was registered yet.
    #[track_caller]
    pub fn wrap_route<M>(mut self, middleware: impl Middleware<M>) -> Self {
        let spec = middleware.into_middleware();
        let last = self.last;
        let Some(target) = self.last_mut("`App::wrap_route` wraps") else {
            return self;
        };
        let around = target.name.clone();
        let held = match &mut target.body {
            Body::Route(route) => {
                route.handler.middleware.push(spec.clone());
                true
            }
            Body::Fallback(handler) => {
                handler.middleware.push(spec.clone());
                true
            }
            _ => false,
        };
        let name = format!("middleware {} (around {around})", spec.name);
        if !held {
            self.blueprint_mut().problems.push(Problem::Setting {
                node: around,
                setting: "App::wrap_route",
                why: "it wraps a route, and this is not one; call `.wrap_route(..)` right after \
                      registering the route, or `.wrap(..)` to wrap every route"
                    .to_owned(),
            });
            return self;
        }
        let mut app = self.push(Registration::new(
            Kind::Middleware,
            name,
            spec.needs.clone(),
            None,
            Body::Middleware(Box::new(MiddlewareEntry {
                spec,
                app_wide: false,
            })),
        ));
        // Route settings that follow still apply to the route.
        app.last = last;
        app
    }

    /// Renders every error roadie answers (`400`, `404`, `405`, `408`, `413`, `415`, `422`,
    /// `500`, `503`, ...) in the app's own shape: a plain function or closure taking the
    /// [`Rejection`](crate::Rejection), then resources (`Res<T>`, `Option<Res<T>>`),
    /// returning anything that implements [`IntoResponse`](crate::IntoResponse).
    ///
    /// The headers the error carried (`Allow` on a `405`, `Connection: close` on a `413`) are
    /// kept unless the renderer sets them. A renderer that panics or cannot get a resource is
    /// logged, and the error goes out in the default shape. [`Rejection::to_problem`]
    /// (`.on_error(Rejection::to_problem)`) renders RFC 9457 `application/problem+json`.
    /// Errors a handler answers in its own shape (the `Err` side of its `Result`, when that is
    /// not a `Rejection` or an [`HttpError`](crate::HttpError)) are left as they are.
    ///
    /// [`Rejection::to_problem`]: crate::Rejection::to_problem
    ///
    /// ```
    /// use roadie::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app = App::new().on_error(|error: &Rejection| {
    ///     (error.status(), format!("oops: {}", error.public_message()))
    /// });
    /// let response = app.execute(Request::get("/missing")).await;
    /// assert_eq!(response.status(), 404);
    /// assert_eq!(response.text(), "oops: Not Found");
    /// # }
    /// ```
    pub fn on_error<M>(self, renderer: impl ErrorRenderer<M>) -> Self {
        let spec = renderer.into_renderer();
        self.push_report(
            Kind::Renderer,
            format!("error renderer {}", spec.name),
            spec,
        )
    }

    /// Tells `observer` of every failed request (roadie's own errors, a handler's or a
    /// middleware's error, a panic), after its response is made, for logs and metrics: a plain
    /// function or closure taking the [`FailedRequest`](crate::FailedRequest), then resources,
    /// returning `()` or `Result<(), E>`. Observers run in registration order; one that fails
    /// or panics is logged, and the others still run.
    ///
    /// ```
    /// use roadie::prelude::*;
    /// use roadie::FailedRequest;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::convert::Infallible;
    ///
    /// #[derive(Default)]
    /// struct Metrics { failures: AtomicUsize }
    ///
    /// fn count(_failed: &FailedRequest, metrics: Res<Metrics>) {
    ///     metrics.failures.fetch_add(1, Ordering::Relaxed);
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app = App::new()
    ///     .on_startup(|| Ok::<_, Infallible>(Metrics::default()))
    ///     .observe_errors(count);
    /// let running = app.start().await.unwrap();
    /// running.execute(Request::get("/missing")).await;
    /// let metrics = running.resource::<Metrics>().unwrap();
    /// assert_eq!(metrics.failures.load(Ordering::Relaxed), 1);
    /// # running.shutdown().await.unwrap();
    /// # }
    /// ```
    pub fn observe_errors<M>(self, observer: impl ErrorObserver<M>) -> Self {
        let spec = observer.into_observer();
        self.push_report(
            Kind::Observer,
            format!("error observer {}", spec.name),
            spec,
        )
    }

    fn push_report(self, kind: Kind, name: String, spec: ReportSpec) -> Self {
        self.push(Registration::new(
            kind,
            name,
            spec.needs.clone(),
            None,
            Body::Report(Box::new(spec)),
        ))
    }
}
