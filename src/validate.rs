//! Every validation rule, in one place: why an app is rejected before anything runs.
//!
//! [`check`] reports every problem at once, in this order:
//! 1. **the graph**: two providers of one type; a need nothing provides; a need the node's
//!    scope cannot have (a startup provider asking for a request-scoped dependency or for the
//!    request; a body read anywhere but a route handler's last parameter; a lifespan without
//!    its one `Lifespan<T>`); a setting that does not apply to the node (a timeout on a route
//!    or a dependency); cycles, with their path;
//! 2. **the routes**: a path without its leading `/`, one method registered twice on a path,
//!    two paths that the router cannot tell apart, a route on the readiness path, two
//!    fallbacks;
//! 3. what **registration** found: an unknown method (`App::route`), a nesting prefix that
//!    is not `/name` (`App::nest`), a merged or nested app with layers of its own
//!    (`App::layer`: a layer wraps the app that serves), a replacement that replaces nothing
//!    (`App::replace`). These are detected where they happen, because each decides what
//!    gets registered (a route that is not added, routes left unprefixed, layers left out, a
//!    node left as it was); they are reported here, with the rest.
//!
//! A valid app comes back as its [`Plan`]: the startup order, and the routes to build.

use petgraph::graph::NodeIndex;
use smallvec::SmallVec;

use crate::blueprint::{Blueprint, Body, Kind, Registration, RouteHandler, RouteSpec};
use crate::container::TypeMap;
use crate::error::{Problem, ValidationError};
use crate::extract::NeedKind;
use crate::graph::{self, Countdown, DotNode, Graph};
use crate::middleware::MiddlewareSpec;
use crate::report::ReportSpec;
use crate::routing;

/// A blueprint that passed validation: its startup order, and its routes.
pub(crate) struct Checked {
    pub(crate) plan: Plan,
    pub(crate) routes: Vec<RouteSpec>,
    /// The handler of unmatched paths, if the app registered one.
    pub(crate) fallback: Option<RouteHandler>,
    /// The middleware around every route, outermost first.
    pub(crate) middleware: Vec<MiddlewareSpec>,
    /// The error renderer, if any, and the error observers, in registration order.
    pub(crate) reports: Vec<ReportSpec>,
    /// Indices of the shutdown hooks, in registration order.
    pub(crate) hooks: Vec<usize>,
}

/// The startup order of a valid app.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Indices of the startup nodes (providers and lifespans), in the order they start.
    pub(crate) startup: Vec<usize>,
    /// What each node waits for, before any has started.
    pub(crate) countdown: Countdown,
}

/// Validates everything registered: the graph, the routes and what registration found.
/// Every problem comes back at once.
pub(crate) fn check(blueprint: &Blueprint) -> Result<Checked, ValidationError> {
    let nodes = &blueprint.registrations;
    let Wired {
        graph,
        mut problems,
    } = wire(nodes);
    // Kahn's algorithm, over every node; where the graph leaves a choice, the smallest
    // (rank, index) first: providers before lifespans, then registration order. Non-startup
    // nodes never hold a startup node back, so the startup nodes come in the order a walk of
    // them alone would give.
    let n = nodes.len();
    let ordered = graph::order(&graph, 3 * n.max(1), |index| {
        usize::from(nodes[index].kind.rank()) * n + index
    });
    if ordered.is_none() {
        for cycle in graph::cycles(&graph) {
            problems.push(Problem::Cycle {
                path: cycle.into_iter().map(|i| nodes[i].name.clone()).collect(),
            });
        }
    }
    // One sweep over the nodes sorts out what the rest of the checks and the start need: with
    // thousands of nodes, each sweep reads the whole table again.
    let mut routes = Vec::new();
    let mut fallbacks: SmallVec<[&RouteHandler; 1]> = SmallVec::new();
    let mut middleware = Vec::new();
    let mut reports = Vec::new();
    let mut renderers: SmallVec<[&Registration; 1]> = SmallVec::new();
    let mut hooks = Vec::new();
    for (index, node) in nodes.iter().enumerate() {
        match &node.body {
            Body::Route(route) => routes.push(RouteSpec::clone(route)),
            Body::Fallback(handler) => fallbacks.push(handler),
            Body::Middleware(entry) if entry.app_wide => middleware.push(entry.spec.clone()),
            Body::Report(spec) => reports.push(ReportSpec::clone(spec)),
            _ => {}
        }
        match node.kind {
            Kind::Renderer => renderers.push(node),
            Kind::Hook => hooks.push(index),
            _ => {}
        }
    }
    check_routes(&routes, &mut problems);
    let fallback = fallbacks
        .first()
        .map(|&handler| RouteHandler::clone(handler));
    if let [first, second, ..] = fallbacks[..] {
        problems.push(Problem::Route {
            route: "fallback".to_owned(),
            reason: format!(
                "registered twice, by `{}` and by `{}`; an app has one fallback, keep one",
                first.name, second.name
            ),
        });
    }
    if let [first, second, ..] = renderers[..] {
        problems.push(Problem::Setting {
            node: second.name.clone(),
            setting: "App::on_error",
            why: format!(
                "the app's errors are already rendered by `{}`; an app has one error renderer,                  keep one",
                first.name
            ),
        });
    }
    check_readiness(
        &routes,
        blueprint.settings.readiness_path.as_deref(),
        &mut problems,
    );
    problems.extend(blueprint.problems.iter().cloned());
    match ordered {
        Some((order, countdown)) if problems.is_empty() => Ok(Checked {
            plan: Plan {
                startup: order
                    .into_iter()
                    .filter(|&index| nodes[index].kind.is_startup())
                    .collect(),
                countdown,
            },
            routes,
            fallback,
            middleware,
            reports,
            hooks,
        }),
        _ => Err(ValidationError { problems }),
    }
}

