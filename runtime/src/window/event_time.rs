//! Event-time tumbling windows: Flink's `WindowOperator` with `TumblingEventTimeWindows`,
//! `EventTimeTrigger`, allowed lateness and a late-data side output.
//!
//! Each record is judged against the current watermark (the one that arrived after the last
//! record that raised it), exactly as Flink's operator judges it:
//!
//! - its window is `[start, end)` with `start = ts - ts.rem_euclid(size)`; the window's last
//!   millisecond is `end - 1` and its cleanup time `end - 1 + allowed_lateness` (saturating);
//! - if the cleanup time is at or behind the watermark, the window is gone: the record is
//!   *late*, goes to the late output with its timestamp, and is counted;
//! - otherwise it is folded into its key's accumulator; if the window has already fired
//!   (`end - 1 <= watermark`, possible only with allowed lateness) the key's result is
//!   emitted again at once, updated (a *late firing*).
//!
//! A watermark `wm` fires every window with `end - 1 <= wm` that has not fired yet, then drops
//! the state of every window whose cleanup time is `<= wm`; then it is forwarded to both
//! outputs. Results carry the timestamp `end - 1`. Windows fire in order of their end; the keys
//! of one window in the order they first appeared in it.
//!
//! The state is the list of open windows in order of start, each with a [`KeyTable`] (key →
//! accumulator, in first-arrival order), plus the watermark at which something next fires or
//! is cleaned up. A record almost always belongs to one of the two newest windows, so it is
//! matched against them by two comparisons each, with no division and no ordered-map search;
//! only a record for another window computes its window and binary-searches the list. Then it
//! costs one hash lookup, and a watermark that triggers nothing costs one comparison.
//!
//! **Where the accumulators live.** That is the heap path, the default. When the job runs on a
//! byte-level state backend (RocksDB, or `StateBackendConfig::in_memory_bytes()`) and the
//! operator is wrapped by [`checkpointed`](crate::checkpoint::checkpointed) (the job takes
//! checkpoints or names its `state_backend`), [`Stateful::use_state_backend`] moves them into
//! the job's keyed state: one map state from window start (Flink's window namespace) to the
//! encoded accumulator, per key, through [`NamespacedValues`]. The list of open windows stays
//! in memory as an index, each window's table holding its keys' key groups instead of
//! accumulators, in first-arrival order, so the same watermark fires the same results in the
//! same order; a fired accumulator is read from the backend, a cleaned-up one deleted. The
//! per-record check for the backend is one `Option` test. An operator that is not wrapped
//! keeps the heap path and warns if the job's backend is a byte backend (its state types are
//! not known to be serializable). See `docs/rocksdb.md`.

use super::table::KeyTable;
use super::{AggregateFunction, WindowResult, check_size, tumbling};
use crate::checkpoint::{Stateful, decode, encode, key_group_of, warn_heap_state};
use crate::state::{NamespacedValues, StateKey, backend_values};
use crate::{Collector, JobError, TaskContext, Timestamp, Ty};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::hash::Hash;
use std::marker::PhantomData;

/// The spec of an event-time tumbling window over a keyed stream of `(K, T)`.
pub struct EventTimeWindow<K, T, A> {
    size: i64,
    lateness: i64,
    agg: A,
    _ty: PhantomData<fn() -> (K, T)>,
}

impl<K, T, A: Clone> Clone for EventTimeWindow<K, T, A> {
    fn clone(&self) -> Self {
        EventTimeWindow {
            size: self.size,
            lateness: self.lateness,
            agg: self.agg.clone(),
            _ty: PhantomData,
        }
    }
}

/// An event-time tumbling window of `size_ms` with `allowed_lateness_ms` and window function
/// `agg`.
///
/// Flink's rules, each record judged against the current watermark:
///
/// - a record with timestamp `ts` belongs to `[start, end)`, `start = ts - ts.rem_euclid(size)`;
/// - it is late (sent to the late output with its timestamp, and counted) iff
///   `end - 1 + allowed_lateness <= watermark`; otherwise it is added to its key's
///   accumulator, and if `end - 1 <= watermark` the key's updated result is emitted at once;
/// - a watermark fires every window with `end - 1 <= watermark` not fired yet (in order of
///   end, keys in first-arrival order, results timestamped `end - 1`), drops the windows
///   whose cleanup time `end - 1 + allowed_lateness` it reached, and is forwarded to both
///   outputs; the final watermark `i64::MAX` fires everything.
///
/// Returns the spec, the witness of the results and the witness of the late-data side output
/// (the records that arrived after their window was cleaned up).
///
/// # Panics
///
/// If `size_ms <= 0` or `allowed_lateness_ms < 0` (the `pipeline!` macro rejects both).
#[allow(clippy::type_complexity)] // (spec, output witnesses), as every constructor
pub fn event_time_window<K, T, A>(
    _input: Ty<(K, T)>,
    size_ms: i64,
    allowed_lateness_ms: i64,
    agg: A,
) -> (EventTimeWindow<K, T, A>, Ty<WindowResult<K, A::Out>>, Ty<T>)
where
    K: Hash + Eq + Clone,
    A: AggregateFunction<T>,
{
    check_size(size_ms);
    assert!(
        allowed_lateness_ms >= 0,
        "allowed lateness cannot be negative, got {allowed_lateness_ms} ms"
    );
    let spec = EventTimeWindow {
        size: size_ms,
        lateness: allowed_lateness_ms,
        agg,
        _ty: PhantomData,
    };
    (spec, Ty::of(), Ty::of())
}

