//! `process` on a keyed stream: Flink's `KeyedProcessFunction`, a user function with keyed
//! state and event-time timers.
//!
//! For each `(key, record)` the operator opens the key's state and calls
//! [`KeyedProcessFunction::process_element`]; the function reads and writes its declared
//! states for that key, registers or deletes event-time timers for it, and emits any number of
//! outputs. A watermark `wm` fires every timer with timestamp `<= wm`, in timestamp order (ties
//! in registration order), calling [`KeyedProcessFunction::on_timer`] with the timer's key,
//! before the watermark is forwarded; the final watermark `i64::MAX` fires them all.
//!
//! Outputs of one call are buffered and handed to the next operator right after the call,
//! so the context needs no type for the successor and the chain stays fused. State lives in
//! a [`KeyedStateStore`] built when the operator opens (heap tables unless the job chooses
//! another [`StateBackendConfig`]); timers in [`EventTimeTimers`].

use crate::checkpoint::{Parts, Stateful, decode, encode};
use crate::exchange::{ByKeyGroup, by_key_group};
use crate::state::{
    Clock, EventTimeTimers, KeyedState, KeyedStateStore, ListRef, ListState, MapRef, MapState, StateBackendConfig,
    StateError, StateKey, StateRegistry, StateValue, ValueRef, ValueState,
};
use crate::{Collector, JobError, MIN_WATERMARK, TaskContext, Timestamp, Ty};
use std::marker::PhantomData;
use std::sync::Arc;

/// A function over a keyed stream of `(K, T)` with keyed state and event-time timers
/// (Flink's `KeyedProcessFunction<K, T, Out>`).
///
/// A per-key sum emitted one second after the key's last record (a "session" sum):
///
/// ```
/// use fuseflow_runtime::ops::{KeyedProcessFunction, ProcessContext};
/// use fuseflow_runtime::state::{StateRegistry, ValueState};
///
/// #[derive(Clone, Default)]
/// struct SessionSum {
///     sum: ValueState<i64>,
///     deadline: ValueState<i64>,
/// }
///
/// impl KeyedProcessFunction<String, i64> for SessionSum {
///     type Out = (String, i64);
///
///     fn open(&mut self, states: &mut StateRegistry) {
///         self.sum = states.value("sum");
///         self.deadline = states.value("deadline");
///     }
///
///     fn process_element(&mut self, amount: i64, ctx: &mut ProcessContext<'_, String, (String, i64)>) {
///         ctx.value(self.sum).update_with(|| 0, |s| *s += amount);
///         if let Some(old) = ctx.value(self.deadline).get() {
///             ctx.delete_event_time_timer(old);
///         }
///         let deadline = ctx.timestamp() + 1000;
///         ctx.value(self.deadline).update(deadline);
///         ctx.register_event_time_timer(deadline);
///     }
///
///     fn on_timer(&mut self, _ts: i64, ctx: &mut ProcessContext<'_, String, (String, i64)>) {
///         let sum = ctx.value(self.sum).get().unwrap_or(0);
///         let key = ctx.key().clone();
///         ctx.collect((key, sum)); // carries the timer's timestamp
///         ctx.value(self.sum).clear();
///         ctx.value(self.deadline).clear();
///     }
/// }
/// ```
pub trait KeyedProcessFunction<K, T> {
    /// The type of the records the function emits.
    type Out;

    /// Declares the function's keyed states (called once per operator instance, before the
    /// first record). Keep the returned handles in `self`.
    fn open(&mut self, states: &mut StateRegistry) {
        let _ = states;
    }

