//! The job command line: every job binary gets the same flags, parsed with clap.
//!
//! A job's `main` is one line, `fn main() -> ExitCode { fuseflow::main(pipeline! { … }) }`;
//! [`main`] parses `--parallelism`, `--input name=path`, `--output name=path`,
//! `--dead-letter`, `--explain`, `--log-level` (or `RUST_LOG`), `--metrics-addr`, `--quiet`
//! and `--progress`, runs the job with a progress bar on bounded file inputs when stderr is a
//! terminal, and ends with the summary line. A job that needs arguments of its own (a
//! positional input, an event count) flattens [`JobArgs`] into its own clap struct, parses it
//! with [`parse`] and runs the job with [`execute`].
//!
//! Every failure is one line on stderr starting with `error: `: exit code 2 for a bad command
//! line, 1 for a job that fails (an input that cannot be read, an override naming no source
//! or sink), never a panic.

mod metrics;
mod progress;

pub use metrics::{Exposition, Metrics, MetricsSource};

use crate::{DeadLetterTarget, Job, JobSpec, JobSummary};
use clap::{Args, CommandFactory, FromArgMatches, Parser, ValueEnum};
use std::ffi::OsString;
use std::io::IsTerminal;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;

/// The runtime's version, shown by `--version` next to the job's.
pub const FUSEFLOW_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The flags every job binary accepts; flatten it into a job's own clap struct with
/// `#[command(flatten)] job: JobArgs`.
///
/// The arguments' clap ids start with `job-`, so they do not clash with a job's own
/// arguments (a positional `input`, say).
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
#[command(next_help_heading = "Job options")]
pub struct JobArgs {
    /// Worker threads behind each `key_by`/`rebalance` [default: the job's setting]
    #[arg(id = "job-parallelism", long = "parallelism", short = 'p', value_name = "N", value_parser = parse_parallelism)]
    pub parallelism: Option<usize>,

    /// Read PATH (a file or a directory of files) instead of the pipeline's path for the file
    /// source NAME, the `let` name of the source in the pipeline; repeat to read several paths
    #[arg(id = "job-input", long = "input", value_name = "NAME=PATH", value_parser = parse_override)]
    pub input: Vec<Override>,

    /// Write PATH instead of the pipeline's path for the file sink NAME, the name of the
    /// stream it writes; repeatable
    #[arg(id = "job-output", long = "output", value_name = "NAME=PATH", value_parser = parse_override)]
    pub output: Vec<Override>,

    /// Where malformed records go: `stderr`, or a JSON-lines file [default: the job's setting]
    #[arg(id = "job-dead-letter", long = "dead-letter", value_name = "stderr|PATH")]
    pub dead_letter: Option<String>,

    /// Keep checkpoints in DIR instead of the job's `checkpoint_dir` (jobs that take
    /// checkpoints only)
    #[arg(id = "job-checkpoint-dir", long = "checkpoint-dir", value_name = "DIR")]
    pub checkpoint_dir: Option<std::path::PathBuf>,

    /// Resume from a checkpoint: `latest` (the newest intact one; a fresh start if there is
    /// none), a checkpoint number, or a `chk-N` directory
    #[arg(id = "job-restore", long = "restore", value_name = "latest|N|PATH")]
    pub restore: Option<crate::checkpoint::RestoreFrom>,

    /// Keep keyed state in `memory` or in `rocksdb` (on disk, for state larger than memory)
    /// [default: the job's setting]
    #[arg(id = "job-state-backend", long = "state-backend", value_name = "memory|rocksdb")]
    pub state_backend: Option<crate::state::StateBackendKind>,

    /// Where the RocksDB backend keeps its working files [default: the job's `state_dir`,
    /// else the system's temporary directory]
    #[arg(id = "job-state-dir", long = "state-dir", value_name = "DIR")]
    pub state_dir: Option<std::path::PathBuf>,

