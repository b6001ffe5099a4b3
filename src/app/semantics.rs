//! A route's HTTP semantics (RFC 9110 §12 and §13): its validator functions (`etag`,
//! `last_modified`) and the media types it provides (`provides`), and the app-wide limit on
//! request targets (`uri_limit`). The machinery is in `conditional.rs` and `negotiate.rs`.

use std::sync::Arc;
use std::time::SystemTime;

use super::App;
use crate::blueprint::{Body, Kind, Registration};
use crate::conditional::{ETag, RouteSemantics, Validator};
use crate::error::Problem;
use crate::extract::Needs;
use crate::negotiate;

impl App {
    /// Gives the last registered route an ETag function: an async function of extractors
    /// (`Path<T>`, `Dep<T>`, `Res<T>`, headers; not the body) returning `Option<ETag>`
    /// (`None`: the resource does not exist), or a `Result` of it.
    ///
    /// It runs after the app's middleware and before the handler, in the handler's request
    /// scope (a `Dep<T>` both ask for is built once). roadie then evaluates the request's
    /// preconditions (RFC 9110 §13.2.2): a failed one answers `412 Precondition Failed`, or
    /// `304 Not Modified` for `GET` and `HEAD`, and **the handler does not run**. A successful
    /// answer to `GET` or `HEAD` carries the `ETag`. Its needs are validated at start, like a
    /// handler's. See the guide chapter `roadie::guide::http_semantics`.
    ///
    /// ```
    /// use roadie::prelude::*;
    /// use roadie::ETag;
    ///
    /// async fn doc_etag() -> Option<ETag> {
    ///     Some(ETag::from_version(3))
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app = App::new().get("/doc", || async { "the doc" }).etag(doc_etag);
    /// let first = app.execute(Request::get("/doc")).await;
    /// assert_eq!(first.header("etag"), Some("\"v3\""));
    /// let again = app.execute(Request::get("/doc").header("if-none-match", "\"v3\"")).await;
    /// assert_eq!(again.status(), 304);
    /// # }
    /// ```
    ///
    /// # Panics
    /// If nothing was registered yet.
    #[track_caller]
    pub fn etag<M>(self, validator: impl Validator<ETag, M>) -> Self {
        let spec = validator.into_validator();
        let validator = (spec.name.clone(), spec.needs.clone());
        self.route_setting("App::etag", Some(validator), |semantics| {
            let twice = semantics.etag.is_some();
            semantics.etag = Some(spec);
            twice.then_some("the route has an ETag function already; keep one")
        })
    }

    /// Gives the last registered route a Last-Modified function: an async function of
    /// extractors returning `Option<SystemTime>` (whole seconds count; see
    /// [`conditional::unix_time`](crate::conditional::unix_time)), or a `Result` of it. It
    /// runs like the ETag function ([`App::etag`]), for `If-Unmodified-Since` and
    /// `If-Modified-Since`; a successful read carries `Last-Modified`.
    ///
    /// # Panics
    /// If nothing was registered yet.
    #[track_caller]
    pub fn last_modified<M>(self, validator: impl Validator<SystemTime, M>) -> Self {
        let spec = validator.into_validator();
        let validator = (spec.name.clone(), spec.needs.clone());
        self.route_setting("App::last_modified", Some(validator), |semantics| {
            let twice = semantics.last_modified.is_some();
            semantics.last_modified = Some(spec);
            twice.then_some("the route has a Last-Modified function already; keep one")
        })
    }

    /// Declares the media types the last registered route answers with, in the order it
    /// prefers them (`["application/json", "text/csv"]`). The request's `Accept` picks one
    /// (quality values, wildcards and parameters count; ties go to the first declared; no
    /// `Accept` picks the first), and the handler reads it as a
    /// [`MediaType`](crate::MediaType). When `Accept` allows none, the route answers `406`
    /// listing them, without running the handler. Every answer of the route carries
    /// `Vary: Accept`.
    ///
    /// # Panics
    /// If nothing was registered yet.
    #[track_caller]
    pub fn provides<I, S>(self, types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut offers = Vec::new();
        let mut problem = None;
        for declared in types {
            match negotiate::offer(declared.as_ref()) {
                Ok(offer) => offers.push(offer),
                Err(why) => problem = problem.or(Some(why)),
            }
        }
        if offers.is_empty() && problem.is_none() {
            problem = Some("it declares no media type; name at least one".to_owned());
        }
        match problem {
            Some(why) => self.setting_problem("App::provides", why),
            None => self.route_setting("App::provides", None, |semantics| {
                let twice = semantics.provides.is_some();
                semantics.provides = Some(Arc::from(offers));
                twice.then_some("the route declares its media types already; declare them once")
            }),
        }
    }

    /// The longest request target (path and query) accepted, in bytes (default 8 KiB);
    /// a longer one answers `414 URI Too Long`, before its body is read.
    pub fn uri_limit(mut self, bytes: usize) -> Self {
        self.blueprint_mut().settings.uri_limit = bytes;
        self
    }

    /// A problem with a route setting, reported at validation, naming the last registration.
    #[track_caller]
    fn setting_problem(mut self, setting: &'static str, why: String) -> Self {
        let Some(target) = self.last_mut(&format!("`{setting}` applies to")) else {
            return self;
        };
        let node = target.name.clone();
        self.blueprint_mut()
            .problems
            .push(Problem::Setting { node, setting, why });
        self
    }

    /// Applies a setting to the last registered route: `apply` says why it cannot, if it
    /// cannot. A validator is registered beside the route, so that its needs are validated
    /// at start under its own name; settings that follow still apply to the route.
    #[track_caller]
    fn route_setting(
        mut self,
        setting: &'static str,
        validator: Option<(String, Needs)>,
        apply: impl FnOnce(&mut RouteSemantics) -> Option<&'static str>,
    ) -> Self {
        let last = self.last;
        let Some(target) = self.last_mut(&format!("`{setting}` applies to")) else {
            return self;
        };
        let route = target.name.clone();
        let kind = target.kind;
        let Body::Route(spec) = &mut target.body else {
            let why = format!(
                "it applies to a route, and this is a {}; call `.{}(..)` right after \
                 registering the route",
                kind.label(),
                setting.trim_start_matches("App::")
            );
            self.blueprint_mut().problems.push(Problem::Setting {
                node: route,
                setting,
                why,
            });
            return self;
        };
        if let Some(why) = apply(&mut spec.handler.semantics) {
            self.blueprint_mut().problems.push(Problem::Setting {
                node: route.clone(),
                setting,
                why: why.to_owned(),
            });
        }
        let Some((name, needs)) = validator else {
            return self;
        };
        let what = setting.trim_start_matches("App::").replace('_', "-");
        let mut app = self.push(Registration::new(
            Kind::Validator,
            format!("{what} validator {name} (of {route})"),
            needs,
            None,
            Body::Validator,
        ));
        app.last = last;
        app
    }
}
