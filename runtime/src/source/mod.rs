//! Sources: where records enter a job.
//!
//! A [`Source`] drives the fused chain behind it: it reads or generates records, pushes each
//! into the chain's head, and at the end of a bounded input sends the final `+∞` watermark and
//! the end-of-input message, so every window fires. Malformed records from file sources go to
//! the dead-letter output with their line number, raw text and reason, never stop the job.

mod csv;
mod from_iter;
mod generate;
mod json_lines;
mod paths;
mod stdin;

pub use self::csv::{CsvSource, csv};
pub use from_iter::{FromIter, from_iter};
pub use generate::{Generate, generate};
pub use json_lines::{JsonLinesSource, json_lines};
pub use paths::InputPaths;
pub use stdin::{StdinLines, stdin_lines};

use crate::{Collector, JobError, TaskContext, Ty};

/// A source of records of type [`Source::Item`].
pub trait Source {
    /// The type of the records it produces.
    type Item;

    /// Pushes every record into `out`, then `out.watermark(MAX_WATERMARK)` and `out.end()`.
    ///
    /// `name` is the source's name in the pipeline (used in dead letters); counts go to
    /// `ctx.counters().records_in`. Returns an error only when the input cannot be read at
    /// all (a missing file); malformed records are dead-lettered.
    fn run<C: Collector<Self::Item>>(self, name: &'static str, out: &mut C, ctx: &TaskContext) -> Result<(), JobError>;

    /// The witness of the item type, to type the operators after this source.
    fn ty(&self) -> Ty<Self::Item> {
        Ty::of()
    }
}
