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
pub use crate::kafka::source::{KafkaSource, kafka};
pub use from_iter::{FromIter, from_iter};
pub use generate::{Generate, generate};
pub use json_lines::{JsonLinesSource, json_lines};
pub use paths::InputPaths;
pub use stdin::{StdinLines, stdin_lines};

use crate::{Collector, JobError, TaskContext, Ty};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where a file source resumes after a restore: the file (by its index in the sorted list
/// of inputs, and its path, to notice a changed input) and the byte offset and line number
/// of the next record in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePosition {
    /// Index of the file among the source's inputs.
    pub file_index: usize,
    /// The file's path.
    pub file: String,
    /// Byte offset of the next record.
    pub byte: u64,
    /// Number of lines before the next record.
    pub line: u64,
    /// Records (good or malformed) before the next record.
    pub record: u64,
}

impl FilePosition {
    /// The position after the last of `files`.
    pub(crate) fn end_of(files: &[PathBuf]) -> FilePosition {
        FilePosition {
            file_index: files.len(),
            file: String::new(),
            byte: 0,
            line: 0,
            record: 0,
        }
    }

    /// The restored position of a file source over `files`, checked against them.
    pub(crate) fn restored(
        cps: &crate::checkpoint::SourceCheckpoints,
        files: &[PathBuf],
    ) -> Result<Option<FilePosition>, JobError> {
        let Some(pos) = cps.restored::<FilePosition>()? else {
            return Ok(None);
        };
        match files.get(pos.file_index) {
            Some(f) if f.display().to_string() == pos.file => Ok(Some(pos)),
            // The end of the input (a checkpoint taken at the end of input): nothing to read.
            None if pos.file_index == files.len() && pos.file.is_empty() => Ok(Some(pos)),
            _ => Err(JobError::Other(format!(
                "the checkpoint resumes reading `{}` (input file {} of the source), but the source's inputs are now {}: \
                 restore with the same inputs",
                pos.file,
                pos.file_index + 1,
                files
                    .iter()
                    .map(|f| format!("`{}`", f.display()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

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

    /// The paths a file source reads, so that a job can read other files instead
    /// (`--input name=path`); `None` (the default) for sources that read no files.
    fn input_paths_mut(&mut self) -> Option<&mut InputPaths> {
        None
    }

    /// Where a Kafka source reads (brokers, group, topics), for a job that scales out
    /// through Kafka; `None` (the default) for every other source.
    fn kafka_endpoint(&self) -> Option<crate::scale_out::KafkaEndpoint> {
        None
    }
}

/// A source that can run as several instances, each reading its own share of the input
/// ([`Env::add_parallel_source`](crate::Env::add_parallel_source), the DSL's `.parallel()`).
///
/// Its [`Source::run`] reads the share [`TaskContext::source_instance`] names, or the whole
/// input when that is `None`. The shares of all instances are the whole input, each record
/// in exactly one share.
pub trait SplitSource: Source {}

/// Records a file source publishes to the job's counters at once.
const PUBLISH_EVERY: u64 = 4096;

/// Counts what a file source reads and adds it to the job's counters every
/// [`PUBLISH_EVERY`] records and when dropped, so a progress bar or the metrics endpoint sees
/// a running job move without a shared write per record.
pub(crate) struct Progress<'c> {
    ctx: &'c TaskContext,
    records: u64,
    bytes: u64,
}

impl<'c> Progress<'c> {
    /// Adds the sizes of `files` to the job's total input bytes and starts counting.
    pub(crate) fn start(ctx: &'c TaskContext, files: &[PathBuf]) -> Self {
        let total: u64 = files
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum();
        TaskContext::add(&ctx.counters().input_bytes_total, total);
        Progress {
            ctx,
            records: 0,
            bytes: 0,
        }
    }

    /// Counts one record that took `bytes` bytes of input.
    #[inline]
    pub(crate) fn record(&mut self, bytes: u64) {
        self.records += 1;
        self.bytes += bytes;
        if self.records >= PUBLISH_EVERY {
            self.publish();
        }
    }

    /// Counts input bytes that hold no record (a header, blank lines).
    #[inline]
    pub(crate) fn skipped(&mut self, bytes: u64) {
        self.bytes += bytes;
    }

    fn publish(&mut self) {
        let c = self.ctx.counters();
        TaskContext::add(&c.records_in, std::mem::take(&mut self.records));
        TaskContext::add(&c.input_bytes, std::mem::take(&mut self.bytes));
    }
}

impl Drop for Progress<'_> {
    fn drop(&mut self) {
        self.publish();
    }
}
