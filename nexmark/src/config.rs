//! The generator's settings: the reference model's parameters with their reference defaults,
//! and the rate and base time that place the events in event time.

/// How [`Generator`](crate::Generator) synthesizes events. `Config::default()` is the
/// reference configuration as Flink's Nexmark benchmark runs it (10 M events/s of event time,
/// in order); [`Config::with_rate`] and the other `with_` methods change one parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Seeds every event's random choices: the same seed (and configuration) gives the same
    /// events.
    pub seed: u64,
    /// Event time of the first event, milliseconds since the epoch.
    pub base_time: i64,
    /// Event time between two consecutive events, in nanoseconds (the configured rate:
    /// 100 ns is 10 M events per second).
    pub inter_event_delay_ns: u64,
    /// Events are emitted in a pseudo-random order within consecutive groups of this many
    /// (1: in order). The watermark must allow for `group size × delay` of disorder.
    pub out_of_order_group_size: u64,
    /// Sellers and bidders are chosen among the last this many people (`numActivePeople`).
    pub active_people: u64,
    /// Bids go to the last this many auctions (`numInFlightAuctions`).
    pub in_flight_auctions: u64,
    /// One bid in this many is for a random auction; the others for the current hot one.
    pub hot_auction_ratio: u64,
    /// One auction in this many has a random seller; the others the current hot seller.
    pub hot_sellers_ratio: u64,
    /// One bid in this many is by a random bidder; the others by the current hot bidder.
    pub hot_bidders_ratio: u64,
    /// One bid in this many comes from one of 10,000 channels; the others from one of the
    /// four hot channels.
    pub hot_channels_ratio: u64,
    /// Average size of a person, in bytes (its `extra` pads it).
    pub avg_person_byte_size: u64,
    /// Average size of an auction, in bytes.
    pub avg_auction_byte_size: u64,
    /// Average size of a bid, in bytes.
    pub avg_bid_byte_size: u64,
    /// Persons per `person + auction + bid` events.
    pub person_proportion: u64,
    /// Auctions per `person + auction + bid` events.
    pub auction_proportion: u64,
    /// Bids per `person + auction + bid` events.
    pub bid_proportion: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 0,
            // 2024-01-01T00:00:00Z: fixed, so that runs are reproducible.
            base_time: 1_704_067_200_000,
            inter_event_delay_ns: 100,
            out_of_order_group_size: 1,
            active_people: 1_000,
            in_flight_auctions: 100,
            hot_auction_ratio: 2,
            hot_sellers_ratio: 4,
            hot_bidders_ratio: 4,
            hot_channels_ratio: 2,
            avg_person_byte_size: 200,
            avg_auction_byte_size: 500,
            avg_bid_byte_size: 100,
            person_proportion: 1,
            auction_proportion: 3,
            bid_proportion: 46,
        }
    }
}

impl Config {
    /// The same configuration with another seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The same configuration at `events_per_second` events per second of event time
    /// (at most 10^9: the delay is a whole number of nanoseconds).
    ///
    /// ```
    /// use fuseflow_nexmark::Config;
    /// assert_eq!(Config::default().with_rate(1_000).inter_event_delay_ns, 1_000_000);
    /// ```
    pub fn with_rate(mut self, events_per_second: u64) -> Self {
        self.inter_event_delay_ns = 1_000_000_000 / events_per_second.max(1);
        self
    }

    /// The same configuration with events shuffled in groups of `size` (1: in order).
    pub fn with_out_of_order_group_size(mut self, size: u64) -> Self {
        self.out_of_order_group_size = size;
        self
    }

    /// The same configuration with the first event at `base_time` (ms since the epoch).
    pub fn with_base_time(mut self, base_time: i64) -> Self {
        self.base_time = base_time;
        self
    }

    /// `person + auction + bid` proportions: one period of event kinds.
    pub fn total_proportion(&self) -> u64 {
        self.person_proportion + self.auction_proportion + self.bid_proportion
    }

    /// Why this configuration cannot generate events, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        let positive = [
            ("person_proportion", self.person_proportion),
            ("auction_proportion", self.auction_proportion),
            ("out_of_order_group_size", self.out_of_order_group_size),
            ("active_people", self.active_people),
            ("hot_auction_ratio", self.hot_auction_ratio),
            ("hot_sellers_ratio", self.hot_sellers_ratio),
            ("hot_bidders_ratio", self.hot_bidders_ratio),
            ("hot_channels_ratio", self.hot_channels_ratio),
        ];
        match positive.iter().find(|(_, v)| *v == 0) {
            Some((name, _)) => Err(format!("the Nexmark setting `{name}` must be at least 1")),
            None => Ok(()),
        }
    }
}
