//! Declaring keyed state: the [`StateRegistry`] an operator's function fills in its `open`
//! hook, the typed handles it gets back ([`ValueState`], [`MapState`], [`ListState`]), and the
//! time-to-live setting ([`StateTtl`]).
//!
//! A handle is a small `Copy` token (the state's index and its type); it reaches the current
//! key's data only through a [`KeyedState`](super::KeyedState) scope, so a function cannot
//! read another key's state by mistake.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::hash::Hash;
use std::marker::PhantomData;

/// What keyed state can hold: any value that can be cloned, sent to a worker and written to
/// a checkpoint.
///
/// `Serialize + DeserializeOwned` is required whichever backend runs the job, so choosing the
/// backend stays a job setting, never a code change (the in-memory backend encodes only when
/// it snapshots; RocksDB on every access).
pub trait StateValue: Serialize + DeserializeOwned + Clone + Send + 'static {}

impl<T: Serialize + DeserializeOwned + Clone + Send + 'static> StateValue for T {}

/// What a keyed operator's key must be: a [`StateValue`] that can be hashed (into key groups
/// and in-memory tables).
pub trait StateKey: StateValue + Hash + Eq {}

impl<T: StateValue + Hash + Eq> StateKey for T {}

/// When the age of a state entry restarts (Flink's `StateTtlConfig.UpdateType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TtlUpdate {
    /// On creation and on every write (`update`, `put`, `add`): the default.
    #[default]
    OnCreateAndWrite,
    /// On every write and every read that returns the entry.
    OnReadAndWrite,
}

/// A time-to-live for the entries of a state (Flink's `StateTtlConfig`, processing time).
///
/// An entry written at `t` (by the operator's processing-time clock, in ms) expires when the
/// clock reads `t + ttl` or later. An expired entry is never returned (Flink's
/// `NeverReturnExpired`): reads treat it as absent and remove it. A map state's entries and a
/// list state's elements expire one by one.
///
/// ```
/// use fuseflow_runtime::state::{StateTtl, TtlUpdate};
/// let ttl = StateTtl::new(60_000).update_on_read();
/// assert_eq!(ttl.update, TtlUpdate::OnReadAndWrite);
/// assert!(!ttl.expired(1_000, 60_999));
/// assert!(ttl.expired(1_000, 61_000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateTtl {
    /// How long an entry lives after its last update, in milliseconds (> 0).
    pub ttl_ms: i64,
    /// What counts as an update.
    pub update: TtlUpdate,
}

impl StateTtl {
    /// Entries live `ttl_ms` after their creation or last write.
    ///
    /// # Panics
    ///
    /// If `ttl_ms <= 0`.
    pub fn new(ttl_ms: i64) -> Self {
        assert!(ttl_ms > 0, "a state time-to-live must be positive, got {ttl_ms} ms");
        StateTtl {
            ttl_ms,
            update: TtlUpdate::OnCreateAndWrite,
        }
    }

    /// Reads refresh an entry's age too.
    pub fn update_on_read(self) -> Self {
        StateTtl {
            update: TtlUpdate::OnReadAndWrite,
            ..self
        }
    }

    /// Whether an entry last updated at `updated` has expired at time `now`.
    #[inline]
    pub fn expired(&self, updated: i64, now: i64) -> bool {
        updated.saturating_add(self.ttl_ms) <= now
    }
}

/// The kind of a declared state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateKind {
    Value,
    Map,
    List,
}

impl StateKind {
    fn describe(self) -> &'static str {
        match self {
            StateKind::Value => "value",
            StateKind::Map => "map",
            StateKind::List => "list",
        }
    }
}

/// One declared state.
#[derive(Debug, Clone)]
pub(crate) struct Decl {
    pub(crate) name: String,
    pub(crate) kind: StateKind,
    pub(crate) ttl: Option<StateTtl>,
}

impl Decl {
    /// `name:kind`, for a checkpoint's state schema.
    pub(crate) fn describe(&self) -> String {
        format!("{}:{}", self.name, self.kind.describe())
    }
}

/// The states an operator declares up front, in its function's `open` hook (Flink's
/// `getRuntimeContext().getState(descriptor)`; Arroyo's declared tables).
///
/// Each state has a name, unique in the operator: checkpoints will identify state by
/// operator id and state name, so renaming a state loses it on restore.
///
/// ```
/// use fuseflow_runtime::state::{StateRegistry, StateTtl, ValueState, MapState};
/// let mut states = StateRegistry::new();
/// let count: ValueState<u64> = states.value("count");
/// let seen: MapState<String, i64> = states.map_with_ttl("seen", StateTtl::new(3_600_000));
/// assert_eq!(states.names().collect::<Vec<_>>(), ["count", "seen"]);
/// # let _ = (count, seen);
/// ```
#[derive(Debug, Clone, Default)]
pub struct StateRegistry {
    pub(crate) decls: Vec<Decl>,
}

