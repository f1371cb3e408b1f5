//! The queries as straightforward Rust over the generated events, written independently of
//! the `pipeline!` jobs (plain loops, maps and `str` methods), to check the jobs against.
//!
//! The event-time queries follow the jobs' (Flink's) rules: the watermark is the largest
//! event time seen so far minus 4 s minus 1 ms, over all events; a bid whose window's last
//! millisecond is at or before the watermark when it arrives is late and dropped; every
//! other window is complete at the end of the input.

use crate::Generator;
use crate::model::{Bid, Event, Str};
use crate::queries::SideInput;
use crate::rows::{Q1Row, Q2Row, Q5Row, Q7Row, Q10Row, Q13Row, Q14Row, Q21Row, Q22Row};
use std::collections::BTreeMap;

/// The bids among the first `events` events, in emission order.
pub fn bids(generator: &Generator, events: u64) -> Vec<Bid> {
    let mut out = Vec::new();
    for i in 0..events {
        if let Event::Bid(b) = generator.event(i) {
            out.push(b);
        }
    }
    out
}

/// Q0: the bids.
pub fn q0(generator: &Generator, events: u64) -> Vec<Bid> {
    bids(generator, events)
}

/// Q1: the bids with prices times 0.908.
pub fn q1(generator: &Generator, events: u64) -> Vec<Q1Row> {
    let mut out = Vec::new();
    for b in bids(generator, events) {
        out.push(Q1Row {
            auction: b.auction,
            bidder: b.bidder,
            price: b.price as f64 * 0.908,
            date_time: b.date_time,
            extra: b.extra,
        });
    }
    out
}

/// Q2: auction and price of the bids on auctions divisible by 123.
pub fn q2(generator: &Generator, events: u64) -> Vec<Q2Row> {
    let mut out = Vec::new();
    for b in bids(generator, events) {
        if b.auction % 123 == 0 {
            out.push(Q2Row {
                auction: b.auction,
                price: b.price,
            });
        }
    }
    out
}

/// The bids that are on time for their 10 s window, each with its window's start, and the
/// number of late bids.
pub fn on_time_bids(generator: &Generator, events: u64) -> (Vec<(i64, Bid)>, u64) {
    const SIZE: i64 = 10_000;
    let mut max_seen: Option<i64> = None;
    let mut on_time = Vec::new();
    let mut late = 0;
    for i in 0..events {
        let e = generator.event(i);
        let ts = e.date_time();
        if let Event::Bid(b) = e {
            let start = ts.div_euclid(SIZE) * SIZE;
            let watermark = max_seen.map(|m| m - 4_000 - 1);
            if watermark.is_some_and(|wm| start + SIZE - 1 <= wm) {
                late += 1;
            } else {
                on_time.push((start, b));
            }
        }
        max_seen = Some(max_seen.map_or(ts, |m| m.max(ts)));
    }
    (on_time, late)
}

/// Q5 on tumbling 10 s windows: per window, every auction with the most bids; sorted.
pub fn q5(generator: &Generator, events: u64) -> Vec<Q5Row> {
    let mut counts: BTreeMap<i64, BTreeMap<u64, u64>> = BTreeMap::new();
    for (start, b) in on_time_bids(generator, events).0 {
        *counts.entry(start).or_default().entry(b.auction).or_default() += 1;
    }
    let mut out = Vec::new();
    for (start, per_auction) in counts {
        let max = per_auction.values().copied().max().unwrap_or(0);
        for (auction, num) in per_auction {
            if num == max {
                out.push(Q5Row {
                    start,
                    end: start + 10_000,
                    auction,
                    num,
                });
            }
        }
    }
    out
}

/// Q7 on tumbling 10 s windows: per window, every bid with the highest price; sorted.
pub fn q7(generator: &Generator, events: u64) -> Vec<Q7Row> {
    let mut windows: BTreeMap<i64, Vec<Bid>> = BTreeMap::new();
    for (start, b) in on_time_bids(generator, events).0 {
        windows.entry(start).or_default().push(b);
    }
    let mut out = Vec::new();
    for (_, bids) in windows {
        let max = bids.iter().map(|b| b.price).max().unwrap_or(0);
        for b in bids.into_iter().filter(|b| b.price == max) {
            out.push(Q7Row {
                auction: b.auction,
                price: b.price,
                bidder: b.bidder,
                date_time: b.date_time,
                extra: b.extra,
            });
        }
    }
    out.sort();
    out
}