/// The graph as Graphviz DOT: every node, and an edge for each type one hands another. An
/// invalid app is drawn too, as far as its edges go.
pub(crate) fn to_dot(nodes: &[Registration]) -> String {
    let Wired { graph, .. } = wire(nodes);
    graph::to_dot(&graph, |index| {
        let node = &nodes[index];
        DotNode {
            name: &node.name,
            kind: node.kind.label(),
            shape: match node.kind {
                Kind::Provider => "box",
                Kind::Lifespan => "box, style=rounded",
                Kind::Hook => "octagon",
                Kind::Dependency => "ellipse",
                Kind::Route => "note",
                Kind::Middleware | Kind::Validator => "cds",
                Kind::Renderer | Kind::Observer => "component",
                Kind::Background => "hexagon",
            },
            provides: node.provided_names(),
        }
    })
}

/// The graph's edges, and the problems found while wiring them.
struct Wired {
    graph: Graph,
    problems: Vec<Problem>,
}

/// Connects each need to its provider, checking each node's needs against its scope.
fn wire(nodes: &[Registration]) -> Wired {
    let mut problems = Vec::new();
    let mut graph = graph::with_nodes(nodes.len());

    let mut resources: TypeMap<usize> = TypeMap::default();
    let mut dependencies: TypeMap<usize> = TypeMap::default();
    for (index, node) in nodes.iter().enumerate() {
        let (table, request_scoped) = match node.kind {
            Kind::Provider | Kind::Lifespan => (&mut resources, false),
            Kind::Dependency => (&mut dependencies, true),
            Kind::Hook
            | Kind::Route
            | Kind::Middleware
            | Kind::Renderer
            | Kind::Observer
            | Kind::Background
            | Kind::Validator => continue,
        };
        for &(ty, ty_name) in &node.provides {
            match table.get(&ty) {
                // A node that names one type twice (`Each<(A, A)>`) is its own duplicate.
                Some(&first) => problems.push(Problem::Duplicate {
                    ty: ty_name,
                    first: nodes[first].name.clone(),
                    second: node.name.clone(),
                    request_scoped,
                }),
                None => {
                    table.insert(ty, index);
                }
            }
        }
    }

    let mut providers: SmallVec<[usize; 4]> = SmallVec::new();
    for (index, node) in nodes.iter().enumerate() {
        let outside_request = node.kind.is_outside_request();
        let mut provides_param = false;
        providers.clear();
        let scope = |asks_for: &str, why: &'static str| Problem::Scope {
            node: node.name.clone(),
            asks_for: asks_for.to_owned(),
            why,
        };
        for need in &node.needs.items {
            match need.kind {
                NeedKind::Resource { optional } => match resources.get(&need.ty) {
                    Some(&provider) => providers.push(provider),
                    None if optional => {}
                    None => problems.push(Problem::MissingResource {
                        ty: need.ty_name,
                        needed_by: node.name.clone(),
                    }),
                },
                NeedKind::Dependency if outside_request => problems.push(scope(
                    &need.param,
                    match node.kind {
                        Kind::Hook => "a shutdown hook runs outside any request, so it cannot have a request-scoped dependency; ask for a resource (`Res<T>`) instead",
                        Kind::Background => "a background task runs outside any request, so it cannot have a request-scoped dependency; ask for a resource (`Res<T>`) and get what each run needs from it (a connection from a pool) inside the task",
                        Kind::Renderer | Kind::Observer => "errors are also answered outside any request scope (a refused body, a stopping app), so it takes resources (`Res<T>`, `Option<Res<T>>`) only",
                        _ => "a session-scoped value cannot hold a request-scoped one; make it a resource (`App::on_startup`), or make the asker a request-scoped dependency (`App::dependency`)",
                    },
                )),
                NeedKind::Dependency => match dependencies.get(&need.ty) {
                    Some(&provider) => providers.push(provider),
                    None => problems.push(Problem::MissingDependency {
                        ty: need.ty_name,
                        needed_by: node.name.clone(),
                    }),
                },
                NeedKind::RequestPart | NeedKind::Body if outside_request => problems.push(scope(
                    &need.param,
                    match node.kind {
                        Kind::Renderer | Kind::Observer => "errors are also answered outside any request scope (a refused body, a stopping app), so it takes resources (`Res<T>`, `Option<Res<T>>`) only; an observer reads the method and URI from its `FailedRequest`",
                        _ => "it runs outside any request; only routes, middleware and request-scoped dependencies can read the request",
                    },
                )),
                NeedKind::RequestPart => {}
                NeedKind::Body if node.kind == Kind::Middleware => problems.push(scope(
                    &need.param,
                    "a middleware receives the body in its `Request`; read it from the `Request` (`request.body_bytes()`)",
                )),
                NeedKind::Body if node.kind == Kind::Validator => problems.push(scope(
                    &need.param,
                    "a validator runs before the handler, which reads the body; read what the validator needs from the path, the headers or a `Dep<T>`",
                )),
                NeedKind::Body if node.kind == Kind::Dependency => problems.push(scope(
                    &need.param,
                    "only a route handler's last parameter can read the request body; read it in the handler and pass what the dependency needs through a header or the path, or make the dependency read them",
                )),
                NeedKind::Body => {}
                NeedKind::Provides { .. } if node.kind != Kind::Lifespan => problems.push(scope(
                    &need.param,
                    "only a lifespan (`App::lifespan`) receives a `Lifespan<T>` handle",
                )),
                NeedKind::Provides { also: true } => {}
                NeedKind::Provides { also: false } if provides_param => problems.push(scope(
                    &need.param,
                    "a lifespan takes one `Lifespan<T>` parameter; to register several values \
                     at once, take `Lifespan<(A, B), Each>` and call `ready((a, b))`",
                )),
                NeedKind::Provides { also: false } => provides_param = true,
            }
        }
        if node.kind == Kind::Lifespan && !provides_param {
            problems.push(scope(
                "no `Lifespan<T>`",
                "a lifespan takes a `Lifespan<T>` parameter (`Lifespan<()>` to register nothing) and calls `ready` on it once setup is done",
            ));
        }
        if node.timeout.is_some()
            && !(node.kind.is_startup() || matches!(node.kind, Kind::Hook | Kind::Background))
        {
            problems.push(Problem::Setting {
                node: node.name.clone(),
                setting: "App::timeout",
                why: format!(
                    "a timeout applies to startup providers, lifespans and shutdown hooks, and \
                     to background tasks (how long the stop waits for them), and this is a {}; \
                     call `.timeout(..)` right after registering one of those",
                    node.kind.label()
                ),
            });
        }
        if node.teardown_timeout.is_some() && node.kind != Kind::Lifespan {
            problems.push(Problem::Setting {
                node: node.name.clone(),
                setting: "App::teardown_timeout",
                why: format!(
                    "a teardown timeout applies to a lifespan's teardown, and this is a {}; call \
                     `.teardown_timeout(..)` right after `.lifespan(..)`, or `.timeout(..)` for \
                     this node",
                    node.kind.label()
                ),
            });
        }
        if node.blocking && node.kind != Kind::Dependency {
            problems.push(Problem::Setting {
                node: node.name.clone(),
                setting: "App::blocking",
                why: format!(
                    "it moves a request-scoped dependency's plain function to the blocking pool, \
                     and this is a {}; plain startup providers and shutdown hooks already run \
                     there, so remove the call",
                    node.kind.label()
                ),
            });
        }
        for (at, &provider) in providers.iter().enumerate() {
            if !providers[..at].contains(&provider) {
                graph.add_edge(NodeIndex::new(provider), NodeIndex::new(index), ());
            }
        }
    }
    Wired { graph, problems }
}

