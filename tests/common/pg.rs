//! PostgreSQL helpers of the connector tests: SQL through `psql` and a fresh database per
//! test on the test server (the one `scripts/services.sh` starts; see [`super::services`]).

use super::services::{postgres_url, unique};
use std::process::Command;

/// Runs SQL with `psql` on `url`, returning the rows as `|`-separated lines.
pub fn psql(url: &str, sql: &str) -> Vec<String> {
    let out = Command::new("psql")
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", url, "-c", sql])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql failed on {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A new database on the test server; returns its URL.
pub fn database(prefix: &str) -> String {
    let server = postgres_url();
    let name = unique(prefix);
    psql(&server, &format!("CREATE DATABASE {name}"));
    let (base, _) = server.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}
