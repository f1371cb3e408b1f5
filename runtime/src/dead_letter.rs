//! The dead-letter output: where malformed input records go instead of stopping the job.
//!
//! Each dead letter is one JSON line naming the source, the line number, the raw text and the
//! reason, so it can be inspected, fixed and replayed. The target is a job setting
//! (`dead_letter: "stderr"` or a file path).

use crate::job::JobError;
use serde::Serialize;
use std::fs::File;
use std::io::{BufWriter, Write};

/// Where dead letters are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadLetterTarget {
    /// Standard error (the default).
    Stderr,
    /// A JSON-lines file, created or truncated when the job starts.
    File(String),
}

impl DeadLetterTarget {
    /// Parses the `dead_letter` job setting: `"stderr"` or a path.
    pub fn parse(s: &str) -> Self {
        if s == "stderr" {
            DeadLetterTarget::Stderr
        } else {
            DeadLetterTarget::File(s.to_owned())
        }
    }
}

/// One malformed record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    /// The name of the source in the pipeline.
    pub source: String,
    /// The file it came from, if any.
    pub file: Option<String>,
    /// 1-based line number in that file (or record number for other sources).
    pub line: u64,
    /// The raw text of the record.
    pub raw: String,
    /// Why it was rejected.
    pub reason: String,
}

/// An open dead-letter output.
#[derive(Debug)]
pub enum DeadLetterOutput {
    /// Writes to standard error.
    Stderr,
    /// Writes to a file.
    File(String, BufWriter<File>),
}

impl DeadLetterOutput {
    /// Opens the target.
    pub fn open(target: &DeadLetterTarget) -> Result<Self, JobError> {
        match target {
            DeadLetterTarget::Stderr => Ok(DeadLetterOutput::Stderr),
            DeadLetterTarget::File(path) => {
                if let Some(dir) = std::path::Path::new(path).parent()
                    && !dir.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| JobError::io("cannot create directory for dead letters", dir.display(), e))?;
                }
                let f = File::create(path).map_err(|e| JobError::io("cannot create dead-letter file", path, e))?;
                Ok(DeadLetterOutput::File(path.clone(), BufWriter::new(f)))
            }
        }
    }

    /// Where it writes, for messages.
    pub fn describe(&self) -> String {
        match self {
            DeadLetterOutput::Stderr => "stderr".into(),
            DeadLetterOutput::File(p, _) => p.clone(),
        }
    }

    /// Appends one dead letter as a JSON line.
    pub fn write(&mut self, letter: &DeadLetter) -> std::io::Result<()> {
        let line = serde_json::to_string(letter).map_err(std::io::Error::other)?;
        match self {
            DeadLetterOutput::Stderr => writeln!(std::io::stderr().lock(), "dead letter: {line}"),
            DeadLetterOutput::File(_, w) => writeln!(w, "{line}"),
        }
    }

    /// Flushes buffered output.
    pub fn flush(&mut self) -> std::io::Result<()> {
        match self {
            DeadLetterOutput::Stderr => Ok(()),
            DeadLetterOutput::File(_, w) => w.flush(),
        }
    }
}
