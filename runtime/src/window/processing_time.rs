//! Processing-time tumbling windows: records are grouped by the wall-clock time at which they
//! arrive, as Flink's `TumblingProcessingTimeWindows` with `ProcessingTimeTrigger`.
//!
//! On every record the clock is read (milliseconds since the Unix epoch, made monotonous: a
//! clock that steps back is ignored until it catches up). The record goes to the window
//! `[start, end)` containing that instant. The open window fires, and its state is dropped,
//! at the first check at which the clock has passed its last millisecond `end - 1`: on the
//! next record or watermark, or when a live source that is waiting for input flushes the
//! chain (`stdin_lines` when no line is buffered, `kafka` on every empty poll), since
//! fuseflow has no timer thread. Only one window is open at a
//! time, so each key gets exactly one result per window. At the end of the input (the final
//! watermark, or `end()`), the open window fires: older Flink versions dropped it instead.
//!
//! Results carry the timestamp `end - 1`, as in Flink. Watermarks pass through untouched:
//! processing time has no late data. Tests inject a clock with
//! [`ProcessingTimeWindow::with_clock`].
//!
//! The accumulators are in a heap table of the operator's own, or, when the job runs on a
//! byte-level state backend and the operator is wrapped by
//! [`checkpointed`](crate::checkpoint::checkpointed), in that backend (namespace = the window
//! start), with the window's keys and their key groups indexed in memory in first-arrival
//! order, so that firing is the same.

use super::table::KeyTable;
use super::{AggregateFunction, WindowResult, check_size, tumbling};
use crate::checkpoint::{Stateful, decode, encode, key_group_of, warn_heap_state};
use crate::state::{NamespacedValues, StateKey, backend_values};
use crate::{Collector, JobError, MAX_WATERMARK, TaskContext, Timestamp, Ty};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::hash::Hash;
use std::marker::PhantomData;
use std::time::{SystemTime, UNIX_EPOCH};

/// The wall clock: milliseconds since the Unix epoch (negative before 1970).
pub fn system_clock() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// The spec of a processing-time tumbling window over a keyed stream of `(K, T)`, reading the
/// time from clock `C`.
pub struct ProcessingTimeWindow<K, T, A, C = fn() -> i64> {
    size: i64,
    agg: A,
    clock: C,
    _ty: PhantomData<fn() -> (K, T)>,
}

impl<K, T, A: Clone, C: Clone> Clone for ProcessingTimeWindow<K, T, A, C> {
    fn clone(&self) -> Self {
        ProcessingTimeWindow {
            size: self.size,
            agg: self.agg.clone(),
            clock: self.clock.clone(),
            _ty: PhantomData,
        }
    }
}

/// A processing-time tumbling window of `size_ms` with window function `agg`, on the
/// [`system_clock`]. Returns the spec and the witness of the results.
///
/// A record goes to the window containing the clock's reading at its arrival (the clock is
/// read on every record and never goes back). The open window fires, emitting one result per
/// key in first-arrival order with timestamp `end - 1`, at the first record or watermark at
/// which the clock has passed `end - 1`, and at the end of the input. Watermarks are
/// forwarded unchanged.
///
/// # Panics
///
/// If `size_ms <= 0` (the `pipeline!` macro rejects it).
#[allow(clippy::type_complexity)] // (spec, output witnesses), as every constructor
pub fn processing_time_window<K, T, A>(
    _input: Ty<(K, T)>,
    size_ms: i64,
    agg: A,
) -> (ProcessingTimeWindow<K, T, A>, Ty<WindowResult<K, A::Out>>)
where
    K: Hash + Eq + Clone,
    A: AggregateFunction<T>,
{
    check_size(size_ms);
    let spec = ProcessingTimeWindow {
        size: size_ms,
        agg,
        clock: system_clock as fn() -> i64,
        _ty: PhantomData,
    };
    (spec, Ty::of())
}

