//! What each query outputs: one row type per query, shared by the `pipeline!` jobs
//! ([`queries`](crate::queries)) and the reference implementations
//! ([`reference`](crate::reference)) so their outputs compare directly.

use crate::model::Str;
use serde::Serialize;

/// Q1: a bid with its price converted to euros.
#[derive(Debug, Clone, PartialEq, PartialOrd, Serialize)]
pub struct Q1Row {
    /// The auction.
    pub auction: u64,
    /// The bidder.
    pub bidder: u64,
    /// `0.908 × price`.
    pub price: f64,
    /// When the bid was placed.
    pub date_time: i64,
    /// The bid's `extra`.
    pub extra: String,
}

/// Q2: the auction and price of a bid on one auction in 123.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Q2Row {
    /// The auction (a multiple of 123).
    pub auction: u64,
    /// The price bid.
    pub price: u64,
}

/// Q5 (tumbling variant): an auction with the most bids in a window (every one of them if
/// several tie).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Q5Row {
    /// The window's start (ms).
    pub start: i64,
    /// The window's end (ms, exclusive).
    pub end: i64,
    /// The auction.
    pub auction: u64,
    /// Its number of bids in the window.
    pub num: u64,
}

/// Q7 (tumbling variant): a bid with the highest price of its window (every one of them if
/// several tie).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Q7Row {
    /// The auction.
    pub auction: u64,
    /// The price: the window's highest.
    pub price: u64,
    /// The bidder.
    pub bidder: u64,
    /// When the bid was placed.
    pub date_time: i64,
    /// The bid's `extra`.
    pub extra: String,
}

/// Q10: a bid with its date and minute, the partition columns Flink's Q10 writes files by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Q10Row {
    /// The auction.
    pub auction: u64,
    /// The bidder.
    pub bidder: u64,
    /// The price.
    pub price: u64,
    /// When the bid was placed.
    pub date_time: i64,
    /// The bid's `extra`.
    pub extra: String,
    /// `DATE_FORMAT(dateTime, 'yyyy-MM-dd')` (UTC).
    pub dt: String,
    /// `DATE_FORMAT(dateTime, 'HH:mm')` (UTC).
    pub hm: String,
}

/// Q13: a bid joined with the side-input value of its auction.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Q13Row<'a> {
    /// The auction.
    pub auction: u64,
    /// The bidder.
    pub bidder: u64,
    /// The price.
    pub price: u64,
    /// When the bid was placed.
    pub date_time: i64,
    /// The side input's value for `auction mod 10,000`.
    pub value: &'a str,
}

/// Q12: the number of bids of one bidder in a processing-time window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Q12Row {
    /// The bidder.
    pub bidder: u64,
    /// Bids in the window.
    pub bid_count: u64,
    /// The window's start (wall clock, ms).
    pub start: i64,
    /// The window's end (wall clock, ms, exclusive).
    pub end: i64,
}

/// Q14: a bid in a price range, with its time of day and the number of `c`s in `extra`.
#[derive(Debug, Clone, PartialEq, PartialOrd, Serialize)]
pub struct Q14Row {
    /// The auction.
    pub auction: u64,
    /// The bidder.
    pub bidder: u64,
    /// `0.908 × price`, in `(1,000,000, 50,000,000)`.
    pub price: f64,
    /// `dayTime` (8:00–18:59 UTC), `nightTime` (before 7:00 or from 20:00) or `otherTime`.
    pub bid_time_type: &'static str,
    /// When the bid was placed.
    pub date_time: i64,
    /// The bid's `extra`.
    pub extra: String,
    /// How many `c`s `extra` holds (the `count_char` UDF).
    pub c_counts: u64,
}

/// Q21: a bid with the id of its channel.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Q21Row {
    /// The auction.
    pub auction: u64,
    /// The bidder.
    pub bidder: u64,
    /// The price.
    pub price: u64,
    /// The channel.
    pub channel: Str,
    /// `0`–`3` for the hot channels, else the URL's `channel_id` parameter.
    pub channel_id: Str,
}

/// Q22: a bid with the first three directories of its URL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Q22Row {
    /// The auction.
    pub auction: u64,
    /// The bidder.
    pub bidder: u64,
    /// The price.
    pub price: u64,
    /// The channel.
    pub channel: Str,
    /// `SPLIT_INDEX(url, '/', 3)`.
    pub dir1: Option<Str>,
    /// `SPLIT_INDEX(url, '/', 4)`.
    pub dir2: Option<Str>,
    /// `SPLIT_INDEX(url, '/', 5)`.
    pub dir3: Option<Str>,
}
