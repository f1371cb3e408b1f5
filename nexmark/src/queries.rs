//! The Nexmark queries as `pipeline!` jobs.
//!
//! Each function builds the job of one query over the first `events` events of a
//! [`Generator`] and hands every output row to `sink` (the DSL's `for_each` sink: a
//! blackhole in the benchmark, a collecting closure in the tests, a printer in the example).
//! The SQL each follows is Flink's Nexmark (`nexmark-flink/src/main/resources/queries`).
//!
//! **Sources.** The stateless queries generate events with a parallel source
//! (`generate(…).parallel()`): at parallelism `p`, `p` instances each generate every `p`-th
//! event and run the whole fused chain behind them on their own thread, with no exchange,
//! like the splits of Flink's parallel Nexmark source. The keyed queries generate on one
//! source thread, where the watermark is assigned on the whole stream in order: a watermark
//! cannot follow a parallel source (each instance sees only its share of the event times, so
//! lateness would depend on how fast the threads run).
//!
//! **Event time.** As in Flink's DDL, timestamps and the 4 s bounded-out-of-orderness
//! watermark are assigned on the whole event stream (persons and auctions advance it too),
//! before the `bid` view is taken.

use crate::Generator;
use crate::model::{Bid, Event, Str};
use crate::rows::{Q1Row, Q2Row, Q5Row, Q7Row, Q10Row, Q12Row, Q13Row, Q14Row, Q21Row, Q22Row};
use fuseflow::{AggregateFunction, Job, WindowResult, pipeline};
use std::borrow::Cow;

/// Q0, pass-through: every bid, unchanged (measures the source and the sink).
///
/// ```sql
/// SELECT auction, bidder, price, dateTime, extra FROM bid;
/// ```
pub fn q0<'a>(generator: &'a Generator, events: u64, sink: impl FnMut(Bid) + Clone + Send + 'a) -> Job<'a> {
    pipeline! {
        job { name: "nexmark-q0" }
        generate(events, |i| generator.event(i))
            .parallel()
            .filter_map(Event::into_bid)
            .sink(for_each(sink));
    }
}

/// Q1, currency conversion: every bid with its price in euros.
///
/// ```sql
/// SELECT auction, bidder, 0.908 * price as price, dateTime, extra FROM bid;
/// ```
pub fn q1<'a>(generator: &'a Generator, events: u64, sink: impl FnMut(Q1Row) + Clone + Send + 'a) -> Job<'a> {
    pipeline! {
        job { name: "nexmark-q1" }
        generate(events, |i| generator.event(i))
            .parallel()
            .filter_map(Event::into_bid)
            .map(|b| Q1Row {
                auction: b.auction,
                bidder: b.bidder,
                price: 0.908 * b.price as f64,
                date_time: b.date_time,
                extra: b.extra,
            })
            .sink(for_each(sink));
    }
}

/// Q2, selection: the bids on one auction in 123.
///
/// ```sql
/// SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0;
/// ```
pub fn q2<'a>(generator: &'a Generator, events: u64, sink: impl FnMut(Q2Row) + Clone + Send + 'a) -> Job<'a> {
    pipeline! {
        job { name: "nexmark-q2" }
        generate(events, |i| generator.event(i))
            .parallel()
            .filter_map(Event::into_bid)
            .filter(|b| b.auction % 123 == 0)
            .map(|b| Q2Row { auction: b.auction, price: b.price })
            .sink(for_each(sink));
    }
}

/// The auctions with the most bids of a window: `(count, auctions)` (Q5's second step).
#[derive(Debug, Clone, Copy, Default)]
pub struct HottestAuctions;

impl AggregateFunction<WindowResult<u64, u64>> for HottestAuctions {
    type Acc = (u64, Vec<u64>);
    type Out = (u64, Vec<u64>);
    fn create_accumulator(&self) -> Self::Acc {
        (0, Vec::new())
    }
    fn add(&mut self, acc: &mut Self::Acc, r: WindowResult<u64, u64>) {
        if r.value > acc.0 {
            acc.0 = r.value;
            acc.1.clear();
        }
        if r.value == acc.0 {
            acc.1.push(r.key);
        }
    }
    fn get_result(&self, acc: &Self::Acc) -> Self::Out {
        acc.clone()
    }
    fn merge(&self, a: Self::Acc, b: Self::Acc) -> Self::Acc {
        match a.0.cmp(&b.0) {
            std::cmp::Ordering::Less => b,
            std::cmp::Ordering::Greater => a,
            std::cmp::Ordering::Equal => (a.0, [a.1, b.1].concat()),
        }
    }
}

