//! Connecting to the brokers: client configuration, and metadata requests retried with
//! exponential back-off while the brokers cannot be reached.

use crate::JobError;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaResult;
use rdkafka::metadata::Metadata;
use std::time::{Duration, Instant};

/// The first pause between two attempts to reach the brokers; it doubles up to
/// [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// How long one metadata request may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(3);

/// A librdkafka configuration for `brokers` with `properties` on top.
pub(crate) fn config(brokers: &str, properties: &[(String, String)]) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        // Faster notice of a broker that is down, so retries are ours and logged.
        .set("socket.connection.setup.timeout.ms", "3000")
        .set("reconnect.backoff.max.ms", "1000")
        .set("log_level", "3");
    for (k, v) in properties {
        c.set(k, v);
    }
    c
}

/// The metadata of `topics` (all topics if empty), retried with back-off for `timeout` while
/// the brokers cannot be reached; then an error naming the brokers. `what` names the caller
/// in the logs (`source \`orders\``).
pub(crate) fn metadata(
    fetch: impl Fn(Option<&str>, Duration) -> KafkaResult<Metadata>,
    brokers: &str,
    topics: &[String],
    timeout: Duration,
    what: &str,
) -> Result<Metadata, JobError> {
    let started = Instant::now();
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1u32;
    loop {
        // One request per topic would be needed to learn each topic's error; one for all
        // (or for the single topic) is enough to learn whether the brokers answer.
        let result = match topics {
            [one] => fetch(Some(one), METADATA_TIMEOUT),
            _ => fetch(None, METADATA_TIMEOUT),
        };
        let error = match result {
            Ok(md) if !md.brokers().is_empty() => return Ok(md),
            Ok(_) => "the metadata names no broker".to_string(),
            Err(e) => e.to_string(),
        };
        let elapsed = started.elapsed();
        if elapsed + backoff > timeout {
            return Err(JobError::Other(format!(
                "{what}: cannot reach the Kafka brokers at `{brokers}` (tried {attempt} times over {elapsed:.0?}): \
                 {error}; is the broker running, and are the bootstrap servers right?"
            )));
        }
        tracing::warn!(
            "{what}: cannot reach the Kafka brokers at `{brokers}` (attempt {attempt}: {error}); retrying in {backoff:?}"
        );
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(MAX_BACKOFF);
        attempt += 1;
    }
}
