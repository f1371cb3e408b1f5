use fuseflow::pipeline;

#[derive(Debug, Clone, serde::Deserialize)]
struct Click {
    user: String,
    ts: i64,
}

fn main() {
    let _job = pipeline! {
        let counts = csv::<Click>("clicks.csv")
            .timestamps(|c| c.ts)
            .watermarks(monotonous())
            .key_by(|c| c.user.clone())
            .window(tumbling(10s))
            .side_output_late_data(late)
            .drop_late_data()
            .count();
        counts.sink(stdout());
        late.sink(stdout());
    };
}
