//! Records to table rows: a serde serializer that turns one record into the text of its
//! columns, for the PostgreSQL sink.
//!
//! A struct's fields are its columns; nested structs and tuples are flattened into one
//! column per leaf, named by their path joined with `_` (`value_0`, `key_user`); a record
//! that is a bare value has the single column `value`. Every value is sent as text and cast
//! by PostgreSQL to its column's type, so one encoding serves every column type whose text
//! input accepts it: integers, floats (`NaN`, `Infinity`), `true`/`false`, strings (into
//! `text`, `varchar`, `timestamptz`, `uuid`, `jsonb` …), bytes as `\x…` hex (`bytea`),
//! unit enum variants as their name, and `None` or `()` as `NULL`.
//!
//! What a column cannot hold is a [`RowError`], which sends the record to the dead-letter
//! output: a sequence or map, an enum variant with data, a string with a NUL character,
//! or a record whose columns differ from the first record's (an `Option` of a struct that is
//! `None` in one record and `Some` in another).

use serde::ser::{self, Serialize};
use std::fmt::{Display, Write as _};

/// Why a record cannot be stored as a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RowError(pub(crate) String);

impl Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RowError {}

impl ser::Error for RowError {
    fn custom<T: Display>(msg: T) -> Self {
        RowError(msg.to_string())
    }
}

/// One row: the text of each column, `None` for `NULL`, in the order of the columns.
pub(crate) type Row = Vec<Option<String>>;

/// The columns of the records of one sink: learnt from the first record, then checked.
#[derive(Debug, Clone, Default)]
pub(crate) struct Columns {
    names: Option<Vec<String>>,
}

impl Columns {
    /// The column names, once a record was converted.
    pub(crate) fn names(&self) -> Option<&[String]> {
        self.names.as_deref()
    }

    /// Converts `record` to a row; the first record fixes the column names.
    pub(crate) fn row<T: Serialize + ?Sized>(&mut self, record: &T) -> Result<Row, RowError> {
        let mut row = Vec::with_capacity(self.names.as_ref().map_or(4, Vec::len));
        let mut path = String::new();
        match &self.names {
            Some(names) => {
                let mut ser = RowSerializer {
                    names: Names::Check(names),
                    index: 0,
                    row: &mut row,
                    path: &mut path,
                };
                record.serialize(&mut ser)?;
                if ser.index != names.len() {
                    return Err(RowError(format!(
                        "it has {} columns where the first record had {}",
                        ser.index,
                        names.len()
                    )));
                }
            }
            None => {
                let mut names = Vec::new();
                let mut ser = RowSerializer {
                    names: Names::Learn(&mut names),
                    index: 0,
                    row: &mut row,
                    path: &mut path,
                };
                record.serialize(&mut ser)?;
                let mut seen = std::collections::BTreeSet::new();
                if let Some(dup) = names.iter().find(|n| !seen.insert(n.as_str())) {
                    return Err(RowError(format!("two of its fields would both be column `{dup}`")));
                }
                self.names = Some(names);
            }
        }
        Ok(row)
    }
}

/// The column names being learnt (first record) or checked (every later one).
enum Names<'a> {
    Learn(&'a mut Vec<String>),
    Check(&'a [String]),
}

/// The serializer; `path` is the column name of the value being serialized.
struct RowSerializer<'a> {
    names: Names<'a>,
    index: usize,
    row: &'a mut Row,
    path: &'a mut String,
}

impl RowSerializer<'_> {
    fn column(&self) -> &str {
        if self.path.is_empty() { "value" } else { self.path }
    }

    fn leaf(&mut self, value: Option<String>) -> Result<(), RowError> {
        let column = if self.path.is_empty() {
            "value"
        } else {
            self.path.as_str()
        };
        match &mut self.names {
            Names::Learn(names) => names.push(column.to_owned()),
            Names::Check(names) => match names.get(self.index) {
                Some(expected) if expected == column => {}
                Some(expected) => {
                    return Err(RowError(format!(
                        "it has column `{column}` where the first record had `{expected}`"
                    )));
                }
                None => {
                    return Err(RowError(format!(
                        "it has column `{column}`, which the first record did not have"
                    )));
                }
            },
        }
        self.index += 1;
        self.row.push(value);
        Ok(())
    }

    fn text(&mut self, value: impl Display) -> Result<(), RowError> {
        let mut s = String::new();
        let _ = write!(s, "{value}");
        self.leaf(Some(s))
    }

    fn float(&mut self, value: f64) -> Result<(), RowError> {
        if value.is_nan() {
            self.leaf(Some("NaN".into()))
        } else if value.is_infinite() {
            self.leaf(Some(if value > 0.0 { "Infinity" } else { "-Infinity" }.into()))
        } else {
            // `Debug` is the shortest text that reads back as the same float.
            self.text(format_args!("{value:?}"))
        }
    }

    /// Appends `_name` (or `name` at the top) to the path; returns the length to restore.
    fn push(&mut self, name: impl Display) -> usize {
        let len = self.path.len();
        if len > 0 {
            self.path.push('_');
        }
        let _ = write!(self.path, "{name}");
        len
    }

    fn unsupported(&self, what: &str) -> RowError {
        RowError(format!(
            "field `{}` is {what}, which a column cannot hold: turn it into a string or into fields first",
            self.column()
        ))
    }
}

