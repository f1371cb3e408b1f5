//! The event generator, following the reference model (Beam's and Flink's Nexmark
//! `NexmarkGenerator`): event `n` is a person, an auction or a bid by `n`'s place in the
//! 1 : 3 : 46 period; its ids, hot sellers, hot auctions and hot bidders, prices, channels and
//! string sizes are the reference's formulas; its timestamp is `base_time + n × delay`; and the
//! emission order is shuffled within groups of `out_of_order_group_size` events.
//!
//! The reference seeds `java.util.Random` with each event's id; this generator seeds a wyrand
//! generator with the run's seed and the event's id instead, so the distributions are the
//! reference's but the values are not bit-identical to Java's. Each event is a pure function
//! of the configuration and its index, so any thread can generate any part of the stream.
//! Only a constant rate is modelled (the reference's sine and square rate shapes are not).

use crate::Config;
use crate::model::{Auction, Bid, Event, Person, Str};
use crate::rng::{Rng, SeedKey};
use std::borrow::Cow;
use std::sync::LazyLock;

/// Ids start here (reference `FIRST_PERSON_ID`, `FIRST_AUCTION_ID`), categories at 10.
const FIRST_PERSON_ID: u64 = 1_000;
const FIRST_AUCTION_ID: u64 = 1_000;
const FIRST_CATEGORY_ID: u64 = 10;
const NUM_CATEGORIES: u64 = 5;
/// Hot sellers, auctions and bidders are the first of each batch of this many.
const HOT_SELLER_RATIO: u64 = 100;
const HOT_AUCTION_RATIO: u64 = 100;
const HOT_BIDDER_RATIO: u64 = 100;
/// Random ids may run this far ahead of the last one generated.
const PERSON_ID_LEAD: u64 = 10;
const AUCTION_ID_LEAD: u64 = 10;
/// Non-hot channels.
const CHANNELS: u64 = 10_000;

const HOT_CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];
const FIRST_NAMES: [&str; 11] = [
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
];
const LAST_NAMES: [&str; 9] = [
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris",
];
const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
const US_CITIES: [&str; 10] = [
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];

/// Seeds of the static channel and URL tables (the same in every run, as the reference's
/// process-wide cache).
const TABLE_SEED: u64 = 0x6e65_786d_6172_6b21;

/// `https://www.nexmark.com/<a>/<b>/<c>/item.htm?query=1` with three random path parts.
fn base_url(rng: &mut Rng) -> String {
    let mut parts = (0..3).map(|_| rng.string(5, b'_'));
    let (a, b, c) = (parts.next(), parts.next(), parts.next());
    format!(
        "https://www.nexmark.com/{}/{}/{}/item.htm?query=1",
        a.unwrap_or_default(),
        b.unwrap_or_default(),
        c.unwrap_or_default()
    )
}

/// The URLs of the four hot channels.
static HOT_URLS: LazyLock<Vec<String>> = LazyLock::new(|| {
    (0..HOT_CHANNELS.len() as u64)
        .map(|i| base_url(&mut Rng::new(SeedKey::new(TABLE_SEED), u64::MAX - i)))
        .collect()
});

/// The text of every channel and URL, and where each channel's URL starts, ends (where its
/// name starts) and where its name ends.
type ChannelText = (String, Vec<(usize, usize, usize)>);

/// `(channel-<n>, url)` for the 10,000 other channels; nine in ten URLs carry
/// `&channel_id=<|reverse_bits(n)|>`, as in the reference. The strings follow each other in
/// one buffer (each URL next to its channel's name), so the text a query reads is dense in
/// the cache.
static CHANNEL_TEXT: LazyLock<ChannelText> = LazyLock::new(|| {
    let mut text = String::new();
    let mut spans = Vec::with_capacity(CHANNELS as usize);
    for n in 0..CHANNELS {
        let mut rng = Rng::new(SeedKey::new(TABLE_SEED), n);
        let start = text.len();
        text.push_str(&base_url(&mut rng));
        if rng.below(10) > 0 {
            text.push_str(&format!("&channel_id={}", (n as i32).reverse_bits().wrapping_abs()));
        }
        let url_end = text.len();
        text.push_str(&format!("channel-{n}"));
        spans.push((start, url_end, text.len()));
    }
    (text, spans)
});

