//! Fusion: cutting the graph into chains at exchanges.
//!
//! Every operator connected to its neighbour by a forward edge runs in the same chain: one
//! monomorphized nest of operators whose per-record path is straight-line code (Flink's
//! operator chaining, without a virtual call per record). A hash exchange (after `key_by`)
//! ends a chain, because records may change worker there. Chains are numbered by their first
//! operator, so the plan is the same on every build.

use crate::graph::{Exchange, Graph, NodeId};

/// One fused chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// Operators of the chain, in topological order.
    pub nodes: Vec<NodeId>,
}

/// An exchange between two chains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainEdge {
    /// The producing chain.
    pub from: usize,
    /// The consuming chain.
    pub to: usize,
    /// How records are partitioned.
    pub exchange: Exchange,
}

/// The fused plan of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The chains, numbered by their first operator.
    pub chains: Vec<Chain>,
    /// The exchanges between chains.
    pub exchanges: Vec<ChainEdge>,
    /// For each node, the chain it belongs to.
    pub chain_of: Vec<usize>,
}

/// Fuses `graph` into chains.
pub fn plan(graph: &Graph) -> Plan {
    let n = graph.nodes.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for e in &graph.edges {
        if e.exchange == Exchange::Forward {
            let (a, b) = (root(&mut parent, e.from), root(&mut parent, e.to));
            // Keep the smaller id as the root so numbering follows source order.
            let (lo, hi) = if a < b { (a, b) } else { (b, a) };
            parent[hi] = lo;
        }
    }
    let mut chain_of = vec![usize::MAX; n];
    let mut chains: Vec<Chain> = Vec::new();
    let mut index_of_root = vec![usize::MAX; n];
    for (id, chain) in chain_of.iter_mut().enumerate() {
        let r = root(&mut parent, id);
        if index_of_root[r] == usize::MAX {
            index_of_root[r] = chains.len();
            chains.push(Chain { nodes: Vec::new() });
        }
        *chain = index_of_root[r];
        chains[index_of_root[r]].nodes.push(id);
    }
    let exchanges = graph
        .edges
        .iter()
        .filter(|e| e.exchange != Exchange::Forward)
        .map(|e| ChainEdge {
            from: chain_of[e.from],
            to: chain_of[e.to],
            exchange: e.exchange,
        })
        .collect();
    Plan {
        chains,
        exchanges,
        chain_of,
    }
}
