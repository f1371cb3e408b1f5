use fuseflow::{kafka, pipeline};

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
struct Order {
    user: String,
    amount: u64,
    ts: i64,
}

fn main() {
    let _job = pipeline! {
        job { name: "orders", checkpoint_interval: 1s, scale_out: yes }
        kafka::<Order>(kafka::source("127.0.0.1:9092", "orders").group_id("g"))
            .key_by(|o| o.user.clone())
            .reduce(|a, b| Order { amount: a.amount + b.amount, ..b })
            .sink(stdout());
    };
}
