//! Composition and test doubles: apps built from modules, providers replaced in tests.

use std::sync::Arc;

use super::App;
use crate::blueprint::{Body, Kind, Registration};
use crate::error::Problem;
use crate::extract::{Need, NeedKind};
use crate::names::{callable_name, short_type_name};
use crate::node::{InPlaceOfLifespan, IntoDependency, IntoProvider};

impl App {
    /// An empty app that is a module named `name`: once merged or nested into another app,
    /// its nodes read `name::node` in errors, DOT output and logs.
    ///
    /// ```
    /// use roadie::prelude::*;
    /// use std::convert::Infallible;
    ///
    /// struct Pool;
    /// fn pool() -> Result<Pool, Infallible> { Ok(Pool) }
    ///
    /// let users = App::module("users").on_startup(pool);
    /// let app = App::new().merge(users);
    /// assert_eq!(app.startup_order().unwrap(), ["users::pool"]);
    /// ```
    pub fn module(name: impl Into<String>) -> Self {
        let mut app = App::new();
        app.blueprint_mut().module = Some(name.into());
        app
    }

    /// Joins another app's providers, lifespans, request-scoped dependencies, shutdown hooks
    /// and routes into this one. Everything joins one graph: validation, order, rollback and
    /// teardown work across modules exactly as inside one. This app's settings and layers are
    /// kept; the other app must have no layers ([`App::layer`]): a layer wraps the app that
    /// serves, so one on a module is a validation problem that says to move it there.
    pub fn merge(self, other: App) -> Self {
        self.join(None, other)
    }

    /// Like [`App::merge`], with the other app's routes under `prefix` (`/api`): its route
    /// `/users/{id}` answers at `/api/users/{id}`, and its `/` at `/api`.
    pub fn nest(self, prefix: &str, other: App) -> Self {
        self.join(Some(prefix), other)
    }

    fn join(mut self, prefix: Option<&str>, other: App) -> Self {
        let theirs = other.blueprint();
        let module = theirs.module.clone();
        let qualify = |name: &str| match &module {
            Some(module) => format!("{module}::{name}"),
            None => name.to_owned(),
        };
        let mut problems = theirs.problems.clone();
        if !theirs.layers.is_empty() {
            problems.push(Problem::Layer {
                module: match &module {
                    Some(module) => format!("the module `{module}`"),
                    None => "a merged app".to_owned(),
                },
                layers: theirs.layers.len(),
            });
        }
        let prefix = match prefix {
            Some(prefix)
                if !prefix.starts_with('/') || (prefix.len() > 1 && prefix.ends_with('/')) =>
            {
                problems.push(Problem::Route {
                    route: prefix.to_owned(),
                    reason: "a nesting prefix starts with `/` and does not end with one (`/api`)"
                        .to_owned(),
                });
                None
            }
            Some("/") => None,
            other => other,
        };
        let mut registrations: Vec<Registration> = Vec::with_capacity(theirs.registrations.len());
        let mut module_wide = Vec::new();
        for registration in &theirs.registrations {
            let mut registration = registration.clone();
            if let Body::Route(route) = &mut registration.body {
                // A path without its leading `/` stays as it is, and validation says so
                // (prefixed, `users` would silently become `/apiusers`).
                if let Some(prefix) = prefix.filter(|_| route.path.starts_with('/')) {
                    route.path = if route.path == "/" {
                        prefix.to_owned()
                    } else {
                        format!("{prefix}{}", route.path)
                    };
                }
                route.handler.name = qualify(&route.handler.name);
                registration.name =
                    format!("{} {} ({})", route.method, route.path, route.handler.name);
            } else if let Body::Fallback(handler) = &mut registration.body {
                handler.name = qualify(&handler.name);
                registration.name = format!("fallback ({})", handler.name);
            } else {
                if let Body::Middleware(entry) = &mut registration.body {
                    // The module's own middleware wrap the module's routes, not the app's.
                    if entry.app_wide {
                        entry.app_wide = false;
                        module_wide.push(entry.spec.clone());
                    }
                }
                registration.name = qualify(&registration.name);
            }
            registrations.push(registration);
        }
        if !module_wide.is_empty() {
            for registration in &mut registrations {
                let handler = match &mut registration.body {
                    Body::Route(route) => &mut route.handler,
                    Body::Fallback(handler) => &mut **handler,
                    _ => continue,
                };
                handler.middleware.splice(0..0, module_wide.iter().cloned());
            }
        }
        let blueprint = self.blueprint_mut();
        blueprint.registrations.extend(registrations);
        blueprint.problems.extend(problems);
        let last = blueprint.registrations.len().checked_sub(1);
        self.set_last(last);
        self
    }

