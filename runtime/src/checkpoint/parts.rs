//! Exactly-once file output: part files that become visible only when the checkpoint that
//! covers them completes (Flink's `FileSink` contract).
//!
//! With checkpoints on, a file sink's path is a directory. Each parallel instance of the sink
//! writes `.part-<subtask>.inprogress`; at barrier `n` it flushes and syncs that file and
//! renames it to `.part-<n>-<subtask>.<ext>.pending` (the pre-commit). When checkpoint `n`
//! completes, the coordinator renames it to `part-<n>-<subtask>.<ext>`: the committed output
//! is every `part-*` file, in name order. A restored job deletes the pending and in-progress
//! files and the parts of checkpoints after the one it restored, so nothing is duplicated.

use super::Coordinator;
use crate::JobError;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a file name in a sink's directory is, to the sink.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PartName {
    /// A published part of checkpoint `n`.
    Visible(u64),
    /// A pending or in-progress part.
    Unpublished,
}

/// Classifies a file name of a sink directory; `None` for files that are not parts.
pub(crate) fn parse_part_name(name: &str) -> Option<PartName> {
    if name.starts_with(".part-") && (name.ends_with(".pending") || name.ends_with(".inprogress")) {
        return Some(PartName::Unpublished);
    }
    let rest = name.strip_prefix("part-")?;
    let (id, _) = rest.split_once('-')?;
    id.parse().ok().map(PartName::Visible)
}

/// One sink instance's part files.
#[derive(Debug)]
pub(crate) struct PartWriter {
    coordinator: Arc<Coordinator>,
    dir: PathBuf,
    subtask: usize,
    ext: String,
    file: Option<File>,
}

impl PartWriter {
    /// Prepares `dir` (see [`Coordinator::prepare_part_dir`]) for instance `subtask`, whose
    /// parts end in `.ext`.
    pub(crate) fn open(coordinator: Arc<Coordinator>, dir: &Path, subtask: usize, ext: &str) -> Result<Self, JobError> {
        coordinator.prepare_part_dir(dir)?;
        Ok(PartWriter {
            coordinator,
            dir: dir.to_path_buf(),
            subtask,
            ext: ext.to_owned(),
            file: None,
        })
    }

    fn in_progress(&self) -> PathBuf {
        self.dir.join(format!(".part-{}.inprogress", self.subtask))
    }

    /// Appends bytes to the current part, starting it with `header` if it is new.
    pub(crate) fn append(&mut self, header: &[u8], bytes: &[u8]) -> std::io::Result<()> {
        if self.file.is_none() {
            let mut f = File::create(self.in_progress())?;
            f.write_all(header)?;
            self.file = Some(f);
        }
        self.file.as_mut().expect("opened").write_all(bytes)
    }

    /// Pre-commits the current part for checkpoint `id` (or the final checkpoint): syncs it
    /// and renames it to its pending name. A part with no rows is not published.
    pub(crate) fn precommit(&mut self, id: Option<u64>) -> Result<(), JobError> {
        let Some(f) = self.file.take() else { return Ok(()) };
        let from = self.in_progress();
        f.sync_all()
            .map_err(|e| JobError::io("cannot write output", from.display(), e))?;
        drop(f);
        let n = id.unwrap_or_else(|| self.coordinator.final_id());
        let pending = self
            .dir
            .join(format!(".part-{n:08}-{}.{}.pending", self.subtask, self.ext));
        let visible = self.dir.join(format!("part-{n:08}-{}.{}", self.subtask, self.ext));
        std::fs::rename(&from, &pending).map_err(|e| JobError::io("cannot pre-commit output", from.display(), e))?;
        match id {
            Some(id) => self.coordinator.precommit(id, pending, visible),
            None => self.coordinator.precommit_final(pending, visible),
        }
        Ok(())
    }

    /// The directory written.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_are_classified() {
        assert_eq!(parse_part_name("part-00000012-1.csv"), Some(PartName::Visible(12)));
        assert_eq!(
            parse_part_name(".part-00000012-1.csv.pending"),
            Some(PartName::Unpublished)
        );
        assert_eq!(parse_part_name(".part-0.inprogress"), Some(PartName::Unpublished));
        assert_eq!(parse_part_name("notes.txt"), None);
        assert_eq!(parse_part_name("part-x-1.csv"), None);
    }
}
