//! A crate that depends on fuseflow under another name (`ff`): generated code must still
//! resolve, because it names the facade through `$crate`.

/// Runs a small pipeline through the renamed dependency and returns what it collected.
pub fn doubled(input: Vec<u32>) -> Vec<u32> {
    let out = ff::Collected::new();
    let job = ff::pipeline! {
        from_iter(input).map(|x| x * 2).sink(collect(out));
    };
    job.run().expect("job runs");
    out.take()
}

#[cfg(test)]
mod tests {
    #[test]
    fn pipeline_works_under_a_renamed_dependency() {
        assert_eq!(super::doubled(vec![1, 2, 3]), vec![2, 4, 6]);
    }
}
