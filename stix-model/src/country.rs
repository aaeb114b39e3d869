//! ISO 3166-1 alpha-2 country codes, with English names for display and lookup.
//!
//! The table is derived by `scripts/derive_countries.py` into `data/countries.tsv`.

use std::fmt;
use std::sync::LazyLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

static TSV: &str = include_str!("../data/countries.tsv");

struct Entry {
    code: &'static str,
    name: &'static str,
    official: &'static str,
}

static TABLE: LazyLock<Vec<Entry>> = LazyLock::new(|| {
    TSV.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let mut p = l.split('\t');
            Some(Entry {
                code: p.next()?,
                name: p.next()?,
                official: p.next().unwrap_or(""),
            })
        })
        .collect()
});

/// The entry of a code: a binary search, the table being in code order (checked by a test).
fn entry(code: &str) -> Option<&'static Entry> {
    TABLE
        .binary_search_by(|e| e.code.cmp(code))
        .ok()
        .and_then(|i| TABLE.get(i))
}

/// Common names that differ from the ISO short names, as found in DISINFOX data.
const ALIASES: &[(&str, &str)] = &[
    ("britain", "GB"),
    ("czech republic", "CZ"),
    ("england", "GB"),
    ("great britain", "GB"),
    ("holland", "NL"),
    ("ivory coast", "CI"),
    ("kosovo", "XK"),
    ("north korea", "KP"),
    ("russia", "RU"),
    ("south korea", "KR"),
    ("the netherlands", "NL"),
    ("turkey", "TR"),
    ("uk", "GB"),
    ("united states of america", "US"),
    ("us", "US"),
    ("usa", "US"),
];

/// An ISO 3166-1 alpha-2 country code (`UA`, `FR`), checked against the ISO list (plus `XK`,
/// the user-assigned code commonly used for Kosovo).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Parses a code (case-insensitive; stored upper-case).
    pub fn parse(s: &str) -> Result<Self, Error> {
        let b = s.as_bytes();
        let bad = |reason: &str| Error::InvalidValue {
            what: "country code",
            value: s.to_owned(),
            reason: reason.to_owned(),
        };
        if b.len() != 2 || !b.iter().all(u8::is_ascii_alphabetic) {
            return Err(bad("expected an ISO 3166-1 alpha-2 code such as UA"));
        }
        let code = Self([b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()]);
        if code.as_str() == "XK" || entry(code.as_str()).is_some() {
            Ok(code)
        } else {
            Err(bad("not an ISO 3166-1 alpha-2 code"))
        }
    }

    /// Finds a country by code, English name, official name, common alias or the name OpenCTI
    /// gives it (case-insensitive, surrounding spaces ignored): `UA`, `Ukraine`, `UK`, `Russia`,
    /// `Viet Nam`.
    pub fn lookup(s: &str) -> Option<Self> {
        let t = s.trim();
        if let Ok(c) = Self::parse(t) {
            return Some(c);
        }
        let lower = t.to_lowercase();
        if let Some((_, code)) = ALIASES.iter().find(|(a, _)| *a == lower) {
            return Self::parse(code).ok();
        }
        TABLE
            .iter()
            .find(|e| e.name.to_lowercase() == lower || e.official.to_lowercase() == lower)
            .and_then(|e| Self::parse(e.code).ok())
            .or_else(|| crate::opencti_names::country_by_name(t))
    }

    /// The code, e.g. `UA`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    /// The English name, e.g. `Ukraine`.
    pub fn name(&self) -> &'static str {
        if self.as_str() == "XK" {
            return "Kosovo";
        }
        entry(self.as_str()).map(|e| e.name).unwrap_or("")
    }

    /// Every country, in code order.
    pub fn all() -> impl Iterator<Item = CountryCode> {
        TABLE.iter().filter_map(|e| Self::parse(e.code).ok())
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl std::str::FromStr for CountryCode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl Serialize for CountryCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CountryCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::{CountryCode, TABLE};

    /// The table is in strictly increasing code order, which `entry`'s binary search needs.
    #[test]
    fn the_table_is_in_code_order() {
        assert!(TABLE.len() > 240);
        assert!(TABLE.windows(2).all(|w| w[0].code < w[1].code));
        for e in TABLE.iter() {
            assert_eq!(CountryCode::parse(e.code).unwrap().name(), e.name);
        }
    }

    #[test]
    fn parses_and_looks_up() {
        assert_eq!(CountryCode::parse("ua").unwrap().as_str(), "UA");
        assert_eq!(CountryCode::parse("UA").unwrap().name(), "Ukraine");
        for (input, code) in [
            ("Ukraine", "UA"),
            (" france ", "FR"),
            ("UK", "GB"),
            ("US", "US"),
            ("Russia", "RU"),
            ("Russian Federation", "RU"),
            ("United States of America", "US"),
            ("Viet Nam", "VN"),
            ("Republic of Moldova", "MD"),
        ] {
            assert_eq!(
                CountryCode::lookup(input).map(|c| c.to_string()),
                Some(code.to_string()),
                "{input}"
            );
        }
        for bad in ["", "U", "UKR", "ZZ", "1A", "World", "Ükraine"] {
            assert!(CountryCode::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(CountryCode::lookup("World"), None);
        assert!(CountryCode::all().count() >= 249);
    }
}
