use fuseflow::pipeline;

#[derive(Debug, Clone, serde::Deserialize)]
struct Click {
    user: String,
    ts: i64,
}

fn main() {
    // The chain after `key_by` runs once per worker, so its closures must be `Clone`: one
    // that holds a `&mut` to a local cannot be.
    let mut seen = Vec::new();
    let _job = pipeline! {
        csv::<Click>("clicks.csv")
            .key_by(|c| c.user.clone())
            .map(|c| {
                seen.push(c.ts);
                c.ts
            })
            .sink(stdout());
    };
}