impl StateRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        StateRegistry::default()
    }

    /// The declared states' names, in declaration order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.decls.iter().map(|d| d.name.as_str())
    }

    fn declare(&mut self, name: &str, kind: StateKind, ttl: Option<StateTtl>) -> u32 {
        assert!(
            !self.decls.iter().any(|d| d.name == name),
            "keyed state `{name}` is declared twice; state names must be unique in an operator"
        );
        self.decls.push(Decl {
            name: name.to_owned(),
            kind,
            ttl,
        });
        (self.decls.len() - 1) as u32
    }

    /// Declares a value state: one `V` per key.
    pub fn value<V: StateValue>(&mut self, name: &str) -> ValueState<V> {
        ValueState::at(self.declare(name, StateKind::Value, None))
    }

    /// Declares a value state whose value expires `ttl` after its last update.
    pub fn value_with_ttl<V: StateValue>(&mut self, name: &str, ttl: StateTtl) -> ValueState<V> {
        ValueState::at(self.declare(name, StateKind::Value, Some(ttl)))
    }

    /// Declares a map state: a map from `UK` to `UV` per key.
    pub fn map<UK: StateValue + Ord, UV: StateValue>(&mut self, name: &str) -> MapState<UK, UV> {
        MapState::at(self.declare(name, StateKind::Map, None))
    }

    /// Declares a map state whose entries each expire `ttl` after their last update.
    pub fn map_with_ttl<UK: StateValue + Ord, UV: StateValue>(
        &mut self,
        name: &str,
        ttl: StateTtl,
    ) -> MapState<UK, UV> {
        MapState::at(self.declare(name, StateKind::Map, Some(ttl)))
    }

    /// Declares a list state: a list of `V` per key.
    pub fn list<V: StateValue>(&mut self, name: &str) -> ListState<V> {
        ListState::at(self.declare(name, StateKind::List, None))
    }

    /// Declares a list state whose elements each expire `ttl` after they were added.
    pub fn list_with_ttl<V: StateValue>(&mut self, name: &str, ttl: StateTtl) -> ListState<V> {
        ListState::at(self.declare(name, StateKind::List, Some(ttl)))
    }
}

/// Checks that handle `id` of kind `kind` was declared, and returns its declaration.
pub(crate) fn lookup(decls: &[Decl], id: u32, kind: StateKind) -> &Decl {
    let Some(decl) = decls.get(id as usize) else {
        panic!(
            "a {} state handle was used before it was declared: declare keyed state in `open`",
            kind.describe()
        )
    };
    assert!(
        decl.kind == kind,
        "keyed state `{}` is a {} state, used as a {} state",
        decl.name,
        decl.kind.describe(),
        kind.describe()
    );
    decl
}

macro_rules! handle {
    ($(#[$doc:meta])* $name:ident<$($p:ident),+>) => {
        $(#[$doc])*
        ///
        /// `Default` gives an undeclared handle, to put in a function's struct until `open`
        /// declares the state; using it before then panics.
        pub struct $name<$($p),+> {
            pub(crate) id: u32,
            _ty: PhantomData<fn() -> ($($p,)+)>,
        }

        impl<$($p),+> $name<$($p),+> {
            fn at(id: u32) -> Self {
                $name { id, _ty: PhantomData }
            }
        }

        impl<$($p),+> Default for $name<$($p),+> {
            fn default() -> Self {
                $name::at(u32::MAX)
            }
        }

        impl<$($p),+> Clone for $name<$($p),+> {
            fn clone(&self) -> Self {
                *self
            }
        }

        impl<$($p),+> Copy for $name<$($p),+> {}

        impl<$($p),+> std::fmt::Debug for $name<$($p),+> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}#{}", stringify!($name), self.id)
            }
        }
    };
}

handle!(
    /// A declared value state (Flink's `ValueState<V>`): at most one `V` per key. Read and
    /// write it with [`KeyedState::value`](super::KeyedState::value).
    ValueState<V>
);
handle!(
    /// A declared map state (Flink's `MapState<UK, UV>`): a map per key, iterated in
    /// ascending order of `UK`. Use it with [`KeyedState::map`](super::KeyedState::map).
    MapState<UK, UV>
);
handle!(
    /// A declared list state (Flink's `ListState<V>`): a list per key, in insertion order.
    /// Use it with [`KeyedState::list`](super::KeyedState::list).
    ListState<V>
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_index_declarations_and_check_their_kind() {
        let mut r = StateRegistry::new();
        let v: ValueState<u32> = r.value("v");
        let l: ListState<u32> = r.list_with_ttl("l", StateTtl::new(5));
        assert_eq!((v.id, l.id), (0, 1));
        assert_eq!(lookup(&r.decls, 1, StateKind::List).ttl, Some(StateTtl::new(5)));
        assert_eq!(
            format!("{:?}", ValueState::<u8>::default()),
            format!("ValueState#{}", u32::MAX)
        );
        let wrong = std::panic::catch_unwind(|| lookup(&r.decls, 0, StateKind::Map).name.clone());
        assert!(wrong.is_err());
    }

    #[test]
    #[should_panic(expected = "declared twice")]
    fn duplicate_names_are_refused() {
        let mut r = StateRegistry::new();
        let _: ValueState<u32> = r.value("x");
        let _: ListState<u32> = r.list("x");
    }

    #[test]
    #[should_panic(expected = "must be positive")]
    fn a_zero_ttl_is_refused() {
        StateTtl::new(0);
    }
}
