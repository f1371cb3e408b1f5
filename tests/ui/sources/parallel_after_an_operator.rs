use fuseflow::pipeline;

fn main() {
    let _job = pipeline! {
        generate(1_000, |i| i)
            .map(|i| i * 2)
            .parallel()
            .sink(stdout());
    };
}
