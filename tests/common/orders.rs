//! The orders of the connector tests and the windowed totals they write to PostgreSQL.

use fuseflow::WindowResult;

/// One order, as JSON in a Kafka topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize, serde::Serialize)]
pub struct Order {
    pub id: u64,
    pub user: String,
    pub amount: u64,
    pub ts: i64,
}

/// A row of the `totals` and `firings` tables ([`super::pg::create_totals_tables`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Total {
    pub user_id: String,
    pub window_end: i64,
    pub amount: u64,
}

impl From<WindowResult<String, u64>> for Total {
    fn from(r: WindowResult<String, u64>) -> Self {
        Total {
            user_id: r.key,
            window_end: r.end,
            amount: r.value,
        }
    }
}

/// Orders `ids`, 100 ms apart in event time, of 7 users, every fifth one 0.5 s behind
/// (out of order, within a 1 s bound: none is late).
pub fn out_of_order(ids: std::ops::Range<u64>) -> Vec<Order> {
    ids.map(|id| Order {
        id,
        user: format!("u{}", id % 7),
        amount: id % 13 + 1,
        ts: id as i64 * 100 - if id % 5 == 4 { 500 } else { 0 },
    })
    .collect()
}

/// `orders` as JSON messages, order `id` on partition `id % partitions`.
pub fn messages(orders: &[Order], partitions: i32) -> Vec<(i32, Vec<u8>)> {
    orders
        .iter()
        .map(|o| ((o.id % partitions as u64) as i32, serde_json::to_vec(o).unwrap()))
        .collect()
}
