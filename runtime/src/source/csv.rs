//! `csv`: a source reading CSV files with a header row, deserializing each row into the
//! record type by column name through serde. Each file is read into memory and parsed with the
//! `csv` crate; a row that cannot be parsed or deserialized (wrong number of fields, a value of
//! the wrong type, invalid UTF-8) goes to the dead-letter output with its exact raw text and
//! the 1-based line where it starts, and the job goes on.

use super::{FilePosition, InputPaths, Progress, Source};
use crate::checkpoint::SourceCheckpoints;
use crate::{Collector, DeadLetter, JobError, NO_TIMESTAMP, TaskContext, Ty};
use ::csv::{ByteRecord, ErrorKind, ReaderBuilder};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

/// A source of CSV rows deserialized into `T` (see [`csv()`]).
#[derive(Debug, Clone)]
pub struct CsvSource<T> {
    paths: InputPaths,
    _ty: PhantomData<fn() -> T>,
}

/// A source reading the CSV files at `paths` (files, or directories of files).
///
/// Every file starts with a header row; each following row is deserialized into `T` by
/// column name. Records carry [`NO_TIMESTAMP`].
pub fn csv<T: DeserializeOwned>(paths: impl Into<InputPaths>) -> CsvSource<T> {
    CsvSource {
        paths: paths.into(),
        _ty: PhantomData,
    }
}

impl<T> CsvSource<T> {
    /// The witness of the item type (also [`Source::ty`], without importing the trait).
    pub fn ty(&self) -> Ty<T> {
        Ty::of()
    }
}

impl<T: DeserializeOwned> Source for CsvSource<T> {
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
        for (i, file) in files.iter().enumerate().skip(first) {
            let data = std::fs::read(file).map_err(|e| JobError::io("cannot open input", file.display(), e))?;
            let mut reading = Reading {
                name,
                file_index: i,
                file: file.display().to_string(),
                cps: &mut cps,
            };
            let from = resume.as_ref().filter(|p| p.file_index == i);
            if !read_file(&data, &mut reading, from, out, ctx, &mut progress) {
                break;
            }
        }
        drop(progress);
        cps.end(out, &FilePosition::end_of(&files));
        Ok(())
    }
}

/// The file being read, and the source's checkpoints.
struct Reading<'a> {
    name: &'a str,
    file_index: usize,
    file: String,
    cps: &'a mut SourceCheckpoints,
}

/// Parses one file's bytes (from `resume`, if given), pushes its good rows and dead-letters
/// the others; counts the rows and bytes read in `progress`, and takes checkpoints when due.
/// Returns false if the job failed meanwhile (stop reading).
fn read_file<T: DeserializeOwned, C: Collector<T>>(
    data: &[u8],
    reading: &mut Reading<'_>,
    resume: Option<&FilePosition>,
    out: &mut C,
    ctx: &TaskContext,
    progress: &mut Progress<'_>,
) -> bool {
    let (name, file) = (reading.name, reading.file.as_str());
    let mut rdr = ReaderBuilder::new()
        .has_headers(true)
        .from_reader(std::io::Cursor::new(data));
    // Reading from memory cannot fail, and byte records are not checked for UTF-8.
    let headers = rdr.byte_headers().cloned().unwrap_or_default();
    let mut lines = LineCounter::default();
    if let Some(p) = resume {
        let mut at = ::csv::Position::new();
        at.set_byte(p.byte).set_line(p.line).set_record(p.record);
        if rdr.seek(at).is_err() {
            return true;
        }
    }
    let mut record = ByteRecord::new();
    let mut counted = rdr.position().byte();
    progress.skipped(counted);
    // False when the source must stop.
    let mut checkpoint_if_due = |rdr: &::csv::Reader<std::io::Cursor<&[u8]>>, out: &mut C| -> bool {
        if reading.cps.due() {
            let p = rdr.position();
            let position = FilePosition {
                file_index: reading.file_index,
                file: file.to_owned(),
                byte: p.byte(),
                line: p.line(),
                record: p.record(),
            };
            return reading.cps.trigger(out, ctx, &position);
        }
        true
    };
    loop {
        let before = rdr.position().byte() as usize;
        let result = rdr.read_byte_record(&mut record);
        let after = rdr.position().byte() as usize;
        let failed = match result {
            Ok(false) => break,
            Ok(true) => None,
            Err(e) => Some(e),
        };
        // The reader's position before a record may include the previous record's line
        // terminator and blank lines it skips: the record starts after them.
        let (start, end) = trim_terminators(data, before, after);
        progress.record((after as u64).saturating_sub(counted));
        counted = counted.max(after as u64);
        let reason = match failed {
            Some(e) => match e.kind() {
                ErrorKind::UnequalLengths { expected_len, len, .. } => {
                    format!("found a row with {len} fields, but the header has {expected_len}")
                }
                _ => e.to_string(),
            },
            None => match record.deserialize::<T>(Some(&headers)) {
                Ok(value) => {
                    out.record(value, NO_TIMESTAMP);
                    if !checkpoint_if_due(&rdr, out) {
                        return false;
                    }
                    continue;
                }
                Err(e) => deserialize_reason(&e, &headers),
            },
        };
        ctx.dead_letter(&DeadLetter {
            source: name.into(),
            file: Some(file.into()),
            line: lines.line_at(data, start),
            raw: String::from_utf8_lossy(&data[start..end]).into_owned(),
            reason,
        });
        if after <= before {
            break; // no progress: never loop on an error the reader cannot skip
        }
        if !checkpoint_if_due(&rdr, out) {
            return false;
        }
    }
    progress.skipped((data.len() as u64).saturating_sub(counted));
    true
}

