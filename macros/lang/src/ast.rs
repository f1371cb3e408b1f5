//! The surface syntax of `pipeline!`, parsed with syn, every span kept.
//!
//! A pipeline is an optional `job { … }` settings block followed by statements. A statement
//! is a *chain*: a head (a source call such as `csv::<Click>("clicks.csv")`, or the name of a
//! stream defined earlier) followed by `.operator(args)` calls, optionally bound to a name
//! with `let`. Parsing is forgiving: the input is split at top-level `;` first, so a syntax
//! error in one statement is reported and the others are still parsed and checked.

use crate::errors::Errors;
use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{AngleBracketedGenericArguments, Expr, Ident, Token};

/// A whole `pipeline! { … }` body.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The `job { … }` block, if written.
    pub job: Option<JobBlock>,
    /// The statements, in source order.
    pub stmts: Vec<Stmt>,
    /// The span of the whole input, for errors about the pipeline as a whole.
    pub span: Span,
}

/// `job { name: "clicks", parallelism: 2 }`.
#[derive(Debug, Clone)]
pub struct JobBlock {
    /// The `job` keyword.
    pub keyword: Ident,
    /// The settings in source order.
    pub settings: Vec<Setting>,
}

/// One `key: value` job setting.
#[derive(Debug, Clone)]
pub struct Setting {
    /// The setting's name.
    pub name: Ident,
    /// Its value, checked by `check`.
    pub value: Expr,
}

/// `let name = chain;` or `chain;`.
#[derive(Debug, Clone)]
pub struct Stmt {
    /// The name the chain's output is bound to.
    pub binding: Option<Ident>,
    /// The dataflow chain.
    pub chain: Chain,
}

/// A head followed by operator calls.
#[derive(Debug, Clone)]
pub struct Chain {
    /// Where the chain starts.
    pub head: Head,
    /// The `.operator(…)` calls, in order.
    pub ops: Vec<Call>,
}

/// The start of a chain.
#[derive(Debug, Clone)]
pub enum Head {
    /// A stream defined earlier, by name.
    Stream(Ident),
    /// A source, such as `csv::<Click>("clicks.csv")`.
    Source(Call),
}

/// `name::<Generics>(args)`: an operator or a source.
#[derive(Debug, Clone)]
pub struct Call {
    /// The operator or source name.
    pub name: Ident,
    /// The turbofish, if any (`csv::<Click>`).
    pub generics: Option<AngleBracketedGenericArguments>,
    /// The arguments.
    pub args: Vec<Expr>,
    /// The span of the parentheses, for "missing argument" errors.
    pub paren_span: Span,
}

impl Parse for Call {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let name: Ident = input.parse()?;
        let generics = if input.peek(Token![::]) {
            input.parse::<Token![::]>()?;
            Some(input.parse()?)
        } else {
            None
        };
        if !input.peek(syn::token::Paren) {
            return Err(input.error(format!(
                "expected `(` after `{name}`: operators and sources are called like `{name}(…)`"
            )));
        }
        let content;
        let paren = syn::parenthesized!(content in input);
        let args = Punctuated::<Expr, Token![,]>::parse_terminated(&content)?;
        Ok(Call {
            name,
            generics,
            args: args.into_iter().collect(),
            paren_span: paren.span.join(),
        })
    }
}

impl Parse for Chain {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let head = if input.peek(Ident) && (input.peek2(syn::token::Paren) || input.peek2(Token![::])) {
            Head::Source(input.parse()?)
        } else if input.peek(Ident) {
            Head::Stream(input.parse()?)
        } else {
            return Err(input.error("expected a source such as `csv::<Record>(\"in.csv\")` or the name of a stream"));
        };
        let mut ops = Vec::new();
        while !input.is_empty() {
            input.parse::<Token![.]>().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "expected `.` and an operator, such as `.map(|r| …)`, or `;` to end the statement",
                )
            })?;
            ops.push(input.parse()?);
        }
        Ok(Chain { head, ops })
    }
}

impl Parse for Stmt {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let binding = if input.peek(Token![let]) {
            input.parse::<Token![let]>()?;
            let name: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            Some(name)
        } else {
            None
        };
        Ok(Stmt {
            binding,
            chain: input.parse()?,
        })
    }
}

struct SettingList(Vec<Setting>);

impl Parse for SettingList {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut out = Vec::new();
        while !input.is_empty() {
            let name: Ident = input.parse()?;
            input.parse::<Token![:]>()?;
            let value: Expr = input.parse()?;
            out.push(Setting { name, value });
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(SettingList(out))
    }
}

/// Parses a pipeline, recording syntax errors in `errors` and skipping to the next statement.
pub fn parse_pipeline(input: TokenStream, errors: &mut Errors) -> Pipeline {
    let span = Span::call_site();
    let mut tokens: Vec<TokenTree> = input.into_iter().collect();
    let mut job = None;
    // The `job { … }` block has no `;` after it: take it off the front.
    if let (Some(TokenTree::Ident(kw)), Some(TokenTree::Group(g))) = (tokens.first(), tokens.get(1))
        && kw == "job"
        && g.delimiter() == Delimiter::Brace
    {
        match SettingList::parse.parse2(g.stream()) {
            Ok(SettingList(settings)) => {
                job = Some(JobBlock {
                    keyword: kw.clone(),
                    settings,
                })
            }
            Err(e) => errors.push_syn(e),
        }
        tokens.drain(..2);
        if matches!(tokens.first(), Some(TokenTree::Punct(p)) if p.as_char() == ';') {
            tokens.remove(0);
        }
    }
    let mut stmts = Vec::new();
    let mut current = Vec::new();
    let flush = |current: &mut Vec<TokenTree>, stmts: &mut Vec<Stmt>, errors: &mut Errors, terminated: bool| {
        if current.is_empty() {
            return;
        }
        let last_span = current.last().map(|t| t.span()).unwrap_or(span);
        let ts: TokenStream = current.drain(..).collect();
        match Stmt::parse.parse2(ts) {
            Ok(s) if terminated => stmts.push(s),
            Ok(s) => {
                errors.push(last_span, "expected `;` at the end of this statement");
                stmts.push(s);
            }
            Err(e) => errors.push_syn(e),
        }
    };
    for tt in tokens {
        match &tt {
            TokenTree::Punct(p) if p.as_char() == ';' => flush(&mut current, &mut stmts, errors, true),
            _ => current.push(tt),
        }
    }
    flush(&mut current, &mut stmts, errors, false);
    Pipeline { job, stmts, span }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn parses_statements_and_job() {
        let mut errors = Errors::new();
        let p = parse_pipeline(
            quote! {
                job { name: "x", parallelism: 2 }
                let a = csv::<Click>("a.csv").map(|c| c.user);
                a.sink(stdout());
            },
            &mut errors,
        );
        assert!(errors.is_empty(), "{:?}", errors.messages());
        assert_eq!(p.job.unwrap().settings.len(), 2);
        assert_eq!(p.stmts.len(), 2);
        assert!(matches!(p.stmts[0].chain.head, Head::Source(_)));
        assert!(matches!(p.stmts[1].chain.head, Head::Stream(_)));
    }

    #[test]
    fn reports_every_broken_statement() {
        let mut errors = Errors::new();
        let p = parse_pipeline(
            quote! { let a = from_iter(v) map(); b.sink(stdout()); let = 3; },
            &mut errors,
        );
        assert_eq!(errors.messages().len(), 2, "{:?}", errors.messages());
        assert_eq!(p.stmts.len(), 1);
    }
}
