use fuseflow::pipeline;

#[derive(Debug, Clone, serde::Deserialize)]
struct Click {
    user: String,
    ts: i64,
}

fn main() {
    let _job = pipeline! {
        csv::<Click>("clicks.csv")
            .key_by(|c| c.ts)
            .window(tumbling_processing_time(10s))
            .sum(|c| c.user.clone())
            .sink(stdout());
    };
}