    /// Print the fused plan and exit
    #[arg(
        id = "job-explain",
        long = "explain",
        value_name = "FORMAT",
        value_enum,
        num_args = 0..=1,
        default_missing_value = "text"
    )]
    pub explain: Option<PlanFormat>,

    /// Log filter: error, warn, info, debug, trace, or tracing directives such as
    /// `fuseflow_runtime=debug`; overrides RUST_LOG [default: warn]
    #[arg(id = "job-log-level", long = "log-level", value_name = "LEVEL", value_parser = parse_log_level)]
    pub log_level: Option<String>,

    /// Serve Prometheus metrics over HTTP at ADDR/metrics while the job runs; a bare PORT
    /// binds 127.0.0.1:PORT (loopback), port 0 picks a free port
    #[arg(id = "job-metrics-addr", long = "metrics-addr", value_name = "ADDR|PORT", value_parser = parse_metrics_addr)]
    pub metrics_addr: Option<SocketAddr>,

    /// Print neither the progress bar nor the summary line (errors are still printed)
    #[arg(id = "job-quiet", long = "quiet", short = 'q', conflicts_with = "job-progress")]
    pub quiet: bool,

    /// Show the progress bar even when stderr is not a terminal
    #[arg(id = "job-progress", long = "progress")]
    pub progress: bool,
}

/// `NAME=PATH`, the value of `--input` and `--output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// The source or sink name.
    pub name: String,
    /// The path to read or write instead.
    pub path: String,
}

/// The formats `--explain` prints the fused plan in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// Indented text, one line per fused chain and operator.
    Text,
    /// A Mermaid flowchart.
    Mermaid,
    /// A Graphviz `dot` graph.
    Dot,
}

/// What [`execute`] did when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The job ran to the end of its input.
    Ran(JobSummary),
    /// `--explain` printed the plan; the job did not run.
    Explained,
}

/// The command of a job binary whose only flags are the job's (what [`main`] parses).
#[derive(Debug, Parser)]
struct JobCommand {
    #[command(flatten)]
    job: JobArgs,
}

fn parse_parallelism(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("the parallelism must be a positive whole number, not `{s}`")),
    }
}

fn parse_override(s: &str) -> Result<Override, String> {
    match s.split_once('=') {
        Some((name, path)) if !name.trim().is_empty() && !path.is_empty() => Ok(Override {
            name: name.trim().to_owned(),
            path: path.to_owned(),
        }),
        _ => Err(format!("expected NAME=PATH, not `{s}`")),
    }
}

fn parse_log_level(s: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::builder()
        .parse(s)
        .map(|_| s.to_owned())
        .map_err(|e| format!("not a log level or filter ({e})"))
}

fn parse_metrics_addr(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Ok(port) = s.strip_prefix(':').unwrap_or(s).parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| format!("expected PORT or HOST:PORT (such as 9100 or 127.0.0.1:9100), not `{s}`"))
}

impl JobArgs {
    /// Applies the overrides to `job`: parallelism, dead-letter target, inputs and outputs.
    pub fn apply<'a>(&self, mut job: Job<'a>) -> Job<'a> {
        if let Some(p) = self.parallelism {
            job = job.with_parallelism(p);
        }
        if let Some(target) = &self.dead_letter {
            job = job.with_dead_letter(DeadLetterTarget::parse(target));
        }
        for (name, paths) in self.inputs() {
            job = job.with_input(name, paths);
        }
        for o in &self.output {
            job = job.with_output(&o.name, &o.path);
        }
        if let Some(dir) = &self.checkpoint_dir {
            job = job.with_checkpoint_dir(dir);
        }
        if let Some(from) = &self.restore {
            job = job.with_restore(from.clone());
        }
        if self.state_backend.is_some() || self.state_dir.is_some() {
            let kind = self.state_backend.unwrap_or(job.spec().state_backend);
            job = job.with_state_backend(kind, self.state_dir.clone());
        }
        job
    }

    /// The `--input` paths grouped by source name, in the order given.
    fn inputs(&self) -> Vec<(String, Vec<String>)> {
        let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
        for o in &self.input {
            match grouped.iter_mut().find(|(name, _)| *name == o.name) {
                Some((_, paths)) => paths.push(o.path.clone()),
                None => grouped.push((o.name.clone(), vec![o.path.clone()])),
            }
        }
        grouped
    }
}

/// The `--version` text of a job: its crate's version if known, and the runtime's.
fn version_of(spec: &JobSpec) -> String {
    if spec.version.is_empty() {
        format!("(fuseflow {FUSEFLOW_VERSION})")
    } else {
        format!("{} (fuseflow {FUSEFLOW_VERSION})", spec.version)
    }
}

