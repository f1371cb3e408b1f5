//! The messages of a scaled-out job's internal topic, and where the first stage learns the
//! input partition and offset of each record and the watermarks of its input partitions.
//!
//! A message is a record or watermarks, in a small fixed header followed, for a record, by
//! its JSON:
//!
//! ```text
//! record:     0u8, input partition u32, input offset i64, rank u32, timestamp i64, JSON
//! watermarks: 1u8, input partitions in all u32, count u32,
//!             (input partition u32, watermark i64, idle u8) × count
//! ```
//!
//! (little-endian). Input partitions are numbered over the source's topics in order, then by
//! partition. The Kafka source publishes the origin of each record ([`set_origin`]) and the
//! watermark of each partition it owns ([`set_partition_watermarks`]) on its own thread, the
//! thread that runs the chain up to the `key_by` and its writer: thread-locals, so that the
//! operators in between need not carry them.

#![cfg_attr(not(feature = "kafka"), allow(dead_code))]

use std::cell::{Cell, RefCell};

/// Where a record read by the first stage comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Origin {
    /// The input partition's number.
    pub partition: u32,
    /// The record's offset in it.
    pub offset: i64,
}

thread_local! {
    static ORIGIN: Cell<Origin> = const { Cell::new(Origin { partition: 0, offset: -1 }) };
    static WATERMARKS: RefCell<PartitionWatermarks> = const { RefCell::new(PartitionWatermarks { total: 0, partitions: Vec::new() }) };
}

/// The Kafka source is about to emit the record at `offset` of input partition `partition`.
#[inline]
pub fn set_origin(partition: u32, offset: i64) {
    ORIGIN.with(|o| o.set(Origin { partition, offset }));
}

/// The origin of the record being emitted on this thread.
#[inline]
pub(crate) fn origin() -> Origin {
    ORIGIN.with(Cell::get)
}

/// The watermark of one input partition, as its owner knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionWatermark {
    /// The input partition's number.
    pub partition: u32,
    /// Its watermark (`MIN_WATERMARK` before its first record here).
    pub watermark: i64,
    /// It has been silent for the idleness timeout: it does not hold the watermark back.
    pub idle: bool,
}

/// The watermarks of the input partitions this process owns, of `total` in all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionWatermarks {
    /// The number of input partitions.
    pub total: u32,
    /// One entry per partition owned here, in partition order.
    pub partitions: Vec<PartitionWatermark>,
}

/// This process's input partitions and their watermarks are now `watermarks`.
pub fn set_partition_watermarks(watermarks: PartitionWatermarks) {
    WATERMARKS.with(|w| *w.borrow_mut() = watermarks);
}

/// Updates the watermark of owned partition number `index` (in the owned list).
#[inline]
pub fn set_partition_watermark(index: usize, watermark: i64, idle: bool) {
    WATERMARKS.with(|w| {
        if let Some(p) = w.borrow_mut().partitions.get_mut(index) {
            p.watermark = watermark;
            p.idle = idle;
        }
    });
}

/// The input partitions' watermarks this process's source published.
pub(crate) fn partition_watermarks() -> PartitionWatermarks {
    WATERMARKS.with(|w| w.borrow().clone())
}

const RECORD: u8 = 0;
const WATERMARK: u8 = 1;
const RECORD_HEADER: usize = 1 + 4 + 8 + 4 + 8;

/// A decoded message of the internal topic.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Message<'a> {
    /// A record: its origin, rank among its input record's outputs, timestamp and JSON.
    Record {
        origin: Origin,
        rank: u32,
        ts: i64,
        json: &'a [u8],
    },
    /// The watermarks of some input partitions.
    Watermarks(PartitionWatermarks),
}

/// Writes a record message into `buf` (cleared first); the JSON is appended by the caller.
pub(crate) fn record_header(buf: &mut Vec<u8>, origin: Origin, rank: u32, ts: i64) {
    buf.clear();
    buf.push(RECORD);
    buf.extend_from_slice(&origin.partition.to_le_bytes());
    buf.extend_from_slice(&origin.offset.to_le_bytes());
    buf.extend_from_slice(&rank.to_le_bytes());
    buf.extend_from_slice(&ts.to_le_bytes());
}

