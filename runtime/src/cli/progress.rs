//! The progress bar on stderr: bytes read of the bounded file inputs' total size, records
//! read and records per second, redrawn ten times a second by a thread that watches the job's
//! counters. It appears once a file source has started (nothing is shown for generators or
//! stdin) and is cleared when the job ends, before the summary line.
//!
//! indicatif hides itself when stderr is not a terminal; `--progress` forces it through a
//! plain stderr writer that still uses the terminal's escape codes.

use crate::Counters;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A running progress bar; dropping it clears the bar and stops its thread.
pub(crate) struct Bar {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Bar {
    /// Starts watching `counters`; `forced` draws even when stderr is not a terminal.
    pub(crate) fn start(counters: Arc<Counters>, forced: bool) -> Self {
        let (stop, stopped) = channel::<()>();
        let thread = std::thread::Builder::new()
            .name("fuseflow-progress".into())
            .spawn(move || {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
                let started = Instant::now();
                let mut shown = false;
                // Until the job ends (a message, or the sender dropped).
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(Duration::from_millis(100)) {
                    let total = counters.input_bytes_total.load(Ordering::Relaxed);
                    if total == 0 {
                        continue;
                    }
                    if !shown {
                        shown = true;
                        bar.set_style(style());
                        bar.set_draw_target(target(forced));
                    }
                    let records = counters.records_in.load(Ordering::Relaxed);
                    let secs = started.elapsed().as_secs_f64().max(1e-3);
                    bar.set_length(total);
                    bar.set_position(counters.input_bytes.load(Ordering::Relaxed).min(total));
                    bar.set_message(format!("{records} records, {:.0} records/s", records as f64 / secs));
                }
                bar.finish_and_clear();
            })
            .ok();
        Bar {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

fn target(forced: bool) -> ProgressDrawTarget {
    if forced && !std::io::stderr().is_terminal() {
        ProgressDrawTarget::term_like_with_hz(Box::new(PlainStderr), 10)
    } else {
        ProgressDrawTarget::stderr_with_hz(10)
    }
}

/// Stderr as a terminal of `COLUMNS` (or 80) columns, for `--progress` without a terminal.
#[derive(Debug)]
struct PlainStderr;

impl PlainStderr {
    fn write(&self, s: &str) -> std::io::Result<()> {
        std::io::stderr().lock().write_all(s.as_bytes())
    }
}

impl TermLike for PlainStderr {
    fn width(&self) -> u16 {
        std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).unwrap_or(80)
    }

    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        if n > 0 {
            self.write(&format!("\x1b[{n}A"))
        } else {
            Ok(())
        }
    }

    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        if n > 0 {
            self.write(&format!("\x1b[{n}B"))
        } else {
            Ok(())
        }
    }

    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        if n > 0 {
            self.write(&format!("\x1b[{n}C"))
        } else {
            Ok(())
        }
    }

    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        if n > 0 {
            self.write(&format!("\x1b[{n}D"))
        } else {
            Ok(())
        }
    }

    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.write(&format!("{s}\n"))
    }

    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.write(s)
    }

    fn clear_line(&self) -> std::io::Result<()> {
        self.write("\r\x1b[2K")
    }

    fn flush(&self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
