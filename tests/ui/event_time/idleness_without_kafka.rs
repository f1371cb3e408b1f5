use fuseflow::pipeline;

#[derive(Debug, Clone, serde::Deserialize)]
struct Click {
    user: String,
    ts: i64,
}

fn main() {
    let _job = pipeline! {
        csv::<Click>("clicks.csv")
            .timestamps(|c| c.ts)
            .watermarks(bounded_out_of_orderness(1s))
            .idleness(30s)
            .sink(stdout());
    };
}
