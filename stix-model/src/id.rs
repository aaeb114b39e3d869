//! STIX identifiers: `<object-type>--<uuid>` ([STIX 2.1 §2.9]).
//!
//! [STIX 2.1 §2.9]: https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_64yvzeku5a5c

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// A STIX identifier, `<object-type>--<uuid>`, checked on construction.
///
/// The type part follows the STIX type-name rules (lower-case ASCII letters, digits and single
/// hyphens, 3–250 characters) and the UUID part carries an RFC 4122 version (1–5) and variant
/// (8, 9, a, b), as the OASIS schema demands. Upper-case hex is accepted on input and never
/// rewritten, so ids that come from elsewhere survive a round trip byte for byte.
///
/// Deviation from the spec's SHOULD: ids made by [`crate::opencti`] are UUIDv5 in the SCO
/// namespace, as OpenCTI computes them, so that re-sent objects merge in OpenCTI. The OASIS
/// validator reports that as warning 103, which we disable on purpose.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Identifier {
    text: String,
    sep: usize,
}

impl Identifier {
    /// Parses and checks an identifier.
    pub fn parse(text: impl Into<String>) -> Result<Self, Error> {
        let text = text.into();
        match check(text.as_bytes()) {
            Ok(sep) => Ok(Self { text, sep }),
            Err(reason) => Err(Error::InvalidIdentifier {
                value: text,
                reason,
            }),
        }
    }

    /// Builds `<object_type>--<uuid>`.
    pub fn from_uuid(object_type: &str, uuid: uuid::Uuid) -> Result<Self, Error> {
        Self::parse(format!("{object_type}--{}", uuid.hyphenated()))
    }

    /// A new random (UUIDv4) identifier of the given type.
    pub fn new_v4(object_type: &str) -> Result<Self, Error> {
        Self::from_uuid(object_type, uuid::Uuid::new_v4())
    }

    /// The type part, e.g. `incident`.
    pub fn object_type(&self) -> &str {
        &self.text[..self.sep]
    }

    /// The UUID part as text.
    pub fn uuid_str(&self) -> &str {
        &self.text[self.sep + 2..]
    }

    /// The whole identifier.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Whether `text` is a valid identifier (what [`Identifier::parse`] accepts), without building one.
pub(crate) fn is_valid(text: &str) -> bool {
    check(text.as_bytes()).is_ok()
}

/// The type part of a valid identifier (what [`Identifier::object_type`] gives), without
/// building one; `None` when [`Identifier::parse`] refuses it.
pub(crate) fn type_part(text: &str) -> Option<&str> {
    check(text.as_bytes()).ok().and_then(|sep| text.get(..sep))
}

/// Where the `--` of a valid identifier is, or why it is not one.
fn check(b: &[u8]) -> Result<usize, &'static str> {
    // The UUID part is 36 bytes: the separator sits just before it.
    let sep = match b.len().checked_sub(38) {
        Some(sep) if b[sep..sep + 2] == *b"--" => sep,
        _ => match b.windows(2).position(|w| w == b"--") {
            Some(sep) => sep,
            None => return Err("expected <type>--<uuid>"),
        },
    };
    // The id pattern wants the type part to end in a letter or digit.
    if !crate::is_type_name_bytes(&b[..sep]) || b[sep - 1] == b'-' {
        return Err("type part is not a valid STIX type name");
    }
    if !is_uuid_text(&b[sep + 2..]) {
        return Err("uuid part is not an RFC 4122 UUID");
    }
    Ok(sep)
}

/// Hexadecimal digits.
const HEX: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = (c as u8).is_ascii_hexdigit();
        c += 1;
    }
    t
};

fn is_uuid_text(b: &[u8]) -> bool {
    let Ok(b) = <&[u8; 36]>::try_from(b) else {
        return false;
    };
    // Every byte in one pass without a branch per byte (the array's size is known).
    let mut ok = true;
    for (i, &c) in b.iter().enumerate() {
        ok &= if matches!(i, 8 | 13 | 18 | 23) {
            c == b'-'
        } else {
            HEX[usize::from(c)]
        };
    }
    ok && matches!(b[14], b'1'..=b'5') && matches!(b[19], b'8' | b'9' | b'a' | b'b' | b'A' | b'B')
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.text)
    }
}