/// The fields of a struct or the elements of a tuple being flattened.
struct Compound<'s, 'a> {
    ser: &'s mut RowSerializer<'a>,
    index: usize,
}

impl Compound<'_, '_> {
    fn element<T: ?Sized + Serialize>(&mut self, name: impl Display, value: &T) -> Result<(), RowError> {
        let len = self.ser.push(name);
        let result = value.serialize(&mut *self.ser);
        self.ser.path.truncate(len);
        result
    }

    fn next<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), RowError> {
        let index = self.index;
        self.index += 1;
        self.element(index, value)
    }
}

impl<'s, 'a> ser::Serializer for &'s mut RowSerializer<'a> {
    type Ok = ();
    type Error = RowError;
    type SerializeSeq = ser::Impossible<(), RowError>;
    type SerializeTuple = Compound<'s, 'a>;
    type SerializeTupleStruct = Compound<'s, 'a>;
    type SerializeTupleVariant = ser::Impossible<(), RowError>;
    type SerializeMap = ser::Impossible<(), RowError>;
    type SerializeStruct = Compound<'s, 'a>;
    type SerializeStructVariant = ser::Impossible<(), RowError>;

    fn serialize_bool(self, v: bool) -> Result<(), RowError> {
        self.leaf(Some(if v { "true" } else { "false" }.into()))
    }
    fn serialize_i8(self, v: i8) -> Result<(), RowError> {
        self.text(v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), RowError> {
        self.text(v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), RowError> {
        self.text(v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), RowError> {
        self.text(v)
    }
    fn serialize_i128(self, v: i128) -> Result<(), RowError> {
        self.text(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), RowError> {
        self.text(v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), RowError> {
        self.text(v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), RowError> {
        self.text(v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), RowError> {
        self.text(v)
    }
    fn serialize_u128(self, v: u128) -> Result<(), RowError> {
        self.text(v)
    }
    fn serialize_f32(self, v: f32) -> Result<(), RowError> {
        if v.is_finite() {
            // The f32's own shortest text, not that of its f64 widening.
            self.text(format_args!("{v:?}"))
        } else {
            self.float(f64::from(v))
        }
    }
    fn serialize_f64(self, v: f64) -> Result<(), RowError> {
        self.float(v)
    }
    fn serialize_char(self, v: char) -> Result<(), RowError> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), RowError> {
        if v.contains('\0') {
            return Err(RowError(format!(
                "field `{}` contains a NUL character, which PostgreSQL text cannot hold",
                self.column()
            )));
        }
        self.leaf(Some(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), RowError> {
        let mut s = String::with_capacity(2 + 2 * v.len());
        s.push_str("\\x");
        for b in v {
            let _ = write!(s, "{b:02x}");
        }
        self.leaf(Some(s))
    }
    fn serialize_none(self) -> Result<(), RowError> {
        self.leaf(None)
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), RowError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), RowError> {
        self.leaf(None)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), RowError> {
        self.leaf(None)
    }
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result<(), RowError> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _name: &'static str, value: &T) -> Result<(), RowError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _value: &T,
    ) -> Result<(), RowError> {
        Err(self.unsupported(&format!("the enum variant `{variant}` with data")))
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, RowError> {
        Err(self.unsupported("a sequence"))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, RowError> {
        Ok(Compound { ser: self, index: 0 })
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeTupleStruct, RowError> {
        Ok(Compound { ser: self, index: 0 })
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, RowError> {
        Err(self.unsupported(&format!("the enum variant `{variant}` with data")))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, RowError> {
        Err(self.unsupported("a map"))
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct, RowError> {
        Ok(Compound { ser: self, index: 0 })
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, RowError> {
        Err(self.unsupported(&format!("the enum variant `{variant}` with data")))
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = RowError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), RowError> {
        self.next(value)
    }
    fn end(self) -> Result<(), RowError> {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = RowError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), RowError> {
        self.next(value)
    }
    fn end(self) -> Result<(), RowError> {
        Ok(())
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = RowError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result<(), RowError> {
        self.element(key, value)
    }
    fn skip_field(&mut self, key: &'static str) -> Result<(), RowError> {
        Err(RowError(format!(
            "field `{key}` was skipped by serde, so records would not all have the same columns"
        )))
    }
    fn end(self) -> Result<(), RowError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Serialize)]
    enum Mood {
        Happy,
        Other(String),
    }

    #[derive(Serialize)]
    struct Everything {
        i: i32,
        u: u64,
        f: f64,
        nan: f32,
        b: bool,
        s: &'static str,
        c: char,
        none: Option<i64>,
        some: Option<i64>,
        unit: (),
        mood: Mood,
        #[serde(with = "serde_bytes_like")]
        bytes: Vec<u8>,
        nested: (i64, (String, bool)),
    }

    /// Serializes a `Vec<u8>` as bytes (serde's default is a sequence).
    mod serde_bytes_like {
        pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }
    }

    fn everything() -> Everything {
        Everything {
            i: -3,
            u: u64::MAX,
            f: 0.1,
            nan: f32::NAN,
            b: true,
            s: "it's \"quoted\"",
            c: 'é',
            none: None,
            some: Some(7),
            unit: (),
            mood: Mood::Happy,
            bytes: vec![0, 0xab],
            nested: (1, ("x".into(), false)),
        }
    }

    #[test]
    fn every_scalar_has_a_text_form_and_nesting_is_flattened() {
        let mut columns = Columns::default();
        let row = columns.row(&everything()).unwrap();
        assert_eq!(
            columns.names().unwrap(),
            [
                "i",
                "u",
                "f",
                "nan",
                "b",
                "s",
                "c",
                "none",
                "some",
                "unit",
                "mood",
                "bytes",
                "nested_0",
                "nested_1_0",
                "nested_1_1"
            ]
        );
        let text: Vec<Option<&str>> = row.iter().map(|v| v.as_deref()).collect();
        assert_eq!(
            text,
            [
                Some("-3"),
                Some("18446744073709551615"),
                Some("0.1"),
                Some("NaN"),
                Some("true"),
                Some("it's \"quoted\""),
                Some("é"),
                None,
                Some("7"),
                None,
                Some("Happy"),
                Some("\\x00ab"),
                Some("1"),
                Some("x"),
                Some("false"),
            ]
        );
        // A second record is checked against the first one's columns.
        assert_eq!(columns.row(&everything()).unwrap(), row);
    }

    #[test]
    fn a_bare_value_is_the_column_value() {
        let mut columns = Columns::default();
        assert_eq!(columns.row(&5u8).unwrap(), [Some("5".to_owned())]);
        assert_eq!(columns.names().unwrap(), ["value"]);
    }

    #[test]
    fn what_a_column_cannot_hold_is_an_error_naming_the_field() {
        #[derive(Serialize)]
        struct R<T> {
            id: u32,
            bad: T,
        }
        let err = |columns: &mut Columns, e: RowError| e.0 + &format!(" {:?}", columns.names());
        let mut c = Columns::default();
        let e = c.row(&R { id: 1, bad: vec![1, 2] }).unwrap_err();
        assert!(err(&mut c, e).contains("field `bad` is a sequence"));
        let e = Columns::default().row(&R { id: 1, bad: "a\0b" }).unwrap_err();
        assert!(e.0.contains("field `bad` contains a NUL character"), "{e}");
        let e = Columns::default()
            .row(&R {
                id: 1,
                bad: Mood::Other("x".into()),
            })
            .unwrap_err();
        assert!(e.0.contains("enum variant `Other` with data"), "{e}");
        let e = Columns::default()
            .row(&R {
                id: 1,
                bad: std::collections::BTreeMap::from([(1, 2)]),
            })
            .unwrap_err();
        assert!(e.0.contains("is a map"), "{e}");
    }

    #[test]
    fn records_with_other_columns_than_the_first_are_errors() {
        let mut c = Columns::default();
        c.row(&(1, None::<(i32, i32)>)).unwrap();
        let e = c.row(&(1, Some((2, 3)))).unwrap_err();
        assert!(e.0.contains("column `1_0` where the first record had `1`"), "{e}");
    }
}
