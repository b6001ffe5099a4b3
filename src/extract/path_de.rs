//! serde deserializers over a request's text parameters: a matched route's path parameters,
//! and the query string's pairs.
//!
//! `Path<T>` reads the path parameters as one value (`Path<u64>`, when the route has one
//! parameter), a tuple (`Path<(String, u32)>`, in path order), or a struct whose field names
//! are the parameter names (`Path<Ids>`). The query string is read with serde_urlencoded; when
//! that fails, [`explain_query`] reads it again here to say which field was wrong. Every error
//! is an [`InputError`] naming the parameter at fault.

use std::borrow::Cow;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

use super::error::{expected, one_of, quoted, InputError};
use super::{ParamValues, ParamsIter};

/// Deserializes `T` from the path parameters of one request. (Inline: for a single
/// parameter this is a parse, smaller than the call around it.)
#[inline]
pub(crate) fn deserialize_path<T: DeserializeOwned>(
    params: ParamValues<'_>,
) -> Result<T, InputError> {
    T::deserialize(PathDeserializer { params })
}

/// Why the query's `pairs` do not deserialize as `T`, if they do not.
pub(crate) fn explain_query<T: DeserializeOwned>(pairs: &[(String, String)]) -> Option<InputError> {
    T::deserialize(QueryDeserializer { pairs }).err()
}

/// The whole set of path parameters: a single value, a sequence, or a map by name.
struct PathDeserializer<'p> {
    params: ParamValues<'p>,
}

impl<'p> PathDeserializer<'p> {
    /// The only parameter, for a request of one value.
    fn single(&self) -> Result<(&'p str, Text<'p>), InputError> {
        match self.params.get(0) {
            Some((name, value)) if self.params.len() == 1 => Ok((name, Text(value))),
            _ => Err(InputError::shape(format!(
                "the path has {} parameters where 1 is read",
                self.params.len()
            ))),
        }
    }
}

macro_rules! single_value {
    ($($method:ident),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
                let (name, value) = self.single()?;
                value.$method(visitor).map_err(|error| error.at_key(name))
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for PathDeserializer<'_> {
    type Error = InputError;

    single_value! {
        deserialize_any,
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_identifier,
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, InputError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, InputError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        visitor.visit_seq(Values {
            params: self.params.iter(),
        })
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, InputError> {
        if len != self.params.len() {
            return Err(InputError::shape(format!(
                "the path has {} parameters where {len} are read",
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
    ) -> Result<V::Value, InputError> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        visitor.visit_map(Named::new(self.params.iter()))
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
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, InputError> {
        let (param, value) = self.single()?;
        value
            .deserialize_enum(name, variants, visitor)
            .map_err(|error| error.at_key(param))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        visitor.visit_unit()
    }
}

/// The path parameters in path order, for a tuple.
struct Values<'p> {
    params: ParamsIter<'p>,
}

impl<'de> de::SeqAccess<'de> for Values<'_> {
    type Error = InputError;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, InputError> {
        match self.params.next() {
            Some((name, value)) => seed
                .deserialize(Text(value))
                .map(Some)
                .map_err(|error| error.at_key(name)),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.params.len())
    }
}

/// Text parameters by name, for a struct or a map: the path's, or the query's pairs.
struct Named<'p, I> {
    params: I,
    value: Option<(&'p str, &'p str)>,
}

impl<'p, I: ExactSizeIterator<Item = (&'p str, &'p str)>> Named<'p, I> {
    fn new(params: I) -> Self {
        Self {
            params,
            value: None,
        }
    }
}

impl<'de, 'p, I> de::MapAccess<'de> for Named<'p, I>
where
    I: ExactSizeIterator<Item = (&'p str, &'p str)>,
{
    type Error = InputError;

    fn next_key_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, InputError> {
        match self.params.next() {
            Some((name, value)) => {
                self.value = Some((name, value));
                seed.deserialize(Text(name))
                    .map(Some)
                    .map_err(|error| error.about_key(name))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, InputError> {
        match self.value.take() {
            Some((name, value)) => seed
                .deserialize(Text(value))
                .map_err(|error| error.at_key(name)),
            None => Err(de::Error::custom("a value was read before its name")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.params.len())
    }
}

/// The query string's pairs, read the way serde_urlencoded reads them: as a map by name (a
/// struct, a `HashMap`), or as a sequence of pairs.
struct QueryDeserializer<'p> {
    pairs: &'p [(String, String)],
}

impl<'de> de::Deserializer<'de> for QueryDeserializer<'_> {
    type Error = InputError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        let pairs = self
            .pairs
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()));
        visitor.visit_map(Named::new(pairs))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        let pairs = self
            .pairs
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()));
        let mut pairs = de::value::MapDeserializer::new(pairs);
        let value = visitor.visit_seq(&mut pairs)?;
        pairs.end()?;
        Ok(value)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        if self.pairs.is_empty() {
            visitor.visit_unit()
        } else {
            Err(InputError::shape("the query string must be empty"))
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit_struct newtype_struct tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

/// One parameter's text, parsed as the type asked for.
#[derive(Clone, Copy)]
pub(crate) struct Text<'p>(pub(crate) &'p str);

impl Text<'_> {
    /// Describes an error of a visitor given this text: what the value must be, and the text.
    fn describe(self, error: InputError, expected: Option<Cow<'static, str>>) -> InputError {
        error.expecting(expected, || Some(quoted(self.0)))
    }
}

macro_rules! parse_value {
    ($($method:ident => $visit:ident($ty:tt)),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
                match self.0.parse::<$ty>() {
                    Ok(parsed) => visitor
                        .$visit(parsed)
                        .map_err(|error| self.describe(error, Some(expected!($ty).into()))),
                    Err(_) => Err(InputError::unparsed(self.0, expected!($ty))),
                }
            }
        )*
    };
}

macro_rules! text_value {
    ($($method:ident => $expected:expr),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
                visitor
                    .visit_str(self.0)
                    .map_err(|error| self.describe(error, $expected))
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for Text<'_> {
    type Error = InputError;

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

    text_value! {
        deserialize_any => None,
        deserialize_str => Some(expected!(text).into()),
        deserialize_string => Some(expected!(text).into()),
        deserialize_bytes => Some(expected!(text).into()),
        deserialize_byte_buf => Some(expected!(text).into()),
        deserialize_identifier => Some(expected!(text).into()),
        deserialize_unit => None,
        deserialize_ignored_any => None,
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, InputError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, InputError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, InputError> {
        visitor
            .visit_enum(self.0.into_deserializer())
            .map_err(|error| self.describe(error, one_of(variants)))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, InputError> {
        Err(InputError::unsupported(expected!(list)))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        _visitor: V,
    ) -> Result<V::Value, InputError> {
        Err(InputError::unsupported(expected!(list)))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, InputError> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, InputError> {
        Err(InputError::unsupported(expected!(object)))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, InputError> {
        Err(InputError::unsupported(expected!(object)))
    }
}
