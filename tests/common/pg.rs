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

/// Creates the two tables of a windowed-totals job in `db`: `totals`, upserted (one row per
/// user and window, its latest total), and `firings`, inserted into (one row per firing, so a
/// row written twice shows).
pub fn create_totals_tables(db: &str, totals: &str, firings: &str) {
    psql(
        db,
        &format!(
            "CREATE TABLE {totals} (user_id text, window_end bigint, amount bigint, PRIMARY KEY (user_id, window_end));
             CREATE TABLE {firings} (user_id text NOT NULL, window_end bigint NOT NULL, amount bigint NOT NULL)"
        ),
    );
}

/// Every `user_id|window_end|amount` row of `table`, sorted, duplicates kept.
pub fn total_rows(db: &str, table: &str) -> Vec<String> {
    let mut rows = psql(db, &format!("SELECT user_id, window_end, amount FROM {table}"));
    rows.sort();
    rows
}

/// Checks that `db`'s `totals` (upserted) and `firings` (inserted) tables hold exactly the rows
/// of an uninterrupted run: none lost, none written twice.
pub fn assert_totals_match(
    db: &str,
    (totals, firings): (&str, &str),
    expected_totals: &[String],
    expected_firings: &[String],
) {
    let rows = total_rows(db, firings);
    assert_eq!(rows.len(), expected_firings.len(), "inserted rows lost or duplicated");
    assert!(
        rows == expected_firings,
        "inserted rows differ from the uninterrupted run"
    );
    assert!(
        total_rows(db, totals) == expected_totals,
        "upserted rows differ from the uninterrupted run"
    );
}
