//! Generates the Rust code of a checked, fused pipeline.
//!
//! The code comes in two passes over the graph, both in its (deterministic) node order:
//!
//! 1. **typing, forwards**: each operator's constructor gets its input's `Ty<T>` witness and
//!    the user's closure, so rustc checks the closure against the exact record type, and any
//!    type error is reported at the operator (the call is emitted with the operator's span);
//! 2. **wiring, backwards**: from the sinks to the sources, each operator wraps its
//!    successor (`into_collector(next)`), yielding one nest of generic structs per chain that
//!    rustc monomorphizes and inlines: no per-record virtual call, allocation or channel.
//!
//! Generated code names only `<crate>::__private::…`, where `<crate>` is the `$crate` of the
//! `fuseflow` facade (so renaming the dependency works), and its locals are `mixed_site`
//! hygienic, so they can neither capture nor shadow the user's variables.

use crate::graph::{Edge, Exchange, Graph, NodeId, NodeKind, Restart, Stateless, Strategy, TimeKind};
use crate::plan::Plan;
use crate::render::{Format, render};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{quote, quote_spanned};

fn local(prefix: &str, id: NodeId) -> Ident {
    Ident::new(&format!("__{prefix}{id}"), Span::mixed_site())
}

/// The alias of `<crate>::__private` that generated calls go through. It carries the span of
/// the operator it is used for: a call's span runs from its first token, so a rustc error
/// about an operator's bounds then points at the operator instead of the whole macro call.
fn runtime(span: Span) -> Ident {
    Ident::new("__ff", span)
}

fn ty(id: NodeId, port: usize) -> Ident {
    Ident::new(&format!("__ty{id}_{port}"), Span::mixed_site())
}

