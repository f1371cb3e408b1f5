//! Backpressure: a slow sink behind an exchange slows the source down instead of letting
//! records pile up in memory. The channels between chains are bounded, so while the sink is
//! stuck the number of records the source has produced stays under a fixed bound.

use fuseflow::pipeline;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[test]
fn a_stuck_sink_blocks_the_source_after_a_bounded_number_of_records() {
    const N: u64 = 1_000_000;
    let produced = AtomicU64::new(0);
    let consumed = AtomicU64::new(0);
    let gate_open = AtomicBool::new(false);
    let (produced, consumed, gate_open) = (&produced, &consumed, &gate_open);
    let job = move || {
        pipeline! {
            generate(N, |i| {
                produced.fetch_add(1, Ordering::Relaxed);
                i
            })
            .key_by(|i| i % 64)
            .sink(for_each(move |_| {
                while !gate_open.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                consumed.fetch_add(1, Ordering::Relaxed);
            }));
        }
    };
    std::thread::scope(|s| {
        let running = s.spawn(move || job().with_parallelism(2).run());
        // Let the source run until it blocks on full channels.
        let mut last = 0;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let now = produced.load(Ordering::Relaxed);
            if now == last || Instant::now() > deadline {
                break;
            }
            last = now;
        }
        let stalled_at = produced.load(Ordering::Relaxed);
        // Per worker: the channel's batches, the batch being handled and the one being filled.
        let bound = 2
            * (fuseflow::__private::exchange::CHANNEL_CAPACITY as u64 + 2)
            * fuseflow::__private::exchange::BATCH_SIZE as u64;
        assert!(
            stalled_at <= bound,
            "the source ran ahead by {stalled_at} records (bound {bound})"
        );
        assert!(stalled_at < N);
        gate_open.store(true, Ordering::Release);
        let summary = running.join().unwrap().unwrap();
        assert_eq!(summary.records_in, N);
    });
    assert_eq!(consumed.load(Ordering::Relaxed), N);
}
