//! The `pipeline!` procedural macro: a shim over `fuseflow-lang`, where all the logic lives.
//!
//! Users call `fuseflow::pipeline!`, a `macro_rules!` wrapper that passes `$crate` in front
//! of their tokens, so the generated code names the facade by whatever name the user gave the
//! dependency.

use proc_macro::TokenStream;

/// Internal: expands `[<crate path>] <pipeline body>`. Use `fuseflow::pipeline!` instead.
#[doc(hidden)]
#[proc_macro]
pub fn __pipeline(input: TokenStream) -> TokenStream {
    fuseflow_lang::expand_with_crate_prefix(input.into()).into()
}