impl<K, T, A: AggregateFunction<T>> EventTimeWindow<K, T, A> {
    /// Chains the successors: `main` receives the window results, `late` the late records.
    pub fn into_collector<M, L>(self, main: M, late: L) -> EventTimeWindowCollector<K, T, A, M, L> {
        EventTimeWindowCollector {
            size: self.size,
            lateness: self.lateness,
            agg: self.agg,
            windows: Windows::new(),
            backend: None,
            backend_checked: false,
            wm: crate::MIN_WATERMARK,
            next_action: Timestamp::MAX,
            late_count: 0,
            ctx: None,
            main,
            late,
            _ty: PhantomData,
        }
    }
}

/// How many emptied key tables are kept for reuse by the next windows.
const SPARE_TABLES: usize = 4;

/// One open window `[start, end)` and its keys, each with a `V`: the key's accumulator on the
/// heap path, its key group when the accumulators are in a state backend.
struct OpenWindow<K, V> {
    start: i64,
    /// `start + size`, saturated at `i64::MAX`.
    end: i64,
    table: KeyTable<K, V>,
}

/// The open windows in increasing order of start (so also of end), with their keys in
/// first-arrival order. Invariant: every window's cleanup time is after the watermark.
struct Windows<K, V> {
    open: Vec<OpenWindow<K, V>>,
    /// Emptied tables, kept with their capacity for the next windows.
    spare: Vec<KeyTable<K, V>>,
}

impl<K, V> Windows<K, V> {
    fn new() -> Self {
        Windows {
            open: Vec::new(),
            spare: Vec::new(),
        }
    }

    /// Whether no window is open.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// The index of the open window containing `ts`, if it is one of the two newest (where
    /// nearly every record goes). `start <= ts < start + size` is exact even when `end`
    /// saturated (`ts - start` is computed as the unsigned distance).
    #[inline]
    fn newest_containing(&self, ts: Timestamp, size: i64) -> Option<usize> {
        let contains = |w: &OpenWindow<K, V>| ts >= w.start && (ts.wrapping_sub(w.start) as u64) < size as u64;
        let n = self.open.len();
        if n >= 1 && contains(&self.open[n - 1]) {
            Some(n - 1)
        } else if n >= 2 && contains(&self.open[n - 2]) {
            Some(n - 2)
        } else {
            None
        }
    }

    /// The index of the first window whose last millisecond is after `wm` (not fired yet), or
    /// the number of windows if there is none.
    fn first_unfired(&self, wm: Timestamp) -> usize {
        self.open.partition_point(|w| w.end - 1 <= wm)
    }

    /// The watermark at which something next fires or is cleaned up.
    fn next_action(&self, wm: Timestamp, lateness: i64) -> Timestamp {
        let mut next = Timestamp::MAX;
        if let Some(w) = self.open.first() {
            next = (w.end - 1).saturating_add(lateness);
        }
        if let Some(w) = self.open.get(self.first_unfired(wm)) {
            next = next.min(w.end - 1);
        }
        next
    }

    /// The index of the open window `[start, end)`, opening it if needed (which may bring
    /// `next_action` forward).
    fn locate_or_open(&mut self, start: i64, end: i64, next_action: &mut Timestamp, action: Timestamp) -> usize {
        let at = self.open.partition_point(|w| w.start < start);
        if self.open.get(at).is_some_and(|w| w.start == start) {
            return at;
        }
        *next_action = (*next_action).min(action);
        let table = self.spare.pop().unwrap_or_default();
        self.open.insert(at, OpenWindow { start, end, table });
        at
    }
}

/// The window state of an operator whose accumulators are in the job's state backend: an
/// index of the open windows and of their keys (with each key's key group, in first-arrival
/// order, so firing is the same as on the heap path), and the accumulators per key and
/// window (namespace = window start).
struct InBackend<K, Acc> {
    windows: Windows<K, u32>,
    accs: Box<dyn NamespacedValues<K, Acc>>,
    max_parallelism: usize,
}