impl std::str::FromStr for Identifier {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Identifier {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl From<Identifier> for String {
    fn from(id: Identifier) -> String {
        id.text
    }
}

impl AsRef<str> for Identifier {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl Serialize for Identifier {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Identifier {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_ids() {
        for ok in [
            "incident--c1817dc0-80ae-547f-83c0-920b0c6a25b8",
            "attack-pattern--B12CFC49-F036-5156-90AC-1FFA873E53C5",
            "x-mitre-tactic--4a6e3b68-6d5c-4b5d-9d8a-1b2c3d4e5f60",
        ] {
            let id = Identifier::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(id.as_str(), ok, "ids are never rewritten");
        }
        let id = Identifier::parse("attack-pattern--b12cfc49-f036-5156-90ac-1ffa873e53c5").unwrap();
        assert_eq!(id.object_type(), "attack-pattern");
        assert_eq!(id.uuid_str(), "b12cfc49-f036-5156-90ac-1ffa873e53c5");
    }

    #[test]
    fn rejects_invalid_ids() {
        for bad in [
            "",
            "incident",
            "incident--",
            "Incident--c1817dc0-80ae-547f-83c0-920b0c6a25b8",
            "in--c1817dc0-80ae-547f-83c0-920b0c6a25b8",
            "incident_x--c1817dc0-80ae-547f-83c0-920b0c6a25b8",
            "incident--c1817dc0-80ae-047f-83c0-920b0c6a25b8",
            "incident--c1817dc0-80ae-547f-c3c0-920b0c6a25b8",
            "incident--c1817dc0-80ae-547f-83c0-920b0c6a25b",
            "incident--c1817dc0x80ae-547f-83c0-920b0c6a25b8",
            "incident--g1817dc0-80ae-547f-83c0-920b0c6a25b8",
            "incident---c1817dc0-80ae-547f-83c0-920b0c6a25b8",
            "--c1817dc0-80ae-547f-83c0-920b0c6a25b8",
        ] {
            assert!(Identifier::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    /// The checks as first written, one branch per byte: the branch-free ones must agree.
    fn type_name_as_written(b: &[u8]) -> bool {
        if b.len() < 3 || b.len() > 250 || !b[0].is_ascii_lowercase() {
            return false;
        }
        let mut prev_hyphen = false;
        for &c in b {
            match c {
                b'a'..=b'z' | b'0'..=b'9' => prev_hyphen = false,
                b'-' if !prev_hyphen => prev_hyphen = true,
                _ => return false,
            }
        }
        true
    }

    fn uuid_as_written(b: &[u8]) -> bool {
        b.len() == 36
            && b[8] == b'-'
            && b[13] == b'-'
            && b[18] == b'-'
            && b[23] == b'-'
            && matches!(b[14], b'1'..=b'5')
            && matches!(b[19], b'8' | b'9' | b'a' | b'b' | b'A' | b'B')
            && [&b[..8], &b[9..13], &b[15..18], &b[20..23], &b[24..]]
                .iter()
                .all(|part| part.iter().all(|c| c.is_ascii_hexdigit()))
    }

    proptest::proptest! {
        #[test]
        fn branch_free_checks_agree_with_the_checks_as_written(
            ty in "[a-z0-9-]{0,6}|[a-z][a-z0-9-]{1,20}|[a-zA-Z0-9_ -]{0,12}|.{0,8}",
            uuid in "[0-9a-fA-F-]{36}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-fA-Fg-]{4}-[0-9a-f]{12}|.{30,40}",
        ) {
            proptest::prop_assert_eq!(crate::is_type_name(&ty), type_name_as_written(ty.as_bytes()));
            proptest::prop_assert_eq!(is_uuid_text(uuid.as_bytes()), uuid_as_written(uuid.as_bytes()));
        }
    }

    #[test]
    fn branch_free_checks_agree_on_the_edges() {
        for ty in [
            "abc", "a-b", "a--b", "ab-", "-ab", "1ab", "a1-2", "ab\u{e9}", "a b",
        ] {
            assert_eq!(
                crate::is_type_name(ty),
                type_name_as_written(ty.as_bytes()),
                "{ty}"
            );
        }
        let long = "a".repeat(250);
        assert!(crate::is_type_name(&long) && !crate::is_type_name(&format!("{long}a")));
        let good = "c1817dc0-80ae-547f-83c0-920b0c6a25b8";
        assert!(is_uuid_text(good.as_bytes()));
        for i in 0..36 {
            for c in [b'-', b'0', b'f', b'F', b'g', b'8', b'c', 0xff] {
                let mut b = good.as_bytes().to_vec();
                b[i] = c;
                assert_eq!(is_uuid_text(&b), uuid_as_written(&b), "{i} {c}");
            }
        }
    }
}
