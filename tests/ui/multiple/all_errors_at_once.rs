use fuseflow::pipeline;

#[derive(Debug, Clone, serde::Deserialize)]
struct Click {
    user: String,
    ts: i64,
}

fn main() {
    let _job = pipeline! {
        job { name: "", parallelism: 0 }
        let clicks = csv::<Click>("clicks.csv");
        clicks.mapp(|c| c.user).sink(stdout());
        clicks.key_by(|c| c.user.clone()).window(tumbling(0s)).count().sink(stdout());
        let unused = clicks.map(|c| c.ts);
    };
}
