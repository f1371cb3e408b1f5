//! `checkpoints`: how long a checkpoint takes and how big it is, for a window holding one
//! accumulator per key for 1,000,000 keys (issue 4's benchmark), and how long a restore of it
//! takes.
//!
//! ```bash
//! cargo run --release -p fuseflow-bench --bin checkpoints -- [KEYS] [--parallelism N]
//! ```
//!
//! The job sums a value per key in a one-hour event-time window; the checkpoint is taken
//! after the last key's first record, while every key's accumulator is open, and the job then
//! fires the window. The numbers come from the checkpoint's manifest (trigger to completion,
//! state bytes) and from timing a run restored from it.

use fuseflow::checkpoint::{CheckpointConfig, Manifest, RestoreFrom};
use fuseflow::{Folded, Job, WindowResult, pipeline};
use std::time::Instant;

fn job<'a>(keys: u64, seen: &Folded<u64>) -> Job<'a> {
    pipeline! {
        job { name: "checkpoint-bench", checkpoint_every_records: 1_000_000 }
        let values = generate(keys, |i: u64| (i, 1u64));
        let sums = values
            .timestamps(|v| (v.0 % 1000) as i64)
            .watermarks(bounded_out_of_orderness(1s))
            .key_by(|v| v.0)
            .window(tumbling(1h))
            .drop_late_data()
            .sum(|v| v.1);
        sums.sink(fold(seen, 0u64, |acc: &mut u64, r: WindowResult<u64, u64>| *acc += r.value));
    }
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut keys = 1_000_000u64;
    let mut parallelism = 1usize;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--parallelism" | "-p" => parallelism = it.next().and_then(|p| p.parse().ok()).unwrap_or(1),
            n => match n.replace('_', "").parse() {
                Ok(k) => keys = k,
                Err(_) => {
                    eprintln!("error: expected a key count or --parallelism N, not `{n}`");
                    return std::process::ExitCode::from(2);
                }
            },
        }
    }
    let dir = std::env::temp_dir().join(format!("fuseflow-checkpoint-bench-{}", std::process::id()));
    let config = CheckpointConfig {
        retained: 10,
        ..CheckpointConfig::every_records(&dir, keys)
    };

    let seen = Folded::new();
    let started = Instant::now();
    let run = job(keys, &seen)
        .with_parallelism(parallelism)
        .with_checkpoints(config.clone())
        .run();
    if let Err(e) = run {
        eprintln!("error: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let full = started.elapsed();
    assert_eq!(seen.take().iter().sum::<u64>(), keys, "every key counted once");

    let manifest = match Manifest::load_verified(&dir.join("chk-1")) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let bytes: u64 = manifest
        .operators
        .values()
        .flat_map(|o| &o.files)
        .map(|f| f.bytes)
        .sum();

    let seen = Folded::new();
    let started = Instant::now();
    job(keys, &seen)
        .with_parallelism(parallelism)
        .with_checkpoints(config)
        .with_restore(RestoreFrom::Id(1))
        .run()
        .expect("restore");
    let restore = started.elapsed();
    assert_eq!(
        seen.take().iter().sum::<u64>(),
        keys,
        "the restored run counts every key once"
    );
    let _ = std::fs::remove_dir_all(&dir);

    println!("keys            {keys}");
    println!("parallelism     {parallelism}");
    println!("job run         {:.3} s (with the checkpoint)", full.as_secs_f64());
    println!("checkpoint      {} ms (trigger to manifest)", manifest.duration_ms);
    println!(
        "checkpoint size {:.1} MB ({:.1} bytes per key)",
        bytes as f64 / 1e6,
        bytes as f64 / keys as f64
    );
    println!(
        "restore + fire  {:.3} s (verify, read and rebuild {keys} accumulators, then fire them)",
        restore.as_secs_f64()
    );
    std::process::ExitCode::SUCCESS
}