/// A watermarks message.
pub(crate) fn watermarks(w: &PartitionWatermarks) -> Vec<u8> {
    let mut buf = Vec::with_capacity(9 + 13 * w.partitions.len());
    buf.push(WATERMARK);
    buf.extend_from_slice(&w.total.to_le_bytes());
    buf.extend_from_slice(&(w.partitions.len() as u32).to_le_bytes());
    for p in &w.partitions {
        buf.extend_from_slice(&p.partition.to_le_bytes());
        buf.extend_from_slice(&p.watermark.to_le_bytes());
        buf.push(p.idle as u8);
    }
    buf
}

/// Reads a message; `None` if it is not one this version writes.
pub(crate) fn decode(bytes: &[u8]) -> Option<Message<'_>> {
    let u32_at = |i: usize| Some(u32::from_le_bytes(bytes.get(i..i + 4)?.try_into().ok()?));
    let i64_at = |i: usize| Some(i64::from_le_bytes(bytes.get(i..i + 8)?.try_into().ok()?));
    match *bytes.first()? {
        RECORD => Some(Message::Record {
            origin: Origin {
                partition: u32_at(1)?,
                offset: i64_at(5)?,
            },
            rank: u32_at(13)?,
            ts: i64_at(17)?,
            json: bytes.get(RECORD_HEADER..)?,
        }),
        WATERMARK => {
            let count = u32_at(5)? as usize;
            (bytes.len() == 9 + 13 * count).then_some(())?;
            let partitions = (0..count)
                .map(|k| {
                    let at = 9 + 13 * k;
                    Some(PartitionWatermark {
                        partition: u32_at(at)?,
                        watermark: i64_at(at + 4)?,
                        idle: *bytes.get(at + 12)? != 0,
                    })
                })
                .collect::<Option<Vec<_>>>()?;
            Some(Message::Watermarks(PartitionWatermarks {
                total: u32_at(1)?,
                partitions,
            }))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_watermarks_read_back() {
        let mut buf = Vec::new();
        let origin = Origin {
            partition: 3,
            offset: 1 << 40,
        };
        record_header(&mut buf, origin, 2, -5);
        buf.extend_from_slice(b"[1,2]");
        assert_eq!(
            decode(&buf),
            Some(Message::Record {
                origin,
                rank: 2,
                ts: -5,
                json: b"[1,2]"
            })
        );
        let w = PartitionWatermarks {
            total: 4,
            partitions: vec![
                PartitionWatermark {
                    partition: 0,
                    watermark: 1000,
                    idle: false,
                },
                PartitionWatermark {
                    partition: 2,
                    watermark: i64::MIN,
                    idle: true,
                },
            ],
        };
        let wm = watermarks(&w);
        assert_eq!(decode(&wm), Some(Message::Watermarks(w)));
        assert_eq!(decode(&wm[..wm.len() - 1]), None);
        assert_eq!(decode(&buf[..10]), None);
        assert_eq!(decode(b"\x07"), None);
        assert_eq!(decode(b""), None);
    }

    #[test]
    fn the_origin_is_per_thread() {
        set_origin(1, 7);
        let w = PartitionWatermarks {
            total: 3,
            partitions: vec![PartitionWatermark {
                partition: 1,
                watermark: 5,
                idle: false,
            }],
        };
        set_partition_watermarks(w.clone());
        std::thread::spawn(|| {
            assert_eq!(origin().offset, -1);
            assert_eq!(partition_watermarks(), PartitionWatermarks::default());
        })
        .join()
        .unwrap();
        assert_eq!(
            origin(),
            Origin {
                partition: 1,
                offset: 7
            }
        );
        assert_eq!(partition_watermarks(), w);
        set_partition_watermark(0, 9, true);
        assert_eq!(partition_watermarks().partitions[0].watermark, 9);
        assert!(partition_watermarks().partitions[0].idle);
    }
}
