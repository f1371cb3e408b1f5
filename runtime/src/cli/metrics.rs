//! `--metrics-addr`: the job's counters in the Prometheus text format, served over HTTP at
//! `GET /metrics` by one small thread on a `std::net::TcpListener` (no async runtime, no extra
//! crates). Every metric carries a `job` label.
//!
//! Exposed today: `fuseflow_records_in_total`, `fuseflow_records_out_total`,
//! `fuseflow_late_records_total`, `fuseflow_dead_lettered_total`,
//! `fuseflow_watermark_milliseconds`, `fuseflow_watermark_lag_milliseconds` (once there is a
//! watermark), `fuseflow_checkpoints_completed_total`,
//! `fuseflow_last_checkpoint_duration_milliseconds`, `fuseflow_input_bytes_read_total` and `fuseflow_input_bytes` (the size of the bounded file
//! inputs). More metrics plug in through [`MetricsSource`]: per-operator counts, watermark
//! lag or checkpoint durations are a type that holds the shared values the operators update
//! (atomics reached through the `TaskContext`) and writes them with
//! [`Exposition::counter`] / [`Exposition::gauge`]; register it with [`Metrics::with_source`].

use crate::Counters;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A provider of more metrics for the endpoint (the hook for per-operator metrics, watermark
/// lag, checkpoint duration…). Called on every scrape, from the metrics thread.
pub trait MetricsSource: Send + Sync {
    /// Writes the current values into `out`.
    fn write_metrics(&self, out: &mut Exposition);
}

/// A page of metrics in the Prometheus text exposition format (version 0.0.4), every sample
/// labelled with the job's name.
#[derive(Debug)]
pub struct Exposition {
    text: String,
    labels: String,
}

impl Exposition {
    /// An empty page for the job `job`.
    pub fn new(job: &str) -> Self {
        Exposition {
            text: String::new(),
            labels: format!("job=\"{}\"", escape_label(job)),
        }
    }

    /// Writes a counter (a value that only grows); `name` should end in `_total`.
    pub fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.metric(name, "counter", help, &value.to_string());
    }

    /// Writes a family of counters, one sample per `(label value, value)`, each labelled
    /// `label="<value>"` besides the job.
    pub fn counters(&mut self, name: &str, help: &str, label: &str, values: &[(String, u64)]) {
        if values.is_empty() {
            return;
        }
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} counter");
        for (l, v) in values {
            let _ = writeln!(
                self.text,
                "{name}{{{},{label}=\"{}\"}} {v}",
                self.labels,
                escape_label(l)
            );
        }
    }

    /// Writes a gauge (a value that goes up and down).
    pub fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.metric(name, "gauge", help, &value.to_string());
    }

    fn metric(&mut self, name: &str, kind: &str, help: &str, value: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
        let _ = writeln!(self.text, "{name}{{{}}} {value}", self.labels);
    }

    /// The page's text.
    pub fn into_text(self) -> String {
        self.text
    }
}

/// Escapes a label value: backslash, double quote and newline.
fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The metrics of one running job: its counters and any [`MetricsSource`] added.
#[derive(Clone)]
pub struct Metrics {
    job: String,
    counters: Arc<Counters>,
    sources: Vec<Arc<dyn MetricsSource>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("job", &self.job)
            .field("counters", &self.counters)
            .field("sources", &self.sources.len())
            .finish()
    }
}

impl Metrics {
    /// The metrics of the job `job`, reading `counters` (give the job the same `Arc` with
    /// [`Job::with_counters`](crate::Job::with_counters)).
    pub fn new(job: &str, counters: Arc<Counters>) -> Self {
        Metrics {
            job: job.to_owned(),
            counters,
            sources: Vec::new(),
        }
    }

    /// Adds a provider of more metrics.
    pub fn with_source(mut self, source: Arc<dyn MetricsSource>) -> Self {
        self.sources.push(source);
        self
    }

    /// The current page.
    pub fn render(&self) -> String {
        let c = &self.counters;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let mut out = Exposition::new(&self.job);
        out.counter(
            "fuseflow_records_in_total",
            "Records read from the sources, malformed ones included.",
            get(&c.records_in),
        );
        out.counter(
            "fuseflow_records_out_total",
            "Records written to the sinks.",
            get(&c.records_out),
        );
        out.counter(
            "fuseflow_late_records_total",
            "Records that arrived too late for their window.",
            get(&c.late),
        );
        out.counter(
            "fuseflow_dead_lettered_total",
            "Malformed records sent to the dead-letter output.",
            get(&c.dead_lettered),
        );
        let wm = c.watermark.load(Ordering::Relaxed);
        if wm > crate::MIN_WATERMARK && wm < crate::MAX_WATERMARK {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            out.gauge(
                "fuseflow_watermark_milliseconds",
                "The event-time watermark of the source's chain, in ms since the Unix epoch.",
                wm as f64,
            );
            out.gauge(
                "fuseflow_watermark_lag_milliseconds",
                "Wall-clock time minus the watermark: how far event time is behind now.",
                now.saturating_sub(wm) as f64,
            );
        }
        out.counters(
            "fuseflow_operator_records_total",
            "Records that reached an operator: a source's first operator (what the source emitted), \
             the first operator behind an exchange (summed over workers), or a sink.",
            "operator",
            &c.operators(),
        );
        out.counter(
            "fuseflow_checkpoints_completed_total",
            "Checkpoints completed.",
            c.checkpoints.load(Ordering::Relaxed),
        );
        out.gauge(
            "fuseflow_last_checkpoint_duration_milliseconds",
            "Milliseconds the last completed checkpoint took, from trigger to manifest.",
            c.checkpoint_duration_ms.load(Ordering::Relaxed) as f64,
        );
        out.counter(
            "fuseflow_input_bytes_read_total",
            "Bytes read from bounded file inputs.",
            get(&c.input_bytes),
        );
        out.gauge(
            "fuseflow_input_bytes",
            "Total size of the bounded file inputs being read.",
            get(&c.input_bytes_total) as f64,
        );
        for source in &self.sources {
            source.write_metrics(&mut out);
        }
        out.into_text()
    }

    /// Serves `GET /metrics` on `addr` from a background thread that lives as long as the
    /// process; returns the address bound (with the port chosen when `addr` has port 0).
    pub fn serve(self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind(addr)?;
        let bound = listener.local_addr()?;
        std::thread::Builder::new()
            .name("fuseflow-metrics".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    if let Err(e) = self.answer(stream) {
                        tracing::debug!(error = %e, "metrics request failed");
                    }
                }
            })?;
        Ok(bound)
    }

    /// Reads one request's head and answers it, then closes the connection.
    fn answer(&self, mut stream: TcpStream) -> std::io::Result<()> {
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.set_write_timeout(Some(Duration::from_secs(5)))?;
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let head = String::from_utf8_lossy(&head);
        let mut parts = head.lines().next().unwrap_or("").split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let path = target.split('?').next().unwrap_or("");
        let (status, content_type, body) = match (method, path) {
            ("GET" | "HEAD", "/metrics") => ("200 OK", "text/plain; version=0.0.4; charset=utf-8", self.render()),
            ("GET" | "HEAD", _) => ("404 Not Found", "text/plain", "not found: try /metrics\n".to_owned()),
            _ => ("405 Method Not Allowed", "text/plain", "only GET\n".to_owned()),
        };
        let mut response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        if method != "HEAD" {
            response.push_str(&body);
        }
        stream.write_all(response.as_bytes())?;
        stream.flush()
    }
}