/// The parser's message for a row that does not deserialize, naming the column.
fn deserialize_reason(e: &::csv::Error, headers: &ByteRecord) -> String {
    let ErrorKind::Deserialize { err, .. } = e.kind() else {
        return e.to_string();
    };
    match err.field().and_then(|i| headers.get(i as usize)) {
        Some(column) => format!("column `{}`: {}", String::from_utf8_lossy(column), err.kind()),
        None => err.kind().to_string(),
    }
}

/// Narrows `data[start..end]` to the record itself, without line terminators around it.
fn trim_terminators(data: &[u8], mut start: usize, mut end: usize) -> (usize, usize) {
    let end_of_line = |b: u8| b == b'\n' || b == b'\r';
    while start < end && end_of_line(data[start]) {
        start += 1;
    }
    while end > start && end_of_line(data[end - 1]) {
        end -= 1;
    }
    (start, end)
}

/// Turns byte offsets into 1-based line numbers, scanning the file once overall.
#[derive(Debug)]
struct LineCounter {
    offset: usize,
    line: u64,
}

impl Default for LineCounter {
    fn default() -> Self {
        LineCounter { offset: 0, line: 1 }
    }
}

impl LineCounter {
    /// The line of byte `offset`; offsets must not decrease between calls.
    fn line_at(&mut self, data: &[u8], offset: usize) -> u64 {
        self.line += data[self.offset..offset].iter().filter(|&&b| b == b'\n').count() as u64;
        self.offset = offset;
        self.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeadLetterTarget, Job, JobSpec, JobSummary, sink};
    use serde::Deserialize;
    use std::path::Path;

    #[derive(Debug, Clone, PartialEq, Deserialize)]
    struct Trade {
        symbol: String,
        qty: u32,
        price: f64,
    }

    fn trade(symbol: &str, qty: u32, price: f64) -> Trade {
        Trade {
            symbol: symbol.into(),
            qty,
            price,
        }
    }

    /// Runs a CSV source into a collecting sink; returns the records, the summary and the
    /// dead letters as JSON values.
    fn run(paths: impl Into<InputPaths>, dir: &Path) -> (Vec<Trade>, JobSummary, Vec<serde_json::Value>) {
        let dead = dir.join("dead.jsonl").display().to_string();
        let out = sink::Collected::new();
        let src = csv::<Trade>(paths);
        let ty = src.ty();
        let mut job = Job::new(JobSpec {
            dead_letter: DeadLetterTarget::File(dead.clone()),
            ..Default::default()
        });
        job.add_source("trades", src, sink::collect(ty, &out));
        let summary = job.run().unwrap();
        let letters = std::fs::read_to_string(&dead).unwrap();
        let letters = letters.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        (out.take(), summary, letters)
    }

