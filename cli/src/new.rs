//! `fuseflow new <name>`: scaffolds a job project from the template embedded in the binary.
//!
//! The template is the repository's `template/` folder, a cargo-generate template: `fuseflow
//! new my-job` and `cargo generate --path template --name my-job` give the same project. Every
//! file is rendered with liquid, with the variables cargo-generate defines (`project-name`,
//! `crate_name`) and the template's own placeholder `fuseflow_path` (see
//! `template/cargo-generate.toml`, which is not copied).

use crate::opt::NewOpt;
use anyhow::{Context, bail};
use include_dir::{Dir, DirEntry, include_dir};
use std::path::{Path, PathBuf};

/// The project template, embedded at build time (`build.rs` rebuilds when it changes).
static TEMPLATE: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../template");

/// Template files that configure the template and are not part of the project.
const TEMPLATE_ONLY: &[&str] = &["cargo-generate.toml"];

/// Runs `fuseflow new`: creates the project and prints the next steps.
pub fn run(opt: &NewOpt) -> anyhow::Result<()> {
    let parent = opt.path.clone().unwrap_or_else(|| PathBuf::from("."));
    let dir = create_project(&opt.name, &parent, opt.fuseflow_path.as_deref())?;
    let cd = match &opt.path {
        Some(_) => dir.display().to_string(),
        None => opt.name.clone(),
    };
    println!("Created the fuseflow job `{}` in {}", opt.name, dir.display());
    println!();
    println!("Next steps:");
    println!("  cd {cd} && cargo run");
    println!();
    println!("`cargo run` runs the job (src/lib.rs) on data/orders.csv and writes its results into out/;");
    println!("`cargo test` runs it on a tiny input and checks the result.");
    Ok(())
}

/// Renders the template into `parent/name` and returns that directory.
///
/// `name` must be a valid crate name ([`check_name`]); `parent/name` must not exist or be an
/// empty directory. With `fuseflow_path`, the project depends on the fuseflow checkout there
/// (made absolute); otherwise on fuseflow 0.1 from crates.io.
pub fn create_project(name: &str, parent: &Path, fuseflow_path: Option<&Path>) -> anyhow::Result<PathBuf> {
    check_name(name)?;
    let fuseflow_path = match fuseflow_path {
        Some(path) => fuseflow_dependency_path(path)?,
        None => String::new(),
    };
    let dir = parent.join(name);
    if dir.exists() {
        let empty = dir.is_dir()
            && std::fs::read_dir(&dir)
                .with_context(|| format!("cannot read `{}`", dir.display()))?
                .next()
                .is_none();
        if !empty {
            bail!(
                "`{}` already exists and is not empty: choose another name, or another directory with --path",
                dir.display()
            );
        }
    }

    let globals = liquid::object!({
        "project-name": name,
        "crate_name": name.replace('-', "_"),
        "fuseflow_path": fuseflow_path,
    });
    let parser = liquid::ParserBuilder::with_stdlib().build()?;
    for file in template_files(&TEMPLATE) {
        let path = file.path();
        if TEMPLATE_ONLY.iter().any(|t| path == Path::new(t)) {
            continue;
        }
        let text = file
            .contents_utf8()
            .with_context(|| format!("template file `{}` is not UTF-8", path.display()))?;
        let rendered = parser
            .parse(text)
            .and_then(|template| template.render(&globals))
            .with_context(|| format!("cannot render template file `{}`", path.display()))?;
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        std::fs::write(&target, rendered).with_context(|| format!("cannot write `{}`", target.display()))?;
    }
    Ok(dir)
}

