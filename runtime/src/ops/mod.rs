//! Stateless and keyed operators, one file each, and the typed constructors generated code
//! calls.
//!
//! Every operator comes in two steps, which is what lets `pipeline!` type-check user closures
//! at the operator that wrote them and still build the fused chain from the sink backwards:
//!
//! 1. a constructor such as [`map`] takes the input's [`Ty`](crate::Ty) witness and the user's
//!    closure, pins the closure's signature, and returns the operator *spec* with the output
//!    witness;
//! 2. the spec's `into_collector(next)` wraps the successor and yields the
//!    [`Collector`](crate::Collector) that runs in the chain.

mod event_time;
mod filter;
mod filter_map;
mod flat_map;
mod inspect;
mod key_by;
mod keyed_process;
mod keyed_reduce;
mod map;
mod metered;
mod try_map;
mod unkey;

pub use event_time::{Timestamps, WatermarkStrategy, Watermarks, timestamps, watermarks};
pub use filter::{Filter, filter};
pub use filter_map::{FilterMap, filter_map};
pub use flat_map::{FlatMap, flat_map};
pub use inspect::{Inspect, inspect};
pub use key_by::{KeyBy, key_by};
pub use keyed_process::{KeyedProcess, KeyedProcessCollector, KeyedProcessFunction, ProcessContext, keyed_process};
pub use keyed_reduce::{KeyedReduce, keyed_reduce};
pub use map::{Map, map};
pub use metered::{Metered, metered};
pub use try_map::{DeadLettering, Fallible, Infallible, TryMap, map_or_dead_letter, try_map, try_map_or_dead_letter};
pub use unkey::{Unkey, unkey, unkeyed};

/// Implements the control-message half of [`Collector`](crate::Collector) by forwarding to
/// `self.next`.
macro_rules! forward_control {
    () => {
        fn open(&mut self, ctx: &$crate::TaskContext) -> Result<(), $crate::JobError> {
            self.next.open(ctx)
        }
        #[inline]
        fn watermark(&mut self, wm: $crate::Timestamp) {
            self.next.watermark(wm)
        }
        fn checkpoint(&mut self, barrier: $crate::checkpoint::Barrier) {
            self.next.checkpoint(barrier)
        }
        fn flush(&mut self) {
            self.next.flush()
        }
        fn end(&mut self) {
            self.next.end()
        }
    };
}
pub(crate) use forward_control;
