//! The provider graph: validation before anything runs, startup order, and DOT export.

use std::any::TypeId;
use std::collections::HashMap;
use std::fmt::Write as _;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use smallvec::SmallVec;

use crate::app::Registration;
use crate::error::Problem;
use crate::extract::NeedKind;

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

/// A validated graph.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Indices of the startup nodes (providers and lifespans), in the order they start.
    pub(crate) startup: Vec<usize>,
    /// For each node, how many startup nodes it waits for.
    pub(crate) waits: Vec<u32>,
    /// For each node, the startup nodes that wait for it, in registration order.
    dependents: Adjacency,
}

impl Plan {
    /// The startup nodes that wait for `node`.
    pub(crate) fn dependents(&self, node: usize) -> &[u32] {
        self.dependents.of(node)
    }
}

/// Lists of node indices, one per node, stored back to back: node `i`'s list is
/// `items[start[i]..start[i + 1]]`. Two allocations whatever the number of nodes, and indices
/// of 32 bits, as in the graph itself.
#[derive(Debug)]
struct Adjacency {
    start: Vec<u32>,
    items: Vec<u32>,
}

impl Adjacency {
    /// Groups `(key, item)` pairs by key (a counting sort: linear, and stable, so each list
    /// keeps the pairs' order).
    fn group(nodes: usize, pairs: impl Iterator<Item = (usize, usize)> + Clone) -> Self {
        let mut start = vec![0u32; nodes + 1];
        for (key, _) in pairs.clone() {
            start[key + 1] += 1;
        }
        for i in 0..nodes {
            start[i + 1] += start[i];
        }
        let mut items = vec![0u32; start[nodes] as usize];
        // Each key's start serves as its cursor, and ends at the next key's start...
        for (key, item) in pairs {
            items[start[key] as usize] = index32(item);
            start[key] += 1;
        }
        // ... so shifting the starts by one puts them back.
        start.rotate_right(1);
        start[0] = 0;
        Self { start, items }
    }

    fn of(&self, node: usize) -> &[u32] {
        &self.items[self.start[node] as usize..self.start[node + 1] as usize]
    }
}

/// A node index as the graph stores it: the graph holds at most `u32::MAX` nodes.
fn index32(index: usize) -> u32 {
    u32::try_from(index).expect("the graph holds at most u32::MAX nodes")
}

/// A set of indices below a fixed bound that gives back its smallest member in
/// O(log₆₄ bound): one bit per index, and above those a bit per non-empty word, level by level
/// up to a single word.
struct IndexSet {
    /// `levels[0]` has a bit per index; each next level a bit per word of the one below.
    levels: Vec<Vec<u64>>,
}

impl IndexSet {
    fn new(bound: usize) -> Self {
        let mut levels = Vec::new();
        let mut len = bound.max(1);
        loop {
            let words = len.div_ceil(64);
            levels.push(vec![0; words]);
            if words == 1 {
                return Self { levels };
            }
            len = words;
        }
    }

    fn insert(&mut self, index: usize) {
        let mut at = index;
        for level in &mut self.levels {
            let word = &mut level[at / 64];
            let was_empty = *word == 0;
            *word |= 1 << (at % 64);
            if !was_empty {
                return;
            }
            at /= 64;
        }
    }

    fn pop_min(&mut self) -> Option<usize> {
        let top = self.levels.last()?;
        if top[0] == 0 {
            return None;
        }
        let mut min = 0;
        for level in self.levels.iter().rev() {
            min = min * 64 + level[min].trailing_zeros() as usize;
        }
        let mut at = min;
        for level in &mut self.levels {
            let word = &mut level[at / 64];
            *word &= !(1 << (at % 64));
            if *word != 0 {
                break;
            }
            at /= 64;
        }
        Some(min)
    }
}

/// The graph of a set of registrations: node `i` is registration `i`, and an edge goes from a
/// provider to each node that needs its value (once, however many parameters ask for it).
type Graph = DiGraph<(), ()>;

struct Built {
    graph: Graph,
    problems: Vec<Problem>,
}

