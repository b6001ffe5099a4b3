//! The provider graph: validation before anything runs, startup order, and DOT export.

use std::any::TypeId;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt::Write as _;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

use crate::error::Problem;
use crate::extract::{NeedKind, Needs};

/// What kind of node a registration is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Provider,
    Lifespan,
    Hook,
    Dependency,
    Route,
}

impl Kind {
    fn is_startup(self) -> bool {
        matches!(self, Kind::Provider | Kind::Lifespan)
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Provider => "startup provider",
            Kind::Lifespan => "lifespan",
            Kind::Hook => "shutdown hook",
            Kind::Dependency => "request-scoped dependency",
            Kind::Route => "route",
        }
    }

    /// Where the graph leaves a choice: providers first, then lifespans.
    fn rank(self) -> u8 {
        match self {
            Kind::Provider => 0,
            Kind::Lifespan => 1,
            _ => 2,
        }
    }
}

/// One node as the graph sees it.
#[derive(Debug)]
pub(crate) struct GraphNode<'a> {
    pub(crate) kind: Kind,
    pub(crate) name: &'a str,
    pub(crate) needs: &'a Needs,
    pub(crate) provides: Option<(TypeId, &'static str)>,
}

/// A validated graph.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Indices of the startup nodes (providers and lifespans), in the order they start.
    pub(crate) startup: Vec<usize>,
    /// For each node index, the startup nodes it waits for (its predecessors).
    pub(crate) waits_for: Vec<Vec<usize>>,
}

struct Built {
    graph: DiGraph<usize, &'static str>,
    problems: Vec<Problem>,
}

fn build(nodes: &[GraphNode<'_>]) -> Built {
    let mut problems = Vec::new();
    let mut graph = DiGraph::with_capacity(nodes.len(), nodes.len());
    let indices: Vec<NodeIndex> = (0..nodes.len()).map(|i| graph.add_node(i)).collect();

    let mut resources: HashMap<TypeId, usize> = HashMap::new();
    let mut dependencies: HashMap<TypeId, usize> = HashMap::new();
    for (index, node) in nodes.iter().enumerate() {
        let Some((ty, ty_name)) = node.provides else {
            continue;
        };
        let (table, request_scoped) = match node.kind {
            Kind::Provider | Kind::Lifespan => (&mut resources, false),
            Kind::Dependency => (&mut dependencies, true),
            Kind::Hook | Kind::Route => continue,
        };
        if let Some(&first) = table.get(&ty) {
            problems.push(Problem::Duplicate {
                ty: ty_name,
                first: nodes[first].name.to_owned(),
                second: node.name.to_owned(),
                request_scoped,
            });
        } else {
            table.insert(ty, index);
        }
    }

    for (index, node) in nodes.iter().enumerate() {
        let outside_request = matches!(node.kind, Kind::Provider | Kind::Lifespan | Kind::Hook);
        let mut provides_param = false;
        for need in &node.needs.items {
            match need.kind {
                NeedKind::Resource { optional } => match resources.get(&need.ty) {
                    Some(&provider) => {
                        graph.add_edge(indices[provider], indices[index], need.ty_name);
                    }
                    None if optional => {}
                    None => problems.push(Problem::MissingResource {
                        ty: need.ty_name,
                        needed_by: node.name.to_owned(),
                    }),
                },
                NeedKind::Dependency if outside_request => problems.push(Problem::Scope {
                    node: node.name.to_owned(),
                    asks_for: need.param.clone(),
                    why: match node.kind {
                        Kind::Hook => "a shutdown hook runs outside any request, so it cannot have a request-scoped dependency; ask for a resource (`Res<T>`) instead",
                        _ => "a session-scoped value cannot hold a request-scoped one; make it a resource (`App::on_startup`), or make the asker a request-scoped dependency (`App::dependency`)",
                    },
                }),
                NeedKind::Dependency => match dependencies.get(&need.ty) {
                    Some(&provider) => {
                        graph.add_edge(indices[provider], indices[index], need.ty_name);
                    }
                    None => problems.push(Problem::MissingDependency {
                        ty: need.ty_name,
                        needed_by: node.name.to_owned(),
                    }),
                },
                NeedKind::RequestPart if outside_request => problems.push(Problem::Scope {
                    node: node.name.to_owned(),
                    asks_for: need.param.clone(),
                    why: "it runs outside any request; only routes and request-scoped dependencies can read the request",
                }),
                NeedKind::RequestPart => {}
                NeedKind::Provides => {
                    if node.kind != Kind::Lifespan {
                        problems.push(Problem::Scope {
                            node: node.name.to_owned(),
                            asks_for: need.param.clone(),
                            why: "only a lifespan (`App::lifespan`) receives a `Lifespan<T>` handle",
                        });
                    } else if provides_param {
                        problems.push(Problem::Scope {
                            node: node.name.to_owned(),
                            asks_for: need.param.clone(),
                            why: "a lifespan takes one `Lifespan<T>` parameter; register one lifespan per value",
                        });
                    }
                    provides_param = true;
                }
            }
        }
        if node.kind == Kind::Lifespan && !provides_param {
            problems.push(Problem::Scope {
                node: node.name.to_owned(),
                asks_for: "no `Lifespan<T>`".to_owned(),
                why: "a lifespan takes a `Lifespan<T>` parameter (`Lifespan<()>` to register nothing) and calls `ready` on it once setup is done",
            });
        }
    }

    for cycle in cycles(&graph, nodes) {
        problems.push(Problem::Cycle { path: cycle });
    }
    Built { graph, problems }
}

/// Every cycle, one per strongly connected component, as names in "needs" direction:
/// `a -> b` reads "`a` needs what `b` provides". Each starts at its earliest-registered node.
fn cycles(graph: &DiGraph<usize, &'static str>, nodes: &[GraphNode<'_>]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut components = tarjan_scc(graph);
    components
        .iter_mut()
        .for_each(|c| c.sort_by_key(|&n| graph[n]));
    components.sort_by_key(|c| c.first().map(|&n| graph[n]));
    for component in components {
        let self_loop = component.len() == 1 && graph.contains_edge(component[0], component[0]);
        if component.len() < 2 && !self_loop {
            continue;
        }
        let start = component[0];
        let inside = |n: NodeIndex| component.contains(&n);
        // Walk "needs" edges (incoming edges: from provider to consumer reversed) breadth-first
        // back to `start`, remembering where each node was reached from.
        let mut previous: HashMap<NodeIndex, NodeIndex> = HashMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut closed = false;
        'search: while let Some(at) = queue.pop_front() {
            let mut providers: Vec<NodeIndex> = graph
                .edges_directed(at, petgraph::Direction::Incoming)
                .map(|edge| edge.source())
                .filter(|&n| inside(n))
                .collect();
            providers.sort_by_key(|&n| graph[n]);
            for next in providers {
                if next == start {
                    previous.insert(start, at);
                    closed = true;
                    break 'search;
                }
                if let std::collections::hash_map::Entry::Vacant(slot) = previous.entry(next) {
                    slot.insert(at);
                    queue.push_back(next);
                }
            }
        }
        if !closed {
            continue;
        }
        // Rebuild start -> ... -> start.
        let mut reversed = vec![start];
        let mut at = previous[&start];
        while at != start {
            reversed.push(at);
            at = previous[&at];
        }
        reversed.push(start);
        reversed.reverse();
        found.push(
            reversed
                .into_iter()
                .map(|n| nodes[graph[n]].name.to_owned())
                .collect(),
        );
    }
    found
}

