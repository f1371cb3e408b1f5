//! The fuseflow DSL as a plain library: everything `pipeline!` does, callable without the
//! compiler, so unit tests, insta snapshots and `fuseflow inspect` use the same code.
//!
//! The stages, one module each, in order:
//!
//! 1. [`ast`]: parse the tokens into a surface AST that keeps every span;
//! 2. [`check`]: every cross-cutting rule, errors collected at their spans ([`errors`]),
//!    producing the dataflow [`graph`];
//! 3. [`plan`]: fuse operators into chains, cut at exchanges;
//! 4. [`codegen`]: emit monomorphized, fused Rust;
//! 5. [`render`]: draw the fused plan as text, mermaid or dot.
//!
//! ```
//! let tokens = quote::quote! {
//!     from_iter(vec![1, 2, 3]).map(|x| x * 2).sink(stdout());
//! };
//! let (graph, plan) = fuseflow_lang::analyze(tokens).expect("a valid pipeline");
//! assert_eq!(plan.chains.len(), 1);
//! assert_eq!(graph.nodes.len(), 3);
//! ```

pub mod ast;
pub mod check;
pub mod codegen;
pub mod duration;
pub mod errors;
pub mod graph;
pub mod ops;
pub mod plan;
pub mod render;

use errors::Errors;
use graph::Graph;
use plan::Plan;
use proc_macro2::TokenStream;
use quote::quote;

/// Parses and checks a pipeline body and fuses it; on any mistake, every error found.
pub fn analyze(input: TokenStream) -> Result<(Graph, Plan), Errors> {
    let mut errors = Errors::new();
    let ast = ast::parse_pipeline(input, &mut errors);
    let graph = check::check(&ast, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let plan = plan::plan(&graph);
    Ok((graph, plan))
}

/// The whole macro: `krate` is the path generated code uses for the `fuseflow` crate.
///
/// On errors, returns `compile_error!`s at their spans followed by a placeholder `Job`, so the
/// code around the macro still type-checks and the IDE stays useful.
pub fn expand(input: TokenStream, krate: TokenStream) -> TokenStream {
    match analyze(input) {
        Ok((graph, plan)) => codegen::generate(&graph, &plan, &krate),
        Err(errors) => {
            let errors = errors.to_compile_errors();
            quote! {{ #errors #krate::__private::Job::placeholder() }}
        }
    }
}

/// The input of the proc-macro shim: `[<crate path>] <pipeline body>`, as the facade's
/// `pipeline!` wrapper passes it (`$crate` in brackets, then the user's tokens).
pub fn expand_with_crate_prefix(input: TokenStream) -> TokenStream {
    let mut iter = input.into_iter();
    match iter.next() {
        Some(proc_macro2::TokenTree::Group(g)) if g.delimiter() == proc_macro2::Delimiter::Bracket => {
            expand(iter.collect(), g.stream())
        }
        _ => quote! { ::core::compile_error!("use `fuseflow::pipeline!`, not the internal macro") },
    }
}
