//! Flink's event-time semantics, end to end through `pipeline!`: each test feeds out-of-order,
//! late or negative-timestamp data into a real job and checks every result. The rules are
//! those of `docs/semantics.md` (watermark = max timestamp − bound − 1, window start =
//! ts − ts.rem_euclid(size), fire at watermark ≥ end − 1, late when end − 1 + lateness ≤
//! watermark, every window fires at the end of a bounded input).

mod common;

use common::at_every_parallelism;
use fuseflow::{Collected, WindowResult, pipeline};

/// A keyed event: key, timestamp in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Ev {
    key: &'static str,
    ts: i64,
}

fn evs(list: &[(&'static str, i64)]) -> Vec<Ev> {
    list.iter().map(|&(key, ts)| Ev { key, ts }).collect()
}

fn wr(key: &'static str, start: i64, end: i64, value: u64) -> WindowResult<&'static str, u64> {
    WindowResult { key, start, end, value }
}

/// Results, late records and the late count of a windowed job.
type Counts = (Vec<WindowResult<&'static str, u64>>, Vec<Ev>, u64);

/// Counts per key in 1 s windows with a 1 s out-of-orderness bound and no lateness, at every
/// parallelism (checked equal); the results at parallelism 1.
fn count_1s(input: Vec<Ev>) -> Counts {
    at_every_parallelism(|p| count_1s_at(input.clone(), p))
}

fn count_1s_at(input: Vec<Ev>, parallelism: usize) -> Counts {
    let out = Collected::new();
    let late = Collected::new();
    let job = pipeline! {
        let counts = from_iter(input)
            .timestamps(|e| e.ts)
            .watermarks(bounded_out_of_orderness(1s))
            .key_by(|e| e.key)
            .window(tumbling(1s))
            .side_output_late_data(too_late)
            .count();
        counts.sink(collect(out));
        too_late.sink(collect(late));
    };
    let summary = job.with_parallelism(parallelism).run().expect("job runs");
    (out.take(), late.take(), summary.late)
}

#[test]
fn a_window_fires_only_when_the_watermark_reaches_its_end_minus_one() {
    // After ts=1999 the watermark is 1999 - 1000 - 1 = 998 < 999: [0, 1000) is still open,
    // so the out-of-order record at 500 is counted in it.
    let (out, late, n_late) = count_1s(evs(&[("a", 0), ("a", 1999), ("a", 500)]));
    assert_eq!(out, vec![wr("a", 0, 1000, 2), wr("a", 1000, 2000, 1)]);
    assert!(late.is_empty());
    assert_eq!(n_late, 0);
}

#[test]
fn a_record_for_a_fired_window_is_late_and_goes_to_the_side_output() {
    // After ts=2000 the watermark is 999 = end - 1 of [0, 1000): it fires, and 500 is late.
    let (out, late, n_late) = count_1s(evs(&[("a", 0), ("a", 2000), ("a", 500)]));
    assert_eq!(out, vec![wr("a", 0, 1000, 1), wr("a", 2000, 3000, 1)]);
    assert_eq!(late, evs(&[("a", 500)]));
    assert_eq!(n_late, 1);
}

#[test]
fn out_of_order_records_within_the_bound_land_in_their_own_windows() {
    let (out, late, _) = count_1s(evs(&[
        ("a", 1500),
        ("b", 900),
        ("a", 100),
        ("b", 1200),
        ("a", 1900),
        ("b", 999),
    ]));
    assert!(late.is_empty());
    // The watermark never reaches 999 (max ts 1900 - 1001 = 899), so b's 999 is on time and
    // every window fires at the end. Order: by window end, then by first arrival of the key.
    assert_eq!(
        out,
        vec![
            wr("b", 0, 1000, 2),
            wr("a", 0, 1000, 1),
            wr("a", 1000, 2000, 2),
            wr("b", 1000, 2000, 1)
        ]
    );
}

#[test]
fn negative_timestamps_are_assigned_to_the_right_windows() {
    let (out, _, _) = count_1s(evs(&[("a", -2500), ("a", -1), ("a", -1000), ("a", -1001), ("a", 0)]));
    assert_eq!(
        out,
        vec![
            wr("a", -3000, -2000, 1),
            wr("a", -2000, -1000, 1),
            wr("a", -1000, 0, 2),
            wr("a", 0, 1000, 1)
        ]
    );
}

#[test]
fn every_window_fires_at_the_end_of_a_bounded_input() {
    let (out, _, _) = count_1s(evs(&[("a", 10_000), ("b", 10_001), ("c", 50_000)]));
    assert_eq!(
        out,
        vec![
            wr("a", 10_000, 11_000, 1),
            wr("b", 10_000, 11_000, 1),
            wr("c", 50_000, 51_000, 1)
        ]
    );
}

#[test]
fn allowed_lateness_refires_with_updated_results_then_drops_the_window() {
    // Bound 0: watermark = max ts - 1. Lateness 2 s: [0,1000) is kept until watermark 2999.
    let input = evs(&[("a", 100), ("a", 1500), ("a", 200), ("a", 3000), ("a", 300)]);
    let (out, late, n_late) = at_every_parallelism(|p| {
        let (out, late) = (Collected::new(), Collected::new());
        let input = input.clone();
        let job = pipeline! {
            let counts = from_iter(input)
                .timestamps(|e| e.ts)
                .watermarks(bounded_out_of_orderness(0ms))
                .key_by(|e| e.key)
                .window(tumbling(1s))
                .allowed_lateness(2s)
                .side_output_late_data(too_late)
                .count();
            counts.sink(collect(out));
            too_late.sink(collect(late));
        };
        let summary = job.with_parallelism(p).run().unwrap();
        (out.take(), late.take(), summary.late)
    });
    assert_eq!(
        out,
        vec![
            wr("a", 0, 1000, 1),    // watermark 1499 fires [0,1000)
            wr("a", 0, 1000, 2),    // 200 is behind the watermark but within lateness: late firing
            wr("a", 1000, 2000, 1), // watermark 2999 fires [1000,2000) and cleans up [0,1000)
            wr("a", 3000, 4000, 1), // end of input
        ]
    );
    assert_eq!(late, evs(&[("a", 300)]));
    assert_eq!(n_late, 1);
}

#[test]
fn a_new_window_behind_the_watermark_but_within_lateness_fires_at_once() {
    let out = at_every_parallelism(|p| {
        let out = Collected::new();
        let input = evs(&[("a", 5000), ("b", 3500), ("a", 6000)]);
        let job = pipeline! {
            from_iter(input)
                .timestamps(|e| e.ts)
                .watermarks(monotonous())
                .key_by(|e| e.key)
                .window(tumbling(1s))
                .allowed_lateness(10s)
                .drop_late_data()
                .count()
                .sink(collect(out));
        };
        job.with_parallelism(p).run().unwrap();
        out.take()
    });
    // Watermark 4999 after the first record: b's [3000,4000) already passed its end, so the
    // record fires it immediately (Flink's EventTimeTrigger fires on element).
    assert_eq!(
        out,
        vec![wr("b", 3000, 4000, 1), wr("a", 5000, 6000, 1), wr("a", 6000, 7000, 1)]
    );
}

#[test]
fn monotonous_watermarks_make_an_earlier_timestamp_late() {
    let (out, late, n_late) = at_every_parallelism(|p| {
        let (out, late) = (Collected::new(), Collected::new());
        let input = evs(&[("a", 1000), ("a", 999), ("a", 1000)]);
        let job = pipeline! {
            let counts = from_iter(input)
                .timestamps(|e| e.ts)
                .watermarks(monotonous())
                .key_by(|e| e.key)
                .window(tumbling(1s))
                .side_output_late_data(l)
                .count();
            counts.sink(collect(out));
            l.sink(collect(late));
        };
        let s = job.with_parallelism(p).run().unwrap();
        (out.take(), late.take(), s.late)
    });
    // After ts=1000 the watermark is 999: [0,1000) is complete, 999 is late.
    assert_eq!(out, vec![wr("a", 1000, 2000, 2)]);
    assert_eq!(late, evs(&[("a", 999)]));
    assert_eq!(n_late, 1);
}

#[test]
fn the_same_input_gives_the_same_output_every_run_at_every_parallelism() {
    let input: Vec<Ev> = (0..5_000i64)
        .map(|i| Ev {
            key: ["a", "b", "c", "d", "e", "f", "g"][(i * 13 % 7) as usize],
            ts: i * 3 - (i * 7919 % 2500),
        })
        .collect();
    let first = count_1s(input.clone());
    for _ in 0..3 {
        assert_eq!(count_1s(input.clone()), first);
    }
    assert!(first.2 > 0, "the input should contain late records");
}

#[test]
fn window_results_carry_the_window_end_minus_one_as_timestamp() {
    // A second event-time window over window results: their timestamp is end - 1 (Flink's
    // window.maxTimestamp()), so 1 s windows roll up into a 10 s window. At parallelism > 1
    // this is a second exchange, fed by every worker of the first.
    let out = at_every_parallelism(|p| {
        let out = Collected::new();
        let input = evs(&[("a", 100), ("a", 1100), ("b", 2100), ("a", 12_000)]);
        let job = pipeline! {
            from_iter(input)
                .timestamps(|e| e.ts)
                .watermarks(monotonous())
                .key_by(|e| e.key)
                .window(tumbling(1s))
                .drop_late_data()
                .count()
                .key_by(|_w| "all")
                .window(tumbling(10s))
                .drop_late_data()
                .sum(|w| w.value)
                .sink(collect(out));
        };
        job.with_parallelism(p).run().unwrap();
        out.take()
    });
    assert_eq!(out, vec![wr("all", 0, 10_000, 3), wr("all", 10_000, 20_000, 1)]);
}
