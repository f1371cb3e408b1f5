//! `json_lines`: a source reading files with one JSON value per line (JSON Lines / NDJSON),
//! deserialized into the record type through serde. Files are streamed through a buffered
//! reader; blank lines are skipped; a line that is not valid JSON for the record type (bad
//! syntax, a wrong type, invalid UTF-8) goes to the dead-letter output with its line number and
//! raw text, and the job goes on.

use super::{FilePosition, InputPaths, Progress, Source};
use crate::checkpoint::SourceCheckpoints;
use crate::{Collector, DeadLetter, JobError, NO_TIMESTAMP, TaskContext, Ty};
use serde::de::DeserializeOwned;
use std::io::BufRead;
use std::marker::PhantomData;

/// A source of JSON lines deserialized into `T` (see [`json_lines`]).
#[derive(Debug, Clone)]
pub struct JsonLinesSource<T> {
    paths: InputPaths,
    _ty: PhantomData<fn() -> T>,
}

/// A source reading the JSON-lines files at `paths` (files, or directories of files).
///
/// Each non-blank line is one JSON value deserialized into `T`. Records carry
/// [`NO_TIMESTAMP`].
pub fn json_lines<T: DeserializeOwned>(paths: impl Into<InputPaths>) -> JsonLinesSource<T> {
    JsonLinesSource {
        paths: paths.into(),
        _ty: PhantomData,
    }
}

impl<T> JsonLinesSource<T> {
    /// The witness of the item type (also [`Source::ty`], without importing the trait).
    pub fn ty(&self) -> Ty<T> {
        Ty::of()
    }
}

impl<T: DeserializeOwned> Source for JsonLinesSource<T> {
    type Item = T;

    fn input_paths_mut(&mut self) -> Option<&mut InputPaths> {
        Some(&mut self.paths)
    }

    fn run<C: Collector<T>>(self, name: &'static str, out: &mut C, ctx: &TaskContext) -> Result<(), JobError> {
        let files = self.paths.resolve()?;
        let mut cps = SourceCheckpoints::new(ctx, name);
        let resume = FilePosition::restored(&cps, &files)?;
        let mut progress = Progress::start(ctx, &files);
        let first = resume.as_ref().map_or(0, |p| p.file_index);
        for (i, path) in files.iter().enumerate().skip(first) {
            let file_name = path.display().to_string();
            let mut file = std::fs::File::open(path).map_err(|e| JobError::io("cannot open input", &file_name, e))?;
            let mut at = FilePosition {
                file_index: i,
                file: file_name.clone(),
                byte: 0,
                line: 0,
                record: 0,
            };
            if let Some(p) = resume.as_ref().filter(|p| p.file_index == i) {
                use std::io::Seek;
                file.seek(std::io::SeekFrom::Start(p.byte))
                    .map_err(|e| JobError::io("cannot read input", &file_name, e))?;
                at = p.clone();
            }
            let reader = std::io::BufReader::with_capacity(1 << 16, file);
            let going = read_lines(reader, name, at, &mut cps, out, ctx, &mut progress);
            if !going.map_err(|e| JobError::io("cannot read input", &file_name, e))? {
                break;
            }
        }
        drop(progress);
        cps.end(out, &FilePosition::end_of(&files));
        Ok(())
    }
}

/// Reads one file from `at`, pushing good lines and dead-lettering the others; `progress`
/// counts the records and bytes; checkpoints are taken when due. `Ok(false)`: the job
/// failed meanwhile, stop reading.
fn read_lines<T: DeserializeOwned, C: Collector<T>>(
    mut reader: impl BufRead,
    name: &str,
    mut at: FilePosition,
    cps: &mut SourceCheckpoints,
    out: &mut C,
    ctx: &TaskContext,
    progress: &mut Progress<'_>,
) -> std::io::Result<bool> {
    let mut buf = Vec::new();
    let file = at.file.clone();
    let file = file.as_str();
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(true);
        }
        at.line += 1;
        at.byte += buf.len() as u64;
        let line = at.line;
        let raw = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            progress.skipped(buf.len() as u64);
            continue;
        }
        progress.record(buf.len() as u64);
        match serde_json::from_slice::<T>(raw) {
            Ok(value) => out.record(value, NO_TIMESTAMP),
            Err(e) => ctx.dead_letter(&DeadLetter {
                source: name.into(),
                file: Some(file.into()),
                line,
                raw: String::from_utf8_lossy(raw).into_owned(),
                reason: e.to_string(),
            }),
        }
        at.record += 1;
        if cps.due() && !cps.trigger(out, ctx, &at) {
            return Ok(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeadLetterTarget, Job, JobSpec, sink};
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Deserialize)]
    struct Click {
        user: String,
        ts: i64,
    }

    #[test]
    fn bad_lines_are_dead_lettered_and_blank_lines_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        std::fs::create_dir(&input).unwrap();
        std::fs::write(input.join("b.jsonl"), "{\"user\":\"c\",\"ts\":3}\n").unwrap();
        let mut a = b"{\"user\":\"a\",\"ts\":1}\n\n{\"user\":\"x\",\"ts\":\"late\"}\r\n  \nnot json\n".to_vec();
        a.extend_from_slice(b"{\"user\":\"\xff\",\"ts\":0}\n{\"user\":\"b\",\"ts\":2}");
        std::fs::write(input.join("a.jsonl"), a).unwrap();
        let dead = dir.path().join("dead.jsonl");
        let out = sink::Collected::new();
        let src = json_lines::<Click>(input.as_path());
        let ty = src.ty();
        let spec = JobSpec {
            dead_letter: DeadLetterTarget::File(dead.display().to_string()),
            ..Default::default()
        };
        let mut job = Job::new(spec);
        job.add_source("clicks", src, sink::collect(ty, &out));
        let summary = job.run().unwrap();

        let users: Vec<_> = out.take().into_iter().map(|c| c.user).collect();
        assert_eq!(users, ["a", "b", "c"]);
        assert_eq!(
            (summary.records_in, summary.records_out, summary.dead_lettered),
            (6, 3, 3)
        );
        let letters: Vec<serde_json::Value> = std::fs::read_to_string(&dead)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let got: Vec<_> = letters
            .iter()
            .map(|l| (l["line"].as_u64().unwrap(), l["raw"].as_str().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                (3, "{\"user\":\"x\",\"ts\":\"late\"}"),
                (5, "not json"),
                (6, "{\"user\":\"\u{fffd}\",\"ts\":0}")
            ]
        );
        assert_eq!(letters[0]["file"], input.join("a.jsonl").display().to_string());
        assert_eq!(letters[0]["source"], "clicks");
        assert!(
            letters[0]["reason"].as_str().unwrap().contains("invalid type"),
            "{}",
            letters[0]
        );
    }

    #[test]
    fn missing_file_fails_the_job() {
        let mut job = Job::new(JobSpec::default());
        let src = json_lines::<Click>(["/no/such/file.jsonl"]);
        let ty = src.ty();
        job.add_source("clicks", src, sink::collect(ty, &sink::Collected::new()));
        assert!(matches!(
            job.run(),
            Err(JobError::Io {
                what: "cannot open input",
                ..
            })
        ));
    }
}
