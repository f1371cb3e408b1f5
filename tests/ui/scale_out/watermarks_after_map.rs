use fuseflow::{kafka, pipeline};

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
struct Order {
    user: String,
    amount: u64,
    ts: i64,
}

fn main() {
    let _job = pipeline! {
        job { name: "orders", checkpoint_interval: 1s, scale_out: kafka }
        kafka::<Order>(kafka::source("127.0.0.1:9092", "orders").group_id("g"))
            .filter(|o| o.amount > 0)
            .timestamps(|o| o.ts)
            .watermarks(bounded_out_of_orderness(1s))
            .key_by(|o| o.user.clone())
            .window(tumbling(10s))
            .drop_late_data()
            .sum(|o| o.amount)
            .sink(stdout());
    };
}
