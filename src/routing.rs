//! The router: paths matched by matchit, one handler per method; what it finds tells 404 from
//! 405 (with its `Allow` list). Its rules are checked by [`crate::validate`].

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderValue, Method};
use percent_encoding::percent_decode_str;

use crate::blueprint::{PreparedHandler, RouteHandler, RouteSpec};
use crate::extract::{Params, Prepare};

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
    /// The handler of unmatched paths (`App::fallback`).
    fallback: Option<Arc<dyn PreparedHandler>>,
}

/// A path, and the indices of the routes on it, one per method.
pub(crate) type PathGroup = (String, Vec<usize>);

/// The routes grouped by path, in registration order. A method registered twice on one path
/// comes back as a pair of route indices (the first, the one left out); validation reports it.
pub(crate) fn group(routes: &[RouteSpec]) -> (Vec<PathGroup>, Vec<(usize, usize)>) {
    let mut twice = Vec::new();
    let mut by_path: HashMap<&str, usize> = HashMap::new();
    let mut groups: Vec<PathGroup> = Vec::new();
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
            twice.push((other, index));
            continue;
        }
        group.push(index);
    }
    (groups, twice)
}

fn allow_header(methods: &[Method]) -> HeaderValue {
    let mut names: Vec<&str> = methods.iter().map(Method::as_str).collect();
    if methods.contains(&Method::GET) && !methods.contains(&Method::HEAD) {
        names.push("HEAD");
    }
    HeaderValue::from_str(&names.join(", ")).unwrap_or_else(|_| HeaderValue::from_static(""))
}

impl Router {
    /// Prepares every handler and builds the matcher, for routes that passed validation.
    pub(crate) fn build(
        routes: &[RouteSpec],
        fallback: Option<&RouteHandler>,
        prepare: &Prepare<'_>,
    ) -> Self {
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
        Self {
            matcher,
            endpoints,
            fallback: fallback.map(|handler| handler.node.prepare(prepare)),
        }
    }

    pub(crate) fn find(&self, method: &Method, path: &str) -> Lookup<'_> {
        let Ok(matched) = self.matcher.at(path) else {
            return match &self.fallback {
                Some(handler) => Lookup::Handler {
                    handler,
                    params: Vec::new(),
                },
                None => Lookup::NotFound,
            };
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
