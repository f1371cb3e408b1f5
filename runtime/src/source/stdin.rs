//! `stdin_lines`: a source yielding each line of standard input as a `String`, without its
//! line terminator. The input is read through a buffered, locked handle until end of file; a
//! line that is not valid UTF-8 goes to the dead-letter output with its line number.

use super::Source;
use crate::{Collector, DeadLetter, JobError, MAX_WATERMARK, NO_TIMESTAMP, TaskContext, Ty};
use std::io::BufRead;

/// A source of the lines of standard input (see [`stdin_lines`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct StdinLines;

/// A source yielding each line of standard input, without `\n` or `\r\n`, with
/// [`NO_TIMESTAMP`].
pub fn stdin_lines() -> StdinLines {
    StdinLines
}

impl StdinLines {
    /// The witness of the item type (also [`Source::ty`], without importing the trait).
    pub fn ty(&self) -> Ty<String> {
        Ty::of()
    }
}

impl Source for StdinLines {
    type Item = String;

    fn run<C: Collector<String>>(self, name: &'static str, out: &mut C, ctx: &TaskContext) -> Result<(), JobError> {
        crate::checkpoint::SourceCheckpoints::new(ctx, name).require_replayable("stdin")?;
        read_lines(std::io::BufReader::new(std::io::stdin()), name, out, ctx)
    }
}

/// Pushes each line of `reader` into `out`, then the final watermark and end of input.
///
/// Whenever the next line is not already buffered (reading it may block), `out` is flushed,
/// so a live input's records reach the sinks without waiting for more input.
fn read_lines<C: Collector<String>, R: std::io::Read>(
    mut reader: std::io::BufReader<R>,
    name: &str,
    out: &mut C,
    ctx: &TaskContext,
) -> Result<(), JobError> {
    let mut line = 0u64;
    let result = loop {
        let mut buf = Vec::new();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => break Ok(()),
            Ok(_) => {}
            Err(e) => break Err(JobError::io("cannot read input", "stdin", e)),
        }
        line += 1;
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        }
        match String::from_utf8(buf) {
            Ok(text) => out.record(text, NO_TIMESTAMP),
            Err(e) => ctx.dead_letter(&DeadLetter {
                source: name.into(),
                file: None,
                line,
                raw: String::from_utf8_lossy(e.as_bytes()).into_owned(),
                reason: e.utf8_error().to_string(),
            }),
        }
        if !reader.buffer().contains(&b'\n') {
            out.flush();
        }
    };
    TaskContext::add(&ctx.counters().records_in, line);
    result?;
    out.watermark(MAX_WATERMARK);
    out.end();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Collected, sink};
    use std::sync::atomic::Ordering;

    #[test]
    fn lines_without_terminators_and_bad_utf8_dead_lettered() {
        let ctx = TaskContext::detached();
        let out = Collected::new();
        let mut sink = sink::collect(Ty::of(), &out);
        sink.open(&ctx).unwrap();
        read_lines(
            std::io::BufReader::new(&b"one\r\ntwo\n\xffbad\n\nlast"[..]),
            "stdin",
            &mut sink,
            &ctx,
        )
        .unwrap();
        assert_eq!(out.take(), ["one", "two", "", "last"]);
        assert_eq!(ctx.counters().records_in.load(Ordering::Relaxed), 5);
        assert_eq!(ctx.counters().dead_lettered.load(Ordering::Relaxed), 1);
        assert_eq!(ctx.counters().records_out.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn item_type_is_string() {
        let _: Ty<String> = stdin_lines().ty();
    }
}