/// Q5, hot items, as tumbling windows: per 10 s window, the auctions with the most bids.
///
/// Flink's Q5 counts over sliding (hop) windows of 10 s every 2 s; the DSL has tumbling
/// windows only, so this is Q5 on tumbling 10 s windows. The `MAX` self-join is a second
/// window over the first one's results, keyed by window. Only the auction id crosses the
/// exchange (the projection Flink's planner pushes down too), so a bid's strings are freed
/// on the thread that made them.
///
/// ```sql
/// SELECT auction, num FROM (SELECT auction, count(*) AS num, window_start, window_end
///   FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
///   GROUP BY auction, window_start, window_end) … WHERE num >= max(num) of the window;
/// ```
pub fn q5<'a>(generator: &'a Generator, events: u64, sink: impl FnMut(Q5Row) + Clone + Send + 'a) -> Job<'a> {
    pipeline! {
        job { name: "nexmark-q5" }
        generate(events, |i| generator.event(i))
            .timestamps(|e| e.date_time())
            .watermarks(bounded_out_of_orderness(4s))
            .filter_map(Event::into_bid)
            .map(|b| b.auction)
            .key_by(|auction| *auction)
            .window(tumbling(10s))
            .drop_late_data()
            .count()
            .key_by(|c| c.start)
            .window(tumbling(10s))
            .drop_late_data()
            .aggregate(HottestAuctions)
            .flat_map(|w| {
                let (num, auctions) = w.value;
                auctions.into_iter().map(move |auction| Q5Row { start: w.start, end: w.end, auction, num })
            })
            .sink(for_each(sink));
    }
}

/// The bids with the highest price of a window (Q7's `MAX` and join).
#[derive(Debug, Clone, Copy, Default)]
pub struct HighestBids;

impl AggregateFunction<Bid> for HighestBids {
    type Acc = Vec<Bid>;
    type Out = Vec<Bid>;
    fn create_accumulator(&self) -> Vec<Bid> {
        Vec::new()
    }
    fn add(&mut self, acc: &mut Vec<Bid>, b: Bid) {
        match acc.first().map(|top| top.price) {
            Some(top) if b.price < top => {}
            Some(top) if b.price == top => acc.push(b),
            _ => {
                acc.clear();
                acc.push(b);
            }
        }
    }
    fn get_result(&self, acc: &Vec<Bid>) -> Vec<Bid> {
        acc.clone()
    }
    fn merge(&self, a: Vec<Bid>, b: Vec<Bid>) -> Vec<Bid> {
        let (mut me, mut out) = (*self, a);
        for bid in b {
            me.add(&mut out, bid);
        }
        out
    }
}

/// The start of the 10 s tumbling window holding `ts` (Q7's key).
#[inline]
fn window_10s(ts: i64) -> i64 {
    ts - ts.rem_euclid(10_000)
}

/// Q7, highest bid, per tumbling 10 s window: the bids with the window's highest price.
///
/// The DSL's windows are keyed (there is no `windowAll`), so the bids are keyed by their
/// window's start, which puts each window on one worker.
///
/// ```sql
/// SELECT B.auction, B.price, B.bidder, B.dateTime, B.extra FROM bid B
/// JOIN (SELECT MAX(price) AS maxprice, window_end as dateTime
///   FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
///   GROUP BY window_start, window_end) B1
/// ON B.price = B1.maxprice
/// WHERE B.dateTime BETWEEN B1.dateTime - INTERVAL '10' SECOND AND B1.dateTime;
/// ```
pub fn q7<'a>(generator: &'a Generator, events: u64, sink: impl FnMut(Q7Row) + Clone + Send + 'a) -> Job<'a> {
    pipeline! {
        job { name: "nexmark-q7" }
        generate(events, |i| generator.event(i))
            .timestamps(|e| e.date_time())
            .watermarks(bounded_out_of_orderness(4s))
            .filter_map(Event::into_bid)
            .key_by(|b| window_10s(b.date_time))
            .window(tumbling(10s))
            .drop_late_data()
            .aggregate(HighestBids)
            .flat_map(|w| {
                w.value.into_iter().map(|b| Q7Row {
                    auction: b.auction,
                    price: b.price,
                    bidder: b.bidder,
                    date_time: b.date_time,
                    extra: b.extra,
                })
            })
            .sink(for_each(sink));
    }
}

