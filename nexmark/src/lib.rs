//! Nexmark for fuseflow: the standard streaming benchmark's events, a generator following the
//! reference model, its queries written with `pipeline!`, and straightforward reference
//! implementations of the same queries to check them against.
//!
//! - [`model`]: [`Event`] = [`Person`] | [`Auction`] | [`Bid`], with serde derives;
//! - [`Config`] and [`Generator`]: the reference model (1 : 3 : 46 persons, auctions and bids,
//!   100 auctions in flight, 1,000 active people, hot sellers, auctions, bidders and channels,
//!   out-of-order groups, event time advancing at a configured rate), deterministic for a
//!   seed; [`Generator::event`] is a pure function of the event's index, so `generate(n, …)`
//!   is its source;
//! - [`queries`]: Q0, Q1, Q2, Q5, Q7, Q10, Q12, Q13, Q14, Q21 and Q22 as jobs, and
//!   [`Query`], the same by name (for command lines);
//! - [`reference`]: the same queries as plain loops over the events;
//! - [`rows`]: the output row of each query.
//!
//! ```
//! use fuseflow_nexmark::{Config, Generator, queries, reference};
//! use std::sync::{Arc, Mutex};
//!
//! let generator = Generator::new(Config::default().with_seed(1));
//! let out = Arc::new(Mutex::new(Vec::new()));
//! let rows = out.clone();
//! queries::q2(&generator, 100_000, move |r| rows.lock().unwrap().push(r)).run().unwrap();
//! assert_eq!(*out.lock().unwrap(), reference::q2(&generator, 100_000));
//! ```

mod config;
mod generator;
pub mod model;
pub mod queries;
mod query;
pub mod reference;
mod rng;
pub mod rows;

pub use config::Config;
pub use generator::Generator;
pub use model::{Auction, Bid, Event, Person, Str};
pub use query::{Query, RowSink};
