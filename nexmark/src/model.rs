//! The Nexmark events: a [`Person`] registers, opens an [`Auction`] or places a [`Bid`].
//!
//! Field names and meanings are those of the reference model (Beam's and Flink's Nexmark).
//! Times are milliseconds since the Unix epoch (`i64`, fuseflow's event-time type). Strings
//! the reference generator shares between events (channels, URLs, cities, states) are
//! [`Str`]s borrowing a static table, so a generated event copies none of them; every other
//! string (names, descriptions, `extra`) is generated per event, as in the reference.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// A string that is usually one of the generator's static strings, but may be owned (for
/// events read back from JSON): cloning a borrowed one copies a pointer.
pub type Str = Cow<'static, str>;

/// One Nexmark event.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Event {
    /// A new person.
    Person(Person),
    /// A new auction.
    Auction(Auction),
    /// A bid on an auction.
    Bid(Bid),
}

impl Event {
    /// The event time, in milliseconds since the epoch.
    #[inline]
    pub fn date_time(&self) -> i64 {
        match self {
            Event::Person(p) => p.date_time,
            Event::Auction(a) => a.date_time,
            Event::Bid(b) => b.date_time,
        }
    }

    /// The bid, if this event is one (the `bid` view of the Nexmark queries).
    #[inline]
    pub fn into_bid(self) -> Option<Bid> {
        match self {
            Event::Bid(b) => Some(b),
            _ => None,
        }
    }

    /// The auction, if this event is one (the `auction` view).
    #[inline]
    pub fn into_auction(self) -> Option<Auction> {
        match self {
            Event::Auction(a) => Some(a),
            _ => None,
        }
    }

    /// The person, if this event is one (the `person` view).
    #[inline]
    pub fn into_person(self) -> Option<Person> {
        match self {
            Event::Person(p) => Some(p),
            _ => None,
        }
    }
}

/// A person who may sell items and bid on them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Person {
    /// The person's id (from 1000 on).
    pub id: u64,
    /// First and last name.
    pub name: String,
    /// An e-mail address.
    pub email_address: String,
    /// A credit card number: four groups of four digits.
    pub credit_card: String,
    /// A US city.
    pub city: Str,
    /// A US state (two letters).
    pub state: Str,
    /// When the person registered.
    pub date_time: i64,
    /// Padding to the configured average person size.
    pub extra: String,
}

/// An item put up for auction.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Auction {
    /// The auction's id (from 1000 on).
    pub id: u64,
    /// The item's name.
    pub item_name: String,
    /// The item's description.
    pub description: String,
    /// The opening price, in cents.
    pub initial_bid: u64,
    /// The reserve price, in cents (at least the opening price).
    pub reserve: u64,
    /// When the auction opened.
    pub date_time: i64,
    /// When it closes.
    pub expires: i64,
    /// The id of the person selling the item.
    pub seller: u64,
    /// The item's category (from 10 on).
    pub category: u64,
    /// Padding to the configured average auction size.
    pub extra: String,
}

/// A bid on an auction.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Bid {
    /// The id of the auction bid on.
    pub auction: u64,
    /// The id of the person bidding.
    pub bidder: u64,
    /// The price bid, in cents.
    pub price: u64,
    /// Where the bid came from: one of four hot channels (`Google`, `Facebook`, `Baidu`,
    /// `Apple`) or `channel-<n>`.
    pub channel: Str,
    /// The URL the bid was placed on; most non-hot channels carry `&channel_id=<id>`.
    pub url: Str,
    /// When the bid was placed.
    pub date_time: i64,
    /// Padding to the configured average bid size.
    pub extra: String,
}