/// The "Examples:" section of `--help` for the binary `bin`.
pub fn help_examples(bin: &str) -> String {
    format!(
        "Examples:\n  \
         {bin} --parallelism 4                       run with 4 workers behind each exchange\n  \
         {bin} --input NAME=data/in.csv              read another file (or directory) for source NAME\n  \
         {bin} --output NAME=out/result.csv          write sink NAME somewhere else\n  \
         {bin} --explain mermaid                     print the fused plan as a Mermaid chart\n  \
         {bin} --metrics-addr 9100 --log-level info  serve http://127.0.0.1:9100/metrics\n  \
         RUST_LOG=debug {bin} --dead-letter bad.jsonl"
    )
}

/// The program name in `args` (its first item's file name), or `fallback`.
fn bin_name(args: &[OsString], fallback: &str) -> String {
    args.first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| fallback.to_owned())
}

/// Parses `args` (program name first) with `cmd`, the command of `P`: on `--help` or
/// `--version` prints them and returns `Err(ExitCode::SUCCESS)`; on a bad command line prints
/// a one-line `error: …` and returns `Err(2)`.
///
/// Adds [`help_examples`] to the help when `cmd` has no text after its help.
pub fn parse_with<P: FromArgMatches>(
    cmd: clap::Command,
    args: impl IntoIterator<Item = impl Into<OsString>>,
) -> Result<P, ExitCode> {
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let bin = bin_name(&args, cmd.get_name());
    let mut cmd = cmd.bin_name(&bin);
    if cmd.get_after_help().is_none() {
        cmd = cmd.after_help(help_examples(&bin));
    }
    let parsed = cmd
        .try_get_matches_from_mut(args)
        .and_then(|mut m| P::from_arg_matches_mut(&mut m));
    parsed.map_err(|e| report_clap_error(&e))
}

/// Parses the process's arguments into a job's own clap struct `P` (which flattens
/// [`JobArgs`]); see [`parse_with`] for what is printed and returned.
///
/// ```no_run
/// use clap::Parser;
/// use fuseflow_runtime::cli::{self, JobArgs};
///
/// /// Counts words.
/// #[derive(Parser)]
/// #[command(name = "words", version)]
/// struct Args {
///     /// How many lines to read.
///     lines: u64,
///     #[command(flatten)]
///     job: JobArgs,
/// }
///
/// fn main() -> std::process::ExitCode {
///     let args = match cli::parse::<Args>() {
///         Ok(args) => args,
///         Err(code) => return code,
///     };
///     # let job = fuseflow_runtime::Job::new(Default::default());
///     match cli::execute(job, &args.job) {
///         Ok(_) => std::process::ExitCode::SUCCESS,
///         Err(code) => code,
///     }
/// }
/// ```
pub fn parse<P: Parser>() -> Result<P, ExitCode> {
    parse_with(P::command(), std::env::args_os())
}

/// Prints a clap error or the help/version it carries; returns the exit code.
fn report_clap_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        _ => {
            eprintln!("{} (see --help)", one_line(&e.render().to_string()));
            ExitCode::from(2)
        }
    }
}

/// The first line of a clap error message, starting with `error: `.
fn one_line(rendered: &str) -> String {
    let line = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("error: bad arguments");
    let line = line.trim_end();
    if line.starts_with("error:") {
        line.to_owned()
    } else {
        format!("error: {line}")
    }
}

/// The command [`main`] parses for the job `spec`: named after the job, with its version
/// and the runtime's, the [`JobArgs`] flags and [`help_examples`].
pub fn command(spec: &JobSpec) -> clap::Command {
    JobCommand::command()
        .name(spec.name)
        .version(version_of(spec))
        .about(format!("Runs the fuseflow job `{}`.", spec.name))
}

/// The entry point of a job binary: parses the process's command line and runs `job`.
///
/// ```no_run
/// use std::process::ExitCode;
/// fn main() -> ExitCode {
///     # let job = fuseflow_runtime::Job::new(Default::default());
///     fuseflow_runtime::cli::main(job) // fuseflow::main(pipeline! { … })
/// }
/// ```
///
/// Exit codes: 0 when the job ran (or `--help`, `--version`, `--explain`), 2 for a bad command
/// line, 1 when the job failed.
pub fn main(job: Job<'_>) -> ExitCode {
    main_from(job, std::env::args_os())
}

