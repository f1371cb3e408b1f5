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
        csv::<Order>("orders.csv")
            .key_by(|o| o.user.clone())
            .reduce(|a, b| Order { amount: a.amount + b.amount, ..b })
            .sink(stdout());
    };
}
