//! The router: paths matched by matchit, one handler per method, 404 and 405 with `Allow`.

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderValue, Method};
use percent_encoding::percent_decode_str;

use crate::error::Problem;
use crate::extract::Prepare;
use crate::handler::{PreparedHandler, RouteHandler};

/// Path parameters of a matched route, percent-decoded, in path order. The names borrow the
/// router (no allocation); the values are decoded from the request's path.
pub(crate) type Params<'r> = Vec<(&'r str, String)>;

/// A route as registered.
#[derive(Clone, Debug)]
pub(crate) struct RouteSpec {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) handler: RouteHandler,
}

impl RouteSpec {
    pub(crate) fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

struct Endpoint {
    methods: Vec<(Method, Arc<dyn PreparedHandler>)>,
    allow: HeaderValue,
}

/// What the router found for a request.
pub(crate) enum Lookup<'a> {
    Handler {
        handler: &'a Arc<dyn PreparedHandler>,
        params: Params<'a>,
    },
    NotFound,
    MethodNotAllowed(HeaderValue),
}

/// The routes of a running app, prepared.
pub(crate) struct Router {
    matcher: matchit::Router<usize>,
    endpoints: Vec<Endpoint>,
}

/// Groups routes by path, in registration order, reporting conflicts.
fn group(routes: &[RouteSpec]) -> (Vec<(String, Vec<usize>)>, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut by_path: HashMap<&str, usize> = HashMap::new();
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for (index, route) in routes.iter().enumerate() {
        let slot = *by_path.entry(route.path.as_str()).or_insert_with(|| {
            groups.push((route.path.clone(), Vec::new()));
            groups.len() - 1
        });
        let group = &mut groups[slot].1;
        if let Some(&other) = group
            .iter()
            .find(|&&other| routes[other].method == route.method)
        {
            problems.push(Problem::Route {
                route: route.label(),
                reason: format!(
                    "registered twice, by `{}` and by `{}`; keep one",
                    routes[other].handler.name, route.handler.name
                ),
            });
            continue;
        }
        group.push(index);
    }
    (groups, problems)
}

fn allow_header(methods: &[Method]) -> HeaderValue {
    let mut names: Vec<&str> = methods.iter().map(Method::as_str).collect();
    if methods.contains(&Method::GET) && !methods.contains(&Method::HEAD) {
        names.push("HEAD");
    }
    HeaderValue::from_str(&names.join(", ")).unwrap_or_else(|_| HeaderValue::from_static(""))
}

impl Router {
    /// Checks that every route can be registered, without preparing anything.
    /// A route registered on the readiness path would never be reached: the readiness route
    /// is answered before routing.
    pub(crate) fn check_readiness(routes: &[RouteSpec], readiness: Option<&str>) -> Vec<Problem> {
        let Some(readiness) = readiness else {
            return Vec::new();
        };
        routes
            .iter()
            .filter(|route| route.path == readiness)
            .map(|route| Problem::Route {
                route: route.label(),
                reason: format!(
                    "`{readiness}` is the readiness path (`App::readiness`), answered before \
                     routing, so this handler would never run; move one of them"
                ),
            })
            .collect()
    }

    pub(crate) fn check(routes: &[RouteSpec]) -> Vec<Problem> {
        let (groups, mut problems) = group(routes);
        let mut matcher = matchit::Router::new();
        for (slot, (path, members)) in groups.iter().enumerate() {
            if !path.starts_with('/') {
                problems.push(Problem::Route {
                    route: routes[members[0]].label(),
                    reason: "a path must start with `/`".to_owned(),
                });
                continue;
            }
            if let Err(error) = matcher.insert(path.as_str(), slot) {
                let mut reason = format!("{error}");
                // Name the handlers on both sides: across modules, that says which modules.
                if let matchit::InsertError::Conflict { with } = &error {
                    if let Some((_, theirs)) = groups.iter().find(|(other, _)| other == with) {
                        let names = |members: &[usize]| {
                            members
                                .iter()
                                .map(|&index| format!("`{}`", routes[index].handler.name))
                                .collect::<Vec<_>>()
                                .join(", ")
                        };
                        reason = format!(
                            "{reason} (`{path}` is handled by {}, `{with}` by {})",
                            names(members),
                            names(theirs)
                        );
                    }
                }
                problems.push(Problem::Route {
                    route: routes[members[0]].label(),
                    reason,
                });
            }
        }
        problems
    }

    /// Prepares every handler and builds the matcher. Call after [`Router::check`] passed.
    pub(crate) fn build(routes: &[RouteSpec], prepare: &Prepare<'_>) -> Self {
        let (groups, _) = group(routes);
        let mut matcher = matchit::Router::new();
        let mut endpoints = Vec::with_capacity(groups.len());
        for (path, members) in groups {
            let methods: Vec<(Method, Arc<dyn PreparedHandler>)> = members
                .iter()
                .map(|&index| {
                    (
                        routes[index].method.clone(),
                        routes[index].handler.node.prepare(prepare),
                    )
                })
                .collect();
            let names: Vec<Method> = methods.iter().map(|(method, _)| method.clone()).collect();
            if matcher.insert(path.as_str(), endpoints.len()).is_ok() {
                endpoints.push(Endpoint {
                    allow: allow_header(&names),
                    methods,
                });
            }
        }
        Self { matcher, endpoints }
    }

    pub(crate) fn find(&self, method: &Method, path: &str) -> Lookup<'_> {
        let Ok(matched) = self.matcher.at(path) else {
            return Lookup::NotFound;
        };
        let endpoint = &self.endpoints[*matched.value];
        let lookup = if *method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        let handler = endpoint
            .methods
            .iter()
            .find(|(m, _)| m == method)
            .or_else(|| endpoint.methods.iter().find(|(m, _)| m == lookup));
        match handler {
            Some((_, handler)) => Lookup::Handler {
                handler,
                params: matched
                    .params
                    .iter()
                    .map(|(name, value)| {
                        (
                            name,
                            percent_decode_str(value).decode_utf8_lossy().into_owned(),
                        )
                    })
                    .collect(),
            },
            None => Lookup::MethodNotAllowed(endpoint.allow.clone()),
        }
    }
}
