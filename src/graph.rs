//! The graph of an app's nodes (petgraph): node `i` is registration `i`, and an edge goes from
//! a provider to each node that needs its value. This file holds the graph algorithms alone,
//! over node indices: the one topological order (Kahn's algorithm, which also tells whether
//! there is a cycle), the cycles themselves (Tarjan's algorithm, named only when Kahn found
//! one), and the DOT rendering. Which edges exist, and what is a problem, is decided by
//! [`crate::validate`].

use std::collections::HashMap;
use std::fmt::Write as _;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

/// The graph: no weights, node `i` is registration `i`, one edge per provider and consumer.
pub(crate) type Graph = DiGraph<(), ()>;

/// An empty graph of `nodes` nodes.
pub(crate) fn with_nodes(nodes: usize) -> Graph {
    let mut graph = Graph::with_capacity(nodes, nodes);
    for _ in 0..nodes {
        graph.add_node(());
    }
    graph
}

/// For each node, how many nodes it still waits for, and who waits for it: the state of a
/// topological walk. Validation walks it once to order the nodes; concurrent startup walks a
/// copy as nodes finish starting.
#[derive(Debug, Clone)]
pub(crate) struct Countdown {
    waits: Vec<u32>,
    dependents: Adjacency,
}

impl Countdown {
    pub(crate) fn new(graph: &Graph) -> Self {
        let edges = graph
            .edge_references()
            .map(|edge| (edge.source().index(), edge.target().index()));
        let mut waits = vec![0u32; graph.node_count()];
        for (_, to) in edges.clone() {
            waits[to] += 1;
        }
        Self {
            waits,
            dependents: Adjacency::group(graph.node_count(), edges),
        }
    }

    /// Whether `node` waits for nothing (more).
    pub(crate) fn is_free(&self, node: usize) -> bool {
        self.waits[node] == 0
    }

    /// Marks `node` as done, and calls `freed` with each node that now waits for nothing more,
    /// in the order they were registered.
    pub(crate) fn done(&mut self, node: usize, mut freed: impl FnMut(usize)) {
        for &dependent in self.dependents.of(node) {
            let dependent = dependent as usize;
            self.waits[dependent] -= 1;
            if self.waits[dependent] == 0 {
                freed(dependent);
            }
        }
    }
}

/// The nodes in topological order, the smallest `key` first where the graph leaves a choice,
/// with the countdown as it was before the walk; `None` if a cycle leaves nodes unreached.
///
/// `key(i)` must be unique per node and below `bound`. Linear in the graph's size, plus
/// O(log₆₄ bound) per node for the choice.
pub(crate) fn order(
    graph: &Graph,
    bound: usize,
    key: impl Fn(usize) -> usize,
) -> Option<(Vec<usize>, Countdown)> {
    let n = graph.node_count();
    let initial = Countdown::new(graph);
    let mut countdown = initial.clone();
    let mut ready = IndexSet::new(bound);
    let mut node_of = vec![0u32; bound];
    for node in (0..n).filter(|&node| countdown.is_free(node)) {
        ready.insert(key(node));
        node_of[key(node)] = index32(node);
    }
    let mut order = Vec::with_capacity(n);
    while let Some(next) = ready.pop_min() {
        let node = node_of[next] as usize;
        order.push(node);
        countdown.done(node, |freed| {
            ready.insert(key(freed));
            node_of[key(freed)] = index32(freed);
        });
    }
    (order.len() == n).then_some((order, initial))
}

/// Lists of node indices, one per node, stored back to back: node `i`'s list is
/// `items[start[i]..start[i + 1]]`. Two allocations whatever the number of nodes, and indices
/// of 32 bits, as in the graph itself.
#[derive(Debug, Clone)]
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

/// Every cycle, one per strongly connected component, as nodes in "needs" direction:
/// `a -> b` reads "`a` needs what `b` provides". Each starts at its earliest-registered node.
pub(crate) fn cycles(graph: &Graph) -> Vec<Vec<usize>> {
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
        found.push(reversed.into_iter().map(NodeIndex::index).collect());
    }
    found
}

/// One node as DOT shows it.
pub(crate) struct DotNode<'a> {
    pub(crate) name: &'a str,
    pub(crate) kind: &'static str,
    pub(crate) shape: &'static str,
    /// The type it provides, which is also the label of each edge leaving it.
    pub(crate) provides: Option<String>,
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The graph as Graphviz DOT: one node per registration, one edge per type passed along.
pub(crate) fn to_dot<'a>(graph: &Graph, node: impl Fn(usize) -> DotNode<'a>) -> String {
    let mut out =
        String::from("digraph roadie {\n    rankdir=LR;\n    node [fontname=\"Helvetica\"];\n");
    for index in 0..graph.node_count() {
        let DotNode {
            name,
            kind,
            shape,
            provides,
        } = node(index);
        let provides = provides
            .map(|ty| format!("\\n→ {}", escape(&ty)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "    n{index} [label=\"{}\\n({kind}){provides}\", shape={shape}];",
            escape(name),
        );
    }
    let mut edges: Vec<(usize, usize)> = graph
        .edge_references()
        .map(|edge| (edge.source().index(), edge.target().index()))
        .collect();
    edges.sort_unstable();
    for (from, to) in edges {
        // What an edge passes along is what its source provides.
        let ty = node(from).provides.unwrap_or_default();
        let _ = writeln!(out, "    n{from} -> n{to} [label=\"{}\"];", escape(&ty));
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
