//! Tolerant-reader helpers for the shapes real callstats clients sent.
//!
//! They only widen what is accepted on input; output always uses the one documented shape, so a
//! value written by callscope reads back identically.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

/// An identifier that clients send either as a JSON string or as a number (SSRCs: the Swagger
/// says string, callstats.js accepted the number the browser gave it).
pub(crate) fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(StringOrNumber)
}

/// Optional form of [`string_or_number`]; `null` and absence are `None`.
pub(crate) fn opt_string_or_number<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    d.deserialize_option(OptStringOrNumber)
}

struct StringOrNumber;

impl Visitor<'_> for StringOrNumber {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an integer")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        // An SSRC that went through a JS number is integral; anything else is not an identifier.
        if v.is_finite() && v.fract() == 0.0 && v.abs() < 9.007_199_254_740_992e15 {
            Ok(format!("{v:.0}"))
        } else {
            Err(E::invalid_value(de::Unexpected::Float(v), &self))
        }
    }
}

struct OptStringOrNumber;

impl<'de> Visitor<'de> for OptStringOrNumber {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, an integer or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        string_or_number(d).map(Some)
    }
}

/// A number that the iOS SDK sent as a string (`[[String: String]]` stats): accepts both.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LenientF64(pub f64);

impl<'de> Deserialize<'de> for LenientF64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LenientF64;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a numeric string")
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LenientF64, E> {
                Ok(LenientF64(v))
            }

            #[allow(clippy::cast_precision_loss)] // timestamps and counters stay far below 2^53
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LenientF64, E> {
                Ok(LenientF64(v as f64))
            }

            #[allow(clippy::cast_precision_loss)]
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LenientF64, E> {
                Ok(LenientF64(v as f64))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<LenientF64, E> {
                v.trim()
                    .parse::<f64>()
                    .map(LenientF64)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_any(V)
    }
}

/// A candidate pair that clients sent either as an object (Swagger, official SDKs) or wrapped in
/// a one-element array (some REST clients). More than one element is refused rather than
/// silently keeping the first.
pub(crate) fn opt_object_or_singleton<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrList<T> {
        One(T),
        List(Vec<T>),
    }

    struct V<T>(std::marker::PhantomData<T>);

    impl<'de, T: DeserializeOwned> Visitor<'de> for V<T> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object, a one-element array or null")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            match OneOrList::<T>::deserialize(d)? {
                OneOrList::One(v) => Ok(Some(v)),
                OneOrList::List(mut list) => match list.len() {
                    0 => Ok(None),
                    1 => Ok(list.pop()),
                    n => Err(de::Error::invalid_length(n, &"at most one candidate pair")),
                },
            }
        }
    }

    d.deserialize_option(V(std::marker::PhantomData))
}
