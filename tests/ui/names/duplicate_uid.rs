use fuseflow::pipeline;

#[derive(Debug, Clone, serde::Deserialize)]
struct Click {
    user: String,
    ts: i64,
}

fn main() {
    let _job = pipeline! {
        job { name: "clicks", checkpoint_interval: 10s }
        csv::<Click>("clicks.csv")
            .timestamps(|c| c.ts)
            .watermarks(bounded_out_of_orderness(1s))
            .uid("clicks")
            .key_by(|c| c.user.clone())
            .window(tumbling(10s))
            .drop_late_data()
            .count()
            .uid("clicks")
            .sink(stdout());
    };
}
