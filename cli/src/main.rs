//! The `fuseflow` command. For now: `fuseflow inspect <file.rs>` (see `lib.rs`).

fn main() {
    std::process::exit(fuseflow_cli::run(std::env::args().skip(1).collect()));
}
