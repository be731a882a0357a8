//! Macros for Tailscale's open schemas: enums whose unknown values are kept, and structs whose
//! unknown members are kept.

/// An open enum: known Tailscale values as variants, anything else kept in `Other`.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value Tailscale added after this code was written; kept verbatim.
            Other(String),
        }

        impl $name {
            /// The value exactly as Tailscale spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $text, )*
                    $name::Other(s) => s.as_str(),
                }
            }

            /// Parses a Tailscale value; unknown values become `Other`.
            pub fn parse(text: &str) -> Self {
                match text {
                    $( $text => $name::$variant, )*
                    other => $name::Other(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("a string")
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        Ok($name::parse(v))
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}

/// A struct of optional known members plus every unknown member kept as raw JSON.
///
/// Tailscale omits zero-valued fields, so every member is optional. Errors name the member
/// (`field `srcNode.nodeId`: …`) so a quarantine reason points at the exact field.
macro_rules! open_struct {
    ($(#[$meta:meta])* $name:ident { $( $(#[$fmeta:meta])* $field:ident : $ty:ty => $key:literal ),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: Option<$ty>, )*
            /// Members not in Tailscale's documented schema, kept verbatim, in order.
            pub unknown: Vec<(String, Box<serde_json::value::RawValue>)>,
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str(concat!("a JSON object (", stringify!($name), ")"))
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<$name, A::Error> {
                        let mut out = $name::default();
                        while let Some(key) = map.next_key::<$crate::wire::frame::Key<'de>>()? {
                            match &*key.0 {
                                $( $key => {
                                    out.$field = map.next_value_seed($crate::record::macros::Field::<Option<$ty>>::new($key))?;
                                } )*
                                _ => {
                                    let value = map.next_value::<Box<serde_json::value::RawValue>>()?;
                                    out.unknown.push((key.0.into_owned(), value));
                                }
                            }
                        }
                        Ok(out)
                    }
                }
                d.deserialize_map(V)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut map = s.serialize_map(None)?;
                $( if let Some(v) = &self.$field { map.serialize_entry($key, v)?; } )*
                for (k, v) in &self.unknown {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    };
}

pub(crate) use open_enum;
pub(crate) use open_struct;

use std::marker::PhantomData;

use serde::de::{DeserializeSeed, Error as _};

/// Deserializes one member and prefixes any error with the member's name, building a dotted path
/// through nested structs.
pub(crate) struct Field<T> {
    key: &'static str,
    _t: PhantomData<T>,
}

impl<T> Field<T> {
    pub(crate) fn new(key: &'static str) -> Self {
        Field { key, _t: PhantomData }
    }
}

impl<'de, T: serde::Deserialize<'de>> DeserializeSeed<'de> for Field<T> {
    type Value = T;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        T::deserialize(d).map_err(|e| D::Error::custom(prefix_field(self.key, &e.to_string())))
    }
}

/// Removes serde_json's ` at line L column C` suffix (it is re-added once, at the outermost level).
pub(crate) fn strip_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i)
            if message[i + 9..]
                .split(" column ")
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) =>
        {
            &message[..i]
        }
        _ => message,
    }
}

fn prefix_field(key: &str, inner: &str) -> String {
    let inner = strip_position(inner);
    match inner.strip_prefix("field `") {
        Some(rest) => format!("field `{key}.{rest}"),
        None => format!("field `{key}`: {inner}"),
    }
}

/// Splits a `field `path`: message` error into the path and the message.
pub fn split_field_error(message: &str) -> (Option<String>, String) {
    let message = strip_position(message);
    if let Some(rest) = message.strip_prefix("field `") {
        if let Some(end) = rest.find("`: ") {
            return (Some(rest[..end].to_owned()), message.to_owned());
        }
    }
    (None, message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_field_errors_build_a_dotted_path() {
        assert_eq!(
            prefix_field("srcNode", "field `nodeId`: invalid type at line 1 column 20"),
            "field `srcNode.nodeId`: invalid type"
        );
        assert_eq!(
            prefix_field("nodeId", "invalid type: integer `42`, expected a string at line 1 column 20"),
            "field `nodeId`: invalid type: integer `42`, expected a string"
        );
        assert_eq!(
            split_field_error("field `a.b`: oops at line 3 column 9"),
            (Some("a.b".into()), "field `a.b`: oops".into())
        );
        assert_eq!(strip_position("keeps at line breaks"), "keeps at line breaks");
    }
}