/// The running event-time window operator, built by [`EventTimeWindow::into_collector`]; see
/// [`event_time_window`] for its rules.
///
/// Its accumulators are in heap tables of its own (the fast path), or, when the job runs on
/// a byte-level state backend and the operator is wrapped by
/// [`checkpointed`](crate::checkpoint::checkpointed), in that backend (see
/// [`Stateful::use_state_backend`]).
pub struct EventTimeWindowCollector<K, T, A: AggregateFunction<T>, M, L> {
    size: i64,
    lateness: i64,
    agg: A,
    /// Open windows with their keys' accumulators (the heap path).
    windows: Windows<K, A::Acc>,
    /// The state when it is in a state backend (then `windows` stays empty).
    backend: Option<Box<InBackend<K, A::Acc>>>,
    /// [`Stateful::use_state_backend`] was called: the operator knows where its state goes.
    backend_checked: bool,
    /// The current watermark.
    wm: Timestamp,
    /// No window fires or is cleaned up before the watermark reaches this.
    next_action: Timestamp,
    /// Late records since the start, added to the job's counter at the end.
    late_count: u64,
    ctx: Option<TaskContext>,
    main: M,
    late: L,
    _ty: PhantomData<fn(T)>,
}

impl<K, T, A: AggregateFunction<T>, M, L> EventTimeWindowCollector<K, T, A, M, L> {
    /// Whether the accumulators are in the job's state backend (not in heap tables).
    pub fn state_in_backend(&self) -> bool {
        self.backend.is_some()
    }

    #[inline]
    fn cleanup_of(&self, max_ts: i64) -> i64 {
        max_ts.saturating_add(self.lateness)
    }

    /// Recomputes [`next_action`](Self::next_action) from the open windows.
    fn recompute_next_action(&mut self) {
        self.next_action = match &self.backend {
            Some(b) => b.windows.next_action(self.wm, self.lateness),
            None => self.windows.next_action(self.wm, self.lateness),
        };
    }

    /// The window `(start, end)` of a record at `ts` that is in neither of the two newest
    /// open windows, and the watermark at which it next needs action; `None` if the record is
    /// late.
    #[inline]
    fn window_of(&self, ts: Timestamp) -> Option<(i64, i64, Timestamp)> {
        // Only a record without timestamp (i64::MIN) has no window: it is late forever.
        let (start, end) = tumbling(ts, self.size)?;
        let max_ts = end - 1;
        let cleanup = self.cleanup_of(max_ts);
        if cleanup <= self.wm {
            return None;
        }
        Some((start, end, if max_ts > self.wm { max_ts } else { cleanup }))
    }
}

