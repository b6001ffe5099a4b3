//! Explains why a JSON body did not deserialize: which field, and what was wrong with it.
//!
//! `Json<T>` deserializes the body with serde_json directly. Only when that fails on the data
//! (not the syntax) is the body read again here, as a `serde_json::Value`, by a deserializer
//! whose error is an [`InputError`]: it knows the path to each value it hands out
//! (`items[0].title`) and what each value was asked to be, so the client is told both in plain
//! words rather than serde_json's text, which names Rust types (`expected struct NewTodo`).

use std::borrow::Cow;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde_json::{Map, Value};

use super::error::{echo, expected, list_of, one_of, quoted, InputError};
use super::path_de::Text;

/// Why `value` does not deserialize as `T`, if it does not.
pub(crate) fn explain_json<T: DeserializeOwned>(value: &Value) -> Option<InputError> {
    T::deserialize(ValueDeserializer(value)).err()
}

#[derive(Clone, Copy)]
struct ValueDeserializer<'v>(&'v Value);

impl<'v> ValueDeserializer<'v> {
    /// The value quoted, when it is a scalar.
    fn given(self) -> Option<String> {
        match self.0 {
            Value::Null => Some("null".to_owned()),
            Value::Bool(value) => Some(value.to_string()),
            Value::Number(value) => Some(echo(&value.to_string()).into_owned()),
            Value::String(value) => Some(quoted(value)),
            Value::Array(_) | Value::Object(_) => None,
        }
    }

    /// Describes an error of a visitor given this value.
    fn describe(self, error: InputError, expected: Option<Cow<'static, str>>) -> InputError {
        error.expecting(expected, || self.given())
    }

    /// Describes an error of a visitor that asked for a list or an object, unless the value is
    /// one: then the error may well come from inside it (a `#[serde(flatten)]` field read from
    /// the object as a whole, say), and the list itself was not at fault. A list's wrong
    /// length is its own fault.
    fn describe_container(
        self,
        error: InputError,
        is_kind: bool,
        expected: Cow<'static, str>,
    ) -> InputError {
        if is_kind && !error.is_length() {
            error
        } else {
            self.describe(error, Some(expected))
        }
    }