    /// Handles one record of key `ctx.key()`, with timestamp `ctx.timestamp()`.
    fn process_element(&mut self, record: T, ctx: &mut ProcessContext<'_, K, Self::Out>);

    /// Called when the watermark reaches an event-time timer of key `ctx.key()` registered
    /// at `timestamp` (`ctx.timestamp() == timestamp`).
    fn on_timer(&mut self, timestamp: Timestamp, ctx: &mut ProcessContext<'_, K, Self::Out>) {
        let _ = (timestamp, ctx);
    }
}

/// What a [`KeyedProcessFunction`] sees while it handles one record or timer: the current
/// key and its state, event time, timers, and the output.
pub struct ProcessContext<'a, K, O> {
    state: KeyedState<'a, K>,
    timestamp: Timestamp,
    watermark: Timestamp,
    timers: &'a mut EventTimeTimers<K>,
    out: &'a mut Vec<(O, Timestamp)>,
}

impl<'a, K: StateKey, O> ProcessContext<'a, K, O> {
    /// The current key.
    pub fn key(&self) -> &'a K {
        self.state.key()
    }

    /// The timestamp of the current record ([`NO_TIMESTAMP`](crate::NO_TIMESTAMP) if it has
    /// none), or in `on_timer` the timer's timestamp.
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    /// The operator's current watermark ([`MIN_WATERMARK`] before the first one). In
    /// `on_timer` it is the watermark that fired the timer.
    pub fn current_watermark(&self) -> Timestamp {
        self.watermark
    }

    /// The current key's state (also reachable through [`value`](Self::value),
    /// [`map`](Self::map) and [`list`](Self::list)).
    pub fn state(&mut self) -> &mut KeyedState<'a, K> {
        &mut self.state
    }

    /// The current key's value in `state`.
    pub fn value<V: StateValue>(&mut self, state: ValueState<V>) -> ValueRef<'_, K, V> {
        self.state.value(state)
    }

    /// The current key's map in `state`.
    pub fn map<UK: StateValue + Ord, UV: StateValue>(&mut self, state: MapState<UK, UV>) -> MapRef<'_, K, UK, UV> {
        self.state.map(state)
    }

    /// The current key's list in `state`.
    pub fn list<V: StateValue>(&mut self, state: ListState<V>) -> ListRef<'_, K, V> {
        self.state.list(state)
    }

    /// Asks for `on_timer(ts)` for the current key once the watermark reaches `ts`. A second
    /// registration of the same key and `ts` is ignored. A timer at or behind the current
    /// watermark fires at the next watermark that advances.
    pub fn register_event_time_timer(&mut self, ts: Timestamp) {
        self.timers.register(self.state.key(), self.state.key_group(), ts);
    }

    /// Deletes the current key's timer at `ts`, if any.
    pub fn delete_event_time_timer(&mut self, ts: Timestamp) {
        self.timers.delete(self.state.key(), ts);
    }

    /// Emits `out` with the current [`timestamp`](Self::timestamp) (Flink's
    /// `TimestampedCollector`).
    pub fn collect(&mut self, out: O) {
        self.out.push((out, self.timestamp));
    }

    /// Emits `out` with timestamp `ts`. An output behind the watermark may be late for an
    /// event-time window downstream.
    pub fn collect_with_timestamp(&mut self, out: O, ts: Timestamp) {
        self.out.push((out, ts));
    }
}

/// The spec of a keyed `process` operator over `(K, T)` running `P`; see [`keyed_process`].
pub struct KeyedProcess<K, T, P> {
    f: P,
    max_parallelism: usize,
    backend: StateBackendConfig,
    clock: Clock,
    operator: &'static str,
    /// The backend was set on the operator: the job's choice does not apply.
    explicit_backend: bool,
    _ty: PhantomData<fn() -> (K, T)>,
}

impl<K, T, P: Clone> Clone for KeyedProcess<K, T, P> {
    fn clone(&self) -> Self {
        KeyedProcess {
            f: self.f.clone(),
            max_parallelism: self.max_parallelism,
            backend: self.backend.clone(),
            clock: Arc::clone(&self.clock),
            operator: self.operator,
            explicit_backend: self.explicit_backend,
            _ty: PhantomData,
        }
    }
}