/// [`main`] with the arguments given (program name first), for tests and embedding.
pub fn main_from(job: Job<'_>, args: impl IntoIterator<Item = impl Into<OsString>>) -> ExitCode {
    match parse_with::<JobCommand>(command(job.spec()), args) {
        Ok(parsed) => match execute(job, &parsed.job) {
            Ok(_) => ExitCode::SUCCESS,
            Err(code) => code,
        },
        Err(code) => code,
    }
}

/// The plan of `spec` in `format`, or the message saying it is not available.
pub fn plan(spec: &JobSpec, format: PlanFormat) -> Result<&'static str, String> {
    let (text, name) = match format {
        PlanFormat::Text => (spec.plan, "text"),
        PlanFormat::Mermaid => (spec.plan_mermaid, "mermaid"),
        PlanFormat::Dot => (spec.plan_dot, "dot"),
    };
    if !text.is_empty() {
        return Ok(text);
    }
    let others: Vec<&str> = [
        ("text", spec.plan),
        ("mermaid", spec.plan_mermaid),
        ("dot", spec.plan_dot),
    ]
    .into_iter()
    .filter(|(_, t)| !t.is_empty())
    .map(|(n, _)| n)
    .collect();
    Err(if others.is_empty() {
        format!(
            "job `{}` has no plan to explain (it was not built by `pipeline!`)",
            spec.name
        )
    } else {
        format!(
            "job `{}` has no {name} plan in this build; available: {}",
            spec.name,
            others.join(", ")
        )
    })
}

/// Runs `job` with the command-line settings `args`: `--explain` prints the plan instead;
/// otherwise logging, the metrics endpoint and the progress bar are set up around
/// [`Job::run`], and the summary line is printed unless `--quiet`.
///
/// Failures are printed as one `error: …` line and returned as the exit code to end with.
pub fn execute(job: Job<'_>, args: &JobArgs) -> Result<Outcome, ExitCode> {
    let fail = |message: String, code: u8| {
        eprintln!("error: {message}");
        ExitCode::from(code)
    };
    if let Some(format) = args.explain {
        let text = plan(job.spec(), format).map_err(|m| fail(m, 1))?;
        println!("{}", text.trim_end());
        return Ok(Outcome::Explained);
    }
    init_logging(args).map_err(|m| fail(m, 2))?;

    let counters = Arc::new(crate::Counters::default());
    let job = args.apply(job).with_counters(counters.clone());
    let spec = job.spec().clone();
    if let Some(addr) = args.metrics_addr {
        let bound = Metrics::new(spec.name, counters.clone())
            .serve(addr)
            .map_err(|e| fail(format!("cannot serve metrics on {addr}: {e}"), 1))?;
        tracing::info!(%bound, "serving metrics");
        if !args.quiet {
            eprintln!("metrics: http://{bound}/metrics");
        }
    }
    let show_progress = !args.quiet && (args.progress || std::io::stderr().is_terminal());
    let bar = show_progress.then(|| progress::Bar::start(counters.clone(), args.progress));
    tracing::info!(job = spec.name, parallelism = spec.parallelism, "job started");

    let result = job.run();
    drop(bar);
    match result {
        Ok(summary) => {
            tracing::info!(
                job = summary.name,
                records_in = summary.records_in,
                records_out = summary.records_out,
                late = summary.late,
                dead_lettered = summary.dead_lettered,
                elapsed_s = summary.elapsed.as_secs_f64(),
                "job finished"
            );
            if !args.quiet {
                eprintln!("{summary}");
            }
            Ok(Outcome::Ran(summary))
        }
        // Not logged as well: the error is one line on stderr.
        Err(e) => Err(fail(e.to_string(), 1)),
    }
}

/// Logs to stderr through `tracing`, filtered by `--log-level`, else `RUST_LOG`, else `warn`
/// (`error` with `--quiet`). Does nothing if a subscriber is already installed.
fn init_logging(args: &JobArgs) -> Result<(), String> {
    use tracing_subscriber::EnvFilter;
    let filter = match &args.log_level {
        Some(level) => EnvFilter::builder()
            .parse(level)
            .map_err(|e| format!("--log-level: {e}"))?,
        None => match std::env::var("RUST_LOG") {
            Ok(v) if !v.trim().is_empty() => EnvFilter::builder()
                .parse(&v)
                .map_err(|e| format!("RUST_LOG=`{v}` is not a log filter ({e})"))?,
            _ => EnvFilter::new(if args.quiet { "error" } else { "warn" }),
        },
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
    Ok(())
}

#[cfg(test)]
mod tests;
