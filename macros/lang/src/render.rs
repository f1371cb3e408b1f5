//! Renders a fused plan as text, mermaid or graphviz dot.
//!
//! The same renderings serve the insta snapshots that review every codegen change, the job
//! binary's `--explain` and `fuseflow inspect`, so what a user sees is what the tests pin.

use crate::graph::{Exchange, Graph};
use crate::plan::Plan;
use std::fmt::Write;

/// Output formats of [`render`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Indented text, one chain per block.
    Text,
    /// A mermaid `flowchart`, one subgraph per chain.
    Mermaid,
    /// A graphviz digraph, one cluster per chain.
    Dot,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(Format::Text),
            "mermaid" => Ok(Format::Mermaid),
            "dot" => Ok(Format::Dot),
            _ => Err(format!("unknown plan format `{s}`: expected text, mermaid or dot")),
        }
    }
}

fn edge_label(port: usize, exchange: Exchange) -> String {
    let mut parts = Vec::new();
    if port == 1 {
        parts.push("late");
    }
    match exchange {
        Exchange::Forward => {}
        Exchange::Hash => parts.push("hash(key)"),
        Exchange::Rebalance => parts.push("rebalance"),
    }
    parts.join(", ")
}

/// Renders the plan of `graph`.
pub fn render(graph: &Graph, plan: &Plan, format: Format) -> String {
    let mut s = String::new();
    let st = &graph.settings;
    match format {
        Format::Text => {
            let _ = writeln!(
                s,
                "job \"{}\" (parallelism {}, max_parallelism {}, dead letters to {}{})",
                st.name,
                st.parallelism,
                st.max_parallelism,
                st.dead_letter,
                if st.scale_out {
                    ", scales out through Kafka: hash(key) crosses an internal topic"
                } else {
                    ""
                }
            );
            for (ci, chain) in plan.chains.iter().enumerate() {
                let _ = writeln!(s, "chain {ci}:");
                for &id in &chain.nodes {
                    let inputs: Vec<String> = graph
                        .edges
                        .iter()
                        .filter(|e| e.to == id)
                        .map(|e| {
                            let label = edge_label(e.port, e.exchange);
                            let via = if label.is_empty() {
                                String::new()
                            } else {
                                format!(" via {label}")
                            };
                            format!("op{}{via}", e.from)
                        })
                        .collect();
                    let from = if inputs.is_empty() {
                        String::new()
                    } else {
                        format!("  <- {}", inputs.join(", "))
                    };
                    let _ = writeln!(s, "  op{id}: {}{from}", graph.label(id));
                }
            }
        }
        Format::Mermaid => {
            let _ = writeln!(s, "flowchart TD");
            for (ci, chain) in plan.chains.iter().enumerate() {
                let _ = writeln!(s, "    subgraph chain{ci} [\"chain {ci}\"]");
                for &id in &chain.nodes {
                    let _ = writeln!(s, "        op{id}[\"{}\"]", graph.label(id).replace('"', "#quot;"));
                }
                let _ = writeln!(s, "    end");
            }
            for e in &graph.edges {
                let label = edge_label(e.port, e.exchange);
                let arrow = if e.exchange == Exchange::Forward { "-->" } else { "==>" };
                if label.is_empty() {
                    let _ = writeln!(s, "    op{} {arrow} op{}", e.from, e.to);
                } else {
                    let _ = writeln!(s, "    op{} {arrow}|\"{label}\"| op{}", e.from, e.to);
                }
            }
        }
        Format::Dot => {
            let _ = writeln!(s, "digraph \"{}\" {{", st.name.replace('"', "\\\""));
            let _ = writeln!(s, "    node [shape=box];");
            for (ci, chain) in plan.chains.iter().enumerate() {
                let _ = writeln!(s, "    subgraph cluster_chain{ci} {{");
                let _ = writeln!(s, "        label=\"chain {ci}\";");
                for &id in &chain.nodes {
                    let _ = writeln!(
                        s,
                        "        op{id} [label=\"{}\"];",
                        graph.label(id).replace('"', "\\\"")
                    );
                }
                let _ = writeln!(s, "    }}");
            }
            for e in &graph.edges {
                let label = edge_label(e.port, e.exchange);
                let style = if e.exchange == Exchange::Forward {
                    ""
                } else {
                    ", style=bold"
                };
                let _ = writeln!(s, "    op{} -> op{} [label=\"{label}\"{style}];", e.from, e.to);
            }
            let _ = writeln!(s, "}}");
        }
    }
    s
}
