//! The connection of one PostgreSQL sink instance: a `tokio-postgres` client driven by a
//! single-threaded tokio runtime the instance owns. The instance's worker connects and
//! reads the catalog in `open`; then the connection moves to the instance's I/O thread
//! (`io`), which waits on it with `block_on`, and nothing else in the job needs an async
//! runtime.
//!
//! Connecting retries with back-off while the server cannot be reached, for a bounded time;
//! a server that answers with an error (no such database, bad password) is not retried.

use super::row::Row;
use super::sql::{self, TableInfo};
use crate::JobError;
use std::time::{Duration, Instant};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls};

/// Creates the commits table if it is missing (under an advisory lock: concurrent
/// `CREATE TABLE IF NOT EXISTS` can collide).
const CREATE_COMMITS: &str = "CREATE TABLE IF NOT EXISTS fuseflow_commits (
    job text NOT NULL,
    sink text NOT NULL,
    subtask integer NOT NULL,
    checkpoint bigint NOT NULL,
    rows bigint NOT NULL,
    committed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job, sink, subtask, checkpoint)
)";

/// Claims a batch: inserts its commit row, or nothing if it is there already.
const CLAIM_BATCH: &str = "INSERT INTO fuseflow_commits (job, sink, subtask, checkpoint, rows) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING";

/// Forgets the commits of a replaced history: those after the checkpoint the run started
/// from, of the original instances that map to this one.
const FORGET_LATER: &str = "DELETE FROM fuseflow_commits \
     WHERE job = $1 AND sink = $2 AND subtask % $3 = $4 AND checkpoint > $5";

/// The columns of a table, with their types, or none if there is no such table.
const TABLE_COLUMNS: &str = "SELECT a.attname::text, format_type(a.atttypid, NULL) \
     FROM pg_attribute a WHERE a.attrelid = to_regclass($1::text) AND a.attnum > 0 AND NOT a.attisdropped \
     ORDER BY a.attnum";

/// One batch to commit: its claim (original instance, checkpoint), the statement and rows.
pub(crate) struct Planned<'a> {
    /// The instance that wrote the batch originally.
    pub(crate) origin: usize,
    /// The checkpoint whose interval the batch holds.
    pub(crate) id: u64,
    /// The statement writing its rows.
    pub(crate) sql: &'a str,
    /// Its rows (for an upsert, the last of each key).
    pub(crate) rows: Vec<&'a Row>,
    /// Its number of columns.
    pub(crate) width: usize,
}

/// Which commits of a replaced history a transaction forgets first.
pub(crate) struct Forget {
    /// This instance, and how many there are.
    pub(crate) subtask: usize,
    pub(crate) subtasks: usize,
    /// The checkpoint the run started from (0: a fresh start).
    pub(crate) after: u64,
}

/// A connection to PostgreSQL.
pub(crate) struct Db {
    rt: tokio::runtime::Runtime,
    client: Client,
    config: Config,
    /// `host:port/database`, for messages.
    target: String,
    timeout: Duration,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("target", &self.target).finish()
    }
}

/// `host:port/database` of a connection configuration.
fn target(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let host = match h {
                tokio_postgres::config::Host::Tcp(h) => h.clone(),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
            };
            let port = config.get_ports().get(i).or(config.get_ports().first()).copied();
            format!("{host}:{}", port.unwrap_or(5432))
        })
        .collect();
    let host = if hosts.is_empty() {
        "localhost:5432".to_owned()
    } else {
        hosts.join(",")
    };
    format!("{host}/{}", config.get_dbname().unwrap_or("postgres"))
}

/// A PostgreSQL error as one line: the server's message, detail and hint, or the client's.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = db.message().to_owned();
            if let Some(c) = db.column() {
                s += &format!(" (column `{c}`)");
            }
            if let Some(d) = db.detail() {
                s += &format!("; {d}");
            }
            if let Some(h) = db.hint() {
                s += &format!("; hint: {h}");
            }
            s
        }
        None => {
            let mut s = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(inner) = source {
                let text = inner.to_string();
                if !s.contains(&text) {
                    s += &format!(": {text}");
                }
                source = inner.source();
            }
            s
        }
    }
}

