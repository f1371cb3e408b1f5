//! Generated code must not depend on what the user's module names: it is expanded here in a
//! module that shadows the prelude (`Result`, `Ok`, `Some`, `Vec`, `String`, `Box`, `Option`),
//! as serde's test suite does for its derives.

#![allow(dead_code, non_camel_case_types)]

mod shadowed {
    struct Result;
    struct Ok;
    struct Err;
    struct Some;
    struct None;
    struct Vec;
    struct String;
    struct Box;
    struct Option;
    struct Iterator;
    struct Clone;
    mod core {}
    mod std {}

    pub fn run(parallelism: usize) -> ::std::vec::Vec<u64> {
        let out = fuseflow::Collected::new();
        let job = fuseflow::pipeline! {
            job { name: "hygiene" }
            let numbers = generate(5, |i| i + 1);
            numbers
                .timestamps(|n| *n as i64 * 1000)
                .watermarks(bounded_out_of_orderness(1s))
                .key_by(|n| n % 2)
                .window(tumbling(2s))
                .side_output_late_data(late)
                .sum(|n| *n)
                .map(|w| w.value)
                .sink(collect(out));
            late.sink(stdout());
        };
        // Generated locals are hygienic: user variables with their names are not captured.
        let __job = 0;
        let __n0 = 0;
        let _ = (__job, __n0);
        job.with_parallelism(parallelism).run().expect("job runs");
        let mut got = out.take();
        got.sort();
        got
    }
}

#[test]
fn pipeline_expands_in_a_module_that_shadows_the_prelude() {
    // Windows of 2 s: [0,2000) holds 1; [2000,4000) holds 2 and 3; [4000,6000) holds 4 and 5.
    for p in [1, 2, 4] {
        assert_eq!(shadowed::run(p), vec![1, 2, 3, 4, 5]);
    }
}
