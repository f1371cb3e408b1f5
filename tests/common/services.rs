//! The real servers connector tests talk to (PostgreSQL, a Kafka-compatible broker), started
//! on 127.0.0.1 by `scripts/services.sh` when they are not already running, so that
//! `cargo test --workspace` needs no set-up beyond the packages that script installs.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

/// Serializes the start-ups of one test binary (the script is idempotent across binaries).
static STARTING: Mutex<()> = Mutex::new(());

/// Starts `what` (`postgres` or `kafka`) through the script; panics with its output if that
/// fails, naming the command that installs the servers.
fn start(what: &str) {
    let _guard = STARTING.lock().unwrap_or_else(|e| e.into_inner());
    // The repository's script, from this package or one of the workspace's (the runtime's
    // tests use these helpers too).
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|d| d.join("scripts/services.sh"))
        .find(|s| s.exists())
        .expect("scripts/services.sh in the repository");
    let out = Command::new("bash")
        .arg(&script)
        .args(["start", what])
        .output()
        .expect("run scripts/services.sh");
    assert!(
        out.status.success(),
        "could not start {what} with `scripts/services.sh start {what}` (install the servers with \
         `scripts/services.sh install`):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The URL of the test PostgreSQL (started if needed): `FUSEFLOW_PG_URL`, or the script's
/// default cluster.
pub fn postgres_url() -> String {
    if let Ok(url) = std::env::var("FUSEFLOW_PG_URL") {
        return url;
    }
    start("postgres");
    let port = std::env::var("FUSEFLOW_PG_PORT").unwrap_or_else(|_| "55432".into());
    format!("postgres://postgres@127.0.0.1:{port}/postgres")
}

/// The bootstrap servers of the test Kafka broker (started if needed):
/// `FUSEFLOW_KAFKA_BROKERS`, or the script's default broker.
pub fn kafka_brokers() -> String {
    if let Ok(b) = std::env::var("FUSEFLOW_KAFKA_BROKERS") {
        return b;
    }
    start("kafka");
    let port = std::env::var("FUSEFLOW_KAFKA_PORT").unwrap_or_else(|_| "19092".into());
    format!("127.0.0.1:{port}")
}

/// A name no other test run uses (topics, consumer groups, tables, databases): `prefix`,
/// the process id and a counter.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::Relaxed)
    )
}
