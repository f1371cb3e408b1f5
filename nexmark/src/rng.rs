//! The generator's random numbers: a small, fast, seedable generator (wyrand) started afresh
//! for every event from the run's seed and the event's id, as the reference generator seeds
//! `java.util.Random` with the event id. So an event depends only on the seed, the
//! configuration and its own number: any worker can generate any event.
//!
//! Random strings are lowercase ASCII letters, eight per 64-bit draw (`extra`) or four
//! (`nextString`, with its special character).

/// A wyrand generator.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

/// SplitMix64's finalizer: a strong 64-bit mix.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A run's seed, mixed once: the key [`Rng::new`] combines with each event id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SeedKey(u64);

impl SeedKey {
    /// The key of a run seeded with `seed`.
    pub(crate) fn new(seed: u64) -> SeedKey {
        SeedKey(mix(seed.wrapping_add(0x9e37_79b9_7f4a_7c15)))
    }
}

impl Rng {
    /// The generator for the event (or table entry) `id` of the run with key `key`.
    #[inline]
    pub(crate) fn new(key: SeedKey, id: u64) -> Rng {
        Rng(mix(key.0 ^ id.wrapping_mul(0xd1b5_4a32_d192_ed03)))
    }

    /// 64 random bits.
    #[inline]
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// A number in `0..n` (`0` when `n` is 0), by multiply-shift (bias below `n / 2^64`).
    #[inline]
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A number in `[0, 1)`.
    #[inline]
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Fills `lanes` (a multiple of 4 long) with 16-bit random numbers, four per draw.
    #[inline]
    fn lanes(&mut self, lanes: &mut [u16]) {
        for draw in lanes.chunks_exact_mut(4) {
            let r = self.next_u64();
            for (k, lane) in draw.iter_mut().enumerate() {
                *lane = (r >> (16 * k)) as u16;
            }
        }
    }

    /// `len` random lowercase letters: the base-26 digits of random numbers, as the
    /// reference's `nextExtra`/`nextExactString` takes them (`rnd % 26`, then `rnd /= 26`,
    /// six letters per 31-bit draw), here two per 16 random bits, most significant digit
    /// first: `x × 26` holds the first letter above bit 16 and, below it, an even number
    /// that is uniform over the even numbers, whose `× 26` gives the second letter. No
    /// letter is more than 0.1% likelier than another. The draws and the digit loops are
    /// separate loops over blocks of 32 letters (16 lanes: the first digits, then the
    /// second), so the digits compile to 16-bit vector multiplies.
    #[allow(unsafe_code)] // See the SAFETY comment.
    pub(crate) fn letters(&mut self, len: usize) -> String {
        const LANES: usize = 16;
        const BLOCK: usize = 2 * LANES;
        // Whole blocks only, whatever `len`: fixed-size loops and copies compile to vector
        // code with no call; the letters past `len` are cut off at the end.
        let mut bytes = Vec::with_capacity(len.next_multiple_of(BLOCK));
        let mut lanes = [0u16; LANES];
        let mut block = [0u8; BLOCK];
        let mut left = len;
        while left > 0 {
            let n = left.min(BLOCK);
            self.lanes(&mut lanes[..n.div_ceil(2).next_multiple_of(4)]);
            let (first, second) = block.split_at_mut(LANES);
            for ((a, b), &x) in first.iter_mut().zip(second.iter_mut()).zip(&lanes) {
                let t = u32::from(x) * 26;
                *a = b'a' + (t >> 16) as u8;
                *b = b'a' + (((t & 0xffff) * 26) >> 16) as u8;
            }
            bytes.extend_from_slice(&block);
            left -= n;
        }
        bytes.truncate(len);
        // SAFETY: every byte is `b'a' + d` with `d` below 26 (a 16-bit fraction times 26,
        // shifted down by 16 bits), an ASCII letter, so the bytes are UTF-8. Checking them
        // again cost 9% of a bid's generation. `letters_and_strings_are_ascii` tests it.
        unsafe { String::from_utf8_unchecked(bytes) }
    }

