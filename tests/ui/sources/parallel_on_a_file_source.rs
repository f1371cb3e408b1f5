use fuseflow::pipeline;

#[derive(Debug, Clone, serde::Deserialize)]
struct Click {
    user: String,
    ts: i64,
}

fn main() {
    let _job = pipeline! {
        csv::<Click>("clicks.csv")
            .parallel()
            .map(|c| c.user)
            .sink(stdout());
    };
}
