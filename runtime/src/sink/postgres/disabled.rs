//! The PostgreSQL sink in a build without the `postgres` feature: a connection that cannot
//! be made, so the sink fails when the job opens it, naming the feature to turn on.

use super::row::Row;
use super::sql::TableInfo;
use crate::JobError;
use std::time::Duration;

/// One batch to commit (built, but never sent, without the feature).
#[allow(dead_code)]
pub(crate) struct Planned<'a> {
    pub(crate) origin: usize,
    pub(crate) id: u64,
    pub(crate) sql: &'a str,
    pub(crate) rows: Vec<&'a Row>,
    pub(crate) width: usize,
}

/// Which commits of a replaced history a transaction forgets first.
#[allow(dead_code)]
pub(crate) struct Forget {
    pub(crate) subtask: usize,
    pub(crate) subtasks: usize,
    pub(crate) after: u64,
}

/// A connection to PostgreSQL: none can exist without the feature.
#[derive(Debug)]
pub(crate) enum Db {}

impl Db {
    /// Fails: this build has no PostgreSQL client.
    pub(crate) fn connect(_url: &str, sink: &str, _timeout: Duration) -> Result<Db, JobError> {
        Err(JobError::Other(format!(
            "postgres sink `{sink}`: this build has no PostgreSQL client: turn on the `postgres` feature \
             (`fuseflow = {{ version = \"…\", features = [\"postgres\"] }}` in Cargo.toml)"
        )))
    }

    pub(crate) fn target(&self) -> &str {
        match *self {}
    }

    pub(crate) fn table(&mut self, _name: &str) -> Result<TableInfo, String> {
        match *self {}
    }

    pub(crate) fn create_commits_table(&mut self) -> Result<(), String> {
        match *self {}
    }

    pub(crate) fn write(&mut self, _sql: &str, _width: usize, _rows: &[&Row], _chunk: usize) -> Result<(), String> {
        match *self {}
    }

    pub(crate) fn commit(
        &mut self,
        _job: &str,
        _sink: &str,
        _forget: Option<&Forget>,
        _batches: &[Planned<'_>],
        _chunk: usize,
    ) -> Result<(Vec<bool>, u64), String> {
        match *self {}
    }
}
