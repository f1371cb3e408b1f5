use fuseflow::pipeline;

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
struct Order {
    user: String,
    ts: i64,
}

fn main() {
    let _job = pipeline! {
        let raw = kafka::<Order>(fuseflow::kafka::source("127.0.0.1:9092", "orders"));
        raw.sink(stdout());
        raw.timestamps(|o| o.ts)
            .watermarks(bounded_out_of_orderness(1s))
            .idleness(30s)
            .sink(stdout());
    };
}
