//! Collects every mistake found in one `pipeline!` call, so the user sees them all at once.
//!
//! Modelled on serde_derive's `Ctxt`: stages record `syn::Error`s at the offending span and
//! go on; the entry point turns the whole list into `compile_error!`s.

use proc_macro2::{Span, TokenStream};

/// The errors found so far, in the order they were found.
#[derive(Debug, Default)]
pub struct Errors {
    list: Vec<syn::Error>,
}

impl Errors {
    /// No errors yet.
    pub fn new() -> Self {
        Errors::default()
    }

    /// Records an error at `span`.
    pub fn push(&mut self, span: Span, message: impl std::fmt::Display) {
        self.list.push(syn::Error::new(span, message));
    }

    /// Records an error that syn already built.
    pub fn push_syn(&mut self, error: syn::Error) {
        self.list.push(error);
    }

    /// Records the same conflict at two places, numbered "(1/2)" and "(2/2)".
    pub fn push_pair(&mut self, first: Span, second: Span, message: impl std::fmt::Display) {
        self.push(first, format!("{message} (1/2)"));
        self.push(second, format!("{message} (2/2)"));
    }

    /// Whether nothing went wrong.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The errors' messages, for tests.
    pub fn messages(&self) -> Vec<String> {
        self.list.iter().map(|e| e.to_string()).collect()
    }

    /// Every error as a `compile_error!` invocation at its span.
    pub fn to_compile_errors(&self) -> TokenStream {
        self.list.iter().map(syn::Error::to_compile_error).collect()
    }
}