/// A keyed `process` operator running `f` (Flink's `KeyedStream.process`). Returns the spec
/// and the witness of `f`'s outputs.
///
/// Defaults: 128 key groups (set the job's `max_parallelism` with
/// [`with_max_parallelism`](KeyedProcess::with_max_parallelism); it must match the exchange
/// before the operator), heap state, the system clock for state TTL, operator id
/// `"keyed_process"`.
pub fn keyed_process<K, T, P>(_input: Ty<(K, T)>, f: P) -> (KeyedProcess<K, T, P>, Ty<P::Out>)
where
    K: StateKey,
    P: KeyedProcessFunction<K, T>,
{
    let spec = KeyedProcess {
        f,
        max_parallelism: 128,
        backend: StateBackendConfig::Heap,
        clock: Arc::new(crate::window::system_clock),
        operator: "keyed_process",
        explicit_backend: false,
        _ty: PhantomData,
    };
    (spec, Ty::of())
}

impl<K, T, P> KeyedProcess<K, T, P> {
    /// The number of key groups (the job's `max_parallelism`).
    pub fn with_max_parallelism(mut self, max_parallelism: usize) -> Self {
        self.max_parallelism = max_parallelism.max(1);
        self
    }

    /// Where the operator keeps its state.
    pub fn with_state_backend(mut self, backend: StateBackendConfig) -> Self {
        self.backend = backend;
        self.explicit_backend = true;
        self
    }

    /// The processing-time clock state TTL is measured with (ms since the epoch); tests pass
    /// a clock they control.
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The operator's stable id (the name given in the pipeline): names its state in a
    /// backend and, later, in checkpoints.
    pub fn with_operator_id(mut self, id: &'static str) -> Self {
        self.operator = id;
        self
    }
}

impl<K: StateKey, T, P: KeyedProcessFunction<K, T>> KeyedProcess<K, T, P> {
    /// Chains the successor, which receives `f`'s outputs.
    pub fn into_collector<D>(self, next: D) -> KeyedProcessCollector<K, T, P, D> {
        KeyedProcessCollector {
            key_groups: by_key_group(Ty::<(K, T)>::of(), self.max_parallelism),
            spec: self,
            store: None,
            timers: EventTimeTimers::new(),
            wm: MIN_WATERMARK,
            out: Vec::new(),
            next,
        }
    }
}

/// The running keyed `process` operator, built by [`KeyedProcess::into_collector`].
pub struct KeyedProcessCollector<K, T, P: KeyedProcessFunction<K, T>, D> {
    spec: KeyedProcess<K, T, P>,
    key_groups: ByKeyGroup,
    /// Built in `open` (or at the first record when driven without `open`).
    store: Option<KeyedStateStore<K>>,
    timers: EventTimeTimers<K>,
    wm: Timestamp,
    /// The outputs of the current call, handed on after it.
    out: Vec<(P::Out, Timestamp)>,
    next: D,
}

impl<K: StateKey, T, P: KeyedProcessFunction<K, T>, D: Collector<P::Out>> KeyedProcessCollector<K, T, P, D> {
    /// The pending event-time timers.
    pub fn timers(&self) -> &EventTimeTimers<K> {
        &self.timers
    }

    /// The operator's keyed state, once opened.
    pub fn state_store(&self) -> Option<&KeyedStateStore<K>> {
        self.store.as_ref()
    }

    fn open_state(&mut self) -> Result<(), StateError> {
        if self.store.is_none() {
            let mut states = StateRegistry::new();
            self.spec.f.open(&mut states);
            let s = &self.spec;
            self.store = Some(KeyedStateStore::new(states, s.max_parallelism, &s.backend, s.operator)?);
        }
        Ok(())
    }

