//! The manifest of a checkpoint: what it contains and how to check it is whole.
//!
//! `_manifest.json` is written last, atomically (a temporary file, `fsync`, rename), so a
//! checkpoint directory without one is an incomplete checkpoint, ignored and deleted. It
//! lists every state file with its size and CRC-32, so a truncated or damaged file is
//! found before any of it is used, and every operator's state schema (the Rust types of its
//! state) with a fingerprint, so a job whose types changed is refused with the difference.

use crate::JobError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The manifest's file name inside a `chk-<n>` directory.
pub const MANIFEST: &str = "_manifest.json";

/// The format version written in manifests; a manifest of another version is refused.
pub const FORMAT_VERSION: u32 = 1;

/// What a complete checkpoint holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// `FORMAT_VERSION`.
    pub format: u32,
    /// The job's name.
    pub job: String,
    /// The checkpoint's number.
    pub id: u64,
    /// Whether the job had finished its input (the final checkpoint: nothing to resume).
    #[serde(rename = "final")]
    pub is_final: bool,
    /// Number of key groups: keyed state is addressed by key group, so it must not change.
    pub max_parallelism: usize,
    /// Worker threads when the checkpoint was taken (keyed state may restore on another).
    pub parallelism: usize,
    /// Milliseconds since the Unix epoch when it completed.
    pub completed_at_ms: u64,
    /// Milliseconds from the trigger to completion.
    pub duration_ms: u64,
    /// Each source's position, by source name.
    pub sources: BTreeMap<String, serde_json::Value>,
    /// Each stateful operator's state, by operator id.
    pub operators: BTreeMap<String, OperatorState>,
    /// Part files this checkpoint publishes: `(pending, visible)` paths.
    pub commits: Vec<(PathBuf, PathBuf)>,
}

/// The state of one stateful operator in a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorState {
    /// The Rust types of the state, e.g. `event_time_window(size=10000ms) key=alloc::string::String acc=u64`.
    pub schema: String,
    /// A 64-bit FNV-1a hash of `schema`, in hex.
    pub fingerprint: String,
    /// One file per parallel instance.
    pub files: Vec<StateFile>,
}

/// One state file of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateFile {
    /// File name inside the checkpoint directory.
    pub name: String,
    /// The parallel instance that wrote it.
    pub subtask: usize,
    /// Size in bytes.
    pub bytes: u64,
    /// CRC-32 (IEEE) of the contents.
    pub crc32: u32,
}

/// The fingerprint of a state schema: FNV-1a 64 of its text, in hex.
pub fn fingerprint(schema: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in schema.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// `chk-<n>`.
pub(crate) fn dir_name(id: u64) -> String {
    format!("chk-{id}")
}

/// The number of a `chk-<n>` directory name.
pub(crate) fn parse_dir_name(name: &str) -> Option<u64> {
    name.strip_prefix("chk-")?.parse().ok()
}

/// The checkpoint numbers under `dir` (complete or not), newest first.
pub(crate) fn list(dir: &Path) -> Vec<u64> {
    let mut ids: Vec<u64> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| parse_dir_name(&e.file_name().to_string_lossy()))
        .collect();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids
}

impl Manifest {
    /// Reads the manifest of the checkpoint in `chk_dir` and checks every state file it lists
    /// against its size and checksum. The error says which file is wrong and how.
    pub fn load_verified(chk_dir: &Path) -> Result<Manifest, JobError> {
        Manifest::load_with_state(chk_dir).map(|(manifest, _)| manifest)
    }

    /// [`load_verified`](Self::load_verified), also returning the verified contents of the
    /// state files by name, so that a restore reads each file once.
    pub(crate) fn load_with_state(chk_dir: &Path) -> Result<(Manifest, BTreeMap<String, Vec<u8>>), JobError> {
        let mut contents = BTreeMap::new();
        let path = chk_dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                JobError::Other(format!(
                    "checkpoint `{}` is incomplete: it has no {MANIFEST}",
                    chk_dir.display()
                ))
            } else {
                JobError::io("cannot read checkpoint manifest", path.display(), e)
            }
        })?;
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| JobError::Other(format!("checkpoint manifest `{}` is corrupt: {e}", path.display())))?;
        if manifest.format != FORMAT_VERSION {
            return Err(JobError::Other(format!(
                "checkpoint `{}` has format version {}, this job reads version {FORMAT_VERSION}",
                chk_dir.display(),
                manifest.format
            )));
        }
        for (op, state) in &manifest.operators {
            for f in &state.files {
                let p = chk_dir.join(&f.name);
                let bytes = std::fs::read(&p).map_err(|e| {
                    JobError::Other(format!(
                        "checkpoint {}: the state file `{}` of operator `{op}` cannot be read: {e}",
                        manifest.id, f.name
                    ))
                })?;
                if bytes.len() as u64 != f.bytes {
                    return Err(JobError::Other(format!(
                        "checkpoint {}: the state file `{}` of operator `{op}` is truncated or damaged: \
                         {} bytes, the manifest says {}",
                        manifest.id,
                        f.name,
                        bytes.len(),
                        f.bytes
                    )));
                }
                let crc = crc32fast::hash(&bytes);
                if crc != f.crc32 {
                    return Err(JobError::Other(format!(
                        "checkpoint {}: the state file `{}` of operator `{op}` is corrupt: \
                         its CRC-32 is {crc:08x}, the manifest says {:08x}",
                        manifest.id, f.name, f.crc32
                    )));
                }
                contents.insert(f.name.clone(), bytes);
            }
        }
        Ok((manifest, contents))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_differ_with_the_schema_and_are_stable() {
        assert_eq!(fingerprint("a"), fingerprint("a"));
        assert_ne!(fingerprint("key=u64"), fingerprint("key=i64"));
        assert_eq!(fingerprint(""), "cbf29ce484222325");
    }

    #[test]
    fn directory_names_round_trip() {
        assert_eq!(parse_dir_name(&dir_name(42)), Some(42));
        assert_eq!(parse_dir_name("chk-x"), None);
        assert_eq!(parse_dir_name("other"), None);
    }
}
