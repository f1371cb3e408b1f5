//! The `fuseflow` command line: `inspect` prints the fused plan of every `pipeline!` in a
//! Rust source file without compiling it, reusing the macro's own parser and planner.

use fuseflow_lang::render::{Format, render};

/// Runs the command with `args` (without the program name); returns the exit code.
pub fn run(args: Vec<String>) -> i32 {
    match args.as_slice() {
        [cmd, file, rest @ ..] if cmd == "inspect" => {
            let format = match rest {
                [] => Format::Text,
                [flag, f] if flag == "--format" => match f.parse::<Format>() {
                    Ok(f) => f,
                    Err(e) => return fail(&e),
                },
                _ => return fail("usage: fuseflow inspect <file.rs> [--format text|mermaid|dot]"),
            };
            match inspect(file, format) {
                Ok(out) => {
                    print!("{out}");
                    0
                }
                Err(e) => fail(&e),
            }
        }
        _ => fail("usage: fuseflow inspect <file.rs> [--format text|mermaid|dot]"),
    }
}

fn fail(msg: &str) -> i32 {
    eprintln!("error: {msg}");
    2
}

/// The fused plans of every `pipeline!` invocation in the file at `path`.
pub fn inspect(path: &str, format: Format) -> Result<String, String> {
    let src = std::fs::read_to_string(path).map_err(|e| format!("cannot read `{path}`: {e}"))?;
    inspect_source(&src, format)
}

/// The fused plans of every `pipeline!` invocation in Rust source text.
pub fn inspect_source(src: &str, format: Format) -> Result<String, String> {
    let tokens: proc_macro2::TokenStream = src.parse().map_err(|e| format!("cannot tokenize: {e:?}"))?;
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

fn find_pipelines(tokens: proc_macro2::TokenStream, out: &mut Vec<proc_macro2::TokenStream>) {
    use proc_macro2::TokenTree;
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