impl<K, T, A, M, L> EventTimeWindowCollector<K, T, A, M, L>
where
    K: Hash + Eq + Clone,
    A: AggregateFunction<T>,
    M: Collector<WindowResult<K, A::Out>>,
    L: Collector<T>,
{
    #[inline]
    fn send_late(&mut self, value: T, ts: Timestamp) {
        self.late_count += 1;
        self.late.record(value, ts);
    }

    /// The watermark moved from `old` to `self.wm`: fire and clean up what that triggers.
    #[cold]
    fn advance(&mut self, old: Timestamp) {
        if self.backend.is_some() {
            return self.advance_in_backend(old);
        }
        let wm = self.wm;
        // 1. Windows past their cleanup time: fire them if they have not fired yet (moving
        //    the keys out, as the state is dropped), then recycle their tables. They form a
        //    prefix of the windows, as the cleanup time grows with the start.
        let gone = self.windows.open.partition_point(|w| self.cleanup_of(w.end - 1) <= wm);
        let Windows { open, spare } = &mut self.windows;
        for OpenWindow { start, end, mut table } in open.drain(..gone) {
            let max_ts = end - 1;
            if max_ts > old {
                for (key, acc) in table.drain() {
                    let value = self.agg.get_result(&acc);
                    self.main.record(WindowResult { key, start, end, value }, max_ts);
                }
            } else {
                table.clear();
            }
            if spare.len() < SPARE_TABLES {
                spare.push(table);
            }
        }
        // 2. Windows that reach their last millisecond but stay open for late records: fire
        //    them, cloning the keys. They all come after the windows of step 1.
        for w in &self.windows.open[self.windows.first_unfired(old)..] {
            let max_ts = w.end - 1;
            if max_ts > wm {
                break;
            }
            for (key, acc) in w.table.entries() {
                let value = self.agg.get_result(acc);
                self.main.record(
                    WindowResult {
                        key: key.clone(),
                        start: w.start,
                        end: w.end,
                        value,
                    },
                    max_ts,
                );
            }
        }
        self.recompute_next_action();
    }

    /// [`advance`](Self::advance) with the accumulators in the state backend: the same
    /// windows fire in the same order, each key's accumulator read from the backend (and
    /// removed from it when the window is cleaned up).
    #[cold]
    #[inline(never)]
    fn advance_in_backend(&mut self, old: Timestamp) {
        let wm = self.wm;
        let lateness = self.lateness;
        let b = self.backend.as_deref_mut().expect("state in a backend");
        let gone = b
            .windows
            .open
            .partition_point(|w| (w.end - 1).saturating_add(lateness) <= wm);
        let Windows { open, spare } = &mut b.windows;
        for OpenWindow { start, end, mut table } in open.drain(..gone) {
            let max_ts = end - 1;
            let fire = max_ts > old;
            for (key, kg) in table.drain() {
                let acc = b.accs.take(&key, kg as usize, start);
                if fire {
                    let acc = acc.unwrap_or_else(|| missing_accumulator(start));
                    let value = self.agg.get_result(&acc);
                    self.main.record(WindowResult { key, start, end, value }, max_ts);
                }
            }
            if spare.len() < SPARE_TABLES {
                spare.push(table);
            }
        }
        let first = b.windows.first_unfired(old);
        for w in &b.windows.open[first..] {
            let max_ts = w.end - 1;
            if max_ts > wm {
                break;
            }
            for (key, kg) in w.table.entries() {
                let acc = b
                    .accs
                    .get(key, *kg as usize, w.start)
                    .unwrap_or_else(|| missing_accumulator(w.start));
                let value = self.agg.get_result(&acc);
                self.main.record(
                    WindowResult {
                        key: key.clone(),
                        start: w.start,
                        end: w.end,
                        value,
                    },
                    max_ts,
                );
            }
        }
        self.recompute_next_action();
    }

    /// The index of the open window for a record at `ts` that is in neither of the two newest
    /// windows, opening the window if needed; `None` if the record is late.
    #[cold]
    #[inline(never)]
    fn locate_or_open(&mut self, ts: Timestamp) -> Option<usize> {
        let (start, end, action) = self.window_of(ts)?;
        Some(self.windows.locate_or_open(start, end, &mut self.next_action, action))
    }

    /// [`record`](Collector::record) with the accumulators in the state backend: the key goes
    /// into the window's index (with its key group), its accumulator is read from the backend
    /// (or created, for a key new in the window), updated and written back.
    #[cold]
    #[inline(never)]
    fn record_in_backend(&mut self, key: K, value: T, ts: Timestamp) {
        let size = self.size;
        let w = match self
            .backend
            .as_deref()
            .and_then(|b| b.windows.newest_containing(ts, size))
        {
            Some(w) => w,
            None => {
                let Some((start, end, action)) = self.window_of(ts) else {
                    return self.send_late(value, ts);
                };
                let b = self.backend.as_deref_mut().expect("state in a backend");
                b.windows.locate_or_open(start, end, &mut self.next_action, action)
            }
        };
        let b = self.backend.as_deref_mut().expect("state in a backend");
        let kg = key_group_of(&key, b.max_parallelism) as u32;
        let OpenWindow { start, end, table } = &mut b.windows.open[w];
        let mut new = false;
        let idx = table.find_or_insert_with(key, || {
            new = true;
            kg
        });
        let (key, _) = table.entry(idx);
        let agg = &mut self.agg;
        let mut acc = if new {
            agg.create_accumulator()
        } else {
            b.accs
                .get(key, kg as usize, *start)
                .unwrap_or_else(|| missing_accumulator(*start))
        };
        agg.add(&mut acc, value);
        b.accs.put(key, kg as usize, *start, &acc);
        if *end - 1 <= self.wm {
            // A late firing, as on the heap path.
            let value = agg.get_result(&acc);
            self.main.record(
                WindowResult {
                    key: key.clone(),
                    start: *start,
                    end: *end,
                    value,
                },
                *end - 1,
            );
        }
    }
}

/// A key listed in a window's index has no accumulator in the state backend: the backend
/// lost it.
#[cold]
fn missing_accumulator(start: i64) -> ! {
    panic!("state backend: the accumulator of a key in the window starting at {start} is missing")
}