impl<K, T, A: AggregateFunction<T>, C> ProcessingTimeWindow<K, T, A, C> {
    /// Replaces the clock (milliseconds since the epoch), e.g. with a test's manual clock.
    pub fn with_clock<C2: FnMut() -> i64>(self, clock: C2) -> ProcessingTimeWindow<K, T, A, C2> {
        ProcessingTimeWindow {
            size: self.size,
            agg: self.agg,
            clock,
            _ty: PhantomData,
        }
    }

    /// Chains the successor, which receives the window results.
    pub fn into_collector<M>(self, main: M) -> ProcessingTimeWindowCollector<K, T, A, C, M> {
        ProcessingTimeWindowCollector {
            size: self.size,
            agg: self.agg,
            clock: self.clock,
            now: Timestamp::MIN,
            open: None,
            table: KeyTable::default(),
            backend: None,
            backend_checked: false,
            main,
            _ty: PhantomData,
        }
    }
}

/// The running processing-time window operator, built by
/// [`ProcessingTimeWindow::into_collector`]; see [`processing_time_window`] for its rules.
pub struct ProcessingTimeWindowCollector<K, T, A: AggregateFunction<T>, C, M> {
    size: i64,
    agg: A,
    clock: C,
    /// The latest clock reading (never decreases).
    now: Timestamp,
    /// The open window, `(start, end)`, if any record arrived since the last firing.
    open: Option<(i64, i64)>,
    /// The open window's keys' accumulators (the heap path).
    table: KeyTable<K, A::Acc>,
    /// The state when it is in a state backend (then `table` stays empty).
    backend: Option<Box<InBackend<K, A::Acc>>>,
    /// [`Stateful::use_state_backend`] was called: the operator knows where its state goes.
    backend_checked: bool,
    main: M,
    _ty: PhantomData<fn(T)>,
}

/// The open window's state in a state backend: its keys with their key groups, in
/// first-arrival order, and their accumulators (namespace = window start).
struct InBackend<K, Acc> {
    keys: KeyTable<K, u32>,
    accs: Box<dyn NamespacedValues<K, Acc>>,
    max_parallelism: usize,
}

impl<K, T, A, C, M> ProcessingTimeWindowCollector<K, T, A, C, M>
where
    K: Hash + Eq + Clone,
    A: AggregateFunction<T>,
    C: FnMut() -> i64,
    M: Collector<WindowResult<K, A::Out>>,
{
    /// Reads the clock; fires the open window if the clock has passed its end.
    #[inline]
    fn tick(&mut self) {
        self.now = self.now.max((self.clock)());
        if let Some((_, end)) = self.open
            && self.now >= end
        {
            self.fire();
        }
    }

    /// Emits the open window's results in key arrival order and drops its state.
    fn fire(&mut self) {
        let Some((start, end)) = self.open.take() else { return };
        if let Some(b) = self.backend.as_deref_mut() {
            for (key, kg) in b.keys.drain() {
                let acc = b.accs.take(&key, kg as usize, start).unwrap_or_else(|| {
                    panic!("state backend: the accumulator of a key in the window starting at {start} is missing")
                });
                let value = self.agg.get_result(&acc);
                self.main.record(WindowResult { key, start, end, value }, end - 1);
            }
            return;
        }
        for (key, acc) in self.table.drain() {
            let value = self.agg.get_result(&acc);
            self.main.record(WindowResult { key, start, end, value }, end - 1);
        }
    }
}