/// Route rules: a leading `/`, one handler per method and path, paths the router can tell
/// apart (checked by building a matcher, exactly as the running app will).
fn check_routes(routes: &[RouteSpec], problems: &mut Vec<Problem>) {
    // A `MediaType` is chosen from the media types the route declares.
    for route in routes {
        let reads_media = route
            .handler
            .needs
            .items
            .iter()
            .any(|need| need.kind == NeedKind::RequestPart && need.param == "MediaType");
        if reads_media && route.handler.semantics.provides.is_none() {
            problems.push(Problem::Route {
                route: route.label(),
                reason: format!(
                    "`{}` reads `MediaType`, but the route declares no media types: add \
                     `.provides([..])` after the route, or `provides = [..]` to its attribute",
                    route.handler.name
                ),
            });
        }
    }
    let (groups, twice) = routing::group(routes);
    for (first, second) in twice {
        problems.push(Problem::Route {
            route: routes[second].label(),
            reason: format!(
                "registered twice, by `{}` and by `{}`; keep one",
                routes[first].handler.name, routes[second].handler.name
            ),
        });
    }
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
}

/// A route registered on the readiness path would never be reached: the readiness route is
/// answered before routing.
fn check_readiness(routes: &[RouteSpec], readiness: Option<&str>, problems: &mut Vec<Problem>) {
    let Some(readiness) = readiness else {
        return;
    };
    problems.extend(
        routes
            .iter()
            .filter(|route| route.path == readiness)
            .map(|route| Problem::Route {
                route: route.label(),
                reason: format!(
                    "`{readiness}` is the readiness path (`App::readiness`), answered before \
                     routing, so this handler would never run; move one of them"
                ),
            }),
    );
}