/// The civil date `(year, month, day)` of `days` since 1970-01-01 (proleptic Gregorian).
#[inline]
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's algorithm: eras of 400 years starting on March 1st.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Appends `n` as `width` decimal digits (zero-padded, the last `width` digits if longer).
#[inline]
fn push_digits(out: &mut String, n: u64, width: u32) {
    let mut div = 10u64.pow(width - 1);
    for _ in 0..width {
        out.push(char::from(b'0' + ((n / div) % 10) as u8));
        div /= 10;
    }
}

/// `DATE_FORMAT(date_time, 'yyyy-MM-dd')` and `DATE_FORMAT(date_time, 'HH:mm')` in UTC (years
/// 0 to 9999).
pub fn date_and_minute(date_time: i64) -> (String, String) {
    let (days, ms) = (date_time.div_euclid(86_400_000), date_time.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    let mut dt = String::with_capacity(10);
    push_digits(&mut dt, y.clamp(0, 9_999) as u64, 4);
    dt.push('-');
    push_digits(&mut dt, u64::from(m), 2);
    dt.push('-');
    push_digits(&mut dt, u64::from(d), 2);
    let minutes = (ms / 60_000) as u64;
    let mut hm = String::with_capacity(5);
    push_digits(&mut hm, minutes / 60, 2);
    hm.push(':');
    push_digits(&mut hm, minutes % 60, 2);
    (dt, hm)
}

/// Q10, log to a file system: every bid with its date and minute as partition columns.
///
/// Flink writes the rows to files partitioned by `dt` and `hm`; the DSL's file sinks do not
/// partition, so the job hands rows to `sink` like the others.
///
/// ```sql
/// SELECT auction, bidder, price, dateTime, extra,
///   DATE_FORMAT(dateTime, 'yyyy-MM-dd'), DATE_FORMAT(dateTime, 'HH:mm') FROM bid;
/// ```
pub fn q10<'a>(generator: &'a Generator, events: u64, sink: impl FnMut(Q10Row) + Clone + Send + 'a) -> Job<'a> {
    pipeline! {
        job { name: "nexmark-q10" }
        generate(events, |i| generator.event(i))
            .parallel()
            .filter_map(Event::into_bid)
            .map(|b| {
                let (dt, hm) = date_and_minute(b.date_time);
                Q10Row { auction: b.auction, bidder: b.bidder, price: b.price, date_time: b.date_time, extra: b.extra, dt, hm }
            })
            .sink(for_each(sink));
    }
}

/// Q13's side input: a value for each key `0..10,000`, as the file Flink's Nexmark generates
/// for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SideInput {
    values: Vec<String>,
}

impl SideInput {
    /// Keys in the side input.
    pub const KEYS: u64 = 10_000;

    /// The side input: key `k`'s value is `value-<k>`.
    pub fn new() -> Self {
        SideInput {
            values: (0..Self::KEYS).map(|k| format!("value-{k}")).collect(),
        }
    }

    /// The value of `key`, if the side input has one.
    #[inline]
    pub fn get(&self, key: u64) -> Option<&str> {
        self.values.get(usize::try_from(key).ok()?).map(String::as_str)
    }
}

impl Default for SideInput {
    fn default() -> Self {
        SideInput::new()
    }
}

/// Q13, bounded side-input join: every bid with the side input's value for its auction.
///
/// The side input is static, so the processing-time temporal join is a lookup in a table
/// the job borrows.
///
/// ```sql
/// SELECT B.auction, B.bidder, B.price, B.dateTime, S.value
/// FROM (SELECT *, PROCTIME() as p_time FROM bid) B JOIN side_input
///   FOR SYSTEM_TIME AS OF B.p_time AS S ON mod(B.auction, 10000) = S.key;
/// ```
pub fn q13<'a>(
    generator: &'a Generator,
    side: &'a SideInput,
    events: u64,
    sink: impl FnMut(Q13Row<'a>) + Clone + Send + 'a,
) -> Job<'a> {
    pipeline! {
        job { name: "nexmark-q13" }
        generate(events, |i| generator.event(i))
            .parallel()
            .filter_map(Event::into_bid)
            .filter_map(|b| {
                let value = side.get(b.auction % SideInput::KEYS)?;
                Some(Q13Row { auction: b.auction, bidder: b.bidder, price: b.price, date_time: b.date_time, value })
            })
            .sink(for_each(sink));
    }
}

