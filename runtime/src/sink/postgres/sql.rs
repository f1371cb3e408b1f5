//! The SQL the PostgreSQL sink sends, built from the table's columns as the catalog
//! describes them and the columns of the records; pure functions, tested without a server.
//!
//! Rows travel as one `text[]` parameter per column and are cast to each column's type on
//! the server, in one statement per chunk of rows:
//!
//! ```sql
//! INSERT INTO "totals" ("user", "end", "sum")
//! SELECT r."user"::text, r."end"::bigint, r."sum"::numeric
//! FROM unnest($1::text[], $2::text[], $3::text[]) AS r("user", "end", "sum")
//! ON CONFLICT ("user", "end") DO UPDATE SET "sum" = EXCLUDED."sum"
//! ```

use super::WriteMode;
use super::row::Row;
use std::collections::BTreeMap;

/// The table that stores which batches are committed (created if missing).
pub(crate) const COMMITS_TABLE: &str = "fuseflow_commits";

/// The table written, as the catalog describes it.
#[derive(Debug, Clone)]
pub(crate) struct TableInfo {
    /// The name as the user gave it.
    pub(crate) name: String,
    /// The name as SQL (each part quoted unless the user quoted it).
    pub(crate) sql: String,
    /// Its columns and their types (`format_type` without modifiers), in order.
    pub(crate) columns: Vec<(String, String)>,
}

/// `name` as a quoted SQL identifier.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A table name as SQL: `schema.table` has each part quoted; a name that already contains a
/// double quote is taken as written.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn quote_table(name: &str) -> String {
    if name.contains('"') {
        return name.to_owned();
    }
    name.split('.').map(quote_ident).collect::<Vec<_>>().join(".")
}

/// `` `a`, `b` `` for messages.
fn listed<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names
        .into_iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The statement that writes rows with `columns` into `table`, or why it cannot be written:
/// a column the table does not have, or an upsert key that is not among the columns.
pub(crate) fn write_statement(table: &TableInfo, mode: &WriteMode, columns: &[String]) -> Result<String, String> {
    let mut types = Vec::with_capacity(columns.len());
    for c in columns {
        match table.columns.iter().find(|(name, _)| name == c) {
            Some((_, ty)) => types.push(ty.as_str()),
            None => {
                return Err(format!(
                    "table `{}` has no column `{c}` (the records' fields are {}; the table's columns are {})",
                    table.name,
                    listed(columns.iter().map(String::as_str)),
                    listed(table.columns.iter().map(|(n, _)| n.as_str()))
                ));
            }
        }
    }
    let cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let list = cols.join(", ");
    let casts: Vec<String> = cols.iter().zip(&types).map(|(c, ty)| format!("r.{c}::{ty}")).collect();
    let params: Vec<String> = (1..=cols.len()).map(|i| format!("${i}::text[]")).collect();
    let mut sql = format!(
        "INSERT INTO {} ({list}) SELECT {} FROM unnest({}) AS r({list})",
        table.sql,
        casts.join(", "),
        params.join(", ")
    );
    if let WriteMode::Upsert { key } = mode {
        let positions = key_positions(key, columns)?;
        let keys: Vec<&str> = positions.iter().map(|&i| cols[i].as_str()).collect();
        let updates: Vec<String> = cols
            .iter()
            .enumerate()
            .filter(|(i, _)| !positions.contains(i))
            .map(|(_, c)| format!("{c} = EXCLUDED.{c}"))
            .collect();
        if updates.is_empty() {
            sql += &format!(" ON CONFLICT ({}) DO NOTHING", keys.join(", "));
        } else {
            sql += &format!(
                " ON CONFLICT ({}) DO UPDATE SET {}",
                keys.join(", "),
                updates.join(", ")
            );
        }
    }
    Ok(sql)
}

/// Where the key columns of an upsert are among `columns`.
pub(crate) fn key_positions(key: &[String], columns: &[String]) -> Result<Vec<usize>, String> {
    key.iter()
        .map(|k| {
            columns.iter().position(|c| c == k).ok_or_else(|| {
                format!(
                    "the upsert key column `{k}` is not a field of the records (their fields are {})",
                    listed(columns.iter().map(String::as_str))
                )
            })
        })
        .collect()
}

/// The rows an upsert writes: for each key, only its last row (PostgreSQL refuses to update
/// a row twice in one statement, and the last row is the newest result), in key order, so
/// that concurrent upserts of overlapping keys lock them in the same order and cannot
/// deadlock.
pub(crate) fn last_per_key<'r>(rows: &'r [Row], key: &[usize]) -> Vec<&'r Row> {
    let mut last = BTreeMap::new();
    for row in rows {
        last.insert(key.iter().map(|&i| &row[i]).collect::<Vec<_>>(), row);
    }
    last.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> TableInfo {
        TableInfo {
            name: "totals".into(),
            sql: quote_table("totals"),
            columns: vec![
                ("user".into(), "text".into()),
                ("end".into(), "bigint".into()),
                ("sum".into(), "numeric".into()),
            ],
        }
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn inserts_cast_each_text_array_to_its_column_type() {
        let sql = write_statement(&table(), &WriteMode::Insert, &names(&["user", "sum"])).unwrap();
        assert_eq!(
            sql,
            "INSERT INTO \"totals\" (\"user\", \"sum\") SELECT r.\"user\"::text, r.\"sum\"::numeric \
             FROM unnest($1::text[], $2::text[]) AS r(\"user\", \"sum\")"
        );
    }

    #[test]
    fn upserts_update_the_columns_outside_the_key() {
        let mode = WriteMode::Upsert {
            key: names(&["user", "end"]),
        };
        let sql = write_statement(&table(), &mode, &names(&["user", "end", "sum"])).unwrap();
        assert!(
            sql.ends_with(" ON CONFLICT (\"user\", \"end\") DO UPDATE SET \"sum\" = EXCLUDED.\"sum\""),
            "{sql}"
        );
        let sql = write_statement(&table(), &mode, &names(&["user", "end"])).unwrap();
        assert!(sql.ends_with(" ON CONFLICT (\"user\", \"end\") DO NOTHING"), "{sql}");
    }

    #[test]
    fn a_missing_column_or_key_is_named() {
        let e = write_statement(&table(), &WriteMode::Insert, &names(&["user", "total"])).unwrap_err();
        assert!(e.contains("table `totals` has no column `total`"), "{e}");
        assert!(e.contains("the table's columns are `user`, `end`, `sum`"), "{e}");
        let mode = WriteMode::Upsert { key: names(&["id"]) };
        let e = write_statement(&table(), &mode, &names(&["user"])).unwrap_err();
        assert!(e.contains("upsert key column `id` is not a field"), "{e}");
    }

    #[test]
    fn names_are_quoted() {
        assert_eq!(quote_table("s.t"), "\"s\".\"t\"");
        assert_eq!(quote_table("\"Odd.Name\""), "\"Odd.Name\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn an_upsert_keeps_the_last_row_of_each_key_in_key_order() {
        let row = |k: &str, v: &str| vec![Some(k.to_owned()), Some(v.to_owned())];
        let rows = vec![row("c", "1"), row("a", "1"), row("b", "1"), row("a", "2")];
        let kept: Vec<&Row> = last_per_key(&rows, &[0]);
        assert_eq!(kept, [&row("a", "2"), &row("b", "1"), &row("c", "1")]);
    }
}