impl<K, T, A, M, L> Collector<(K, T)> for EventTimeWindowCollector<K, T, A, M, L>
where
    K: Hash + Eq + Clone,
    A: AggregateFunction<T>,
    M: Collector<WindowResult<K, A::Out>>,
    L: Collector<T>,
{
    fn open(&mut self, ctx: &TaskContext) -> Result<(), JobError> {
        if !self.backend_checked {
            warn_heap_state(ctx, "event-time window");
        }
        self.ctx = Some(ctx.clone());
        self.main.open(ctx)?;
        self.late.open(ctx)
    }

    #[inline]
    fn record(&mut self, (key, value): (K, T), ts: Timestamp) {
        if self.backend.is_some() {
            return self.record_in_backend(key, value, ts);
        }
        // An open window is never past its cleanup time (see `Windows`), so a record for one
        // is not late.
        let Some(w) = self
            .windows
            .newest_containing(ts, self.size)
            .or_else(|| self.locate_or_open(ts))
        else {
            return self.send_late(value, ts);
        };
        let OpenWindow { start, end, table } = &mut self.windows.open[w];
        let agg = &mut self.agg;
        let idx = table.find_or_insert_with(key, || agg.create_accumulator());
        agg.add(table.value_mut(idx), value);
        if *end - 1 <= self.wm {
            // A late firing: the window has fired already (or its end passed before its first
            // record); Flink's EventTimeTrigger fires again on every element.
            let (key, acc) = table.entry(idx);
            let value = agg.get_result(acc);
            self.main.record(
                WindowResult {
                    key: key.clone(),
                    start: *start,
                    end: *end,
                    value,
                },
                *end - 1,
            );
        }
    }

    #[inline]
    fn watermark(&mut self, wm: Timestamp) {
        if wm <= self.wm {
            return;
        }
        let old = self.wm;
        self.wm = wm;
        if wm >= self.next_action {
            self.advance(old);
        }
        self.main.watermark(wm);
        self.late.watermark(wm);
    }

    fn checkpoint(&mut self, barrier: crate::checkpoint::Barrier) {
        self.main.checkpoint(barrier);
        self.late.checkpoint(barrier);
    }

    fn flush(&mut self) {
        self.main.flush();

        self.late.flush();
    }

    fn end(&mut self) {
        if let Some(ctx) = &self.ctx {
            TaskContext::add(&ctx.counters().late, self.late_count);
        }
        self.late_count = 0;
        self.main.end();
        self.late.end();
    }
}

/// A window's snapshot: `(start, end, [(key, accumulator)])`, keys in first-arrival order.
type WindowSnapshot<K, Acc> = (i64, i64, Vec<(K, Acc)>);

