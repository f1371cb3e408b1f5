//! A serde serializer that flattens one record into CSV columns, for the CSV sink.
//!
//! Nested structs, tuples and sequences become one column per leaf value, named by their
//! dotted path (`key`, `value.0`, `value.sum`); a record that is a bare value has the single
//! column `value`. It runs in two modes: [`Flatten::names`] collects the column names (for the
//! header, from the first record) and [`Flatten::values`] writes the fields of one row into a
//! `csv::Writer`, which then checks every row has as many fields as the header.

use serde::ser::{self, Serialize};
use std::fmt::{Display, Write as _};
use std::io::Write;

/// Why a record could not be flattened or written.
#[derive(Debug)]
pub(crate) struct FlattenError(pub(crate) std::io::Error);

impl Display for FlattenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for FlattenError {}

impl ser::Error for FlattenError {
    fn custom<T: Display>(msg: T) -> Self {
        FlattenError(std::io::Error::other(msg.to_string()))
    }
}

impl From<::csv::Error> for FlattenError {
    fn from(e: ::csv::Error) -> Self {
        FlattenError(e.into())
    }
}

/// Where leaf values go.
enum Out<'a, W: Write> {
    Names(&'a mut Vec<String>),
    Values(&'a mut ::csv::Writer<W>),
}

/// The flattening serializer; `path` is the dotted name of the value being serialized.
pub(crate) struct Flatten<'a, W: Write> {
    out: Out<'a, W>,
    path: &'a mut String,
    scratch: &'a mut String,
}

impl<'a, W: Write> Flatten<'a, W> {
    /// A serializer pushing the column names of a record into `names`.
    pub(crate) fn names(names: &'a mut Vec<String>, path: &'a mut String, scratch: &'a mut String) -> Self {
        path.clear();
        Flatten {
            out: Out::Names(names),
            path,
            scratch,
        }
    }

    /// A serializer writing the fields of a record into `writer` (not the row terminator).
    pub(crate) fn values(writer: &'a mut ::csv::Writer<W>, path: &'a mut String, scratch: &'a mut String) -> Self {
        path.clear();
        Flatten {
            out: Out::Values(writer),
            path,
            scratch,
        }
    }

    fn leaf(&mut self, value: &[u8]) -> Result<(), FlattenError> {
        match &mut self.out {
            Out::Names(names) => {
                names.push(if self.path.is_empty() {
                    "value".to_owned()
                } else {
                    self.path.clone()
                });
                Ok(())
            }
            Out::Values(writer) => Ok(writer.write_field(value)?),
        }
    }

    fn leaf_display(&mut self, value: impl Display) -> Result<(), FlattenError> {
        if let Out::Names(_) = self.out {
            return self.leaf(b"");
        }
        self.scratch.clear();
        let _ = write!(self.scratch, "{value}");
        let scratch = std::mem::take(self.scratch);
        let result = self.leaf(scratch.as_bytes());
        *self.scratch = scratch;
        result
    }

    fn leaf_float(&mut self, value: f64) -> Result<(), FlattenError> {
        // `Debug` is the shortest representation that round-trips and keeps `1.0` a float.
        self.leaf_display(format_args!("{value:?}"))
    }

    /// Appends `.name` (or `name` at the top) to the path; returns the length to restore.
    fn push(&mut self, name: impl Display) -> usize {
        let len = self.path.len();
        if len > 0 {
            self.path.push('.');
        }
        let _ = write!(self.path, "{name}");
        len
    }

    fn compound(&mut self, restore: usize) -> Compound<'_, 'a, W> {
        Compound {
            ser: self,
            index: 0,
            key: None,
            restore,
        }
    }
}

/// The state of a struct, tuple, sequence or map being flattened.
pub(crate) struct Compound<'s, 'a, W: Write> {
    ser: &'s mut Flatten<'a, W>,
    index: usize,
    key: Option<String>,
    restore: usize,
}

impl<W: Write> Compound<'_, '_, W> {
    fn element<T: ?Sized + Serialize>(&mut self, name: impl Display, value: &T) -> Result<(), FlattenError> {
        let len = self.ser.push(name);
        let result = value.serialize(&mut *self.ser);
        self.ser.path.truncate(len);
        result
    }

    fn next<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), FlattenError> {
        let index = self.index;
        self.index += 1;
        self.element(index, value)
    }

    fn finish(self) -> Result<(), FlattenError> {
        self.ser.path.truncate(self.restore);
        Ok(())
    }
}

impl<'s, 'a, W: Write> ser::Serializer for &'s mut Flatten<'a, W> {
    type Ok = ();
    type Error = FlattenError;
    type SerializeSeq = Compound<'s, 'a, W>;
    type SerializeTuple = Compound<'s, 'a, W>;
    type SerializeTupleStruct = Compound<'s, 'a, W>;
    type SerializeTupleVariant = Compound<'s, 'a, W>;
    type SerializeMap = Compound<'s, 'a, W>;
    type SerializeStruct = Compound<'s, 'a, W>;
    type SerializeStructVariant = Compound<'s, 'a, W>;

