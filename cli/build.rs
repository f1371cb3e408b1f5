//! Rebuilds the `fuseflow` command when the project template changes: `include_dir!` embeds
//! `template/` but cannot tell Cargo which files it read.

fn main() {
    println!("cargo::rerun-if-changed=../template");
}