    #[test]
    fn good_rows_in_header_order_independent_of_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "price,symbol,qty\n1.5,ABC,10\n2,XYZ,3\n").unwrap();
        let (records, summary, letters) = run(path.as_path(), dir.path());
        assert_eq!(records, [trade("ABC", 10, 1.5), trade("XYZ", 3, 2.0)]);
        assert_eq!(
            (summary.records_in, summary.records_out, summary.dead_lettered),
            (2, 2, 0)
        );
        assert!(letters.is_empty());
    }

    #[test]
    fn malformed_rows_are_dead_lettered_with_line_and_raw_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let text = "symbol,qty,price\nABC,10,1.5\nBAD,ten,2.0\n\nSHORT,1\nXYZ,3,2.5\r\nCR,x,1\r\nEND,1,1";
        std::fs::write(&path, text).unwrap();
        let (records, summary, letters) = run(path.display().to_string(), dir.path());
        assert_eq!(
            records,
            [trade("ABC", 10, 1.5), trade("XYZ", 3, 2.5), trade("END", 1, 1.0)]
        );
        assert_eq!(
            (summary.records_in, summary.records_out, summary.dead_lettered),
            (6, 3, 3)
        );
        let file = path.display().to_string();
        let expected = [
            (3, "BAD,ten,2.0", "column `qty`"),
            (5, "SHORT,1", "2 fields"),
            (7, "CR,x,1", "`qty`"),
        ];
        assert_eq!(letters.len(), expected.len());
        for (letter, (line, raw, reason)) in letters.iter().zip(expected) {
            assert_eq!(letter["source"], "trades");
            assert_eq!(letter["file"], file.as_str());
            assert_eq!(letter["line"], line);
            assert_eq!(letter["raw"], raw);
            assert!(letter["reason"].as_str().unwrap().contains(reason), "{letter}");
        }
    }

    #[test]
    fn quoted_multi_line_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let text = "symbol,qty,price\n\"multi\nline\",1,1\n\"bad\n\"\"row\"\"\",x,1\nOK,2,2\n";
        std::fs::write(&path, text).unwrap();
        let (records, summary, letters) = run(path.as_path(), dir.path());
        assert_eq!(records, [trade("multi\nline", 1, 1.0), trade("OK", 2, 2.0)]);
        assert_eq!(summary.dead_lettered, 1);
        assert_eq!(letters[0]["line"], 4);
        assert_eq!(letters[0]["raw"], "\"bad\n\"\"row\"\"\",x,1");
    }

    #[test]
    fn invalid_utf8_is_dead_lettered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, b"symbol,qty,price\nA\xff,1,1\nB,2,2\n").unwrap();
        let (records, summary, letters) = run(path.as_path(), dir.path());
        assert_eq!(records, [trade("B", 2, 2.0)]);
        assert_eq!((summary.records_in, summary.dead_lettered), (2, 1));
        assert_eq!(letters[0]["line"], 2);
        assert_eq!(letters[0]["raw"], "A\u{fffd},1,1");
    }

    #[test]
    fn empty_and_header_only_files_have_no_records() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        std::fs::create_dir(&input).unwrap();
        std::fs::write(input.join("a.csv"), "").unwrap();
        std::fs::write(input.join("b.csv"), "symbol,qty,price\n").unwrap();
        let (records, summary, _) = run(input.as_path(), dir.path());
        assert!(records.is_empty());
        assert_eq!(summary.records_in, 0);
    }

    #[test]
    fn directory_files_in_sorted_order_then_more_paths() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        std::fs::create_dir(&input).unwrap();
        std::fs::write(input.join("2.csv"), "symbol,qty,price\nB,2,2\n").unwrap();
        std::fs::write(input.join("1.csv"), "symbol,qty,price\nA,1,1\n").unwrap();
        let extra = dir.path().join("extra.csv");
        std::fs::write(&extra, "qty,symbol,price\n3,C,3\n").unwrap();
        let paths = vec![input.display().to_string(), extra.display().to_string()];
        let (records, summary, _) = run(paths, dir.path());
        let symbols: Vec<_> = records.iter().map(|t| t.symbol.as_str()).collect();
        assert_eq!(symbols, ["A", "B", "C"]);
        assert_eq!(summary.records_in, 3);
    }

    #[test]
    fn missing_file_fails_the_job() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.csv");
        let mut job = Job::new(JobSpec::default());
        let src = csv::<Trade>(missing.as_path());
        let ty = src.ty();
        job.add_source("trades", src, sink::collect(ty, &sink::Collected::new()));
        let err = job.run().unwrap_err();
        assert!(
            matches!(
                err,
                JobError::Io {
                    what: "cannot open input",
                    ..
                }
            ),
            "{err}"
        );
    }
}
