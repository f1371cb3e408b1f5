use fuseflow::pipeline;

#[derive(Debug, Clone, serde::Deserialize)]
struct Click {
    user: String,
    ts: i64,
}

fn main() {
    let _job = pipeline! {
        job { name: "clicks", restart: fixed_delay(3) }
        csv::<Click>("clicks.csv").sink(stdout());
    };
}
