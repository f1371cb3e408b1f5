//! The byte format of keyed state, shared by every byte-level [`StateBackend`](super::StateBackend)
//! and by the snapshots of the in-memory heap tables, so that both write the same bytes.
//!
//! - keys, user keys and values are [postcard](https://docs.rs/postcard) encodings of their
//!   Rust values (compact, varint integers, no schema in the bytes);
//! - a value of a state with a time-to-live is stored as `(last_write_ms, value)`; without TTL
//!   as the bare value;
//! - a list is the concatenation of its elements, each preceded by its length as a LEB128
//!   varint, so that appending an element is appending bytes (what a RocksDB merge operator
//!   does, as Flink's `RocksDBListState`).

use super::StateError;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Appends the encoding of `value` to `out`.
pub(crate) fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    let buf = std::mem::take(out);
    *out = postcard::to_extend(value, buf).unwrap_or_else(|e| panic!("cannot encode keyed state: {e}"));
}

/// The encoding of `value`.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(value, &mut out);
    out
}

/// Decodes a value of state `state` (its name, for the error).
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], state: &str) -> Result<T, StateError> {
    postcard::from_bytes(bytes).map_err(|e| StateError::Decode {
        state: state.to_owned(),
        reason: e.to_string(),
    })
}

/// The encoding of a stored value: `(ts, value)` with TTL, `value` without.
pub(crate) fn encode_cell<V: Serialize>(value: &V, ts: i64, ttl: bool) -> Vec<u8> {
    if ttl { encode(&(ts, value)) } else { encode(value) }
}

/// Decodes a stored value and its last write time (0 without TTL).
pub(crate) fn decode_cell<V: DeserializeOwned>(bytes: &[u8], ttl: bool, state: &str) -> Result<(V, i64), StateError> {
    if ttl {
        let (ts, v): (i64, V) = decode(bytes, state)?;
        Ok((v, ts))
    } else {
        Ok((decode(bytes, state)?, 0))
    }
}

/// Appends `element` to a list value: its length as a varint, then its bytes.
pub(crate) fn frame(element: &[u8], out: &mut Vec<u8>) {
    let mut n = element.len() as u64;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(element);
}

/// The elements of a list value written by [`frame`].
pub(crate) fn frames<'a>(
    mut bytes: &'a [u8],
    state: &'a str,
) -> impl Iterator<Item = Result<&'a [u8], StateError>> + 'a {
    std::iter::from_fn(move || {
        if bytes.is_empty() {
            return None;
        }
        let corrupt = || StateError::Decode {
            state: state.to_owned(),
            reason: "truncated list element".to_owned(),
        };
        let (mut len, mut shift, mut i) = (0u64, 0u32, 0usize);
        loop {
            let Some(&b) = bytes.get(i) else {
                bytes = &[];
                return Some(Err(corrupt()));
            };
            len |= u64::from(b & 0x7f) << shift;
            i += 1;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
            if shift > 63 {
                bytes = &[];
                return Some(Err(corrupt()));
            }
        }
        let end = i.checked_add(len as usize).filter(|&e| e <= bytes.len());
        let Some(end) = end else {
            bytes = &[];
            return Some(Err(corrupt()));
        };
        let element = &bytes[i..end];
        bytes = &bytes[end..];
        Some(Ok(element))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_round_trip_with_and_without_ttl() {
        let b = encode_cell(&"x".to_owned(), 42, true);
        assert_eq!(decode_cell::<String>(&b, true, "s").unwrap(), ("x".to_owned(), 42));
        let b = encode_cell(&7u64, 42, false);
        assert_eq!(b, [7]);
        assert_eq!(decode_cell::<u64>(&b, false, "s").unwrap(), (7, 0));
        let err = decode::<String>(&[0xff], "counts").unwrap_err();
        assert!(err.to_string().contains("state `counts`"), "{err}");
    }

    #[test]
    fn list_frames_round_trip_and_reject_truncation() {
        let mut list = Vec::new();
        let long = vec![9u8; 300];
        for e in [&b"a"[..], &b""[..], &long[..]] {
            frame(e, &mut list);
        }
        let got: Vec<&[u8]> = frames(&list, "l").map(Result::unwrap).collect();
        assert_eq!(got, [&b"a"[..], &b""[..], &long[..]]);
        let cut = &list[..list.len() - 1];
        assert!(frames(cut, "l").any(|r| r.is_err()));
    }
}