/// Q12, processing-time windows: bids per bidder in tumbling 10 s windows of the wall clock.
/// Only the bidder id crosses the exchange, as in Q5.
///
/// ```sql
/// SELECT bidder, count(*) as bid_count, window_start, window_end
/// FROM TABLE(TUMBLE(TABLE (SELECT *, PROCTIME() as p_time FROM bid),
///   DESCRIPTOR(p_time), INTERVAL '10' SECOND))
/// GROUP BY bidder, window_start, window_end;
/// ```
pub fn q12<'a>(generator: &'a Generator, events: u64, sink: impl FnMut(Q12Row) + Clone + Send + 'a) -> Job<'a> {
    pipeline! {
        job { name: "nexmark-q12" }
        generate(events, |i| generator.event(i))
            .filter_map(Event::into_bid)
            .map(|b| b.bidder)
            .key_by(|bidder| *bidder)
            .window(tumbling_processing_time(10s))
            .count()
            .map(|w| Q12Row { bidder: w.key, bid_count: w.value, start: w.start, end: w.end })
            .sink(for_each(sink));
    }
}

/// Q14's user-defined function: how many times `c` occurs in `s`.
#[inline]
pub fn count_char(s: &str, c: char) -> u64 {
    if c.is_ascii() {
        let b = c as u8;
        s.as_bytes().iter().filter(|&&x| x == b).count() as u64
    } else {
        s.chars().filter(|&x| x == c).count() as u64
    }
}

/// Q14's `CASE` on the hour (UTC) of `date_time`.
#[inline]
pub fn bid_time_type(date_time: i64) -> &'static str {
    match date_time.div_euclid(3_600_000).rem_euclid(24) {
        8..=18 => "dayTime",
        0..=6 | 20..=23 => "nightTime",
        _ => "otherTime",
    }
}

/// Q14, calculation: a price filter, a `CASE` and a UDF (`count_char`) on every bid.
///
/// ```sql
/// SELECT auction, bidder, 0.908 * price as price,
///   CASE WHEN HOUR(dateTime) >= 8 AND HOUR(dateTime) <= 18 THEN 'dayTime'
///        WHEN HOUR(dateTime) <= 6 OR HOUR(dateTime) >= 20 THEN 'nightTime'
///        ELSE 'otherTime' END AS bidTimeType,
///   dateTime, extra, count_char(extra, 'c') AS c_counts
/// FROM bid WHERE 0.908 * price > 1000000 AND 0.908 * price < 50000000;
/// ```
pub fn q14<'a>(generator: &'a Generator, events: u64, sink: impl FnMut(Q14Row) + Clone + Send + 'a) -> Job<'a> {
    pipeline! {
        job { name: "nexmark-q14" }
        generate(events, |i| generator.event(i))
            .parallel()
            .filter_map(Event::into_bid)
            .filter_map(|b| {
                let price = 0.908 * b.price as f64;
                (price > 1_000_000.0 && price < 50_000_000.0).then(|| Q14Row {
                    auction: b.auction,
                    bidder: b.bidder,
                    price,
                    bid_time_type: bid_time_type(b.date_time),
                    date_time: b.date_time,
                    c_counts: count_char(&b.extra, 'c'),
                    extra: b.extra,
                })
            })
            .sink(for_each(sink));
    }
}

/// `s[range]` as a [`Str`], borrowing when `s` borrows a static string.
#[inline]
fn substr(s: &Str, range: std::ops::Range<usize>) -> Str {
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(&b[range]),
        Cow::Owned(o) => Cow::Owned(o[range].to_owned()),
    }
}

/// The high bit of each byte of the result is set exactly where `word` has the byte `needle`
/// (a word-wise zero-byte test on `word ^ needle…`).
#[inline]
fn byte_mask(word: u64, needle: u8) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let x = word ^ u64::from_le_bytes([needle; 8]);
    !(((x & LOW7) + LOW7) | x | LOW7)
}

