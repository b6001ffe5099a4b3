//! A serde deserializer over a matched route's path parameters.
//!
//! `Path<T>` reads them as one value (`Path<u64>`, when the route has one parameter), a tuple
//! (`Path<(String, u32)>`, in path order), or a struct whose field names are the parameter names
//! (`Path<Ids>`). Every error names the parameter that did not parse.

use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

use super::Params;

/// Why path parameters did not deserialize, and which one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathError {
    /// The parameter's name in the route pattern, when one parameter is at fault.
    pub(crate) parameter: Option<String>,
    pub(crate) message: String,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.parameter {
            Some(parameter) => write!(f, "parameter `{parameter}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for PathError {}

impl de::Error for PathError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Self {
            parameter: None,
            message: message.to_string(),
        }
    }
}

impl PathError {
    fn naming(mut self, parameter: &str) -> Self {
        if self.parameter.is_none() {
            self.parameter = Some(parameter.to_owned());
        }
        self
    }
}

/// Deserializes `T` from the path parameters of one request.
pub(crate) fn deserialize_path<T: DeserializeOwned>(params: &Params<'_>) -> Result<T, PathError> {
    T::deserialize(PathDeserializer { params })
}

/// The whole set of parameters: a single value, a sequence, or a map by name.
struct PathDeserializer<'p, 'r> {
    params: &'p [(&'r str, String)],
}

impl<'p> PathDeserializer<'p, '_> {
    /// The only parameter, for a request of one value.
    fn single(&self, expected: &str) -> Result<ValueDeserializer<'p>, PathError> {
        match self.params {
            [(name, value)] => Ok(ValueDeserializer { name, value }),
            params => Err(de::Error::custom(format!(
                "expected one path parameter for {expected}, the route has {}; use a tuple or \
                 a struct to read several",
                params.len()
            ))),
        }
    }
}

macro_rules! single_value {
    ($($method:ident => $what:literal),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
                let value = self.single($what)?;
                value.$method(visitor).map_err(|error| error.naming(value.name))
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for PathDeserializer<'_, '_> {
    type Error = PathError;

    single_value! {
        deserialize_any => "a value",
        deserialize_bool => "a bool",
        deserialize_i8 => "an integer",
        deserialize_i16 => "an integer",
        deserialize_i32 => "an integer",
        deserialize_i64 => "an integer",
        deserialize_i128 => "an integer",
        deserialize_u8 => "an integer",
        deserialize_u16 => "an integer",
        deserialize_u32 => "an integer",
        deserialize_u64 => "an integer",
        deserialize_u128 => "an integer",
        deserialize_f32 => "a number",
        deserialize_f64 => "a number",
        deserialize_char => "a character",
        deserialize_str => "a string",
        deserialize_string => "a string",
        deserialize_bytes => "bytes",
        deserialize_byte_buf => "bytes",
        deserialize_identifier => "an identifier",
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_seq(Values {
            params: self.params.iter(),
        })
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        if len != self.params.len() {
            return Err(de::Error::custom(format!(
                "expected a tuple of {len} path parameters, the route has {}",
                self.params.len()
            )));
        }
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_map(Named {
            params: self.params.iter(),
            value: None,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PathError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PathError> {
        let value = self.single("an enum")?;
        value
            .deserialize_enum(name, variants, visitor)
            .map_err(|error| error.naming(value.name))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_unit()
    }
}

/// The parameters in path order, for a tuple.
struct Values<'p, 'r> {
    params: std::slice::Iter<'p, (&'r str, String)>,
}

impl<'de> de::SeqAccess<'de> for Values<'_, '_> {
    type Error = PathError;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, PathError> {
        match self.params.next() {
            Some((name, value)) => seed
                .deserialize(ValueDeserializer { name, value })
                .map(Some)
                .map_err(|error| error.naming(name)),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.params.len())
    }
}

/// The parameters by name, for a struct or a map.
struct Named<'p, 'r> {
    params: std::slice::Iter<'p, (&'r str, String)>,
    value: Option<(&'p str, &'p str)>,
}

impl<'de> de::MapAccess<'de> for Named<'_, '_> {
    type Error = PathError;

    fn next_key_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, PathError> {
        match self.params.next() {
            Some((name, value)) => {
                self.value = Some((name, value));
                seed.deserialize(name.into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, PathError> {
        match self.value.take() {
            Some((name, value)) => seed
                .deserialize(ValueDeserializer { name, value })
                .map_err(|error| error.naming(name)),
            None => Err(de::Error::custom("a path value was read before its name")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.params.len())
    }
}

/// One parameter's text, parsed as the type asked for.
#[derive(Clone, Copy)]
struct ValueDeserializer<'p> {
    name: &'p str,
    value: &'p str,
}

macro_rules! parse_value {
    ($($method:ident => $visit:ident($ty:ty)),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
                match self.value.parse::<$ty>() {
                    Ok(parsed) => visitor.$visit(parsed),
                    Err(_) => Err(PathError {
                        parameter: Some(self.name.to_owned()),
                        message: format!("cannot parse `{}` as {}", self.value, stringify!($ty)),
                    }),
                }
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for ValueDeserializer<'_> {
    type Error = PathError;

    parse_value! {
        deserialize_bool => visit_bool(bool),
        deserialize_i8 => visit_i8(i8),
        deserialize_i16 => visit_i16(i16),
        deserialize_i32 => visit_i32(i32),
        deserialize_i64 => visit_i64(i64),
        deserialize_i128 => visit_i128(i128),
        deserialize_u8 => visit_u8(u8),
        deserialize_u16 => visit_u16(u16),
        deserialize_u32 => visit_u32(u32),
        deserialize_u64 => visit_u64(u64),
        deserialize_u128 => visit_u128(u128),
        deserialize_f32 => visit_f32(f32),
        deserialize_f64 => visit_f64(f64),
        deserialize_char => visit_char(char),
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_str(self.value)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PathError> {
        visitor.visit_enum(self.value.into_deserializer())
    }

    fn deserialize_seq<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, PathError> {
        Err(self.unsupported("a sequence"))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        _visitor: V,
    ) -> Result<V::Value, PathError> {
        Err(self.unsupported("a tuple"))
    }

    fn deserialize_map<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, PathError> {
        Err(self.unsupported("a map"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, PathError> {
        Err(self.unsupported("a struct"))
    }

    forward_to_deserialize_any! {
        str string bytes byte_buf unit unit_struct tuple_struct identifier ignored_any
    }
}

impl ValueDeserializer<'_> {
    fn unsupported(&self, what: &str) -> PathError {
        PathError {
            parameter: Some(self.name.to_owned()),
            message: format!("one path parameter cannot be read as {what}"),
        }
    }
}
