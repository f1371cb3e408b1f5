use fuseflow::pipeline;

fn main() {
    let _job = pipeline! {
        generate(1_000, |i| i)
            .parallel()
            .timestamps(|i| *i as i64)
            .watermarks(monotonous())
            .key_by(|i| i % 10)
            .window(tumbling(1s))
            .drop_late_data()
            .count()
            .sink(stdout());
    };
}