/// Validates the whole graph and computes the startup order.
pub(crate) fn plan(nodes: &[GraphNode<'_>], extra: Vec<Problem>) -> Result<Plan, Vec<Problem>> {
    let Built {
        graph,
        mut problems,
    } = build(nodes);
    problems.extend(extra);
    if !problems.is_empty() {
        return Err(problems);
    }

    let mut waits_for = vec![Vec::new(); nodes.len()];
    let mut indegree = vec![0usize; nodes.len()];
    for edge in graph.edge_references() {
        let (from, to) = (graph[edge.source()], graph[edge.target()]);
        if nodes[from].kind.is_startup()
            && nodes[to].kind.is_startup()
            && !waits_for[to].contains(&from)
        {
            waits_for[to].push(from);
            indegree[to] += 1;
        }
    }
    let mut dependents = vec![Vec::new(); nodes.len()];
    for (to, froms) in waits_for.iter().enumerate() {
        for &from in froms {
            dependents[from].push(to);
        }
    }

    let mut ready: BinaryHeap<Reverse<(u8, usize)>> = nodes
        .iter()
        .enumerate()
        .filter(|(i, node)| node.kind.is_startup() && indegree[*i] == 0)
        .map(|(i, node)| Reverse((node.kind.rank(), i)))
        .collect();
    let mut startup = Vec::new();
    while let Some(Reverse((_, next))) = ready.pop() {
        startup.push(next);
        for &dependent in &dependents[next] {
            indegree[dependent] -= 1;
            if indegree[dependent] == 0 {
                ready.push(Reverse((nodes[dependent].kind.rank(), dependent)));
            }
        }
    }
    Ok(Plan { startup, waits_for })
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The graph as Graphviz DOT: one node per registration, one edge per type passed along.
pub(crate) fn to_dot(nodes: &[GraphNode<'_>]) -> String {
    let Built { graph, .. } = build(nodes);
    let mut out =
        String::from("digraph roadie {\n    rankdir=LR;\n    node [fontname=\"Helvetica\"];\n");
    for (index, node) in nodes.iter().enumerate() {
        let shape = match node.kind {
            Kind::Provider => "box",
            Kind::Lifespan => "box, style=rounded",
            Kind::Hook => "octagon",
            Kind::Dependency => "ellipse",
            Kind::Route => "note",
        };
        let provides = node
            .provides
            .map(|(_, ty)| format!("\\n→ {}", escape(ty)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "    n{index} [label=\"{}\\n({}){provides}\", shape={shape}];",
            escape(node.name),
            node.kind.label()
        );
    }
    let mut edges: Vec<(usize, usize, &str)> = graph
        .edge_references()
        .map(|edge| (graph[edge.source()], graph[edge.target()], *edge.weight()))
        .collect();
    edges.sort();
    for (from, to, ty) in edges {
        let _ = writeln!(out, "    n{from} -> n{to} [label=\"{}\"];", escape(ty));
    }
    out.push_str("}\n");
    out
}