/// Calls `found(position)` for each `needle` in `hay`, in order, until it returns `false`,
/// reading eight bytes at a time: URLs are short, so this beats both a byte loop (one
/// mispredicted branch per match) and `memchr`'s set-up.
#[inline]
fn for_each_byte(hay: &[u8], needle: u8, from: usize, mut found: impl FnMut(usize) -> bool) {
    let Some(rest) = hay.get(from..) else { return };
    let mut chunks = rest.chunks_exact(8);
    for (k, chunk) in chunks.by_ref().enumerate() {
        let mut mask = byte_mask(u64::from_le_bytes(chunk.try_into().expect("8 bytes")), needle);
        while mask != 0 {
            if !found(from + 8 * k + (mask.trailing_zeros() / 8) as usize) {
                return;
            }
            mask &= mask - 1;
        }
    }
    let tail = chunks.remainder();
    let base = hay.len() - tail.len();
    for (i, &b) in tail.iter().enumerate() {
        if b == needle && !found(base + i) {
            return;
        }
    }
}

/// The first position at or after `from` of `needle` in `hay` (see [`for_each_byte`]).
#[inline]
pub fn find_byte(hay: &[u8], needle: u8, from: usize) -> Option<usize> {
    let mut first = None;
    for_each_byte(hay, needle, from, |at| {
        first = Some(at);
        false
    });
    first
}

/// `REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2)`: the value of the first
/// `channel_id` parameter that starts the URL or follows a `&`.
///
/// A scan over the `&`-separated segments with [`find_byte`]: URLs are short, and a general
/// substring search costs more than the scan.
pub fn channel_id_param(url: &Str) -> Option<Str> {
    const KEY: &[u8] = b"channel_id=";
    let bytes = url.as_bytes();
    let mut segment = 0;
    loop {
        let end = find_byte(bytes, b'&', segment).unwrap_or(bytes.len());
        if bytes[segment..end].starts_with(KEY) {
            return Some(substr(url, segment + KEY.len()..end));
        }
        if end == bytes.len() {
            return None;
        }
        segment = end + 1;
    }
}

/// Q21, channel ids: `0`–`3` for the hot channels, else the id in the URL; bids with
/// neither are dropped.
///
/// ```sql
/// SELECT auction, bidder, price, channel,
///   CASE WHEN lower(channel) = 'apple' THEN '0' WHEN lower(channel) = 'google' THEN '1'
///        WHEN lower(channel) = 'facebook' THEN '2' WHEN lower(channel) = 'baidu' THEN '3'
///        ELSE REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) END AS channel_id
/// FROM bid WHERE REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) is not null
///   or lower(channel) in ('apple', 'google', 'facebook', 'baidu');
/// ```
pub fn q21<'a>(generator: &'a Generator, events: u64, sink: impl FnMut(Q21Row) + Clone + Send + 'a) -> Job<'a> {
    pipeline! {
        job { name: "nexmark-q21" }
        generate(events, |i| generator.event(i))
            .parallel()
            .filter_map(Event::into_bid)
            .filter_map(|b| {
                let hot = ["apple", "google", "facebook", "baidu"]
                    .iter()
                    .position(|h| b.channel.eq_ignore_ascii_case(h));
                let channel_id = match hot {
                    Some(i) => Cow::Borrowed(["0", "1", "2", "3"][i]),
                    None => channel_id_param(&b.url)?,
                };
                Some(Q21Row { auction: b.auction, bidder: b.bidder, price: b.price, channel: b.channel, channel_id })
            })
            .sink(for_each(sink));
    }
}

/// The `/`-separated parts `first .. first + N` (from 0) of `s`, each `None` past the last
/// part (`SPLIT_INDEX(s, '/', first + k)`), found in one pass over the bytes
/// ([`for_each_byte`]).
#[inline]
pub fn split_parts<const N: usize>(s: &Str, first: usize) -> [Option<Str>; N] {
    let mut out = [const { None }; N];
    let (mut part, mut start) = (0, 0);
    for_each_byte(s.as_bytes(), b'/', 0, |at| {
        if part >= first {
            out[part - first] = Some(substr(s, start..at));
        }
        part += 1;
        start = at + 1;
        part < first + N
    });
    if part >= first && part < first + N {
        out[part - first] = Some(substr(s, start..s.len()));
    }
    out
}

