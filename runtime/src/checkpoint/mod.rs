//! Checkpoints: aligned barriers, operator snapshots, manifests, exactly-once commits and
//! restore (Flink's checkpointing, DESIGN.md §4).
//!
//! The life of checkpoint `n`, in the order things happen:
//!
//! 1. **Trigger.** The source decides it is time (every N records or every interval, the
//!    job's [`CheckpointConfig`]), records its position (generator index, items consumed,
//!    file and byte offset) and sends a [`Barrier`] `n` into its chain, in-band with the
//!    records ([`SourceCheckpoints`]).
//! 2. **Snapshot.** Each stateful operator the barrier reaches writes its state into the
//!    checkpoint's directory ([`Checkpointed`], [`Stateful`]) and forwards the barrier. At an
//!    exchange the barrier goes to every worker; a worker fed by several producers *aligns*:
//!    it holds back the records of producers whose barrier has arrived until every
//!    producer's has, so its snapshot contains exactly the records before the barrier.
//! 3. **Pre-commit.** File sinks close the part file they were writing and rename it to a
//!    pending name; the coordinator notes the rename that will publish it.
//! 4. **Complete.** Each task (the source's, and every worker) acknowledges the barrier once
//!    it has passed its whole chain. With the last acknowledgement the coordinator writes the
//!    checkpoint's manifest (positions, state files with sizes and CRC-32 checksums, each
//!    operator's state schema and its fingerprint) atomically, which makes the checkpoint
//!    complete; then it publishes the pending part files by atomic renames (Flink's
//!    `FileSink` contract) and deletes all but the newest [`CheckpointConfig::retained`]
//!    checkpoints.
//!
//! At the end of a bounded input the sinks pre-commit what they wrote last and the job
//! completes a *final* checkpoint that publishes it. A job started with a [`RestoreFrom`]
//! finds the checkpoint (for `latest`, the newest whose files all pass their checksums,
//! falling back and saying so), refuses it if an operator's state schema differs, publishes
//! the part files it covers (again: renames are idempotent), deletes the output that it does
//! not cover, hands each operator its state and each source its position, and goes on. The
//! committed output is then exactly that of a run that never stopped.
//!
//! A checkpoint lives in `<dir>/chk-<n>/`: one `<operator>-<subtask>.state` file per
//! stateful operator instance (postcard bytes) and `_manifest.json`, written last.

mod coordinator;
mod manifest;
mod parts;
mod source;
mod stateful;

#[cfg(feature = "kafka")]
pub(crate) use coordinator::latest_position;
pub use coordinator::{CheckpointListener, Coordinator};
pub use manifest::{Manifest, OperatorState, StateFile};
pub(crate) use parts::PartWriter;
pub use source::SourceCheckpoints;
pub use stateful::{Checkpointed, Parts, Stateful, checkpointed, decode, encode, key_group_of};
pub(crate) use stateful::{own_part, warn_heap_state};

use std::path::PathBuf;
use std::time::Duration;

/// A checkpoint barrier: travels in-band from the sources through every operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Barrier {
    /// The checkpoint's number, increasing from 1 over the job's whole history (a restored
    /// job goes on from the checkpoint it restored).
    pub id: u64,
}

/// When and where a job takes checkpoints (the `checkpoint_*` job settings, and the
/// `--checkpoint-dir` flag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointConfig {
    /// The directory holding the `chk-<n>` checkpoints.
    pub dir: PathBuf,
    /// Take a checkpoint every this many records read by the source (deterministic: the
    /// same records fall between the same checkpoints on every run).
    pub every_records: Option<u64>,
    /// Take a checkpoint when this much time has passed since the previous one.
    pub interval: Option<Duration>,
    /// How many complete checkpoints to keep (at least 1).
    pub retained: usize,
}

impl CheckpointConfig {
    /// Checkpoints in `dir` every `every_records` records, keeping the last 3.
    pub fn every_records(dir: impl Into<PathBuf>, every_records: u64) -> Self {
        CheckpointConfig {
            dir: dir.into(),
            every_records: Some(every_records.max(1)),
            interval: None,
            retained: 3,
        }
    }

    /// Checkpoints in `dir` every `interval`, keeping the last 3.
    pub fn every(dir: impl Into<PathBuf>, interval: Duration) -> Self {
        CheckpointConfig {
            dir: dir.into(),
            every_records: None,
            interval: Some(interval),
            retained: 3,
        }
    }
}

/// Which checkpoint a job restores from (`--restore latest|<n>|<path>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreFrom {
    /// The newest complete checkpoint in the checkpoint directory whose files are intact,
    /// falling back to older ones; a fresh start if there is none.
    Latest,
    /// Checkpoint `n` of the checkpoint directory.
    Id(u64),
    /// The checkpoint in this `chk-<n>` directory.
    Path(PathBuf),
}

impl std::str::FromStr for RestoreFrom {
    type Err = String;

    /// `latest`, a checkpoint number, or the path of a `chk-<n>` directory.
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "latest" {
            Ok(RestoreFrom::Latest)
        } else if let Ok(n) = s.parse::<u64>() {
            Ok(RestoreFrom::Id(n))
        } else if s.is_empty() {
            Err("expected `latest`, a checkpoint number or a checkpoint directory".into())
        } else {
            Ok(RestoreFrom::Path(PathBuf::from(s)))
        }
    }
}
