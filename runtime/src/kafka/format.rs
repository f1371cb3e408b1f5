//! How Kafka keys and values map to record types: `String` is UTF-8 text, `Vec<u8>` raw
//! bytes, and every other type JSON (serde).

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::any::{Any, TypeId};

/// Whether `T` is read and written as the raw payload (`String` or `Vec<u8>`) rather than
/// as JSON.
pub fn is_raw<T: 'static>() -> bool {
    let t = TypeId::of::<T>();
    t == TypeId::of::<String>() || t == TypeId::of::<Vec<u8>>()
}

/// Moves `value` into a `T` known (by [`TypeId`]) to be its type.
#[cfg_attr(not(feature = "kafka"), allow(dead_code))]
fn cast<T: 'static, V: 'static>(value: V) -> Option<T> {
    let mut slot = Some(value);
    (&mut slot as &mut dyn Any)
        .downcast_mut::<Option<T>>()
        .and_then(Option::take)
}

/// Decodes a payload into `T`.
#[cfg_attr(not(feature = "kafka"), allow(dead_code))]
pub(crate) fn decode<T: DeserializeOwned + 'static>(payload: &[u8]) -> Result<T, String> {
    if TypeId::of::<T>() == TypeId::of::<Vec<u8>>() {
        return cast(payload.to_vec()).ok_or_else(String::new);
    }
    if TypeId::of::<T>() == TypeId::of::<String>() {
        let text = std::str::from_utf8(payload).map_err(|e| format!("the value is not UTF-8 text: {e}"))?;
        return cast(text.to_owned()).ok_or_else(String::new);
    }
    serde_json::from_slice(payload).map_err(|e| format!("the value is not the JSON of the record type: {e}"))
}

/// Encodes `value` as a payload.
pub(crate) fn encode<T: Serialize + 'static>(value: &T) -> Result<Vec<u8>, String> {
    let any = value as &dyn Any;
    if let Some(s) = any.downcast_ref::<String>() {
        return Ok(s.as_bytes().to_vec());
    }
    if let Some(b) = any.downcast_ref::<Vec<u8>>() {
        return Ok(b.clone());
    }
    serde_json::to_vec(value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Deserialize, serde::Serialize)]
    struct Order {
        id: u32,
    }

    #[test]
    fn strings_and_bytes_are_raw_other_types_json() {
        assert_eq!(decode::<String>(b"{\"id\":1}").unwrap(), "{\"id\":1}");
        assert_eq!(decode::<Vec<u8>>(b"\xff\x00").unwrap(), b"\xff\x00");
        assert_eq!(decode::<Order>(b"{\"id\":1}").unwrap(), Order { id: 1 });
        assert!(decode::<Order>(b"{\"id\":").unwrap_err().contains("JSON"));
        assert!(decode::<String>(b"\xff").unwrap_err().contains("UTF-8"));
        assert_eq!(encode(&"a b".to_string()).unwrap(), b"a b");
        assert_eq!(encode(&Order { id: 2 }).unwrap(), b"{\"id\":2}");
        assert!(is_raw::<String>() && !is_raw::<Order>());
    }
}
