//! The `fuseflow` command line, as a library.
//!
//! - `fuseflow new <name>` scaffolds a job project from the template embedded in the binary
//!   (the repository's `template/` folder, also usable with `cargo generate`): see [`new`].
//! - `fuseflow inspect <file.rs>` prints the fused plan of every `pipeline!` in a Rust source
//!   file without compiling it, reusing the macro's own parser and planner: see [`inspect`].
//!
//! `main.rs` parses an [`Opt`] and calls [`run`]; every subcommand lives in its own module.

pub mod inspect;
pub mod new;
pub mod opt;

pub use inspect::inspect_source;
pub use opt::{Command, Opt};

/// Runs the subcommand `opt` names.
pub fn run(opt: Opt) -> anyhow::Result<()> {
    match opt.command {
        Command::New(opt) => new::run(&opt),
        Command::Inspect(opt) => inspect::run(&opt),
    }
}
