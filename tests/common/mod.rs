//! Helpers shared by the end-to-end tests.

#![allow(dead_code)]

/// The parallelisms every end-to-end job runs at.
pub const PARALLELISMS: [usize; 3] = [1, 2, 4];

/// Something a job produced whose order across workers is not defined: sorting it gives the
/// comparable form.
pub trait Sorted {
    /// The same data, in a canonical order.
    fn sorted(&self) -> Self;
}

impl<T: Ord + Clone> Sorted for Vec<T> {
    fn sorted(&self) -> Self {
        let mut v = self.clone();
        v.sort();
        v
    }
}

impl<A: Sorted, B: Sorted> Sorted for (A, B) {
    fn sorted(&self) -> Self {
        (self.0.sorted(), self.1.sorted())
    }
}

impl<A: Sorted, B: Sorted, C: Sorted> Sorted for (A, B, C) {
    fn sorted(&self) -> Self {
        (self.0.sorted(), self.1.sorted(), self.2.sorted())
    }
}

impl Sorted for u64 {
    fn sorted(&self) -> Self {
        *self
    }
}

/// Runs `job(parallelism)` at parallelism 1, 2 and 4, checks that the outputs are the same
/// (sorted, since workers interleave their output), and returns the output at parallelism 1,
/// whose order is defined.
pub fn at_every_parallelism<O: Sorted + PartialEq + std::fmt::Debug>(job: impl Fn(usize) -> O) -> O {
    let first = job(PARALLELISMS[0]);
    for p in &PARALLELISMS[1..] {
        let other = job(*p);
        assert_eq!(
            other.sorted(),
            first.sorted(),
            "parallelism {p} differs from parallelism 1"
        );
    }
    first
}

/// The built example binary `target/<profile>/examples/<name>` (next to this test binary's
/// `deps/` directory), to run from the repository root.
pub fn example(name: &str) -> std::process::Command {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built (cargo test builds examples)",
        path.display()
    );
    let mut cmd = std::process::Command::new(path);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}
pub mod events;
pub mod kafka;
pub mod orders;
pub mod pg;
pub mod services;