impl<K, T, A, C, M> Collector<(K, T)> for ProcessingTimeWindowCollector<K, T, A, C, M>
where
    K: Hash + Eq + Clone,
    A: AggregateFunction<T>,
    C: FnMut() -> i64,
    M: Collector<WindowResult<K, A::Out>>,
{
    fn open(&mut self, ctx: &TaskContext) -> Result<(), JobError> {
        if !self.backend_checked {
            warn_heap_state(ctx, "processing-time window");
        }
        self.main.open(ctx)
    }

    #[inline]
    fn record(&mut self, (key, value): (K, T), _ts: Timestamp) {
        self.tick();
        if self.open.is_none() {
            // A clock reading of i64::MIN has no aligned window; start the window there.
            let now = self.now;
            self.open = Some(tumbling(now, self.size).unwrap_or((now, now.saturating_add(self.size))));
        }
        let agg = &mut self.agg;
        if let Some(b) = self.backend.as_deref_mut() {
            let start = self.open.expect("a window is open").0;
            let kg = key_group_of(&key, b.max_parallelism);
            let mut new = false;
            let idx = b.keys.find_or_insert_with(key, || {
                new = true;
                kg as u32
            });
            let key = &b.keys.entry(idx).0;
            let mut acc = match new {
                true => agg.create_accumulator(),
                false => b.accs.get(key, kg, start).unwrap_or_else(|| {
                    panic!("state backend: the accumulator of a key in the window starting at {start} is missing")
                }),
            };
            agg.add(&mut acc, value);
            b.accs.put(key, kg, start, &acc);
            return;
        }
        let idx = self.table.find_or_insert_with(key, || agg.create_accumulator());
        agg.add(self.table.value_mut(idx), value);
    }

    fn watermark(&mut self, wm: Timestamp) {
        if wm == MAX_WATERMARK {
            self.fire();
        } else if self.open.is_some() {
            self.tick();
        }
        self.main.watermark(wm);
    }

    fn checkpoint(&mut self, barrier: crate::checkpoint::Barrier) {
        self.main.checkpoint(barrier);
    }

    fn flush(&mut self) {
        // A live source flushes when its input is quiet: the clock may have passed the open
        // window's end with no record to notice it.
        if self.open.is_some() {
            self.tick();
        }
        self.main.flush();
    }

    fn end(&mut self) {
        self.fire();
        self.main.end();
    }
}

