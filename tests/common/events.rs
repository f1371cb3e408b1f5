//! Out-of-order events as CSV for the recovery tests of the file and PostgreSQL sinks: the
//! same for a seed on every run.

use std::path::Path;

/// A small deterministic generator (xorshift), so the tests are the same on every run.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What [`write_events`] writes.
pub struct Events {
    /// The generator's seed.
    pub seed: u64,
    /// Events of users `u0` to `u<users - 1>`.
    pub users: u64,
    /// A malformed line (`amount` not a number) after every this many events, if any.
    pub malformed_every: Option<usize>,
}

/// Writes `n` events `user,amount,ts` to `path`: timestamps mostly increasing, 30% up to 3 s
/// out of order (some within windows' allowed lateness, so windows fire again), 2% very
/// late.
pub fn write_events(path: &Path, n: usize, events: &Events) {
    let mut rng = Rng(events.seed);
    let mut text = String::from("user,amount,ts\n");
    let mut t: i64 = 0;
    for i in 0..n {
        t += rng.below(40) as i64;
        let mut ts = t;
        if rng.below(100) < 30 {
            ts -= rng.below(3000) as i64;
        }
        if rng.below(100) < 2 {
            ts -= 5000 + rng.below(10_000) as i64;
        }
        if events.malformed_every.is_some_and(|every| i % every == every - 1) {
            text.push_str("u1,not-a-number,5\n");
        }
        text.push_str(&format!("u{},{},{ts}\n", rng.below(events.users), 1 + rng.below(100)));
    }
    std::fs::write(path, text).unwrap();
}