fn build(nodes: &[Registration]) -> Built {
    let mut problems = Vec::new();
    let mut graph = Graph::with_capacity(nodes.len(), nodes.len());
    for _ in nodes {
        graph.add_node(());
    }

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
                first: nodes[first].name.clone(),
                second: node.name.clone(),
                request_scoped,
            });
        } else {
            table.insert(ty, index);
        }
    }

    let mut providers: SmallVec<[usize; 4]> = SmallVec::new();
    for (index, node) in nodes.iter().enumerate() {
        let outside_request = matches!(node.kind, Kind::Provider | Kind::Lifespan | Kind::Hook);
        let mut provides_param = false;
        providers.clear();
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
                NeedKind::Dependency if outside_request => problems.push(Problem::Scope {
                    node: node.name.clone(),
                    asks_for: need.param.clone(),
                    why: match node.kind {
                        Kind::Hook => "a shutdown hook runs outside any request, so it cannot have a request-scoped dependency; ask for a resource (`Res<T>`) instead",
                        _ => "a session-scoped value cannot hold a request-scoped one; make it a resource (`App::on_startup`), or make the asker a request-scoped dependency (`App::dependency`)",
                    },
                }),
                NeedKind::Dependency => match dependencies.get(&need.ty) {
                    Some(&provider) => providers.push(provider),
                    None => problems.push(Problem::MissingDependency {
                        ty: need.ty_name,
                        needed_by: node.name.clone(),
                    }),
                },
                NeedKind::RequestPart if outside_request => problems.push(Problem::Scope {
                    node: node.name.clone(),
                    asks_for: need.param.clone(),
                    why: "it runs outside any request; only routes and request-scoped dependencies can read the request",
                }),
                NeedKind::RequestPart => {}
                NeedKind::Provides => {
                    if node.kind != Kind::Lifespan {
                        problems.push(Problem::Scope {
                            node: node.name.clone(),
                            asks_for: need.param.clone(),
                            why: "only a lifespan (`App::lifespan`) receives a `Lifespan<T>` handle",
                        });
                    } else if provides_param {
                        problems.push(Problem::Scope {
                            node: node.name.clone(),
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
                node: node.name.clone(),
                asks_for: "no `Lifespan<T>`".to_owned(),
                why: "a lifespan takes a `Lifespan<T>` parameter (`Lifespan<()>` to register nothing) and calls `ready` on it once setup is done",
            });
        }
        for (at, &provider) in providers.iter().enumerate() {
            if !providers[..at].contains(&provider) {
                graph.add_edge(NodeIndex::new(provider), NodeIndex::new(index), ());
            }
        }
    }

    if !is_acyclic(&graph) {
        for cycle in cycles(&graph, nodes) {
            problems.push(Problem::Cycle { path: cycle });
        }
    }
    Built { graph, problems }
}

/// Whether the graph has no cycle: Kahn's algorithm reaches every node exactly when there is
/// none. Linear, and without the per-component lists that naming the cycles takes.
fn is_acyclic(graph: &Graph) -> bool {
    let mut waiting = vec![0u32; graph.node_count()];
    for edge in graph.edge_references() {
        waiting[edge.target().index()] += 1;
    }
    let mut free: Vec<NodeIndex> = graph
        .node_indices()
        .filter(|n| waiting[n.index()] == 0)
        .collect();
    let mut reached = 0;
    while let Some(node) = free.pop() {
        reached += 1;
        for edge in graph.edges(node) {
            let target = edge.target().index();
            waiting[target] -= 1;
            if waiting[target] == 0 {
                free.push(edge.target());
            }
        }
    }
    reached == graph.node_count()
}

/// Every cycle, one per strongly connected component, as names in "needs" direction:
/// `a -> b` reads "`a` needs what `b` provides". Each starts at its earliest-registered node.
fn cycles(graph: &Graph, nodes: &[Registration]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut components = tarjan_scc(graph);
    components.iter_mut().for_each(|c| c.sort_unstable());
    components.sort_by_key(|c| c.first().copied());
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
            providers.sort_unstable();
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
                .map(|n| nodes[n.index()].name.clone())
                .collect(),
        );
    }
    found
}

