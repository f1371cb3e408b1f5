use fuseflow::pipeline;

#[derive(Debug, Clone, serde::Deserialize)]
struct Click {
    user: String,
    ts: i64,
}

fn main() {
    let _job = pipeline! {
        let clicks = csv::<Click>("a.csv");
        let clicks = csv::<Click>("b.csv");
        clicks.sink(stdout());
    };
}
