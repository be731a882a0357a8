//! The `proto` member: an IANA protocol number, though names like `tcp` also occur.

use std::fmt;

use serde::{de, Deserialize, Serialize};

/// An IP protocol, as a number or a name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Proto {
    /// IANA protocol number.
    Number(u8),
    /// A name that is not one of the well-known ones below; kept verbatim.
    Name(String),
}

const KNOWN: &[(u8, &str)] = &[
    (1, "icmp"),
    (2, "igmp"),
    (6, "tcp"),
    (17, "udp"),
    (33, "dccp"),
    (47, "gre"),
    (50, "esp"),
    (58, "ipv6-icmp"),
    (132, "sctp"),
];

impl Proto {
    /// The protocol number, when known.
    pub fn number(&self) -> Option<u8> {
        match self {
            Proto::Number(n) => Some(*n),
            Proto::Name(_) => None,
        }
    }

    /// The lower-case protocol name, when known.
    pub fn name(&self) -> Option<&str> {
        match self {
            Proto::Number(n) => KNOWN.iter().find(|(k, _)| k == n).map(|(_, name)| *name),
            Proto::Name(s) => Some(s.as_str()),
        }
    }

    /// Parses a name, mapping well-known names to their number.
    pub fn from_name(name: &str) -> Proto {
        let lower = name.trim().to_ascii_lowercase();
        let canonical = match lower.as_str() {
            "icmpv6" | "icmp6" => "ipv6-icmp",
            other => other,
        };
        match KNOWN.iter().find(|(_, n)| *n == canonical) {
            Some((num, _)) => Proto::Number(*num),
            None => match canonical.parse::<u8>() {
                Ok(n) => Proto::Number(n),
                Err(_) => Proto::Name(name.to_owned()),
            },
        }
    }
}

impl Serialize for Proto {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Proto::Number(n) => s.serialize_u8(*n),
            Proto::Name(name) => s.serialize_str(name),
        }
    }
}

impl<'de> Deserialize<'de> for Proto {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Proto;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an IANA protocol number (0-255) or name")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Proto, E> {
                u8::try_from(v)
                    .map(Proto::Number)
                    .map_err(|_| E::custom(format!("protocol number {v} is over 255")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Proto, E> {
                u8::try_from(v)
                    .map(Proto::Number)
                    .map_err(|_| E::custom(format!("protocol number {v} is not in 0-255")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Proto, E> {
                Ok(Proto::from_name(v))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_meet() {
        let n: Proto = serde_json::from_str("6").unwrap();
        let s: Proto = serde_json::from_str("\"TCP\"").unwrap();
        assert_eq!(n, s);
        assert_eq!(n.name(), Some("tcp"));
        assert_eq!(serde_json::from_str::<Proto>("\"icmpv6\"").unwrap(), Proto::Number(58));
        assert_eq!(serde_json::from_str::<Proto>("\"quic-ish\"").unwrap().name(), Some("quic-ish"));
        assert_eq!(Proto::Number(253).name(), None);
        assert!(serde_json::from_str::<Proto>("300").unwrap_err().to_string().contains("over 255"));
        assert!(serde_json::from_str::<Proto>("-1").is_err());
    }
}