/// Checks that `name` can name the project's package and directory: a crate name Cargo
/// accepts (ASCII letters, digits, `-` and `_`, starting with a letter, at most 64 characters)
/// that is not a Rust keyword, a standard crate, `fuseflow` itself or a reserved file name.
pub fn check_name(name: &str) -> anyhow::Result<()> {
    const HINT: &str = "use letters, digits, `-` and `_`, starting with a letter, e.g. `my-job`";
    let Some(first) = name.chars().next() else {
        bail!("the project name is empty: {HINT}");
    };
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        bail!("`{name}` is not a valid crate name: {c:?} is not allowed; {HINT}");
    }
    if !first.is_ascii_alphabetic() {
        bail!("`{name}` is not a valid crate name: it must start with a letter; {HINT}");
    }
    if name.len() > 64 {
        bail!("`{name}` is not a valid crate name: it is longer than 64 characters");
    }
    let crate_name = name.replace('-', "_");
    if RUST_KEYWORDS.contains(&crate_name.as_str()) {
        bail!("`{name}` is not a valid crate name: it is a Rust keyword");
    }
    if ["std", "core", "alloc", "proc_macro", "test", "fuseflow", "serde"].contains(&crate_name.as_str()) {
        bail!("`{name}` cannot be used: it is the name of a crate the project depends on or Rust provides");
    }
    let lower = name.to_ascii_lowercase();
    if WINDOWS_RESERVED.contains(&lower.as_str()) {
        bail!("`{name}` cannot be used: it is a reserved file name on Windows");
    }
    Ok(())
}

const RUST_KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate", "do", "dyn", "else",
    "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "macro", "match", "mod",
    "move", "mut", "override", "priv", "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true",
    "try", "type", "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

const WINDOWS_RESERVED: &[&str] = &[
    "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8", "com9", "lpt1", "lpt2",
    "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// The absolute path of the fuseflow checkout at `path`, as written into the project's
/// `Cargo.toml` (a TOML literal string, so it may not contain `'`).
fn fuseflow_dependency_path(path: &Path) -> anyhow::Result<String> {
    let dir = path
        .canonicalize()
        .with_context(|| format!("--fuseflow-path `{}` does not exist", path.display()))?;
    if !dir.join("Cargo.toml").is_file() {
        bail!(
            "--fuseflow-path `{}` is not a fuseflow checkout: it has no Cargo.toml",
            path.display()
        );
    }
    let text = dir
        .to_str()
        .with_context(|| format!("--fuseflow-path `{}` is not UTF-8", dir.display()))?;
    if text.contains('\'') || text.contains('\n') {
        bail!(
            "--fuseflow-path `{}` contains a quote or a newline, which Cargo.toml cannot hold",
            dir.display()
        );
    }
    Ok(text.to_owned())
}

/// Every file of the template, depth first.
fn template_files<'a>(dir: &'a Dir<'a>) -> Vec<&'a include_dir::File<'a>> {
    let mut files = Vec::new();
    for entry in dir.entries() {
        match entry {
            DirEntry::Dir(sub) => files.extend(template_files(sub)),
            DirEntry::File(file) => files.push(file),
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_names_are_checked() {
        for good in ["my-job", "orders_per_minute", "a", "Job2"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("2fast", "start with a letter"),
            ("-job", "start with a letter"),
            ("my job", "' ' is not allowed"),
            ("a/b", "'/' is not allowed"),
            ("jöb", "'ö' is not allowed"),
            ("fn", "keyword"),
            ("self", "keyword"),
            ("std", "Rust provides"),
            ("fuseflow", "depends on"),
            ("nul", "Windows"),
        ] {
            let err = check_name(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn the_template_is_embedded_with_its_hidden_files() {
        let paths: Vec<_> = template_files(&TEMPLATE).iter().map(|f| f.path().to_owned()).collect();
        for expected in [
            "Cargo.toml",
            "README.md",
            ".gitignore",
            "src/lib.rs",
            "src/main.rs",
            "tests/pipeline.rs",
            "data/orders.csv",
        ] {
            assert!(
                paths.iter().any(|p| p == Path::new(expected)),
                "{expected} in {paths:?}"
            );
        }
    }
}