    /// Swaps the startup provider (or lifespan) of a type for another: a function, a
    /// closure, an annotated provider, or a plain value through [`value`](crate::value).
    ///
    /// The replacement takes the original's place in the graph and goes through the same
    /// checks (its own needs must be met). Shutdown hooks that use the type still run, against
    /// the double. Replacing a type that nothing provides is a startup error that says so.
    ///
    /// ```
    /// use roadie::prelude::*;
    /// use std::convert::Infallible;
    ///
    /// struct Database { name: &'static str }
    ///
    /// fn app() -> App {
    ///     App::new()
    ///         .on_startup(|| Ok::<_, Infallible>(Database { name: "real" }))
    ///         .get("/", |db: Res<Database>| async move { db.name })
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let test_app = app().replace(roadie::value(Database { name: "fake" }));
    /// assert_eq!(test_app.execute(Request::get("/")).await.text(), "fake");
    /// # }
    /// ```
    pub fn replace<M>(self, provider: impl IntoProvider<M>) -> Self {
        self.replace_node(provider.into_node(), false)
    }

    /// Swaps the startup provider of `T` for a closure returning a plain `T`, the shortest
    /// form for a test double: `app.replace_with(|| FakeDb::new())`.
    pub fn replace_with<T, F>(self, make: F) -> Self
    where
        T: Send + Sync + 'static,
        F: Fn() -> T + Send + Sync + 'static,
    {
        let name = callable_name::<F>(Some(short_type_name::<T>()));
        let mut spec = IntoProvider::into_node(move || Ok::<_, std::convert::Infallible>(make()));
        // Named for the caller's function or closure, not for the wrapper above.
        spec.name = name;
        self.replace_node(spec, false)
    }

    /// Swaps the request-scoped dependency of a type for another.
    pub fn replace_dependency<M>(self, dependency: impl IntoDependency<M>) -> Self {
        self.replace_node(dependency.into_node(), true)
    }

    fn replace_node(mut self, spec: Registration, request_scoped: bool) -> Self {
        let by = spec.name.clone();
        let Some(&(ty, ty_name)) = spec.provides.first() else {
            self.blueprint_mut()
                .problems
                .push(Problem::ReplacedNothing { ty: "()", by });
            return self;
        };
        let blueprint = self.blueprint_mut();
        let target = blueprint.registrations.iter().position(|r| {
            r.provides.iter().any(|&(t, _)| t == ty)
                && if request_scoped {
                    r.kind == Kind::Dependency
                } else {
                    matches!(r.kind, Kind::Provider | Kind::Lifespan)
                }
        });
        let Some(target) = target else {
            blueprint
                .problems
                .push(Problem::ReplacedNothing { ty: ty_name, by });
            return self;
        };
        let original = &mut blueprint.registrations[target];
        let same_types = original.provides.len() == spec.provides.len()
            && spec
                .provides
                .iter()
                .all(|&(t, _)| original.provides.iter().any(|&(o, _)| o == t));
        if !same_types {
            let problem = Problem::ReplacedPart {
                original: original.name.clone(),
                registers: original.provided_names().unwrap_or_default(),
                by,
                instead: spec.provided_names().unwrap_or_default(),
            };
            blueprint.problems.push(problem);
            return self;
        }
        original.name = format!("{by} (replaces {})", original.name);
        original.needs = spec.needs;
        original.provides = spec.provides;
        original.body = match spec.body {
            // A plain provider in place of a lifespan stays a lifespan node, so that it keeps
            // the lifespan's place in the startup order (providers the graph leaves free start
            // before lifespans); it has nothing to tear down.
            Body::Run(node) if original.kind == Kind::Lifespan => {
                let param = format!(
                    "Lifespan<{}>",
                    original.provided_names().unwrap_or_default()
                );
                for (at, &(ty, ty_name)) in original.provides.iter().enumerate() {
                    original.needs.items.push(Need {
                        kind: NeedKind::Provides { also: at > 0 },
                        ty,
                        ty_name,
                        param: param.clone(),
                    });
                }
                Body::Run(Arc::new(InPlaceOfLifespan(node)))
            }
            body => body,
        };
        self.set_last(Some(target));
        self
    }
}