/// Validates the whole graph and computes the startup order.
pub(crate) fn plan(nodes: &[Registration], extra: Vec<Problem>) -> Result<Plan, Vec<Problem>> {
    let Built {
        graph,
        mut problems,
    } = build(nodes);
    problems.extend(extra);
    if !problems.is_empty() {
        return Err(problems);
    }

    let n = nodes.len();
    let startup_edges = graph
        .edge_references()
        .map(|edge| (edge.source().index(), edge.target().index()))
        .filter(|&(from, to)| nodes[from].kind.is_startup() && nodes[to].kind.is_startup());
    let mut waits = vec![0u32; n];
    for (_, to) in startup_edges.clone() {
        waits[to] += 1;
    }
    let dependents = Adjacency::group(n, startup_edges);

    // Kahn's algorithm; where the graph leaves a choice, the smallest (rank, index) first:
    // providers before lifespans, then registration order.
    let key = |index: usize| usize::from(nodes[index].kind.rank()) * n + index;
    let mut waiting = waits.clone();
    let mut ready = IndexSet::new(2 * n);
    for (index, node) in nodes.iter().enumerate() {
        if node.kind.is_startup() && waiting[index] == 0 {
            ready.insert(key(index));
        }
    }
    let mut startup = Vec::with_capacity(n);
    while let Some(next) = ready.pop_min() {
        let next = next % n;
        startup.push(next);
        for &dependent in dependents.of(next) {
            let dependent = dependent as usize;
            waiting[dependent] -= 1;
            if waiting[dependent] == 0 {
                ready.insert(key(dependent));
            }
        }
    }
    Ok(Plan {
        startup,
        waits,
        dependents,
    })
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The graph as Graphviz DOT: one node per registration, one edge per type passed along.
pub(crate) fn to_dot(nodes: &[Registration]) -> String {
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
            escape(&node.name),
            node.kind.label()
        );
    }
    let mut edges: Vec<(usize, usize)> = graph
        .edge_references()
        .map(|edge| (edge.source().index(), edge.target().index()))
        .collect();
    edges.sort_unstable();
    for (from, to) in edges {
        // What an edge passes along is what its source provides.
        let ty = nodes[from].provides.map_or("", |(_, ty)| ty);
        let _ = writeln!(out, "    n{from} -> n{to} [label=\"{}\"];", escape(ty));
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::{Adjacency, IndexSet};

    #[test]
    fn the_index_set_gives_back_its_smallest_member_like_an_ordered_set() {
        // Across one, two and three levels of words (64, 4,096 and more indices).
        for bound in [1, 63, 64, 65, 4_096, 4_097, 300_000] {
            let mut set = IndexSet::new(bound);
            let mut model = BTreeSet::new();
            // A fixed pseudo-random walk of inserts and pops (a linear congruential sequence).
            let mut x: u64 = 12_345;
            for _ in 0..20_000 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                if x >> 62 == 0 {
                    assert_eq!(set.pop_min(), model.pop_first(), "bound {bound}");
                } else {
                    let index = (x >> 20) as usize % bound;
                    set.insert(index);
                    model.insert(index);
                }
            }
            while let Some(min) = model.pop_first() {
                assert_eq!(set.pop_min(), Some(min), "bound {bound}");
            }
            assert_eq!(set.pop_min(), None, "bound {bound}");
        }
    }

    #[test]
    fn grouping_keeps_the_order_of_pairs_within_each_list() {
        // Keys and items are both node indices below the node count.
        let pairs = [(2, 7), (0, 5), (2, 3), (0, 6), (1, 5), (2, 1)];
        let lists = Adjacency::group(8, pairs.iter().copied());
        assert_eq!(lists.of(0), [5, 6]);
        assert_eq!(lists.of(1), [5]);
        assert_eq!(lists.of(2), [7, 3, 1]);
        assert!((3..8).all(|key| lists.of(key).is_empty()));
        let none = Adjacency::group(3, std::iter::empty());
        assert!((0..3).all(|key| none.of(key).is_empty()));
    }
}
