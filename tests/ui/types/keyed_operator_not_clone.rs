use fuseflow::{AggregateFunction, pipeline};

#[derive(Debug, Clone, serde::Deserialize)]
struct Click {
    user: String,
    ts: i64,
}

/// A window function that cannot be copied: the chain after `key_by` runs once per worker,
/// so its operators must be `Clone`.
struct Distinct;

impl AggregateFunction<Click> for Distinct {
    type Acc = Vec<i64>;
    type Out = usize;
    fn create_accumulator(&self) -> Vec<i64> {
        Vec::new()
    }
    fn add(&mut self, acc: &mut Vec<i64>, c: Click) {
        acc.push(c.ts);
    }
    fn get_result(&self, acc: &Vec<i64>) -> usize {
        acc.len()
    }
    fn merge(&self, mut a: Vec<i64>, b: Vec<i64>) -> Vec<i64> {
        a.extend(b);
        a
    }
}

fn main() {
    let _job = pipeline! {
        csv::<Click>("clicks.csv")
            .key_by(|c| c.user.clone())
            .window(tumbling_processing_time(10s))
            .aggregate(Distinct)
            .sink(stdout());
    };
}
