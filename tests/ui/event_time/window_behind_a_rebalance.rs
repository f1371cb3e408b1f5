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
            .rebalance()
            .filter(|c| !c.user.is_empty())
            .key_by(|c| c.user.clone())
            .window(tumbling(10s))
            .drop_late_data()
            .count()
            .sink(stdout());
    };
}