/// The expression a pipeline expands to: a block that builds and returns the `Job`.
pub fn generate(graph: &Graph, plan: &Plan, krate: &TokenStream) -> TokenStream {
    let p = runtime(Span::call_site());
    let env = Ident::new("__env", Span::mixed_site());
    let st = &graph.settings;
    let (name, parallelism, max_par, dead) = (
        &st.name,
        st.parallelism as usize,
        st.max_parallelism as usize,
        &st.dead_letter,
    );
    let checkpoints = if st.checkpoints() {
        let dir = &st.checkpoint_dir;
        let every = match st.checkpoint_every_records {
            Some(n) => quote!(::core::option::Option::Some(#n)),
            None => quote!(::core::option::Option::None),
        };
        let interval = match st.checkpoint_interval_ms {
            Some(ms) => {
                let ms = ms as u64;
                quote!(::core::option::Option::Some(::std::time::Duration::from_millis(#ms)))
            }
            None => quote!(::core::option::Option::None),
        };
        let retained = st.checkpoints_retained as usize;
        quote! {
            ::core::option::Option::Some(#p::checkpoint::CheckpointConfig {
                dir: ::std::path::PathBuf::from(#dir),
                every_records: #every,
                interval: #interval,
                retained: #retained,
            })
        }
    } else {
        quote!(::core::option::Option::None)
    };
    let restart = match st.restart {
        Restart::None => quote!(#p::restart::RestartStrategy::None),
        Restart::FixedDelay { attempts, delay_ms } => {
            let delay_ms = delay_ms as u64;
            quote!(#p::restart::RestartStrategy::FixedDelay {
                attempts: #attempts,
                delay: ::std::time::Duration::from_millis(#delay_ms),
            })
        }
        Restart::ExponentialDelay {
            initial_ms,
            max_ms,
            attempts,
        } => {
            let (initial_ms, max_ms) = (initial_ms as u64, max_ms as u64);
            quote!(#p::restart::RestartStrategy::ExponentialDelay {
                initial: ::std::time::Duration::from_millis(#initial_ms),
                max: ::std::time::Duration::from_millis(#max_ms),
                attempts: #attempts,
            })
        }
    };
    // A restartable job is wired anew for every attempt: every chain clones its operators.
    let restartable = st.restart != Restart::None;
    let state_backend = if st.rocksdb {
        quote!(#p::state::StateBackendKind::RocksDb)
    } else {
        quote!(#p::state::StateBackendKind::Memory)
    };
    let state_dir = match &st.state_dir {
        Some(d) => quote!(::core::option::Option::Some(::std::path::PathBuf::from(#d))),
        None => quote!(::core::option::Option::None),
    };
    let build = if restartable {
        quote!(build_restartable)
    } else {
        quote!(build)
    };
    let scale_out = st.scale_out;
    let plan_text = render(graph, plan, Format::Text);
    let plan_mermaid = render(graph, plan, Format::Mermaid);
    let plan_dot = render(graph, plan, Format::Dot);

    let mut typing = Vec::new();
    for id in 0..graph.nodes.len() {
        typing.push(type_node(graph, id));
    }

    // Chains are wired from the last to the first, so every exchange's `Link` exists before
    // the chain that produces into it.
    let mut wiring = Vec::new();
    for chain in plan.chains.iter().rev() {
        let head = chain.nodes[0];
        match graph.input(head) {
            None if graph.is_parallel_source(head) => {
                // One instance of the source and its chain per worker, each on its own thread.
                let body = wire_chain(graph, &chain.nodes, true, &env);
                let NodeKind::Source { name, .. } = &graph.nodes[head].kind else {
                    unreachable!("a parallel source is a source")
                };
                let span = graph.nodes[head].span;
                let sp = runtime(span);
                wiring.push(quote_spanned! {span=>
                    #sp::Env::add_parallel_source(#env, #name, |_| { #(#body)* });
                });
            }
            None => wiring.extend(wire_chain(graph, &chain.nodes, restartable, &env)),
            Some(edge) => {
                let body = wire_chain(graph, &chain.nodes, true, &env);
                let link = local("l", head);
                let c = local("c", head);
                let hp = runtime(graph.nodes[head].span);
                let c = if edge.exchange == Exchange::Hash && !is_keyed(&graph.nodes[head].kind) {
                    quote!(#hp::ops::unkey(#c))
                } else {
                    quote!(#c)
                };
                let metered_as = operator_name(graph, head);
                let c = quote!(#hp::ops::metered(#c, #metered_as));
                let input = ty(edge.from, edge.port);
                let producer = plan.chains[plan.chain_of[edge.from]].nodes[0];
                let parallel_producers = graph.input(producer).is_some() || graph.is_parallel_source(producer);
                let span = graph.nodes[head].span;
                let sp = runtime(span);
                let partitioner = match edge.exchange {
                    Exchange::Rebalance => quote_spanned!(span=> #sp::exchange::round_robin(#input)),
                    _ => quote_spanned!(span=> #sp::exchange::by_key_group(#input, #max_par)),
                };
                if st.scale_out && edge.exchange == Exchange::Hash {
                    // The chain behind the key_by is built whenever a key group range comes to
                    // this process: the builder owns copies of its operators.
                    let kspan = graph.nodes[edge.from].span;
                    let kp = runtime(kspan);
                    // A record type without serde is reported at the `key_by`.
                    let codec = quote_spanned!(kspan=> #kp::scale_out::codec(#input));
                    let owned = chain.nodes.iter().map(|&id| {
                        let n = local("n", id);
                        quote_spanned!(span=> let #n = #sp::clone_for_worker(&#n);)
                    });
                    wiring.push(quote_spanned! {span=>
                        let mut #link = #sp::Env::connect_scaled(
                            #env,
                            #partitioner,
                            #codec,
                            {
                                #(#owned)*
                                move |_| { #(#body)* #c }
                            },
                        );
                    });
                    continue;
                }
                wiring.push(quote_spanned! {span=>
                    let mut #link = #sp::Env::connect(
                        #env,
                        #partitioner,
                        #parallel_producers,
                        |_| { #(#body)* #c },
                    );
                });
            }
        }
    }

    quote! {
        {
            use #krate::__private as #p;
            let __spec = #p::JobSpec {
                name: #name,
                parallelism: #parallelism,
                max_parallelism: #max_par,
                dead_letter: #p::DeadLetterTarget::parse(#dead),
                plan: #plan_text,
                plan_mermaid: #plan_mermaid,
                plan_dot: #plan_dot,
                version: match ::core::option_env!("CARGO_PKG_VERSION") {
                    ::core::option::Option::Some(v) => v,
                    ::core::option::Option::None => "",
                },
                checkpoints: #checkpoints,
                restart: #restart,
                state_backend: #state_backend,
                state_dir: #state_dir,
                scale_out: #scale_out,
            };
            #(#typing)*
            #p::Job::#build(__spec, move |#env| {
                #(#wiring)*
            })
        }
    }
}

/// Whether an operator consumes `(key, record)` pairs (the others get the record alone).
fn is_keyed(kind: &NodeKind) -> bool {
    matches!(
        kind,
        NodeKind::KeyedReduce(_) | NodeKind::KeyedProcess(_) | NodeKind::Window(_)
    )
}

/// The wiring of one chain, last operator first. In a chain behind an exchange (`per_worker`)
/// each operator is cloned, because the chain is built once per worker.
fn wire_chain(graph: &Graph, nodes: &[NodeId], per_worker: bool, env: &Ident) -> Vec<TokenStream> {
    let mut out = Vec::new();
    for &id in nodes.iter().rev() {
        let node = &graph.nodes[id];
        let span = node.span;
        let sp = runtime(span);
        let n = local("n", id);
        let c = local("c", id);
        let spec = if per_worker {
            quote_spanned!(span=> #sp::clone_for_worker(&#n))
        } else {
            quote_spanned!(span=> #n)
        };
        if fused_into_source(graph, id) {
            continue;
        }
        let built = match &node.kind {
            NodeKind::Source { name, .. } if let Some((ts, wm)) = kafka_event_time(graph, id) => {
                // `.timestamps(f).watermarks(s)` run inside the Kafka source, per partition.
                let down = downstream(graph, wm, 0);
                let down = quote_spanned!(span=> #sp::ops::metered(#down, #name));
                let (ts_n, wm_n) = (local("n", ts), local("n", wm));
                let ts_spec = if per_worker {
                    quote_spanned!(span=> #sp::clone_for_worker(&#ts_n))
                } else {
                    quote_spanned!(span=> #ts_n)
                };
                let idle = match graph.nodes[wm].idleness_ms {
                    Some(ms) => {
                        let ms = ms as u64;
                        quote!(::core::option::Option::Some(#ms))
                    }
                    None => quote!(::core::option::Option::None),
                };
                out.push(quote_spanned! {span=>
                    #sp::Env::add_source(#env, #name, #spec.with_event_time(#ts_spec, &#wm_n, #idle), #down);
                });
                continue;
            }
            NodeKind::Source { name, parallel, .. } => {
                let down = downstream(graph, id, 0);
                let down = quote_spanned!(span=> #sp::ops::metered(#down, #name));
                if *parallel {
                    // The value of the closure that builds one instance: its source and chain.
                    out.push(quote_spanned! {span=> (#spec, #down) });
                } else {
                    out.push(quote_spanned! {span=> #sp::Env::add_source(#env, #name, #spec, #down); });
                }
                continue;
            }
            NodeKind::Sink { .. } => quote_spanned! {span=> #spec },
            NodeKind::Window(w) if w.time == TimeKind::EventTime => {
                let main = downstream(graph, id, 0);
                let late = downstream(graph, id, 1);
                quote_spanned! {span=> #spec.into_collector(#main, #late) }
            }
            _ => {
                let down = downstream(graph, id, 0);
                quote_spanned! {span=> #spec.into_collector(#down) }
            }
        };
        let built = match checkpointed_id(graph, id) {
            Some(op_id) => quote_spanned! {span=> #sp::checkpoint::checkpointed(#built, #op_id) },
            None => built,
        };
        let built = match &node.kind {
            NodeKind::Sink { name, .. } => quote_spanned! {span=> #sp::ops::metered(#built, #name) },
            _ => built,
        };
        out.push(quote_spanned! {span=> let #c = #built; });
    }
    out
}

/// The `timestamps` and `watermarks` nodes a Kafka source `id` runs itself (per partition).
fn kafka_event_time(graph: &Graph, id: NodeId) -> Option<(NodeId, NodeId)> {
    (0..graph.nodes.len()).find_map(|wm| match graph.fused_into_kafka_source(wm) {
        Some((src, ts)) if src == id => Some((ts, wm)),
        _ => None,
    })
}

/// Whether `id` is a `timestamps` or `watermarks` that runs inside a Kafka source.
fn fused_into_source(graph: &Graph, id: NodeId) -> bool {
    match graph.nodes[id].kind {
        NodeKind::Watermarks(_) => graph.fused_into_kafka_source(id).is_some(),
        NodeKind::Timestamps(_) => graph
            .consumers(id, 0)
            .first()
            .is_some_and(|e| graph.fused_into_kafka_source(e.to).is_some_and(|(_, ts)| ts == id)),
        _ => false,
    }
}

/// The name an operator's record count goes by in the metrics: a sink's name, or the
/// operator's word and position (`window_4`).
fn operator_name(graph: &Graph, id: NodeId) -> String {
    if let Some(uid) = &graph.nodes[id].uid {
        return uid.clone();
    }
    let word = match &graph.nodes[id].kind {
        NodeKind::Source { name, .. } | NodeKind::Sink { name, .. } => return name.to_string(),
        NodeKind::Stateless(op, _) => op.name(),
        NodeKind::Timestamps(_) => "timestamps",
        NodeKind::Watermarks(_) => "watermarks",
        NodeKind::KeyBy(_) => "key_by",
        NodeKind::KeyedReduce(_) => "reduce",
        NodeKind::KeyedProcess(_) => "process",
        NodeKind::Window(_) => "window",
    };
    format!("{word}_{id}")
}

/// The stable id under which a stateful operator saves its state, when the job takes
/// checkpoints (`None` for stateless operators, or without checkpoints). It is the operator's
/// kind and position in the pipeline, e.g. `window_5`, or its `.uid(..)`.
///
/// A job with a `state_backend` setting (`memory` or `rocksdb`) wraps its windows and keyed
/// `reduce` too, even without checkpoints: the wrapper is what moves their state into the
/// job's state backend when it is a byte backend (it brings the serde bounds that needs),
/// and names it there.
fn checkpointed_id(graph: &Graph, id: NodeId) -> Option<String> {
    if fused_into_source(graph, id) {
        // Its state is part of the Kafka source's position.
        return None;
    }
    let checkpoints = graph.settings.checkpoints();
    let backend_ready = checkpoints || graph.settings.state_backend_set;
    let kind = match &graph.nodes[id].kind {
        NodeKind::KeyedReduce(_) if backend_ready => "reduce",
        NodeKind::Window(_) if backend_ready => "window",
        _ if !checkpoints => return None,
        NodeKind::Watermarks(_) => "watermarks",
        NodeKind::KeyedProcess(_) => "process",
        NodeKind::Sink { kind, .. } if kind == "fold" => "fold",
        NodeKind::Sink { kind, .. } if kind == "postgres" => "postgres",
        _ => return None,
    };
    if let Some(uid) = &graph.nodes[id].uid {
        return Some(uid.clone());
    }
    Some(format!("{kind}_{id}"))
}

/// The collector that receives output `port` of `id`: its consumer (or, across an exchange,
/// the exchange's output), a `Tee` of several, or `Discard` when nothing reads it (a dropped
/// late-data output).
fn downstream(graph: &Graph, id: NodeId, port: usize) -> TokenStream {
    let p = runtime(Span::call_site());
    let one = |e: &Edge| -> TokenStream {
        match e.exchange {
            Exchange::Forward => {
                let c = local("c", e.to);
                quote!(#c)
            }
            Exchange::Hash | Exchange::Rebalance => {
                let l = local("l", e.to);
                quote!(#l.output())
            }
        }
    };
    let consumers = graph.consumers(id, port);
    let mut iter = consumers.iter().rev();
    let Some(last) = iter.next() else {
        return quote!(#p::Discard);
    };
    let mut acc = one(last);
    for e in iter {
        let c = one(e);
        let span = graph.nodes[e.to].span;
        acc = quote_spanned!(span=> #p::Tee::new(#c, #acc));
    }
    acc
}

/// The typing statement of one node: `let (__nI, __tyI_0) = <constructor>(__tyJ_K, args);`.
fn type_node(graph: &Graph, id: NodeId) -> TokenStream {
    let node = &graph.nodes[id];
    let span = node.span;
    let p = runtime(span);
    let n = local("n", id);
    let out = ty(id, 0);
    let input = graph.input(id).map(|e| {
        let t = ty(e.from, e.port);
        if e.exchange == Exchange::Hash && !is_keyed(&node.kind) {
            quote_spanned!(span=> #p::ops::unkeyed(#t))
        } else {
            quote!(#t)
        }
    });
    match &node.kind {
        NodeKind::Source {
            kind, generics, args, ..
        } => {
            let kind = Ident::new(kind, span);
            let generics = generics.as_ref().map(|g| quote!(::#g));
            quote_spanned! {span=>
                let #n = #p::source::#kind #generics (#(#args),*);
                let #out = #p::Source::ty(&#n);
            }
        }
        NodeKind::Stateless(op, f) => {
            let op_id = format!("{}_{id}", op.name());
            match (op, node.dead_letter_on_error) {
                (Stateless::Map, true) => quote_spanned! {span=>
                    let (#n, #out) = #p::ops::map_or_dead_letter(#input, #f, #op_id);
                },
                (Stateless::TryMap, true) => quote_spanned! {span=>
                    let (#n, #out) = #p::ops::try_map_or_dead_letter(#input, #f, #op_id);
                },
                (Stateless::TryMap, false) => quote_spanned! {span=>
                    let (#n, #out) = #p::ops::try_map(#input, #f);
                    let #n = #n.named(#op_id);
                },
                _ => {
                    let ctor = Ident::new(op.name(), span);
                    quote_spanned! {span=> let (#n, #out) = #p::ops::#ctor(#input, #f); }
                }
            }
        }
        NodeKind::Timestamps(f) => quote_spanned! {span=> let (#n, #out) = #p::ops::timestamps(#input, #f); },
        NodeKind::Watermarks(s) => {
            let strategy = match s {
                Strategy::BoundedOutOfOrderness(ms) => {
                    quote_spanned!(span=> #p::ops::WatermarkStrategy::BoundedOutOfOrderness(#ms))
                }
                Strategy::Monotonous => quote_spanned!(span=> #p::ops::WatermarkStrategy::Monotonous),
            };
            quote_spanned! {span=> let (#n, #out) = #p::ops::watermarks(#input, #strategy); }
        }
        NodeKind::KeyBy(f) => quote_spanned! {span=> let (#n, #out) = #p::ops::key_by(#input, #f); },
        NodeKind::KeyedReduce(f) => quote_spanned! {span=> let (#n, #out) = #p::ops::keyed_reduce(#input, #f); },
        NodeKind::KeyedProcess(f) => {
            let max_par = graph.settings.max_parallelism as usize;
            let op_id = node.uid.clone().unwrap_or_else(|| format!("process_{id}"));
            quote_spanned! {span=>
                let (#n, #out) = #p::ops::keyed_process(#input, #f);
                let #n = #n.with_max_parallelism(#max_par).with_operator_id(#op_id);
            }
        }
        NodeKind::Window(w) => {
            let agg = local("agg", id);
            let fspan = w.func.span;
            let fname = Ident::new(&w.func.name, fspan);
            let arg = w.func.arg.as_ref().map(|a| quote!(, #a));
            let size = w.size_ms;
            let fp = runtime(fspan);
            let make_agg = quote_spanned! {fspan=> let #agg = #fp::window::agg::#fname(#input #arg); };
            match w.time {
                TimeKind::EventTime => {
                    let late = ty(id, 1);
                    let lateness = w.lateness_ms;
                    quote_spanned! {span=>
                        #make_agg
                        let (#n, #out, #late) = #p::window::event_time_window(#input, #size, #lateness, #agg);
                    }
                }
                TimeKind::ProcessingTime => quote_spanned! {span=>
                    #make_agg
                    let (#n, #out) = #p::window::processing_time_window(#input, #size, #agg);
                },
            }
        }
        NodeKind::Sink { kind, name, args } => {
            let kind_ident = Ident::new(kind, span);
            if kind == "collect" {
                let h = &args[0];
                quote_spanned! {span=> let #n = #p::sink::collect(#input, &(#h)); }
            } else if kind == "fold" {
                let (h, init, f) = (&args[0], &args[1], &args[2]);
                quote_spanned! {span=> let #n = #p::sink::fold(#input, &(#h), #init, #f); }
            } else if kind == "csv" || kind == "json_lines" || kind == "postgres" {
                quote_spanned! {span=> let #n = #p::sink::#kind_ident(#input #(, #args)*).named(#name); }
            } else {
                quote_spanned! {span=> let #n = #p::sink::#kind_ident(#input #(, #args)*); }
            }
        }
    }
}
