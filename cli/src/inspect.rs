//! `fuseflow inspect <file.rs>`: prints the fused plan of every `pipeline!` invocation in a
//! Rust source file without compiling it, reusing the macro's own parser and planner
//! (`fuseflow_lang::analyze`) and renderers, so what it draws is what the macro generates.

use crate::opt::InspectOpt;
use anyhow::Context;
use fuseflow_lang::render::{Format, render};
use proc_macro2::{TokenStream, TokenTree};
use std::path::Path;

/// Runs `fuseflow inspect`: prints the plans to standard output.
pub fn run(opt: &InspectOpt) -> anyhow::Result<()> {
    print!("{}", inspect(&opt.file, opt.format.into())?);
    Ok(())
}

/// The fused plans of every `pipeline!` invocation in the file at `path`.
pub fn inspect(path: impl AsRef<Path>, format: Format) -> anyhow::Result<String> {
    let path = path.as_ref();
    let src = std::fs::read_to_string(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    inspect_source(&src, format)
        .map_err(|e| anyhow::anyhow!("{e}").context(format!("cannot plan the pipelines of `{}`", path.display())))
}

/// The fused plans of every `pipeline!` invocation in Rust source text.
///
/// ```
/// let src = "fn main() { let job = pipeline! { from_iter(1..=3).map(|x| x + 1).sink(stdout()); }; }";
/// let plan = fuseflow_cli::inspect_source(src, "text".parse().unwrap()).unwrap();
/// assert!(plan.contains("op1: map  <- op0"), "{plan}");
/// ```
pub fn inspect_source(src: &str, format: Format) -> Result<String, String> {
    let tokens: TokenStream = src.parse().map_err(|e| format!("cannot tokenize: {e:?}"))?;
    let mut bodies = Vec::new();
    find_pipelines(tokens, &mut bodies);
    if bodies.is_empty() {
        return Err("no `pipeline!` invocation found".into());
    }
    let mut out = String::new();
    for body in bodies {
        match fuseflow_lang::analyze(body) {
            Ok((graph, plan)) => out.push_str(&render(&graph, &plan, format)),
            Err(errors) => return Err(errors.messages().join("\n")),
        }
    }
    Ok(out)
}

/// Collects the bodies of `pipeline! { … }` (or `fuseflow::pipeline!`) invocations, at any depth.
fn find_pipelines(tokens: TokenStream, out: &mut Vec<TokenStream>) {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    for (i, tt) in trees.iter().enumerate() {
        match tt {
            TokenTree::Ident(id) if id == "pipeline" => {
                if let (Some(TokenTree::Punct(bang)), Some(TokenTree::Group(g))) = (trees.get(i + 1), trees.get(i + 2))
                    && bang.as_char() == '!'
                {
                    out.push(g.stream());
                }
            }
            TokenTree::Group(g) => find_pipelines(g.stream(), out),
            _ => {}
        }
    }
}