    /// The reference's `nextString(max, special)`: 3 to `max - 1` characters, each `special`
    /// with probability 1/13 and otherwise a letter; trimmed when `special` is a space.
    ///
    /// Each character comes from 16 random bits: `v = (bits × 338) >> 16` in `0..338`, the
    /// special character for `v < 26` (1 in 13), else letter `v mod 26`.
    #[allow(unsafe_code)] // See the SAFETY comment.
    pub(crate) fn string(&mut self, max: u64, special: u8) -> String {
        const BLOCK: usize = 32;
        let len = (3 + self.below(max - 3)) as usize;
        let mut lanes = [0u16; BLOCK];
        let mut block = [0u8; BLOCK];
        let mut bytes = Vec::with_capacity(len.next_multiple_of(BLOCK));
        let mut left = len;
        while left > 0 {
            let n = left.min(BLOCK);
            self.lanes(&mut lanes[..n.div_ceil(4) * 4]);
            for (b, &lane) in block.iter_mut().zip(&lanes) {
                let v = (u32::from(lane) * 338) >> 16;
                // v % 26 as a multiply-shift (exact below 338).
                let letter = v - 26 * ((v * 2521) >> 16);
                *b = if v < 26 { special } else { b'a' + letter as u8 };
            }
            bytes.extend_from_slice(&block);
            left -= n;
        }
        bytes.truncate(len);
        debug_assert!(special.is_ascii());
        // SAFETY: every byte is `special` (an ASCII byte: the callers pass `b' '` or `b'_'`)
        // or `b'a' + v mod 26`, an ASCII letter, so the bytes are UTF-8.
        // `letters_and_strings_are_ascii` tests it.
        let s = unsafe { String::from_utf8_unchecked(bytes) };
        if special == b' ' {
            let t = s.trim();
            if t.len() != s.len() {
                return t.to_owned();
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_and_id_give_the_same_numbers_and_others_differ() {
        let draw = |seed, id| {
            let mut r = Rng::new(SeedKey::new(seed), id);
            (0..4).map(|_| r.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(draw(1, 2), draw(1, 2));
        assert_ne!(draw(1, 2), draw(1, 3));
        assert_ne!(draw(1, 2), draw(2, 2));
    }

    #[test]
    fn below_and_letters_cover_their_ranges_evenly() {
        let mut r = Rng::new(SeedKey::new(7), 0);
        let mut counts = [0u32; 13];
        for _ in 0..130_000 {
            counts[r.below(13) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (9_000..11_000).contains(&c)), "{counts:?}");
        let s = r.letters(26_000);
        assert_eq!(s.len(), 26_000);
        for c in b'a'..=b'z' {
            let n = s.bytes().filter(|&b| b == c).count();
            assert!((800..1_200).contains(&n), "{} appears {n} times", c as char);
        }
        assert!(s.bytes().all(|b| b.is_ascii_lowercase()));
        let u = r.unit();
        assert!((0.0..1.0).contains(&u));
    }

    #[test]
    fn letters_and_strings_are_ascii() {
        let mut r = Rng::new(SeedKey::new(11), 5);
        for len in 0..300 {
            let l = r.letters(len);
            assert_eq!(l.len(), len);
            assert!(l.bytes().all(|b| b.is_ascii_lowercase()), "{l:?}");
        }
        for _ in 0..2_000 {
            let s = r.string(20, b' ');
            assert!(s.bytes().all(|b| b == b' ' || b.is_ascii_lowercase()), "{s:?}");
            let u = r.string(30, b'_');
            assert!(u.bytes().all(|b| b == b'_' || b.is_ascii_lowercase()), "{u:?}");
        }
    }

    #[test]
    fn strings_have_the_reference_lengths() {
        let mut r = Rng::new(SeedKey::new(3), 9);
        for _ in 0..1_000 {
            let s = r.string(20, b' ');
            assert!(s.len() <= 19 && s == s.trim(), "{s:?}");
            let u = r.string(5, b'_');
            assert!((3..=4).contains(&u.len()), "{u:?}");
        }
    }
}