    /// Hands the value to `visitor` as what it is, as serde_json's own `Value` does.
    fn visit<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(value) => visitor.visit_bool(*value),
            Value::Number(number) => {
                if let Some(value) = number.as_u64() {
                    visitor.visit_u64(value)
                } else if let Some(value) = number.as_i64() {
                    visitor.visit_i64(value)
                } else {
                    visitor.visit_f64(number.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(value) => visitor.visit_str(value),
            Value::Array(items) => {
                let mut seq = Items {
                    items: items.iter().enumerate(),
                };
                let value = visitor.visit_seq(&mut seq)?;
                match seq.items.len() {
                    0 => Ok(value),
                    _ => Err(de::Error::invalid_length(items.len(), &"fewer items")),
                }
            }
            Value::Object(map) => {
                let mut fields = Fields::new(map);
                let value = visitor.visit_map(&mut fields)?;
                match fields.entries.len() {
                    0 => Ok(value),
                    _ => Err(de::Error::invalid_length(map.len(), &"fewer fields")),
                }
            }
        }
    }
}

macro_rules! scalar {
    ($($method:ident => $expected:expr),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
                self.visit(visitor)
                    .map_err(|error| self.describe(error, $expected))
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for ValueDeserializer<'_> {
    type Error = InputError;

    scalar! {
        deserialize_bool => Some(expected!(bool).into()),
        deserialize_i8 => Some(expected!(i8).into()),
        deserialize_i16 => Some(expected!(i16).into()),
        deserialize_i32 => Some(expected!(i32).into()),
        deserialize_i64 => Some(expected!(i64).into()),
        deserialize_i128 => Some(expected!(i128).into()),
        deserialize_u8 => Some(expected!(u8).into()),
        deserialize_u16 => Some(expected!(u16).into()),
        deserialize_u32 => Some(expected!(u32).into()),
        deserialize_u64 => Some(expected!(u64).into()),
        deserialize_u128 => Some(expected!(u128).into()),
        deserialize_f32 => Some(expected!(f32).into()),
        deserialize_f64 => Some(expected!(f64).into()),
        deserialize_char => Some(expected!(char).into()),
        deserialize_str => Some(expected!(text).into()),
        deserialize_string => Some(expected!(text).into()),
        deserialize_identifier => Some(expected!(text).into()),
        deserialize_unit => Some(expected!(null).into()),
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        match self.0 {
            // What a list or an object holds describes its own faults.
            Value::Array(_) | Value::Object(_) => self.visit(visitor),
            _ => self
                .visit(visitor)
                .map_err(|error| self.describe(error, None)),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, InputError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, InputError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        let is_list = matches!(self.0, Value::Array(_));
        self.visit(visitor)
            .map_err(|error| self.describe_container(error, is_list, expected!(list).into()))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, InputError> {
        let is_list = matches!(self.0, Value::Array(_));
        self.visit(visitor)
            .map_err(|error| self.describe_container(error, is_list, list_of(len)))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, InputError> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        let is_object = matches!(self.0, Value::Object(_));
        self.visit(visitor)
            .map_err(|error| self.describe_container(error, is_object, expected!(object).into()))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, InputError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, InputError> {
        match self.0 {
            Value::String(variant) => visitor
                .visit_enum(variant.as_str().into_deserializer())
                .map_err(|error| self.describe(error, one_of(variants))),
            Value::Object(map) if map.len() == 1 => {
                let (variant, value) = map.iter().next().expect("one entry");
                visitor.visit_enum(Variant { variant, value })
            }
            _ => Err(self.describe(
                de::Error::invalid_type(unexpected(self.0), &"an enum"),
                one_of(variants),
            )),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        visitor.visit_unit()
    }
}

/// What kind of value it is, for serde's `invalid_type`.
fn unexpected(value: &Value) -> de::Unexpected<'_> {
    match value {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(value) => de::Unexpected::Bool(*value),
        Value::Number(number) => match (number.as_u64(), number.as_i64()) {
            (Some(value), _) => de::Unexpected::Unsigned(value),
            (None, Some(value)) => de::Unexpected::Signed(value),
            _ => de::Unexpected::Float(number.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(value) => de::Unexpected::Str(value),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

/// A list's items, each with its index for the path.
struct Items<'v> {
    items: std::iter::Enumerate<std::slice::Iter<'v, Value>>,
}

impl<'de> de::SeqAccess<'de> for Items<'_> {
    type Error = InputError;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, InputError> {
        match self.items.next() {
            Some((index, value)) => seed
                .deserialize(ValueDeserializer(value))
                .map(Some)
                .map_err(|error| error.at_index(index)),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// An object's fields, each with its key for the path. Keys are read as text parsed as asked
/// for, as serde_json reads them (a `HashMap<u32, T>` has number keys).
struct Fields<'v> {
    entries: serde_json::map::Iter<'v>,
    value: Option<(&'v str, &'v Value)>,
}

impl<'v> Fields<'v> {
    fn new(map: &'v Map<String, Value>) -> Self {
        Self {
            entries: map.iter(),
            value: None,
        }
    }
}

impl<'de> de::MapAccess<'de> for Fields<'_> {
    type Error = InputError;

    fn next_key_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, InputError> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some((key, value));
                seed.deserialize(Text(key))
                    .map(Some)
                    .map_err(|error| error.about_key(key))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, InputError> {
        match self.value.take() {
            Some((key, value)) => seed
                .deserialize(ValueDeserializer(value))
                .map_err(|error| error.at_key(key)),
            None => Err(de::Error::custom("a value was read before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// An enum written `{"variant": value}`.
struct Variant<'v> {
    variant: &'v str,
    value: &'v Value,
}

impl<'de, 'v> de::EnumAccess<'de> for Variant<'v> {
    type Error = InputError;
    type Variant = VariantValue<'v>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, VariantValue<'v>), InputError> {
        let variant = seed.deserialize(Text(self.variant))?;
        Ok((
            variant,
            VariantValue {
                variant: self.variant,
                value: self.value,
            },
        ))
    }
}

/// The value of an enum's variant, with the variant's name for the path.
struct VariantValue<'v> {
    variant: &'v str,
    value: &'v Value,
}

impl<'de> de::VariantAccess<'de> for VariantValue<'_> {
    type Error = InputError;

    fn unit_variant(self) -> Result<(), InputError> {
        de::Deserialize::deserialize(ValueDeserializer(self.value))
            .map_err(|error: InputError| error.at_key(self.variant))
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<S::Value, InputError> {
        seed.deserialize(ValueDeserializer(self.value))
            .map_err(|error| error.at_key(self.variant))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, InputError> {
        de::Deserializer::deserialize_tuple(ValueDeserializer(self.value), len, visitor)
            .map_err(|error| error.at_key(self.variant))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, InputError> {
        de::Deserializer::deserialize_map(ValueDeserializer(self.value), visitor)
            .map_err(|error| error.at_key(self.variant))
    }
}
