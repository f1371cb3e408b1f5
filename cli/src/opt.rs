//! The command line, as clap derive structs: one struct of options per subcommand.

use clap::{Args, Parser, Subcommand, ValueEnum};
use fuseflow_lang::render::Format;
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  fuseflow new my-job                          scaffold ./my-job, then: cd my-job && cargo run
  fuseflow inspect src/lib.rs                  print the fused plan of every pipeline! in a file
  fuseflow inspect src/lib.rs --format dot | dot -Tsvg > plan.svg";

const NEW_EXAMPLES: &str = "\
Examples:
  fuseflow new my-job                          create ./my-job (fuseflow 0.1 from crates.io)
  fuseflow new my-job --path jobs              create jobs/my-job
  fuseflow new my-job --fuseflow-path ../fuseflow
                                               depend on a local fuseflow checkout";

const INSPECT_EXAMPLES: &str = "\
Examples:
  fuseflow inspect examples/clicks.rs
  fuseflow inspect examples/clicks.rs --format mermaid
  fuseflow inspect examples/clicks.rs --format dot | dot -Tsvg > plan.svg";

/// The `fuseflow` command: scaffold streaming job projects and inspect their fused plans.
#[derive(Debug, Parser)]
#[command(name = "fuseflow", version, after_help = EXAMPLES)]
pub struct Opt {
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new job project from the fuseflow template.
    #[command(after_help = NEW_EXAMPLES)]
    New(NewOpt),
    /// Print the fused plan of every `pipeline!` in a Rust source file, without compiling it.
    #[command(after_help = INSPECT_EXAMPLES)]
    Inspect(InspectOpt),
}

/// Options of `fuseflow new`.
#[derive(Debug, Args)]
pub struct NewOpt {
    /// The project's name, a crate name such as `my-job`; also the new directory's name.
    pub name: String,

    /// The directory to create the project in [default: the current directory].
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,

    /// Depend on the fuseflow checkout at DIR (a path dependency) instead of fuseflow 0.1
    /// from crates.io.
    #[arg(long, value_name = "DIR")]
    pub fuseflow_path: Option<PathBuf>,
}

/// Options of `fuseflow inspect`.
#[derive(Debug, Args)]
pub struct InspectOpt {
    /// The Rust source file to read.
    pub file: PathBuf,

    /// How to draw the plan.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

/// The output formats of `fuseflow inspect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// Indented text, one block per chain.
    Text,
    /// A mermaid flowchart, one subgraph per chain.
    Mermaid,
    /// A graphviz digraph, one cluster per chain.
    Dot,
}

impl From<PlanFormat> for Format {
    fn from(format: PlanFormat) -> Format {
        match format {
            PlanFormat::Text => Format::Text,
            PlanFormat::Mermaid => Format::Mermaid,
            PlanFormat::Dot => Format::Dot,
        }
    }
}