/// [`CHANNEL_TEXT`] as `(channel, url)` string slices: 32 bytes per channel for a bid to pick
/// from.
static CHANNEL_TABLE: LazyLock<Vec<(&'static str, &'static str)>> = LazyLock::new(|| {
    let (text, spans): &'static ChannelText = &CHANNEL_TEXT;
    spans
        .iter()
        .map(|&(start, url_end, end)| (&text[url_end..end], &text[start..url_end]))
        .collect()
});

/// Entries of [`POW10`]: `10^(k/64)` for `k` in `0..=384` (`10^0` to `10^6`).
const POW10_STEPS: usize = 6 * 64 + 1;

/// `10^(k/64)`, for [`Generator::price`].
static POW10: LazyLock<Vec<f64>> = LazyLock::new(|| (0..POW10_STEPS).map(|k| 10f64.powf(k as f64 / 64.0)).collect());

/// Generates Nexmark events; see the module documentation. Cheap to share: `&Generator` is
/// `Send + Sync`, and [`Generator::event`] takes `&self`.
///
/// ```
/// use fuseflow_nexmark::{Config, Event, Generator};
/// let generator = Generator::new(Config::default().with_seed(7));
/// let events: Vec<Event> = (0..50).map(|i| generator.event(i)).collect();
/// let bids = events.iter().filter(|e| matches!(e, Event::Bid(_))).count();
/// assert_eq!(bids, 46);
/// assert_eq!(events, (0..50).map(|i| generator.event(i)).collect::<Vec<_>>());
/// ```
#[derive(Debug, Clone)]
pub struct Generator {
    config: Config,
    total: u64,
    /// The delay split as whole milliseconds and the remaining nanoseconds.
    delay_ms: u64,
    delay_rest_ns: u64,
    hot_urls: &'static [String],
    channels: &'static [(&'static str, &'static str)],
    pow10: &'static [f64],
    key: SeedKey,
}