/// The state is the watermark and every open window with its keys' accumulators, in the same
/// bytes whether the accumulators are on the heap or in a state backend, so a checkpoint
/// restores onto either path and any parallelism (each instance keeps the keys of its key
/// groups).
impl<K, T, A, M, L> Stateful for EventTimeWindowCollector<K, T, A, M, L>
where
    K: StateKey,
    A: AggregateFunction<T>,
    A::Acc: Serialize + DeserializeOwned + 'static,
{
    fn schema(&self) -> String {
        format!(
            "event_time_window size={}ms lateness={}ms key={} acc={}",
            self.size,
            self.lateness,
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
                windows: Windows::new(),
                accs,
                max_parallelism,
            }));
        }
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Vec<u8>, JobError> {
        match self.backend.as_deref_mut() {
            None => {
                type Window<'a, K, Acc> = (i64, i64, Vec<(&'a K, &'a Acc)>);
                let windows: Vec<Window<'_, K, A::Acc>> = self
                    .windows
                    .open
                    .iter()
                    .map(|w| (w.start, w.end, w.table.entries().iter().map(|(k, a)| (k, a)).collect()))
                    .collect();
                encode(&(self.wm, windows))
            }
            Some(b) => {
                let mut windows: Vec<WindowSnapshot<&K, A::Acc>> = Vec::with_capacity(b.windows.open.len());
                for w in &b.windows.open {
                    let mut entries = Vec::with_capacity(w.table.entries().len());
                    for (key, kg) in w.table.entries() {
                        let acc = b
                            .accs
                            .get(key, *kg as usize, w.start)
                            .unwrap_or_else(|| missing_accumulator(w.start));
                        entries.push((key, acc));
                    }
                    windows.push((w.start, w.end, entries));
                }
                encode(&(self.wm, windows))
            }
        }
    }

    fn restore(&mut self, parts: Vec<(usize, Vec<u8>)>, ctx: &TaskContext) -> Result<(), JobError> {
        type Snapshot<K, Acc> = (Timestamp, Vec<WindowSnapshot<K, Acc>>);
        let mut wm = None::<Timestamp>;
        let mut windows: std::collections::BTreeMap<i64, OpenWindow<K, A::Acc>> = Default::default();
        for (_, bytes) in parts {
            let (part_wm, part_windows): Snapshot<K, A::Acc> = decode(&bytes)?;
            wm = Some(wm.map_or(part_wm, |w| w.min(part_wm)));
            for (start, end, entries) in part_windows {
                let w = windows.entry(start).or_insert_with(|| OpenWindow {
                    start,
                    end,
                    table: KeyTable::default(),
                });
                for (key, acc) in entries {
                    if ctx.owns_key(&key) {
                        w.table.upsert(key, acc);
                    }
                }
            }
        }
        if let Some(wm) = wm {
            self.wm = self.wm.max(wm);
        }
        let windows = windows.into_values().filter(|w| !w.table.is_empty());
        match self.backend.as_deref_mut() {
            None => self.windows.open = windows.collect(),
            Some(b) => {
                b.windows.open.clear();
                for OpenWindow { start, end, mut table } in windows {
                    let mut index = KeyTable::default();
                    for (key, acc) in table.drain() {
                        let kg = key_group_of(&key, b.max_parallelism);
                        b.accs.put(&key, kg, start, &acc);
                        index.upsert(key, kg as u32);
                    }
                    b.windows.open.push(OpenWindow {
                        start,
                        end,
                        table: index,
                    });
                }
            }
        }
        self.recompute_next_action();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{WatermarkStrategy, key_by, timestamps, watermarks};
    use crate::window::agg::{count, sum};
    use crate::window::testing::{Log, Msg, finish, records};
    use crate::{MAX_WATERMARK, NO_TIMESTAMP};
    use std::sync::atomic::Ordering;

    type Res = WindowResult<&'static str, u64>;

    fn wr(key: &'static str, start: i64, end: i64, value: u64) -> (Res, Timestamp) {
        (WindowResult { key, start, end, value }, end - 1)
    }

    /// A count window of `size` with `lateness`, driven directly with records and watermarks.
    struct Harness {
        c: EventTimeWindowCollector<&'static str, u32, crate::window::agg::Count, Log<Res>, Log<u32>>,
        main: std::rc::Rc<std::cell::RefCell<Vec<Msg<Res>>>>,
        late: std::rc::Rc<std::cell::RefCell<Vec<Msg<u32>>>>,
        ctx: TaskContext,
    }

    impl Harness {
        fn new(size: i64, lateness: i64) -> Self {
            let ty = Ty::<(&'static str, u32)>::of();
            let (spec, _, _) = event_time_window(ty, size, lateness, count(ty));
            let (m, main) = Log::new();
            let (l, late) = Log::new();
            let mut c = spec.into_collector(m, l);
            let ctx = TaskContext::detached();
            c.open(&ctx).unwrap();
            Harness { c, main, late, ctx }
        }
        fn rec(&mut self, key: &'static str, v: u32, ts: Timestamp) -> &mut Self {
            self.c.record((key, v), ts);
            self
        }
        fn wm(&mut self, wm: Timestamp) -> &mut Self {
            self.c.watermark(wm);
            self
        }
        fn results(&self) -> Vec<(Res, Timestamp)> {
            records(&self.main)
        }
        fn late_records(&self) -> Vec<(u32, Timestamp)> {
            records(&self.late)
        }
        fn finish(&mut self) -> u64 {
            finish(&mut self.c);
            self.ctx.counters().late.load(Ordering::Relaxed)
        }
    }

    #[test]
    fn windows_are_assigned_by_rem_euclid_even_for_negative_timestamps() {
        let mut h = Harness::new(1000, 0);
        h.rec("a", 0, -1)
            .rec("a", 1, -1000)
            .rec("a", 2, -1001)
            .rec("a", 3, 0)
            .rec("a", 4, 999)
            .rec("a", 5, 1000);
        h.finish();
        assert_eq!(
            h.results(),
            [
                wr("a", -2000, -1000, 1),
                wr("a", -1000, 0, 2),
                wr("a", 0, 1000, 2),
                wr("a", 1000, 2000, 1)
            ]
        );
    }

    #[test]
    fn a_window_fires_exactly_when_the_watermark_reaches_end_minus_one() {
        let mut h = Harness::new(1000, 0);
        h.rec("a", 0, 10).wm(998);
        assert!(h.results().is_empty(), "must not fire at end - 2");
        h.wm(999);
        assert_eq!(h.results(), [wr("a", 0, 1000, 1)]);
        // The result comes before the watermark that fired it, which reaches both outputs.
        assert_eq!(h.main.borrow()[1..], [Msg::R(wr("a", 0, 1000, 1).0, 999), Msg::W(999)]);
        assert_eq!(*h.late.borrow(), [Msg::W(998), Msg::W(999)]);
        // A non-advancing watermark is not forwarded again.
        h.wm(999).wm(5);
        assert_eq!(h.main.borrow().len(), 3);
        assert_eq!(h.finish(), 0);
        assert_eq!(h.results().len(), 1);
        assert_eq!(h.main.borrow()[3..], [Msg::W(MAX_WATERMARK), Msg::End]);
        assert_eq!(h.late.borrow()[2..], [Msg::W(MAX_WATERMARK), Msg::End]);
    }

    #[test]
    fn out_of_order_records_within_the_bound_count_in_their_own_window() {
        let mut h = Harness::new(1000, 0);
        h.rec("a", 0, 1500)
            .wm(1000)
            .rec("a", 1, 900)
            .rec("b", 2, 1100)
            .rec("a", 3, 1999)
            .wm(1500);
        // Window [0,1000) fired at 999 with nothing; the record at 900 came after that
        // watermark (1000 >= 999): late.
        assert_eq!(h.late_records(), [(1, 900)]);
        h.rec("a", 4, 1001).wm(1999);
        assert_eq!(h.results(), [wr("a", 1000, 2000, 3), wr("b", 1000, 2000, 1)]);
        assert_eq!(h.finish(), 1);
    }

    #[test]
    fn a_record_behind_the_watermark_is_accepted_while_its_window_is_open() {
        let mut h = Harness::new(1000, 0);
        h.rec("a", 0, 950).wm(900).rec("a", 1, 100).wm(998).rec("a", 2, 0);
        assert!(h.late_records().is_empty());
        h.wm(999).rec("a", 3, 999);
        assert_eq!(h.results(), [wr("a", 0, 1000, 3)]);
        assert_eq!(h.late_records(), [(3, 999)]);
        assert_eq!(h.finish(), 1);
    }

    #[test]
    fn allowed_lateness_fires_late_updates_then_cleans_up() {
        let mut h = Harness::new(1000, 500);
        h.rec("a", 0, 100).rec("b", 1, 200).wm(999);
        assert_eq!(h.results(), [wr("a", 0, 1000, 1), wr("b", 0, 1000, 1)]);
        // Within lateness: the key's result is emitted again at once, updated.
        h.rec("b", 2, 300).wm(1200);
        assert_eq!(h.results()[2..], [wr("b", 0, 1000, 2)]);
        // A new key in the fired window fires at once too.
        h.rec("c", 3, 999);
        assert_eq!(h.results()[3..], [wr("c", 0, 1000, 1)]);
        // Cleanup time is 999 + 500 = 1499: nothing emitted then, and later records are late.
        h.wm(1498).rec("a", 4, 0);
        assert_eq!(h.results()[4..], [wr("a", 0, 1000, 2)]);
        h.wm(1499);
        assert_eq!(h.results().len(), 5);
        h.rec("a", 5, 500);
        assert_eq!(h.late_records(), [(5, 500)]);
        assert_eq!(h.finish(), 1);
        assert_eq!(h.results().len(), 5);
    }

    #[test]
    fn a_window_first_seen_after_its_end_but_within_lateness_fires_on_each_record() {
        let mut h = Harness::new(1000, 2000);
        h.wm(2500).rec("a", 0, 1200).rec("a", 1, 1300);
        assert_eq!(h.results(), [wr("a", 1000, 2000, 1), wr("a", 1000, 2000, 2)]);
        // It does not fire again when the watermark moves on, nor at the end.
        h.wm(2800);
        assert_eq!(h.finish(), 0);
        assert_eq!(h.results().len(), 2);
    }

    #[test]
    fn late_records_go_to_the_side_output_with_their_timestamp_and_are_counted() {
        let mut h = Harness::new(1000, 0);
        h.rec("a", 0, 5000)
            .wm(4000)
            .rec("a", 1, 10)
            .rec("b", 2, -7)
            .rec("a", 3, 3999)
            .rec("a", 4, 4000);
        assert_eq!(h.late_records(), [(1, 10), (2, -7), (3, 3999)]);
        assert_eq!(h.finish(), 3);
        assert_eq!(h.results(), [wr("a", 4000, 5000, 1), wr("a", 5000, 6000, 1)]);
    }

    #[test]
    fn end_of_input_fires_every_window_in_order_of_end_then_first_arrival() {
        let mut h = Harness::new(1000, 0);
        h.rec("b", 0, 2500)
            .rec("a", 1, 1500)
            .rec("c", 2, 2100)
            .rec("a", 3, 2200)
            .rec("z", 4, 100)
            .rec("b", 5, 1100);
        assert!(h.results().is_empty());
        h.finish();
        assert_eq!(
            h.results(),
            [
                wr("z", 0, 1000, 1),
                wr("a", 1000, 2000, 1),
                wr("b", 1000, 2000, 1),
                wr("b", 2000, 3000, 1),
                wr("c", 2000, 3000, 1),
                wr("a", 2000, 3000, 1),
            ]
        );
    }

    #[test]
    fn one_watermark_fires_several_windows_and_cleans_several_in_order() {
        let mut h = Harness::new(10, 15);
        for t in [0, 10, 20, 30, 40] {
            h.rec("k", 0, t + 1);
        }
        h.wm(29);
        // [0,10), [10,20), [20,30) fire; [0,10) (cleanup 24) is dropped.
        assert_eq!(h.results(), [wr("k", 0, 10, 1), wr("k", 10, 20, 1), wr("k", 20, 30, 1)]);
        h.rec("k", 0, 5).rec("k", 0, 15);
        assert_eq!(h.late_records(), [(0, 5)]);
        assert_eq!(h.results()[3..], [wr("k", 10, 20, 2)]);
        h.wm(100);
        assert_eq!(h.results()[4..], [wr("k", 30, 40, 1), wr("k", 40, 50, 1)]);
        assert!(h.c.windows.is_empty() && h.c.backend.is_none());
        assert_eq!(h.finish(), 1);
    }

    #[test]
    fn maximal_lateness_saturates_and_keeps_windows_until_the_final_watermark() {
        let mut h = Harness::new(1000, i64::MAX);
        h.rec("a", 0, 10).wm(i64::MAX - 1).rec("a", 1, 20);
        assert_eq!(h.results(), [wr("a", 0, 1000, 1), wr("a", 0, 1000, 2)]);
        assert_eq!(h.finish(), 0);
        assert_eq!(h.results().len(), 2);
        assert!(h.c.windows.is_empty() && h.c.backend.is_none());
    }

    #[test]
    fn records_without_timestamp_and_at_the_edges_of_time() {
        let mut h = Harness::new(1000, 0);
        h.rec("a", 0, NO_TIMESTAMP).rec("a", 1, i64::MAX);
        assert_eq!(h.late_records(), [(0, NO_TIMESTAMP)]);
        assert_eq!(h.finish(), 1);
        let start = i64::MAX - i64::MAX % 1000;
        assert_eq!(
            h.results(),
            [(
                WindowResult {
                    key: "a",
                    start,
                    end: i64::MAX,
                    value: 1
                },
                i64::MAX - 1
            )]
        );
    }

    /// W1/W2 of the benchmarks, scaled down: (sum, count) per key in 1 s windows with a
    /// 500 ms out-of-orderness bound. Returns (results, sum of counts, checksum, late).
    fn w(n: u64, keys: u64) -> (usize, u64, i64, u64) {
        type Ev = (u64, u64, i64);
        let ty = Ty::<Ev>::of();
        let (ts, ty) = timestamps(ty, |e: &Ev| e.2);
        let (wms, ty) = watermarks(ty, WatermarkStrategy::BoundedOutOfOrderness(500));
        let (kb, ty) = key_by(ty, |e: &Ev| e.0);
        let (win, _, _) = event_time_window(ty, 1000, 0, (sum(ty, |e| e.1), count(ty)));
        let (main, out) = Log::new();
        let mut c = ts.into_collector(wms.into_collector(kb.into_collector(win.into_collector(main, crate::Discard))));
        let ctx = TaskContext::detached();
        c.open(&ctx).unwrap();
        for i in 0..n {
            let ev = (
                (i * 2654435761) % keys,
                i % 1000,
                (i / 10) as i64 - ((i * 7919) % 500) as i64,
            );
            c.record(ev, NO_TIMESTAMP);
        }
        finish(&mut c);
        let results = records(&out);
        let (mut total, mut s) = (0u64, 0i64);
        for (r, ts) in &results {
            assert_eq!(*ts, r.end - 1);
            let (sum, count) = r.value;
            total += count;
            let t = (r.key as i64)
                .wrapping_mul(1_000_003)
                .wrapping_add(r.start.div_euclid(1000).wrapping_mul(97))
                .wrapping_add(sum as i64);
            s = s.wrapping_add(t.rem_euclid(1 << 61));
        }
        (results.len(), total, s, ctx.counters().late.load(Ordering::Relaxed))
    }

    #[test]
    fn w1_checksum_for_1000_events() {
        assert_eq!(w(1000, 10_000), (1000, 1000, 4_989_515_380_991, 0));
    }

    #[test]
    fn w2_checksum_for_1000_events() {
        assert_eq!(w(1000, 100), (176, 1000, 8_698_515_894, 0));
    }
}