    /// Calls `f` for `key` at `timestamp`, then hands its outputs on.
    #[inline]
    fn call(
        &mut self,
        key: &K,
        key_group: usize,
        timestamp: Timestamp,
        f: impl FnOnce(&mut P, &mut ProcessContext<'_, K, P::Out>),
    ) {
        if self.store.is_none() {
            self.open_state().unwrap_or_else(|e| panic!("{e}"));
        }
        let store = self.store.as_mut().expect("state is open");
        let now = if store.has_ttl() { (self.spec.clock)() } else { 0 };
        let mut ctx = ProcessContext {
            state: store.scope(key, key_group, now),
            timestamp,
            watermark: self.wm,
            timers: &mut self.timers,
            out: &mut self.out,
        };
        f(&mut self.spec.f, &mut ctx);
        for (out, ts) in self.out.drain(..) {
            self.next.record(out, ts);
        }
    }

    #[cold]
    #[inline(never)]
    fn fire_timers(&mut self, wm: Timestamp) {
        while let Some((ts, key, key_group)) = self.timers.pop_due(wm) {
            self.call(&key, key_group, ts, |f, ctx| f.on_timer(ts, ctx));
        }
    }
}

impl<K, T, P, D> Collector<(K, T)> for KeyedProcessCollector<K, T, P, D>
where
    K: StateKey,
    P: KeyedProcessFunction<K, T>,
    D: Collector<P::Out>,
{
    fn open(&mut self, ctx: &TaskContext) -> Result<(), JobError> {
        if !self.spec.explicit_backend {
            self.spec.backend = ctx.state_backend().clone();
        }
        self.open_state()
            .map_err(|e| JobError::Other(format!("cannot open the state of `{}`: {e}", self.spec.operator)))?;
        self.next.open(ctx)
    }

    #[inline]
    fn record(&mut self, (key, value): (K, T), ts: Timestamp) {
        let key_group = self.key_groups.key_group(&key);
        self.call(&key, key_group, ts, |f, ctx| f.process_element(value, ctx));
    }

    #[inline]
    fn watermark(&mut self, wm: Timestamp) {
        if wm <= self.wm {
            return;
        }
        self.wm = wm;
        if self.timers.next_timestamp().is_some_and(|t| t <= wm) {
            self.fire_timers(wm);
        }
        self.next.watermark(wm);
    }

    fn checkpoint(&mut self, barrier: crate::checkpoint::Barrier) {
        self.next.checkpoint(barrier);
    }

    fn flush(&mut self) {
        self.next.flush();
    }

    fn end(&mut self) {
        self.next.end();
    }
}

/// One exported state entry: key group, state index, key, user key, value (encoded).
type Entry = (u32, u32, Vec<u8>, Vec<u8>, Vec<u8>);

/// The state is the watermark, every pending timer and every entry of the keyed state (in
/// the encoding byte backends store), so it restores onto either backend and any parallelism.
impl<K, T, P, D> Stateful for KeyedProcessCollector<K, T, P, D>
where
    K: StateKey,
    P: KeyedProcessFunction<K, T>,
    D: Collector<P::Out>,
{
    fn schema(&self) -> String {
        format!(
            "keyed_process key={} function={} states=[{}]",
            std::any::type_name::<K>(),
            std::any::type_name::<P>(),
            self.store
                .as_ref()
                .map(KeyedStateStore::describe_states)
                .unwrap_or_default()
        )
    }

    fn snapshot(&mut self) -> Result<Vec<u8>, JobError> {
        let mut entries: Vec<Entry> = Vec::new();
        if let Some(store) = &self.store {
            let now = if store.has_ttl() { (self.spec.clock)() } else { 0 };
            for kg in 0..store.max_parallelism() {
                store
                    .export_key_group(kg, now, &mut |state, key, user_key, value| {
                        entries.push((kg as u32, state, key.to_vec(), user_key.to_vec(), value.to_vec()))
                    })
                    .map_err(|e| JobError::Other(e.to_string()))?;
            }
        }
        let timers: Vec<(Timestamp, &K, usize)> = self.timers.iter().collect();
        encode(&(self.wm, timers, entries))
    }

    fn restore(&mut self, parts: Parts, ctx: &TaskContext) -> Result<(), JobError> {
        type Snapshot<K> = (Timestamp, Vec<(Timestamp, K, usize)>, Vec<Entry>);
        self.open_state().map_err(|e| JobError::Other(e.to_string()))?;
        let store = self.store.as_mut().expect("state is open");
        let m = store.max_parallelism().max(1);
        let owns = |kg: usize| kg * ctx.subtasks() / m == ctx.subtask();
        let mut wm = None::<Timestamp>;
        for (_, bytes) in parts {
            let (part_wm, timers, entries): Snapshot<K> = decode(&bytes)?;
            wm = Some(wm.map_or(part_wm, |w| w.min(part_wm)));
            for (ts, key, kg) in timers {
                if owns(kg) {
                    self.timers.register(&key, kg, ts);
                }
            }
            for (kg, state, key, user_key, value) in entries {
                if owns(kg as usize) {
                    store
                        .import_entry(kg as usize, state, &key, &user_key, &value)
                        .map_err(|e| JobError::Other(e.to_string()))?;
                }
            }
        }
        if let Some(wm) = wm {
            self.wm = self.wm.max(wm);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::clone_for_worker;
    use crate::ops::{WatermarkStrategy, key_by, timestamps, watermarks};
    use crate::state::StateTtl;
    use crate::window::testing::{Log, Msg, finish, records};
    use crate::{Collected, Job, JobSpec, MAX_WATERMARK, sink, source};
    use std::sync::atomic::{AtomicI64, Ordering};

    /// What a [`TimerProbe`] does with a record.
    #[derive(Debug, Clone, Copy)]
    enum Cmd {
        Register(Timestamp),
        Delete(Timestamp),
    }

    /// Registers and deletes timers as told; on a timer, emits `key@ts/wm` and, for a timer
    /// before `chain_until`, registers another 5 ms later.
    #[derive(Clone, Default)]
    struct TimerProbe {
        chain_until: Timestamp,
    }

    impl KeyedProcessFunction<String, Vec<Cmd>> for TimerProbe {
        type Out = String;
        fn process_element(&mut self, cmds: Vec<Cmd>, ctx: &mut ProcessContext<'_, String, String>) {
            for cmd in cmds {
                match cmd {
                    Cmd::Register(ts) => ctx.register_event_time_timer(ts),
                    Cmd::Delete(ts) => ctx.delete_event_time_timer(ts),
                }
            }
        }
        fn on_timer(&mut self, ts: Timestamp, ctx: &mut ProcessContext<'_, String, String>) {
            assert_eq!(ctx.timestamp(), ts);
            let line = format!("{}@{ts}/wm{}", ctx.key(), ctx.current_watermark());
            ctx.collect(line);
            if ts < self.chain_until {
                ctx.register_event_time_timer(ts + 5);
            }
        }
    }

    type ProbeCollector = KeyedProcessCollector<String, Vec<Cmd>, TimerProbe, Log<String>>;

    fn probe(chain_until: Timestamp) -> (ProbeCollector, std::rc::Rc<std::cell::RefCell<Vec<Msg<String>>>>) {
        let (spec, _) = keyed_process(Ty::<(String, Vec<Cmd>)>::of(), TimerProbe { chain_until });
        let (log, out) = Log::new();
        let mut c = spec.into_collector(log);
        c.open(&TaskContext::detached()).unwrap();
        (c, out)
    }

    fn send(c: &mut ProbeCollector, key: &str, cmds: &[Cmd]) {
        c.record((key.to_owned(), cmds.to_vec()), 0);
    }

    fn r(line: &str, ts: Timestamp) -> Msg<String> {
        Msg::R(line.to_owned(), ts)
    }

    #[test]
    fn timers_fire_in_order_when_the_watermark_reaches_them_before_it_is_forwarded() {
        let (mut c, out) = probe(0);
        send(&mut c, "a", &[Cmd::Register(30), Cmd::Register(10)]);
        send(&mut c, "b", &[Cmd::Register(10), Cmd::Register(20)]);
        c.watermark(9);
        c.watermark(10);
        c.watermark(10);
        c.watermark(3);
        c.watermark(25);
        assert_eq!(c.timers().len(), 1);
        finish(&mut c);
        assert_eq!(
            *out.borrow(),
            [
                Msg::W(9),
                r("a@10/wm10", 10),
                r("b@10/wm10", 10),
                Msg::W(10),
                r("b@20/wm25", 20),
                Msg::W(25),
                r(&format!("a@30/wm{MAX_WATERMARK}"), 30),
                Msg::W(MAX_WATERMARK),
                Msg::End,
            ]
        );
    }

    #[test]
    fn timers_are_deduplicated_per_key_and_timestamp_and_can_be_deleted() {
        let (mut c, out) = probe(0);
        send(&mut c, "a", &[Cmd::Register(10), Cmd::Register(10), Cmd::Register(20)]);
        send(&mut c, "b", &[Cmd::Register(10), Cmd::Delete(10), Cmd::Register(15)]);
        send(&mut c, "a", &[Cmd::Delete(20), Cmd::Delete(99)]);
        send(&mut c, "c", &[Cmd::Register(10)]);
        c.watermark(50);
        // A timer behind the watermark fires at the next watermark that advances.
        send(&mut c, "a", &[Cmd::Register(40)]);
        assert_eq!(records(&out).len(), 3);
        c.watermark(51);
        finish(&mut c);
        let fired: Vec<String> = records(&out).into_iter().map(|(line, _)| line).collect();
        assert_eq!(fired, ["a@10/wm50", "c@10/wm50", "b@15/wm50", "a@40/wm51"]);
    }

    #[test]
    fn timers_registered_by_a_timer_fire_within_the_same_watermark_when_due() {
        let (mut c, out) = probe(20);
        send(&mut c, "k", &[Cmd::Register(0)]);
        c.watermark(12);
        let fired = |out: &std::rc::Rc<std::cell::RefCell<Vec<Msg<String>>>>| -> Vec<Timestamp> {
            records(out).into_iter().map(|(_, ts)| ts).collect()
        };
        assert_eq!(fired(&out), [0, 5, 10]);
        // At the end of input every remaining timer fires, including the ones it registers.
        finish(&mut c);
        assert_eq!(fired(&out), [0, 5, 10, 15, 20]);
        assert!(c.timers().is_empty());
    }

    /// Event: (user, amount, timestamp).
    type Ev = (String, i64, i64);

    /// A per-key sum emitted one second after the key's last event.
    #[derive(Clone, Default)]
    struct SessionSum {
        sum: ValueState<i64>,
        deadline: ValueState<i64>,
        amounts: ListState<i64>,
    }

    impl KeyedProcessFunction<String, Ev> for SessionSum {
        type Out = (String, i64, usize);
        fn open(&mut self, states: &mut StateRegistry) {
            self.sum = states.value("sum");
            self.deadline = states.value("deadline");
            self.amounts = states.list("amounts");
        }
        fn process_element(&mut self, ev: Ev, ctx: &mut ProcessContext<'_, String, Self::Out>) {
            ctx.value(self.sum).update_with(|| 0, |s| *s += ev.1);
            ctx.list(self.amounts).add(ev.1);
            if let Some(old) = ctx.value(self.deadline).get() {
                ctx.delete_event_time_timer(old);
            }
            let deadline = ctx.timestamp() + 1000;
            ctx.value(self.deadline).update(deadline);
            ctx.register_event_time_timer(deadline);
        }
        fn on_timer(&mut self, _ts: Timestamp, ctx: &mut ProcessContext<'_, String, Self::Out>) {
            let sum = ctx.value(self.sum).get().unwrap_or(0);
            let n = ctx.list(self.amounts).get().len();
            let key = ctx.key().clone();
            ctx.collect((key, sum, n));
            ctx.value(self.sum).clear();
            ctx.value(self.deadline).clear();
            ctx.list(self.amounts).clear();
        }
    }

    fn events() -> Vec<Ev> {
        [
            ("a", 1, 0),
            ("b", 10, 100),
            ("a", 2, 700),
            ("b", 20, 2000),
            ("a", 3, 2500),
        ]
        .into_iter()
        .chain([("a", 4, 2600), ("z", 0, 4200), ("a", 7, 5000), ("c", 5, 9000)])
        .map(|(k, v, ts)| (k.to_owned(), v, ts))
        .collect()
    }

    /// The sessions of [`events`] with a 500 ms out-of-orderness bound: a key's timer is
    /// pushed back by each of its events that arrives before the watermark reaches it.
    fn expected_sessions() -> Vec<((String, i64, usize), Timestamp)> {
        [
            ("b", 30, 2, 3000),
            ("a", 10, 4, 3600),
            ("z", 0, 1, 5200),
            ("a", 7, 1, 6000),
            ("c", 5, 1, 10_000),
        ]
        .into_iter()
        .map(|(k, s, n, ts)| ((k.to_owned(), s, n), ts))
        .collect()
    }

    #[test]
    fn a_session_sum_per_key_is_emitted_a_second_after_the_keys_last_event() {
        for backend in [StateBackendConfig::Heap, StateBackendConfig::in_memory_bytes()] {
            let ty = Ty::<Ev>::of();
            let (ts, ty) = timestamps(ty, |e: &Ev| e.2);
            let (wms, ty) = watermarks(ty, WatermarkStrategy::BoundedOutOfOrderness(500));
            let (kb, ty) = key_by(ty, |e: &Ev| e.0.clone());
            let (process, _) = keyed_process(ty, SessionSum::default());
            let (log, out) = Log::new();
            let process = process.with_state_backend(backend.clone()).with_operator_id("sessions");
            let mut c = ts.into_collector(wms.into_collector(kb.into_collector(process.into_collector(log))));
            c.open(&TaskContext::detached()).unwrap();
            for e in events() {
                c.record(e, crate::NO_TIMESTAMP);
            }
            finish(&mut c);
            assert_eq!(records(&out), expected_sessions(), "{backend:?}");
        }
    }

    #[test]
    fn state_ttl_uses_the_injected_clock() {
        /// Counts records per key in a value state that expires 100 ms after its last write.
        #[derive(Clone, Default)]
        struct Count(ValueState<u32>);
        impl KeyedProcessFunction<u8, ()> for Count {
            type Out = (u8, u32);
            fn open(&mut self, states: &mut StateRegistry) {
                self.0 = states.value_with_ttl("count", StateTtl::new(100));
            }
            fn process_element(&mut self, _: (), ctx: &mut ProcessContext<'_, u8, (u8, u32)>) {
                let n = ctx.value(self.0).update_with(
                    || 0,
                    |n| {
                        *n += 1;
                        *n
                    },
                );
                ctx.collect((*ctx.key(), n));
            }
        }
        let now = Arc::new(AtomicI64::new(1_000));
        let clock = Arc::clone(&now);
        let (spec, _) = keyed_process(Ty::<(u8, ())>::of(), Count::default());
        let (log, out) = Log::new();
        let mut c = spec
            .with_clock(move || clock.load(Ordering::Relaxed))
            .into_collector(log);
        c.open(&TaskContext::detached()).unwrap();
        for (key, at) in [(1, 1_000), (2, 1_050), (1, 1_099), (1, 1_198), (2, 1_150), (1, 1_299)] {
            now.store(at, Ordering::Relaxed);
            c.record((key, ()), 0);
        }
        let counts: Vec<(u8, u32)> = records(&out).into_iter().map(|(r, _)| r).collect();
        // Key 2's count expired at 1_150 (written at 1_050); key 1's lives on while written
        // within 100 ms, and expires at 1_299 (written at 1_198 + 100 = 1_298 ≤ 1_299).
        assert_eq!(counts, [(1, 1), (2, 1), (1, 2), (1, 3), (2, 1), (1, 1)]);
    }

    #[test]
    fn outputs_carry_the_record_timestamp_unless_given_one() {
        #[derive(Clone)]
        struct Echo;
        impl KeyedProcessFunction<u8, i64> for Echo {
            type Out = i64;
            fn process_element(&mut self, v: i64, ctx: &mut ProcessContext<'_, u8, i64>) {
                ctx.collect(v);
                ctx.collect_with_timestamp(-v, v * 10);
            }
        }
        let (spec, _) = keyed_process(Ty::<(u8, i64)>::of(), Echo);
        let (log, out) = Log::new();
        // Driven without `open`: the state opens at the first record.
        let mut c = spec.clone().with_max_parallelism(4).into_collector(log);
        c.record((0, 3), 7);
        assert!(c.state_store().is_some_and(|s| s.max_parallelism() == 4));
        assert_eq!(records(&out), [(3, 7), (-3, 30)]);
    }

    fn run_sessions_job(parallelism: usize) -> Vec<(String, i64, usize)> {
        let out = Collected::new();
        let handle = out.clone();
        let job = Job::build(JobSpec::default(), move |env| {
            let src = source::from_iter(events());
            let (ts, ty) = timestamps(src.ty(), |e: &Ev| e.2);
            let (wms, ty) = watermarks(ty, WatermarkStrategy::BoundedOutOfOrderness(500));
            let (kb, ty) = key_by(ty, |e: &Ev| e.0.clone());
            let (process, out_ty) = keyed_process(ty, SessionSum::default());
            let process = process.with_max_parallelism(128);
            let sink = sink::collect(out_ty, &handle);
            let mut link = env.connect(crate::exchange::by_key_group(ty, 128), false, move |_| {
                clone_for_worker(&process).into_collector(sink.clone())
            });
            env.add_source(
                "events",
                src,
                ts.into_collector(wms.into_collector(kb.into_collector(link.output()))),
            );
        })
        .with_parallelism(parallelism);
        let summary = job.run().unwrap();
        assert_eq!((summary.records_in, summary.records_out), (9, 5));
        let mut got = out.take();
        got.sort();
        got
    }

    #[test]
    fn a_job_with_a_keyed_process_gives_the_same_sessions_at_any_parallelism() {
        let mut expected: Vec<_> = expected_sessions().into_iter().map(|(r, _)| r).collect();
        expected.sort();
        for parallelism in [1, 2, 4] {
            assert_eq!(run_sessions_job(parallelism), expected, "parallelism {parallelism}");
        }
    }

    #[test]
    fn a_job_built_with_add_source_runs_a_keyed_process() {
        let out = Collected::new();
        let src = source::from_iter(events());
        let (ts, ty) = timestamps(src.ty(), |e: &Ev| e.2);
        let (wms, ty) = watermarks(ty, WatermarkStrategy::BoundedOutOfOrderness(500));
        let (kb, ty) = key_by(ty, |e: &Ev| e.0.clone());
        let (process, out_ty) = keyed_process(ty, SessionSum::default());
        let head = ts
            .into_collector(wms.into_collector(kb.into_collector(process.into_collector(sink::collect(out_ty, &out)))));
        let mut job = Job::new(JobSpec::default());
        job.add_source("events", src, head);
        job.run().unwrap();
        let expected: Vec<_> = expected_sessions().into_iter().map(|(r, _)| r).collect();
        assert_eq!(out.take(), expected);
    }
}