impl Db {
    /// Connects to `url`, retrying with back-off while the server cannot be reached, for at
    /// most `timeout`; `sink` names the sink in errors.
    pub(crate) fn connect(url: &str, sink: &str, timeout: Duration) -> Result<Db, JobError> {
        let config: Config = url.parse().map_err(|e| {
            JobError::Other(format!(
                "postgres sink `{sink}`: `{url}` is not a PostgreSQL connection URL: {e}"
            ))
        })?;
        let target = target(&config);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| JobError::Other(format!("postgres sink `{sink}`: cannot start its I/O runtime: {e}")))?;
        let client = connect(&rt, &config, timeout).map_err(|e| {
            JobError::Other(format!(
                "postgres sink `{sink}`: cannot connect to PostgreSQL at {target}: {e}"
            ))
        })?;
        Ok(Db {
            rt,
            client,
            config,
            target,
            timeout,
        })
    }

    /// `host:port/database`, for messages.
    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    /// Connects again if the connection was lost (a restarted server).
    fn reconnect_if_closed(&mut self) -> Result<(), String> {
        if self.client.is_closed() {
            tracing::warn!("the connection to PostgreSQL at {} was lost: reconnecting", self.target);
            self.client = connect(&self.rt, &self.config, self.timeout)?;
        }
        Ok(())
    }

    /// The table `name` as the catalog describes it, or why it cannot be written.
    pub(crate) fn table(&mut self, name: &str) -> Result<TableInfo, String> {
        self.reconnect_if_closed()?;
        let quoted = sql::quote_table(name);
        let rows = self
            .rt
            .block_on(self.client.query(TABLE_COLUMNS, &[&quoted]))
            .map_err(|e| describe(&e))?;
        if rows.is_empty() {
            return Err("there is no such table".into());
        }
        Ok(TableInfo {
            name: name.to_owned(),
            sql: quoted,
            columns: rows.iter().map(|r| (r.get(0), r.get(1))).collect(),
        })
    }

    /// Creates the commits table if it is missing.
    pub(crate) fn create_commits_table(&mut self) -> Result<(), String> {
        self.reconnect_if_closed()?;
        let client = &mut self.client;
        self.rt
            .block_on(async {
                let tx = client.transaction().await?;
                // Any fixed number: serializes concurrent creations of the table.
                tx.execute("SELECT pg_advisory_xact_lock(7000007)", &[]).await?;
                tx.batch_execute(CREATE_COMMITS).await?;
                tx.commit().await
            })
            .map_err(|e| describe(&e))
    }

    /// Writes `rows` with `sql`, in statements of at most `chunk` rows, each committed on
    /// its own (autocommit: at-least-once).
    pub(crate) fn write(&mut self, sql: &str, width: usize, rows: &[&Row], chunk: usize) -> Result<(), String> {
        self.reconnect_if_closed()?;
        let client = &self.client;
        self.rt
            .block_on(async {
                for part in rows.chunks(chunk.max(1)) {
                    let columns = column_arrays(part, width);
                    client.execute(sql, &params(&columns)).await?;
                }
                Ok(())
            })
            .map_err(|e: tokio_postgres::Error| describe(&e))
    }

    /// Commits `batches` in one transaction: first forgets the commits of a replaced
    /// history (if `forget`), then, batch by batch, claims the batch in the commits table
    /// and writes its rows, unless the claim finds the batch committed already. Returns,
    /// per batch, whether it was written now, and how many commits were forgotten.
    pub(crate) fn commit(
        &mut self,
        job: &str,
        sink: &str,
        forget: Option<&Forget>,
        batches: &[Planned<'_>],
        chunk: usize,
    ) -> Result<(Vec<bool>, u64), String> {
        self.reconnect_if_closed()?;
        let client = &mut self.client;
        self.rt
            .block_on(async {
                let tx = client.transaction().await?;
                let mut forgotten = 0;
                if let Some(f) = forget {
                    let (subtasks, subtask, after) = (f.subtasks as i32, f.subtask as i32, f.after as i64);
                    forgotten = tx
                        .execute(FORGET_LATER, &[&job, &sink, &subtasks, &subtask, &after])
                        .await?;
                }
                let mut written = Vec::with_capacity(batches.len());
                for b in batches {
                    let (origin, id, n) = (b.origin as i32, b.id as i64, b.rows.len() as i64);
                    let claimed = tx.execute(CLAIM_BATCH, &[&job, &sink, &origin, &id, &n]).await?;
                    if claimed == 0 {
                        written.push(false);
                        continue;
                    }
                    for part in b.rows.chunks(chunk.max(1)) {
                        let columns = column_arrays(part, b.width);
                        tx.execute(b.sql, &params(&columns)).await?;
                    }
                    written.push(true);
                }
                tx.commit().await?;
                Ok((written, forgotten))
            })
            .map_err(|e: tokio_postgres::Error| describe(&e))
    }
}

/// Connects, retrying with back-off (100 ms doubling up to 2 s) while the server cannot be
/// reached, until `timeout` has passed.
fn connect(rt: &tokio::runtime::Runtime, config: &Config, timeout: Duration) -> Result<Client, String> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(100);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let left = timeout.saturating_sub(started.elapsed());
        let mut config = config.clone();
        config.connect_timeout(left.clamp(Duration::from_millis(100), Duration::from_secs(5)));
        match rt.block_on(config.connect(NoTls)) {
            Ok((client, connection)) => {
                rt.spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::warn!("PostgreSQL connection ended: {}", describe(&e));
                    }
                });
                return Ok(client);
            }
            // The server answered: retrying will not change its mind.
            Err(e) if e.as_db_error().is_some() => return Err(describe(&e)),
            Err(e) => {
                if started.elapsed() + delay > timeout {
                    return Err(format!(
                        "{} (gave up after {attempts} attempts in {:.1} s)",
                        describe(&e),
                        started.elapsed().as_secs_f64()
                    ));
                }
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// The rows' values, column by column (one `text[]` parameter per column).
fn column_arrays<'r>(rows: &[&'r Row], width: usize) -> Vec<Vec<Option<&'r str>>> {
    let mut columns = vec![Vec::with_capacity(rows.len()); width];
    for row in rows {
        for (column, value) in columns.iter_mut().zip(row.iter()) {
            column.push(value.as_deref());
        }
    }
    columns
}

fn params<'a>(columns: &'a [Vec<Option<&'a str>>]) -> Vec<&'a (dyn ToSql + Sync)> {
    columns.iter().map(|c| c as &(dyn ToSql + Sync)).collect()
}