    fn serialize_bool(self, v: bool) -> Result<(), FlattenError> {
        self.leaf(if v { b"true" } else { b"false" })
    }
    fn serialize_i8(self, v: i8) -> Result<(), FlattenError> {
        self.leaf_display(v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), FlattenError> {
        self.leaf_display(v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), FlattenError> {
        self.leaf_display(v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), FlattenError> {
        self.leaf_display(v)
    }
    fn serialize_i128(self, v: i128) -> Result<(), FlattenError> {
        self.leaf_display(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), FlattenError> {
        self.leaf_display(v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), FlattenError> {
        self.leaf_display(v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), FlattenError> {
        self.leaf_display(v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), FlattenError> {
        self.leaf_display(v)
    }
    fn serialize_u128(self, v: u128) -> Result<(), FlattenError> {
        self.leaf_display(v)
    }
    fn serialize_f32(self, v: f32) -> Result<(), FlattenError> {
        self.leaf_display(format_args!("{v:?}"))
    }
    fn serialize_f64(self, v: f64) -> Result<(), FlattenError> {
        self.leaf_float(v)
    }
    fn serialize_char(self, v: char) -> Result<(), FlattenError> {
        self.leaf(v.encode_utf8(&mut [0; 4]).as_bytes())
    }
    fn serialize_str(self, v: &str) -> Result<(), FlattenError> {
        self.leaf(v.as_bytes())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), FlattenError> {
        self.leaf(v)
    }
    fn serialize_none(self) -> Result<(), FlattenError> {
        self.leaf(b"")
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), FlattenError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), FlattenError> {
        self.leaf(b"")
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), FlattenError> {
        self.leaf(b"")
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), FlattenError> {
        self.leaf(variant.as_bytes())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), FlattenError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), FlattenError> {
        let len = self.push(variant);
        let result = value.serialize(&mut *self);
        self.path.truncate(len);
        result
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, FlattenError> {
        let restore = self.path.len();
        Ok(self.compound(restore))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, FlattenError> {
        let restore = self.path.len();
        Ok(self.compound(restore))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, FlattenError> {
        let restore = self.path.len();
        Ok(self.compound(restore))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, FlattenError> {
        let restore = self.push(variant);
        Ok(self.compound(restore))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, FlattenError> {
        let restore = self.path.len();
        Ok(self.compound(restore))
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct, FlattenError> {
        let restore = self.path.len();
        Ok(self.compound(restore))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, FlattenError> {
        let restore = self.push(variant);
        Ok(self.compound(restore))
    }
}

impl<W: Write> ser::SerializeSeq for Compound<'_, '_, W> {
    type Ok = ();
    type Error = FlattenError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), FlattenError> {
        self.next(value)
    }
    fn end(self) -> Result<(), FlattenError> {
        self.finish()
    }
}

impl<W: Write> ser::SerializeTuple for Compound<'_, '_, W> {
    type Ok = ();
    type Error = FlattenError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), FlattenError> {
        self.next(value)
    }
    fn end(self) -> Result<(), FlattenError> {
        self.finish()
    }
}

impl<W: Write> ser::SerializeTupleStruct for Compound<'_, '_, W> {
    type Ok = ();
    type Error = FlattenError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), FlattenError> {
        self.next(value)
    }
    fn end(self) -> Result<(), FlattenError> {
        self.finish()
    }
}

impl<W: Write> ser::SerializeTupleVariant for Compound<'_, '_, W> {
    type Ok = ();
    type Error = FlattenError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), FlattenError> {
        self.next(value)
    }
    fn end(self) -> Result<(), FlattenError> {
        self.finish()
    }
}

impl<W: Write> ser::SerializeStruct for Compound<'_, '_, W> {
    type Ok = ();
    type Error = FlattenError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result<(), FlattenError> {
        self.element(key, value)
    }
    fn end(self) -> Result<(), FlattenError> {
        self.finish()
    }
}

impl<W: Write> ser::SerializeStructVariant for Compound<'_, '_, W> {
    type Ok = ();
    type Error = FlattenError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result<(), FlattenError> {
        self.element(key, value)
    }
    fn end(self) -> Result<(), FlattenError> {
        self.finish()
    }
}

impl<W: Write> ser::SerializeMap for Compound<'_, '_, W> {
    type Ok = ();
    type Error = FlattenError;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), FlattenError> {
        // Map keys become column names: strings as they are, anything else as JSON.
        let key = match serde_json::to_value(key).map_err(|e| FlattenError(e.into()))? {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        self.key = Some(key);
        Ok(())
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), FlattenError> {
        let key = self.key.take().unwrap_or_default();
        self.element(key, value)
    }
    fn end(self) -> Result<(), FlattenError> {
        self.finish()
    }
}
