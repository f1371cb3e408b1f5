//! The progress bar on stderr: bytes read of the bounded file inputs' total size, records
//! read, records per second and the event-time watermark (UTC), redrawn ten times a second by a thread that watches the job's
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
                    let mut message = format!("{records} records, {:.0} records/s", records as f64 / secs);
                    let wm = counters.watermark.load(Ordering::Relaxed);
                    if wm > crate::MIN_WATERMARK && wm < crate::MAX_WATERMARK {
                        message.push_str(&format!(", watermark {}", utc(wm)));
                    }
                    bar.set_message(message);
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
/// `ms` since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (proleptic Gregorian, UTC).
pub(crate) fn utc(ms: i64) -> String {
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_formats_epoch_milliseconds() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(1_735_689_650_123), "2025-01-01T00:00:50.123Z");
        assert_eq!(utc(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