/// Q22, URL directories: the first three directories of every bid's URL.
///
/// ```sql
/// SELECT auction, bidder, price, channel,
///   SPLIT_INDEX(url, '/', 3) as dir1, SPLIT_INDEX(url, '/', 4) as dir2,
///   SPLIT_INDEX(url, '/', 5) as dir3 FROM bid;
/// ```
pub fn q22<'a>(generator: &'a Generator, events: u64, sink: impl FnMut(Q22Row) + Clone + Send + 'a) -> Job<'a> {
    pipeline! {
        job { name: "nexmark-q22" }
        generate(events, |i| generator.event(i))
            .parallel()
            .filter_map(Event::into_bid)
            .map(|b| {
                let [dir1, dir2, dir3] = split_parts(&b.url, 3);
                Q22Row { auction: b.auction, bidder: b.bidder, price: b.price, channel: b.channel, dir1, dir2, dir3 }
            })
            .sink(for_each(sink));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udfs() {
        assert_eq!(count_char("cacbc", 'c'), 3);
        assert_eq!(count_char("ééa", 'é'), 2);
        assert_eq!(bid_time_type(8 * 3_600_000), "dayTime");
        assert_eq!(bid_time_type(19 * 3_600_000 - 1), "dayTime");
        assert_eq!(bid_time_type(19 * 3_600_000), "otherTime");
        assert_eq!(bid_time_type(7 * 3_600_000), "otherTime");
        assert_eq!(bid_time_type(-1), "nightTime");
        let url: Str = "https://www.nexmark.com/a/b_c/d/item.htm?query=1&channel_id=42&x=1".into();
        assert_eq!(channel_id_param(&url).as_deref(), Some("42"));
        assert_eq!(channel_id_param(&"channel_id=7".into()).as_deref(), Some("7"));
        assert_eq!(channel_id_param(&"a?channel_id=7&xchannel_id=1".into()), None);
        assert_eq!(channel_id_param(&"a&channel_id=".into()).as_deref(), Some(""));
        let owned = |parts: [Option<Str>; 2]| parts.map(|p| p.map(String::from));
        assert_eq!(owned(split_parts(&url, 3)), [Some("a".into()), Some("b_c".into())]);
        assert_eq!(
            owned(split_parts(&url, 6)),
            [Some("item.htm?query=1&channel_id=42&x=1".into()), None]
        );
        assert_eq!(
            owned(split_parts(&"a/b".into(), 0)),
            [Some("a".into()), Some("b".into())]
        );
        assert_eq!(owned(split_parts(&"a/b".into(), 2)), [None, None]);
        assert!(matches!(
            split_parts::<1>(&Cow::Borrowed("a/b"), 1),
            [Some(Cow::Borrowed("b"))]
        ));
        let hay = b"0123456789abcdef/x&";
        for (i, &b) in hay.iter().enumerate() {
            assert_eq!(find_byte(hay, b, 0), Some(i));
            assert_eq!(find_byte(hay, b, i + 1), None);
        }
        assert_eq!(find_byte(hay, b'/', 20), None);
        assert_eq!(find_byte(b"\x80/\xff//", b'/', 0), Some(1));
        assert_eq!(find_byte(b"\x80/\xff\x2e\x2e\x2e\x2e\x2e\x2e\x2e/", b'/', 2), Some(10));
    }

    #[test]
    fn dates_and_minutes_are_formatted_in_utc() {
        assert_eq!(date_and_minute(0), ("1970-01-01".into(), "00:00".into()));
        assert_eq!(date_and_minute(-1), ("1969-12-31".into(), "23:59".into()));
        // 2024-02-29T13:07:59.999Z
        assert_eq!(
            date_and_minute(1_709_212_079_999),
            ("2024-02-29".into(), "13:07".into())
        );
        assert_eq!(date_and_minute(951_782_400_000), ("2000-02-29".into(), "00:00".into()));
        assert_eq!(SideInput::new().get(9_999), Some("value-9999"));
        assert_eq!(SideInput::new().get(10_000), None);
    }

    #[test]
    fn the_window_aggregates_keep_every_tie() {
        let r = |key, value| WindowResult {
            key,
            start: 0,
            end: 10,
            value,
        };
        let mut h = HottestAuctions;
        let mut acc = h.create_accumulator();
        for (k, v) in [(1, 2), (2, 5), (3, 5), (4, 1)] {
            h.add(&mut acc, r(k, v));
        }
        assert_eq!(h.get_result(&acc), (5, vec![2, 3]));
        assert_eq!(h.merge(acc, (5, vec![9])), (5, vec![2, 3, 9]));
    }
}