/// Days in `month` of `year` (Gregorian).
fn days_in_month(year: i64, month: u32) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Q10: bids with `yyyy-MM-dd` and `HH:mm` of their time (UTC), counting days from 1970 on.
pub fn q10(generator: &Generator, events: u64) -> Vec<Q10Row> {
    let mut out = Vec::new();
    for b in bids(generator, events) {
        let secs = b.date_time.div_euclid(1_000);
        let (mut days, secs_of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (mut year, mut month) = (1970, 1);
        while days < 0 {
            year -= 1;
            days += (1..=12).map(|m| days_in_month(year, m)).sum::<i64>();
        }
        loop {
            let in_year: i64 = (1..=12).map(|m| days_in_month(year, m)).sum();
            if days < in_year {
                break;
            }
            days -= in_year;
            year += 1;
        }
        while days >= days_in_month(year, month) {
            days -= days_in_month(year, month);
            month += 1;
        }
        out.push(Q10Row {
            auction: b.auction,
            bidder: b.bidder,
            price: b.price,
            date_time: b.date_time,
            extra: b.extra,
            dt: format!("{year:04}-{month:02}-{:02}", days + 1),
            hm: format!("{:02}:{:02}", secs_of_day / 3_600, secs_of_day % 3_600 / 60),
        });
    }
    out
}

/// Q13: bids with the side input's value for `auction mod 10,000`.
pub fn q13<'a>(generator: &Generator, side: &'a SideInput, events: u64) -> Vec<Q13Row<'a>> {
    let mut out = Vec::new();
    for b in bids(generator, events) {
        if let Some(value) = side.get(b.auction % 10_000) {
            out.push(Q13Row {
                auction: b.auction,
                bidder: b.bidder,
                price: b.price,
                date_time: b.date_time,
                value,
            });
        }
    }
    out
}

/// Q12's totals: bids per bidder over the whole run (processing-time windows split these
/// counts in a way that depends on the wall clock, so only their sums can be checked).
pub fn q12_totals(generator: &Generator, events: u64) -> BTreeMap<u64, u64> {
    let mut totals = BTreeMap::new();
    for b in bids(generator, events) {
        *totals.entry(b.bidder).or_default() += 1;
    }
    totals
}

/// Q14: bids priced (× 0.908) strictly between 1 M and 50 M, with time of day and `c` count.
pub fn q14(generator: &Generator, events: u64) -> Vec<Q14Row> {
    let mut out = Vec::new();
    for b in bids(generator, events) {
        let price = b.price as f64 * 0.908;
        if !(price > 1_000_000.0 && price < 50_000_000.0) {
            continue;
        }
        let hour = b.date_time.rem_euclid(86_400_000) / 3_600_000;
        let bid_time_type = if (8..=18).contains(&hour) {
            "dayTime"
        } else if hour <= 6 || hour >= 20 {
            "nightTime"
        } else {
            "otherTime"
        };
        out.push(Q14Row {
            auction: b.auction,
            bidder: b.bidder,
            price,
            bid_time_type,
            date_time: b.date_time,
            c_counts: b.extra.matches('c').count() as u64,
            extra: b.extra,
        });
    }
    out
}

/// Q21: bids with a channel id (hot channel number, or the URL's `channel_id`).
pub fn q21(generator: &Generator, events: u64) -> Vec<Q21Row> {
    let mut out = Vec::new();
    for b in bids(generator, events) {
        let from_url = b.url.split('&').find_map(|part| part.strip_prefix("channel_id="));
        let channel_id = match b.channel.to_lowercase().as_str() {
            "apple" => "0".to_string(),
            "google" => "1".to_string(),
            "facebook" => "2".to_string(),
            "baidu" => "3".to_string(),
            _ => match from_url {
                Some(id) => id.to_string(),
                None => continue,
            },
        };
        out.push(Q21Row {
            auction: b.auction,
            bidder: b.bidder,
            price: b.price,
            channel: b.channel.clone(),
            channel_id: Str::Owned(channel_id),
        });
    }
    out
}

/// Q22: bids with the 4th, 5th and 6th `/`-separated parts of their URL.
pub fn q22(generator: &Generator, events: u64) -> Vec<Q22Row> {
    let mut out = Vec::new();
    for b in bids(generator, events) {
        let parts: Vec<&str> = b.url.split('/').collect();
        let part = |i: usize| parts.get(i).map(|s| Str::Owned(s.to_string()));
        out.push(Q22Row {
            auction: b.auction,
            bidder: b.bidder,
            price: b.price,
            channel: b.channel.clone(),
            dir1: part(3),
            dir2: part(4),
            dir3: part(5),
        });
    }
    out
}
