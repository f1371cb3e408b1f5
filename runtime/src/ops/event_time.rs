//! Event time: the timestamp extractor and the watermark generator.
//!
//! `timestamps(f)` stamps each record with `f(&record)` (milliseconds). `watermarks(strategy)`
//! then emits a watermark *after every record that raises it*, so each record is judged
//! against the watermark of all records before it on its input. That is Flink's
//! `BoundedOutOfOrdernessWatermarks` (watermark = max timestamp − bound − 1 ms) evaluated per
//! record instead of on a 200 ms wall-clock timer, which makes results independent of how fast
//! input is read. Upstream watermarks are ignored except the final `+∞` of a bounded input,
//! as in Flink's `TimestampsAndWatermarksOperator`.

use super::forward_control;
use crate::checkpoint::{Stateful, decode, encode, own_part};
use crate::{Collector, JobError, MAX_WATERMARK, MIN_WATERMARK, TaskContext, Timestamp, Ty};

/// The `timestamps` operator; `D` is the successor once the chain is built.
#[derive(Debug, Clone)]
pub struct Timestamps<F, D = ()> {
    f: F,
    next: D,
}

/// Types the timestamp extractor against the input `T`.
pub fn timestamps<T, F: FnMut(&T) -> Timestamp>(_input: Ty<T>, f: F) -> (Timestamps<F>, Ty<T>) {
    (Timestamps { f, next: () }, Ty::of())
}

impl<F> Timestamps<F> {
    /// Chains the successor.
    pub fn into_collector<D>(self, next: D) -> Timestamps<F, D> {
        Timestamps { f: self.f, next }
    }

    /// The extractor, for a source that stamps its records itself (a Kafka source
    /// generating watermarks per partition).
    pub fn into_extractor(self) -> F {
        self.f
    }
}

impl<T, F: FnMut(&T) -> Timestamp, D: Collector<T>> Collector<T> for Timestamps<F, D> {
    forward_control!();
    #[inline]
    fn record(&mut self, record: T, _ts: Timestamp) {
        let ts = (self.f)(&record);
        self.next.record(record, ts)
    }
}

/// How watermarks follow the timestamps seen so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatermarkStrategy {
    /// Records may arrive up to this many milliseconds out of order:
    /// watermark = max timestamp − bound − 1.
    BoundedOutOfOrderness(i64),
    /// Timestamps never decrease: watermark = max timestamp − 1.
    Monotonous,
}

impl WatermarkStrategy {
    fn bound(self) -> i64 {
        match self {
            WatermarkStrategy::BoundedOutOfOrderness(ms) => ms,
            WatermarkStrategy::Monotonous => 0,
        }
    }
}

/// The `watermarks` operator; `D` is the successor once the chain is built.
#[derive(Debug, Clone)]
pub struct Watermarks<D = ()> {
    bound: i64,
    max_ts: Timestamp,
    current: Timestamp,
    /// Where the watermark is published for the progress bar and metrics.
    counters: Option<std::sync::Arc<crate::Counters>>,
    next: D,
}

/// The watermark generator for `strategy`; the output type is the input type.
pub fn watermarks<T>(_input: Ty<T>, strategy: WatermarkStrategy) -> (Watermarks, Ty<T>) {
    let w = Watermarks {
        bound: strategy.bound(),
        max_ts: MIN_WATERMARK,
        current: MIN_WATERMARK,
        counters: None,
        next: (),
    };
    (w, Ty::of())
}

impl Watermarks {
    /// The out-of-orderness bound in milliseconds (0 for monotonous timestamps), for a source
    /// that generates watermarks itself.
    pub fn bound_ms(&self) -> i64 {
        self.bound
    }

    /// Chains the successor.
    pub fn into_collector<D>(self, next: D) -> Watermarks<D> {
        Watermarks {
            bound: self.bound,
            max_ts: self.max_ts,
            current: self.current,
            counters: None,
            next,
        }
    }
}

impl<T, D: Collector<T>> Collector<T> for Watermarks<D> {
    fn open(&mut self, ctx: &TaskContext) -> Result<(), JobError> {
        self.counters = Some(ctx.counters_handle());
        self.next.open(ctx)
    }
    #[inline]
    fn record(&mut self, record: T, ts: Timestamp) {
        self.next.record(record, ts);
        if ts > self.max_ts {
            self.max_ts = ts;
            let wm = ts.saturating_sub(self.bound).saturating_sub(1);
            if wm > self.current {
                self.current = wm;
                if let Some(c) = &self.counters {
                    c.watermark.store(wm, std::sync::atomic::Ordering::Relaxed);
                }
                self.next.watermark(wm);
            }
        }
    }
    fn watermark(&mut self, wm: Timestamp) {
        if wm == MAX_WATERMARK && self.current != MAX_WATERMARK {
            self.current = MAX_WATERMARK;
            self.next.watermark(wm);
        }
    }
    fn checkpoint(&mut self, barrier: crate::checkpoint::Barrier) {
        self.next.checkpoint(barrier)
    }

    fn flush(&mut self) {
        self.next.flush();
    }

    fn end(&mut self) {
        self.next.end()
    }
}

/// The state is the largest timestamp seen and the watermark emitted.
impl<D> Stateful for Watermarks<D> {
    fn schema(&self) -> String {
        format!("watermarks bound={}ms", self.bound)
    }

    fn snapshot(&mut self) -> Result<Vec<u8>, JobError> {
        encode(&(self.max_ts, self.current))
    }

    fn restore(&mut self, parts: Vec<(usize, Vec<u8>)>, ctx: &TaskContext) -> Result<(), JobError> {
        if let Some(bytes) = own_part(parts, ctx)? {
            (self.max_ts, self.current) = decode(&bytes)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Collected;
    use crate::sink::collect;

    /// Records what reaches it, watermarks included, to check the interleaving.
    struct Log(Vec<String>);
    impl Collector<i64> for Log {
        fn open(&mut self, _: &TaskContext) -> Result<(), JobError> {
            Ok(())
        }
        fn record(&mut self, r: i64, ts: Timestamp) {
            self.0.push(format!("r{r}@{ts}"));
        }
        fn watermark(&mut self, wm: Timestamp) {
            self.0.push(format!("w{wm}"));
        }
        fn checkpoint(&mut self, _barrier: crate::checkpoint::Barrier) {}

        fn end(&mut self) {
            self.0.push("end".into());
        }
    }

    #[test]
    fn watermark_follows_each_record_that_raises_it() {
        let (ts, ty) = timestamps(Ty::<i64>::of(), |r: &i64| *r);
        let (wm, _) = watermarks(ty, WatermarkStrategy::BoundedOutOfOrderness(10));
        let mut c = ts.into_collector(wm.into_collector(Log(Vec::new())));
        for r in [100, 95, 120, 111] {
            c.record(r, crate::NO_TIMESTAMP);
        }
        c.watermark(MAX_WATERMARK);
        c.end();
        let log = c.next.next.0;
        assert_eq!(
            log,
            [
                "r100@100",
                "w89",
                "r95@95",
                "r120@120",
                "w109",
                "r111@111",
                &format!("w{MAX_WATERMARK}"),
                "end"
            ]
        );
    }

    #[test]
    fn monotonous_is_max_minus_one() {
        let out = Collected::new();
        let (wm, ty) = watermarks(Ty::<i64>::of(), WatermarkStrategy::Monotonous);
        let mut c = wm.into_collector(collect(ty, &out));
        c.record(5, 5);
        assert_eq!(c.current, 4);
    }
}
