//! The router: paths matched by matchit, one handler per method; what it finds tells 404 from
//! 405 (with its `Allow` list). Its rules are checked by [`crate::validate`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use http::{HeaderValue, Method};

use crate::blueprint::{PreparedHandler, RouteHandler, RouteSpec};
use crate::conditional;
use crate::extract::{Params, Prepare};
use crate::middleware::{MiddlewareSpec, PreparedMiddleware, Wrappers};

/// A prepared handler, and the middleware around it.
pub(crate) struct Route {
    pub(crate) handler: Arc<dyn PreparedHandler>,
    pub(crate) wrappers: Wrappers,
}

struct Endpoint {
    methods: Vec<(Method, Arc<Route>)>,
    allow: HeaderValue,
    /// `allow`, with `OPTIONS`: what the router's answer to `OPTIONS` lists.
    options: HeaderValue,
    /// Where the path's parameters are in a path it matches.
    pattern: Vec<Step>,
}

/// One step through a path that matched a pattern, to where its parameters are: matchit
/// has found the route, and the pattern tells where each parameter starts and ends, so
/// that they are not read back (and checked again) from matchit's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Static text of this many bytes (the pattern's, with `{{` and `}}` unescaped): the
    /// path has it as it is.
    Skip(usize),
    /// A parameter (`{id}`): up to the next `/`, or to the end of the path.
    Segment(&'static str),
    /// A catch-all parameter (`{*rest}`), or a parameter that ends the pattern: the rest of
    /// the path.
    Rest(&'static str),
}

/// What the router found for a request.
pub(crate) enum Lookup<'a> {
    /// A route; its path parameters were written to the caller's `Params`.
    Handler(&'a Arc<Route>),
    NotFound,
    MethodNotAllowed(HeaderValue),
    /// `OPTIONS` on a path that routes no `OPTIONS` of its own: `204` with `Allow`.
    Options(HeaderValue),
    /// A method unknown to HTTP and to the app: `501`.
    NotImplemented,
}

/// The routes of a running app, prepared.
pub(crate) struct Router {
    matcher: matchit::Router<usize>,
    endpoints: Vec<Endpoint>,
    /// The handler of unmatched paths (`App::fallback`).
    fallback: Option<Arc<Route>>,
    /// The app-wide middleware: around the router's own `404`s and `405`s too.
    wrappers: Wrappers,
    /// The methods the app routes that are not in IANA's registry (`PURGE`): known to the
    /// app, so never `501`.
    own_methods: Vec<Method>,
}

/// The methods of IANA's HTTP Method Registry (RFC 9110 §18.2 and the registrations since):
/// a request with any other method, which no route of the app takes, answers `501`.
const REGISTERED: &[&str] = &[
    "ACL",
    "BASELINE-CONTROL",
    "BIND",
    "CHECKIN",
    "CHECKOUT",
    "CONNECT",
    "COPY",
    "DELETE",
    "GET",
    "HEAD",
    "LABEL",
    "LINK",
    "LOCK",
    "MERGE",
    "MKACTIVITY",
    "MKCALENDAR",
    "MKCOL",
    "MKREDIRECTREF",
    "MKWORKSPACE",
    "MOVE",
    "OPTIONS",
    "ORDERPATCH",
    "PATCH",
    "POST",
    "PRI",
    "PROPFIND",
    "PROPPATCH",
    "PUT",
    "QUERY",
    "REBIND",
    "REPORT",
    "SEARCH",
    "TRACE",
    "UNBIND",
    "UNCHECKOUT",
    "UNLINK",
    "UNLOCK",
    "UPDATE",
    "UPDATEREDIRECTREF",
    "VERSION-CONTROL",
];

/// The steps to a path pattern's parameters (`{id}`, `{*rest}`), in path order, their names
/// interned: a name is leaked once per process however many times the app starts, so that
/// each request's parameters can name theirs without an allocation.
fn pattern(path: &str) -> Vec<Step> {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut interned = crate::names::lock(NAMES.get_or_init(Mutex::default));
    let mut steps = Vec::new();
    // Static text seen since the last parameter, in bytes of the path.
    let mut skip = 0;
    let mut rest = path;
    while let Some(at) = rest.find(['{', '}']) {
        skip += at;
        rest = &rest[at..];
        // `{{` and `}}` are a literal brace.
        if rest.starts_with("{{") || rest.starts_with("}}") {
            skip += 1;
            rest = &rest[2..];
            continue;
        }
        let Some(close) = rest.find('}').filter(|_| rest.starts_with('{')) else {
            // Not a parameter (matchit accepted the pattern, so this is not reached).
            skip += 1;
            rest = &rest[1..];
            continue;
        };
        let name = &rest[1..close];
        let (name, catch_all) = match name.strip_prefix('*') {
            Some(name) => (name, true),
            None => (name, false),
        };
        let name = match interned.get(name) {
            Some(&name) => name,
            None => {
                let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
                interned.insert(leaked);
                leaked
            }
        };
        if skip > 0 {
            steps.push(Step::Skip(skip));
            skip = 0;
        }
        steps.push(if catch_all {
            Step::Rest(name)
        } else {
            Step::Segment(name)
        });
        rest = &rest[close + 1..];
    }
    // A parameter that ends the pattern runs to the end of the path: matchit matched the
    // whole path, and a segment holds no `/`. It is found without a search.
    if let (0, Some(last)) = (skip + rest.len(), steps.last_mut()) {
        if let Step::Segment(name) = *last {
            *last = Step::Rest(name);
        }
    }
    steps
}

/// Prepares each middleware once, however many routes it wraps.
struct Wrapping<'p, 'a> {
    prepare: &'p Prepare<'a>,
    prepared: HashMap<*const (), Arc<dyn PreparedMiddleware>>,
    app_wide: Vec<Arc<dyn PreparedMiddleware>>,
}

impl Wrapping<'_, '_> {
    fn one(&mut self, spec: &MiddlewareSpec) -> Arc<dyn PreparedMiddleware> {
        let key = Arc::as_ptr(&spec.node).cast::<()>();
        let prepare = self.prepare;
        Arc::clone(
            self.prepared
                .entry(key)
                .or_insert_with(|| spec.node.prepare(prepare, &spec.name)),
        )
    }

    /// The app-wide middleware, then the handler's own.
    fn route(&mut self, handler: &RouteHandler) -> Arc<Route> {
        let mut wrappers = self.app_wide.clone();
        for spec in &handler.middleware {
            wrappers.push(self.one(spec));
        }
        let prepared = handler.node.prepare(self.prepare);
        Arc::new(Route {
            handler: conditional::route_semantics(&handler.semantics, prepared, self.prepare),
            wrappers: wrappers.into(),
        })
    }
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
        middleware: &[MiddlewareSpec],
        prepare: &Prepare<'_>,
    ) -> Self {
        let mut wrapping = Wrapping {
            prepare,
            prepared: HashMap::new(),
            app_wide: Vec::new(),
        };
        wrapping.app_wide = middleware.iter().map(|spec| wrapping.one(spec)).collect();
        let (groups, _) = group(routes);
        let mut matcher = matchit::Router::new();
        let mut endpoints = Vec::with_capacity(groups.len());
        let mut own_methods = Vec::new();
        for (path, members) in groups {
            let methods: Vec<(Method, Arc<Route>)> = members
                .iter()
                .map(|&index| {
                    (
                        routes[index].method.clone(),
                        wrapping.route(&routes[index].handler),
                    )
                })
                .collect();
            let allowed: Vec<Method> = methods.iter().map(|(method, _)| method.clone()).collect();
            for method in &allowed {
                if !REGISTERED.contains(&method.as_str()) && !own_methods.contains(method) {
                    own_methods.push(method.clone());
                }
            }
            if matcher.insert(path.as_str(), endpoints.len()).is_ok() {
                let allow = allow_header(&allowed);
                let options = if allowed.contains(&Method::OPTIONS) {
                    allow.clone()
                } else {
                    let listed = format!("{}, OPTIONS", allow.to_str().unwrap_or_default());
                    HeaderValue::from_str(&listed).unwrap_or_else(|_| allow.clone())
                };
                endpoints.push(Endpoint {
                    allow,
                    options,
                    methods,
                    pattern: pattern(&path),
                });
            }
        }
        Self {
            matcher,
            endpoints,
            fallback: fallback.map(|handler| wrapping.route(handler)),
            wrappers: wrapping.app_wide.into(),
            own_methods,
        }
    }

    /// Whether HTTP or the app knows `method`. Asked only when no route takes the request,
    /// so that a routed request pays nothing for it.
    fn knows(&self, method: &Method) -> bool {
        REGISTERED.contains(&method.as_str()) || self.own_methods.contains(method)
    }

    /// The app-wide middleware, around the router's own answers.
    pub(crate) fn wrappers(&self) -> &Wrappers {
        &self.wrappers
    }

    /// What takes a request for `method` and `path`; a route's path parameters are written to
    /// `params` (the caller's, so that they are not moved on every request).
    pub(crate) fn find(&self, method: &Method, path: &str, params: &mut Params) -> Lookup<'_> {
        let Ok(matched) = self.matcher.at(path) else {
            if !self.knows(method) {
                return Lookup::NotImplemented;
            }
            return match &self.fallback {
                Some(route) => Lookup::Handler(route),
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
            Some((_, route)) => {
                let mut at = 0;
                let mut index = 0;
                for step in &endpoint.pattern {
                    let (name, end) = match *step {
                        Step::Skip(len) => {
                            at += len;
                            continue;
                        }
                        Step::Segment(name) => {
                            let rest = path.as_bytes().get(at..).unwrap_or_default();
                            let len = rest.iter().position(|&byte| byte == b'/');
                            (name, len.map_or(path.len(), |len| at + len))
                        }
                        Step::Rest(name) => (name, path.len()),
                    };
                    debug_assert_eq!(
                        matched.params.iter().nth(index),
                        path.get(at..end).map(|value| (name, value)),
                        "the pattern finds each parameter where matchit did"
                    );
                    params.push(name, path, at, end);
                    at = end;
                    index += 1;
                }
                Lookup::Handler(route)
            }
            None if !self.knows(method) => Lookup::NotImplemented,
            None if *method == Method::OPTIONS => Lookup::Options(endpoint.options.clone()),
            None => Lookup::MethodNotAllowed(endpoint.allow.clone()),
        }
    }
}