/// The state is the open window and its keys' accumulators, in the same bytes whether they
/// are on the heap or in a state backend. On restore the window fires by the clock of the
/// restored run.
impl<K, T, A, C, M> Stateful for ProcessingTimeWindowCollector<K, T, A, C, M>
where
    K: StateKey,
    A: AggregateFunction<T>,
    A::Acc: Serialize + DeserializeOwned + 'static,
{
    fn schema(&self) -> String {
        format!(
            "processing_time_window size={}ms key={} acc={}",
            self.size,
            std::any::type_name::<K>(),
            std::any::type_name::<A::Acc>()
        )
    }

    fn use_state_backend(&mut self, ctx: &TaskContext, operator: &'static str) -> Result<(), JobError> {
        self.backend_checked = true;
        if self.backend.is_none()
            && let Some((accs, max_parallelism)) = backend_values(ctx, operator, "window-accumulators")?
        {
            self.backend = Some(Box::new(InBackend {
                keys: KeyTable::default(),
                accs,
                max_parallelism,
            }));
        }
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Vec<u8>, JobError> {
        match (self.backend.as_deref_mut(), self.open) {
            (Some(b), Some((start, _))) => {
                let mut entries: Vec<(&K, A::Acc)> = Vec::with_capacity(b.keys.entries().len());
                for (key, kg) in b.keys.entries() {
                    let acc = b.accs.get(key, *kg as usize, start).ok_or_else(|| {
                        JobError::Other(format!(
                            "the accumulator of a key in the window starting at {start} is missing"
                        ))
                    })?;
                    entries.push((key, acc));
                }
                encode(&(self.open, entries))
            }
            _ => {
                let entries: Vec<(&K, &A::Acc)> = self.table.entries().iter().map(|(k, a)| (k, a)).collect();
                encode(&(self.open, entries))
            }
        }
    }

    fn restore(&mut self, parts: Vec<(usize, Vec<u8>)>, ctx: &TaskContext) -> Result<(), JobError> {
        type Snapshot<K, Acc> = (Option<(i64, i64)>, Vec<(K, Acc)>);
        for (_, bytes) in parts {
            let (open, entries): Snapshot<K, A::Acc> = decode(&bytes)?;
            for (key, acc) in entries {
                if ctx.owns_key(&key) {
                    self.open = self.open.or(open);
                    match self.backend.as_deref_mut() {
                        None => self.table.upsert(key, acc),
                        Some(b) => {
                            let start = self.open.map_or(0, |(s, _)| s);
                            let kg = key_group_of(&key, b.max_parallelism);
                            b.accs.put(&key, kg, start, &acc);
                            b.keys.upsert(key, kg as u32);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::agg::{count, sum};
    use crate::window::testing::{Log, Msg, finish, records};
    use std::cell::Cell;
    use std::rc::Rc;

    #[test]
    fn windows_follow_the_injected_clock_and_all_fire_at_the_end() {
        let clock = Rc::new(Cell::new(10_500i64));
        let ty = Ty::<(char, u32)>::of();
        let (spec, _) = processing_time_window(ty, 1000, (count(ty), sum(ty, |v| *v)));
        let c2 = clock.clone();
        let (log, out) = Log::new();
        let mut c = spec.with_clock(move || c2.get()).into_collector(log);
        c.open(&TaskContext::detached()).unwrap();
        let at = |c: &mut ProcessingTimeWindowCollector<_, _, _, _, _>, t: i64, k: char, v: u32| {
            clock.set(t);
            c.record((k, v), crate::NO_TIMESTAMP);
        };
        at(&mut c, 10_500, 'b', 1);
        at(&mut c, 10_600, 'a', 2);
        at(&mut c, 10_999, 'b', 3); // the window's last millisecond: still in it
        assert!(records(&out).is_empty());
        at(&mut c, 11_000, 'a', 4); // fires [10000, 11000) before opening [11000, 12000)
        let r = |key, start: i64, value| {
            (
                WindowResult {
                    key,
                    start,
                    end: start + 1000,
                    value,
                },
                start + 999,
            )
        };
        assert_eq!(records(&out), [r('b', 10_000, (2, 4)), r('a', 10_000, (1, 2))]);
        at(&mut c, 10_000, 'c', 5); // the clock stepped back: ignored, still 11000
        clock.set(13_000);
        c.watermark(7); // a watermark checks the clock too, and passes through
        assert_eq!(records(&out)[2..], [r('a', 11_000, (1, 4)), r('c', 11_000, (1, 5))]);
        assert_eq!(out.borrow().last(), Some(&Msg::W(7)));
        at(&mut c, 13_100, 'a', 6);
        finish(&mut c); // the open window fires at the end of input, before the final watermark
        assert_eq!(records(&out)[4..], [r('a', 13_000, (1, 6))]);
        assert_eq!(
            out.borrow()[out.borrow().len() - 2..],
            [Msg::W(MAX_WATERMARK), Msg::End]
        );
    }

    #[test]
    fn a_flush_from_a_quiet_live_source_fires_a_window_the_clock_has_passed() {
        let clock = Rc::new(Cell::new(5_200i64));
        let ty = Ty::<(char, u32)>::of();
        let (spec, _) = processing_time_window(ty, 1000, count(ty));
        let c2 = clock.clone();
        let (log, out) = Log::new();
        let mut c = spec.with_clock(move || c2.get()).into_collector(log);
        c.open(&TaskContext::detached()).unwrap();
        c.flush(); // no window open: nothing to fire
        c.record(('a', 1), crate::NO_TIMESTAMP);
        clock.set(5_999);
        c.flush();
        assert!(
            records(&out).is_empty(),
            "the window is still open at its last millisecond"
        );
        clock.set(6_000);
        c.flush();
        let fired = WindowResult {
            key: 'a',
            start: 5_000,
            end: 6_000,
            value: 1,
        };
        assert_eq!(records(&out), [(fired, 5_999)]);
    }

    #[test]
    fn the_system_clock_is_milliseconds_since_the_epoch() {
        let t = system_clock();
        assert!(t > 1_600_000_000_000, "{t}");
        let ty = Ty::<(u8, ())>::of();
        let (spec, _) = processing_time_window(ty, 3_600_000, count(ty));
        let (log, out) = Log::new();
        let mut c = spec.into_collector(log);
        for i in 0..10 {
            c.record((i % 2, ()), 0);
        }
        c.end();
        let results = records(&out);
        let total: u64 = results.iter().map(|(r, _)| r.value).sum();
        assert_eq!(total, 10);
        assert!(
            results
                .iter()
                .all(|(r, ts)| r.end - r.start == 3_600_000 && *ts == r.end - 1)
        );
    }
}
