use fuseflow::{KeyedProcessFunction, ProcessContext, pipeline};

#[derive(Debug, Clone, serde::Deserialize)]
struct Click {
    user: String,
    ts: i64,
}

#[derive(Clone)]
struct Echo;

impl KeyedProcessFunction<String, Click> for Echo {
    type Out = String;
    fn process_element(&mut self, c: Click, ctx: &mut ProcessContext<'_, String, String>) {
        ctx.collect(c.user);
    }
}

fn main() {
    let _job = pipeline! {
        job { name: "clicks", checkpoint_interval: 10s }
        csv::<Click>("clicks.csv").key_by(|c| c.user.clone()).process(Echo).sink(stdout());
    };
}