impl Generator {
    /// A generator for `config`.
    ///
    /// # Panics
    ///
    /// If the configuration is invalid ([`Config::check`]).
    pub fn new(config: Config) -> Self {
        if let Err(e) = config.check() {
            panic!("{e}");
        }
        let hot_urls: &'static [String] = &HOT_URLS;
        let channels: &'static [(&'static str, &'static str)] = &CHANNEL_TABLE;
        Generator {
            total: config.total_proportion(),
            delay_ms: config.inter_event_delay_ns / 1_000_000,
            delay_rest_ns: config.inter_event_delay_ns % 1_000_000,
            key: SeedKey::new(config.seed),
            config,
            hot_urls,
            channels,
            pow10: &POW10,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The number of the `i`-th event emitted: `i` itself in order, else `i` shuffled within
    /// its group of `out_of_order_group_size` (the reference's `nextAdjustedEventNumber`).
    #[inline]
    pub fn event_number(&self, i: u64) -> u64 {
        let g = self.config.out_of_order_group_size;
        if g == 1 {
            i
        } else {
            (i / g) * g + i.wrapping_mul(953) % g
        }
    }

    /// The event time of event number `n`: `base_time + ⌊n × delay⌋` in milliseconds.
    #[inline]
    pub fn timestamp_of_number(&self, n: u64) -> i64 {
        let ms = n * self.delay_ms + n * self.delay_rest_ns / 1_000_000;
        self.config.base_time + ms as i64
    }

    /// The event time of the `i`-th event emitted (cheaper than generating it).
    #[inline]
    pub fn timestamp(&self, i: u64) -> i64 {
        self.timestamp_of_number(self.event_number(i))
    }

    /// The events `0..count`, in emission order.
    pub fn events(&self, count: u64) -> impl Iterator<Item = Event> + '_ {
        (0..count).map(|i| self.event(i))
    }

    /// The `i`-th event emitted.
    ///
    /// Never inlined: a job that drops most events (a query on bids ignores persons and
    /// auctions) still pays for generating every one of them, as with the reference source.
    #[inline(never)]
    pub fn event(&self, i: u64) -> Event {
        let n = self.event_number(i);
        let ts = self.timestamp_of_number(n);
        let mut rng = Rng::new(self.key, n);
        let rem = self.period(n).1;
        if rem < self.config.person_proportion {
            Event::Person(self.person(n, ts, &mut rng))
        } else if rem < self.config.person_proportion + self.config.auction_proportion {
            Event::Auction(self.auction(n, ts, &mut rng))
        } else {
            Event::Bid(self.bid(n, ts, &mut rng))
        }
    }

    /// `(id / period, id % period)` for the period `person + auction + bid`; a multiplication
    /// rather than a division for the reference period of 50.
    #[inline]
    fn period(&self, id: u64) -> (u64, u64) {
        if self.total == 50 {
            (id / 50, id % 50)
        } else {
            (id / self.total, id % self.total)
        }
    }

    /// The last person id (from 0) generated at or before event `id`.
    fn last_person(&self, id: u64) -> u64 {
        let c = &self.config;
        let (epoch, offset) = self.period(id);
        let offset = offset.min(c.person_proportion - 1);
        epoch * c.person_proportion + offset
    }

    /// A random recent person id (from 0), possibly a little ahead of the last one.
    fn next_person(&self, id: u64, rng: &mut Rng) -> u64 {
        let people = self.last_person(id) + 1;
        let active = people.min(self.config.active_people);
        people - active + rng.below(active + PERSON_ID_LEAD)
    }

    /// The last auction id (from 0) generated at or before event `id`.
    fn last_auction(&self, id: u64) -> u64 {
        let c = &self.config;
        let (mut epoch, mut offset) = self.period(id);
        if offset < c.person_proportion {
            // A person: the last auction of the previous period.
            if epoch == 0 {
                return 0;
            }
            epoch -= 1;
            offset = c.auction_proportion - 1;
        } else if offset >= c.person_proportion + c.auction_proportion {
            // A bid: the last auction of this period.
            offset = c.auction_proportion - 1;
        } else {
            offset -= c.person_proportion;
        }
        epoch * c.auction_proportion + offset
    }

    /// A random auction id (from 0) among those likely in flight, possibly a little ahead.
    fn next_auction(&self, id: u64, rng: &mut Rng) -> u64 {
        let max = self.last_auction(id);
        let min = max.saturating_sub(self.config.in_flight_auctions);
        min + rng.below(max - min + 1 + AUCTION_ID_LEAD)
    }

    /// A price in cents, log-uniform from 1 $ to 1 M$: `round(10^(6u) × 100)` for a uniform
    /// `u`, with `10^(6u)` as a table entry `10^(k/64)` times `e^r` (`r < 0.036`) to a
    /// relative error below 10⁻⁷ (cheaper than `exp`).
    #[inline]
    fn price(&self, rng: &mut Rng) -> u64 {
        let y = rng.unit() * (POW10_STEPS - 1) as f64;
        let k = y as usize;
        let r = (y - k as f64) * (std::f64::consts::LN_10 / 64.0);
        let p = self.pow10[k.min(POW10_STEPS - 1)] * (1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0))));
        // Rounded half up: the price is positive.
        (p * 100.0 + 0.5) as u64
    }

    /// Random letters padding an event of `current` bytes to about `average` bytes.
    fn extra(rng: &mut Rng, current: u64, average: u64) -> String {
        if current > average {
            return String::new();
        }
        let wanted = average - current;
        // round(wanted × 0.2), half up.
        let delta = (wanted + 2) / 5;
        let size = wanted - delta + if delta == 0 { 0 } else { rng.below(2 * delta) };
        rng.letters(size as usize)
    }

    fn person(&self, id: u64, date_time: i64, rng: &mut Rng) -> Person {
        let first = FIRST_NAMES[rng.below(FIRST_NAMES.len() as u64) as usize];
        let last = LAST_NAMES[rng.below(LAST_NAMES.len() as u64) as usize];
        let mut name = String::with_capacity(first.len() + 1 + last.len());
        name.push_str(first);
        name.push(' ');
        name.push_str(last);
        let (user, domain) = (rng.string(7, b' '), rng.string(5, b' '));
        let mut email_address = String::with_capacity(user.len() + domain.len() + 5);
        email_address.push_str(&user);
        email_address.push('@');
        email_address.push_str(&domain);
        email_address.push_str(".com");
        // Four groups of four digits (`%04d` of a number below 10,000), space-separated.
        let mut credit_card = String::with_capacity(19);
        for group in 0..4 {
            if group > 0 {
                credit_card.push(' ');
            }
            let mut n = rng.below(10_000) as u32;
            let mut digits = [b'0'; 4];
            for d in digits.iter_mut().rev() {
                *d = b'0' + (n % 10) as u8;
                n /= 10;
            }
            credit_card.extend(digits.iter().map(|&d| char::from(d)));
        }
        let city = US_CITIES[rng.below(US_CITIES.len() as u64) as usize];
        let state = US_STATES[rng.below(US_STATES.len() as u64) as usize];
        let size = 8 + name.len() + email_address.len() + credit_card.len() + city.len() + state.len();
        let extra = Self::extra(rng, size as u64, self.config.avg_person_byte_size);
        Person {
            id: self.last_person(id) + FIRST_PERSON_ID,
            name,
            email_address,
            credit_card,
            city: Cow::Borrowed(city),
            state: Cow::Borrowed(state),
            date_time,
            extra,
        }
    }

    fn auction(&self, id: u64, date_time: i64, rng: &mut Rng) -> Auction {
        let c = &self.config;
        let seller = if rng.below(c.hot_sellers_ratio) > 0 {
            (self.last_person(id) / HOT_SELLER_RATIO) * HOT_SELLER_RATIO
        } else {
            self.next_person(id, rng)
        };
        let category = FIRST_CATEGORY_ID + rng.below(NUM_CATEGORIES);
        let initial_bid = self.price(rng);
        // Auctions last on average as long as it takes to open `in_flight_auctions` more.
        let events_for_auctions = c.in_flight_auctions * self.total / c.auction_proportion;
        let horizon = self.timestamp_of_number(id + events_for_auctions) - date_time;
        let expires = date_time + 1 + rng.below((horizon as u64 * 2).max(1)) as i64;
        let item_name = rng.string(20, b' ');
        let description = rng.string(100, b' ');
        let reserve = initial_bid + self.price(rng);
        let size = 8 + item_name.len() + description.len() + 8 + 8 + 8 + 8 + 8;
        let extra = Self::extra(rng, size as u64, c.avg_auction_byte_size);
        Auction {
            id: self.last_auction(id) + FIRST_AUCTION_ID,
            item_name,
            description,
            initial_bid,
            reserve,
            date_time,
            expires,
            seller: seller + FIRST_PERSON_ID,
            category,
            extra,
        }
    }

    fn bid(&self, id: u64, date_time: i64, rng: &mut Rng) -> Bid {
        let c = &self.config;
        let auction = if rng.below(c.hot_auction_ratio) > 0 {
            (self.last_auction(id) / HOT_AUCTION_RATIO) * HOT_AUCTION_RATIO
        } else {
            self.next_auction(id, rng)
        };
        let bidder = if rng.below(c.hot_bidders_ratio) > 0 {
            // The second person of the batch, so that hot bidders are not hot sellers.
            (self.last_person(id) / HOT_BIDDER_RATIO) * HOT_BIDDER_RATIO + 1
        } else {
            self.next_person(id, rng)
        };
        let price = self.price(rng);
        let (channel, url): (&'static str, &'static str) = if rng.below(c.hot_channels_ratio) > 0 {
            let i = rng.below(HOT_CHANNELS.len() as u64) as usize;
            (HOT_CHANNELS[i], &self.hot_urls[i])
        } else {
            self.channels[rng.below(CHANNELS) as usize]
        };
        let extra = Self::extra(rng, 8 + 8 + 8 + 8, c.avg_bid_byte_size);
        Bid {
            auction: auction + FIRST_AUCTION_ID,
            bidder: bidder + FIRST_PERSON_ID,
            price,
            channel: Str::Borrowed(channel),
            url: Str::Borrowed(url),
            date_time,
            extra,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(g: &Generator, n: u64) -> (u64, u64, u64) {
        g.events(n).fold((0, 0, 0), |(p, a, b), e| match e {
            Event::Person(_) => (p + 1, a, b),
            Event::Auction(_) => (p, a + 1, b),
            Event::Bid(_) => (p, a, b + 1),
        })
    }

    #[test]
    fn events_come_in_the_reference_proportions_with_consecutive_ids() {
        let g = Generator::new(Config::default());
        assert_eq!(kinds(&g, 5_000), (100, 300, 4_600));
        let persons: Vec<u64> = g.events(500).filter_map(Event::into_person).map(|p| p.id).collect();
        assert_eq!(persons, (1_000..1_010).collect::<Vec<_>>());
        let auctions: Vec<u64> = g.events(500).filter_map(Event::into_auction).map(|a| a.id).collect();
        assert_eq!(auctions, (1_000..1_030).collect::<Vec<_>>());
    }

    #[test]
    fn bids_go_to_hot_auctions_and_bidders_and_recent_ids() {
        let g = Generator::new(Config::default());
        let n = 200_000;
        let bids: Vec<(u64, Bid)> = (0..n).filter_map(|i| g.event(i).into_bid().map(|b| (i, b))).collect();
        let hot_auction = bids
            .iter()
            .filter(|(i, b)| b.auction == (g.last_auction(*i) / 100) * 100 + FIRST_AUCTION_ID)
            .count() as f64
            / bids.len() as f64;
        // 1/2 hot, plus the random ones that hit the hot auction.
        assert!((0.49..0.53).contains(&hot_auction), "{hot_auction}");
        let hot_bidder = bids
            .iter()
            .filter(|(i, b)| b.bidder == (g.last_person(*i) / 100) * 100 + 1 + FIRST_PERSON_ID)
            .count() as f64
            / bids.len() as f64;
        assert!((0.74..0.77).contains(&hot_bidder), "{hot_bidder}");
        for (i, b) in &bids {
            let last_auction = g.last_auction(*i) + FIRST_AUCTION_ID;
            assert!(b.auction <= last_auction + AUCTION_ID_LEAD, "{b:?}");
            assert!(b.auction + 100 >= last_auction, "{b:?}");
            let last_person = g.last_person(*i) + FIRST_PERSON_ID;
            assert!(b.bidder <= last_person + PERSON_ID_LEAD && b.bidder + 1_000 >= last_person);
            assert!((100..=100_000_000).contains(&b.price), "{b:?}");
            assert!((54..=81).contains(&b.extra.len()), "{}", b.extra.len());
        }
        let hot_channel = bids.iter().filter(|(_, b)| HOT_CHANNELS.contains(&&*b.channel)).count();
        let share = hot_channel as f64 / bids.len() as f64;
        assert!((0.49..0.51).contains(&share), "{share}");
        let with_id = bids.iter().filter(|(_, b)| b.url.contains("&channel_id=")).count() as f64;
        let share = with_id / (bids.len() - hot_channel) as f64;
        assert!((0.88..0.92).contains(&share), "{share}");
    }

    #[test]
    fn timestamps_advance_at_the_configured_rate() {
        let g = Generator::new(Config::default());
        let base = g.config().base_time;
        // 10 M events/s: 10,000 events per millisecond.
        assert_eq!(g.timestamp(9_999), base);
        assert_eq!(g.timestamp(10_000), base + 1);
        assert_eq!(g.event(25_000).date_time(), base + 2);
        let slow = Generator::new(Config::default().with_rate(3));
        assert_eq!(
            (1..4).map(|i| slow.timestamp(i) - base).collect::<Vec<_>>(),
            [333, 666, 999]
        );
    }

    #[test]
    fn out_of_order_groups_shuffle_events_within_each_group_only() {
        let g = Generator::new(Config::default().with_out_of_order_group_size(100));
        let numbers: Vec<u64> = (0..1_000).map(|i| g.event_number(i)).collect();
        for (k, group) in numbers.chunks(100).enumerate() {
            let mut sorted = group.to_vec();
            sorted.sort();
            assert_eq!(sorted, (k as u64 * 100..(k as u64 + 1) * 100).collect::<Vec<_>>());
        }
        assert_ne!(numbers, (0..1_000).collect::<Vec<_>>());
        // The same events as in order, in another order.
        let in_order = Generator::new(Config::default());
        assert_eq!(g.event(3), in_order.event(numbers[3]));
    }

    #[test]
    fn the_seed_decides_the_content() {
        let a = Generator::new(Config::default().with_seed(1));
        let b = Generator::new(Config::default().with_seed(2));
        assert_eq!(a.event(60), a.event(60));
        assert_ne!(a.event(60), b.event(60));
        assert_eq!(a.event(60).date_time(), b.event(60).date_time());
    }

    #[test]
    fn persons_and_auctions_look_like_the_reference() {
        let g = Generator::new(Config::default());
        let p = g.event(50).into_person().unwrap();
        assert_eq!(p.id, 1_001);
        assert_eq!(p.credit_card.len(), 19);
        assert!(p.email_address.ends_with(".com") && p.email_address.contains('@'));
        assert!(US_CITIES.contains(&&*p.city) && US_STATES.contains(&&*p.state));
        let a = g.event(52).into_auction().unwrap();
        assert_eq!(a.id, 1_004);
        assert!(a.reserve >= a.initial_bid && a.expires > a.date_time);
        assert!((10..15).contains(&a.category));
        assert!(a.item_name.len() < 20 && a.description.len() < 100);
    }

    #[test]
    #[should_panic(expected = "`auction_proportion` must be at least 1")]
    fn a_bad_configuration_is_refused() {
        Generator::new(Config {
            auction_proportion: 0,
            ..Config::default()
        });
    }
}
