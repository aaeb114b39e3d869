//! The names OpenCTI knows things by: countries and regions as its geography data names them,
//! and channel names its schema accepts.
//!
//! OpenCTI finds a location again by its name or an alias and its type (pycti sends a location's
//! name and type, not its ISO code), so a country sent as "Czech Republic" next to the
//! platform's "Czechia" becomes a second country. Countries and regions therefore carry the
//! names of OpenCTI's geography dataset, derived into `data/opencti-geography.tsv` by
//! `scripts/derive_opencti_geography.py`. OpenCTI refuses a channel whose name is shorter than
//! two characters (`ChannelAddInput.name`), so such names get a longer canonical form with the
//! short one as an alias. The facts and their sources: `docs/opencti-import.md`.

use std::sync::LazyLock;

use crate::CountryCode;

static TSV: &str = include_str!("../data/opencti-geography.tsv");

struct Place {
    kind: &'static str,
    code: &'static str,
    name: &'static str,
    aliases: &'static str,
}

static PLACES: LazyLock<Vec<Place>> = LazyLock::new(|| {
    TSV.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let mut p = l.split('\t');
            Some(Place {
                kind: p.next()?,
                code: p.next()?,
                name: p.next()?,
                aliases: p.next().unwrap_or(""),
            })
        })
        .collect()
});

fn country(c: CountryCode) -> Option<&'static Place> {
    PLACES
        .iter()
        .find(|p| p.kind == "Country" && p.code == c.as_str())
}

/// OpenCTI's name for a country (`IR` → `Iran (Islamic Republic of)`); the English name for a
/// country OpenCTI's data lacks (`XK`, Kosovo).
pub fn country_name(c: CountryCode) -> &'static str {
    country(c).map_or_else(|| c.name(), |p| p.name)
}

/// OpenCTI's aliases of a country (its ISO alpha-3 and alpha-2 codes); for a country OpenCTI's
/// data lacks, its alpha-2 code, as OpenCTI's countries carry theirs.
pub fn country_aliases(c: &CountryCode) -> Vec<&str> {
    match country(*c) {
        Some(p) => p.aliases.split('|').filter(|a| !a.is_empty()).collect(),
        None => vec![c.as_str()],
    }
}

/// The country OpenCTI's data gives this name or alias (case-insensitive, spaces trimmed).
pub fn country_by_name(name: &str) -> Option<CountryCode> {
    let n = name.trim().to_lowercase();
    PLACES
        .iter()
        .filter(|p| p.kind == "Country")
        .find(|p| p.name.to_lowercase() == n)
        .and_then(|p| CountryCode::parse(p.code).ok())
}

/// OpenCTI's region (or sub-region) of this name, e.g. `eastern europe` → `Eastern Europe`;
/// `None` when OpenCTI's geography has no such region.
pub fn region(text: &str) -> Option<&'static str> {
    let t = text.trim().to_lowercase();
    PLACES
        .iter()
        .find(|p| p.kind == "Region" && p.name.to_lowercase() == t)
        .map(|p| p.name)
}

/// Channel names that need a longer canonical name in OpenCTI, with their aliases.
const CHANNELS: &[(&str, &str, &[&str])] = &[("x", "X (Twitter)", &["X", "Twitter"])];

/// A channel as OpenCTI receives it: a name its schema accepts, and the aliases it is known by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelName {
    /// The name OpenCTI shows (at least two characters).
    pub name: String,
    /// Other names, among them the name as recorded when it differs.
    pub aliases: Vec<String>,
}

/// The channel name to send to OpenCTI for a recorded channel name: a canonical long name for
/// the known short ones (`X` → `X (Twitter)`, aliases `X`, `Twitter`), `<name> (channel)` for
/// any other name shorter than two characters, the trimmed name otherwise. Deterministic, so
/// channel ids stay stable.
pub fn channel(recorded: &str) -> ChannelName {
    let r = recorded.trim();
    if let Some((_, name, aliases)) = CHANNELS.iter().find(|(k, _, _)| r.eq_ignore_ascii_case(k)) {
        return ChannelName {
            name: (*name).to_owned(),
            aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
        };
    }
    // OpenCTI counts UTF-16 code units (JavaScript string length).
    if r.encode_utf16().count() < 2 {
        return ChannelName {
            name: format!("{r} (channel)"),
            aliases: vec![r.to_owned()],
        };
    }
    ChannelName {
        name: r.to_owned(),
        aliases: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(c: &str) -> CountryCode {
        CountryCode::parse(c).unwrap()
    }

    #[test]
    fn countries_carry_opencti_names() {
        assert_eq!(country_name(code("CZ")), "Czechia");
        assert_eq!(country_name(code("IR")), "Iran (Islamic Republic of)");
        assert_eq!(country_name(code("US")), "United States of America");
        assert_eq!(country_name(code("TR")), "Turkey");
        assert_eq!(country_name(code("RU")), "Russian Federation");
        assert_eq!(country_name(code("XK")), "Kosovo");
        assert_eq!(country_aliases(&code("CZ")), vec!["CZE", "CZ"]);
        assert_eq!(country_aliases(&code("XK")), vec!["XK"]);
        assert_eq!(country_by_name(" viet nam "), Some(code("VN")));
        assert_eq!(country_by_name("Atlantis"), None);
        // Every ISO country is in OpenCTI's data (Kosovo, XK, is not an ISO code).
        let missing: Vec<_> = CountryCode::all()
            .filter(|c| country(*c).is_none())
            .collect();
        assert!(missing.is_empty(), "{missing:?}");
    }

    #[test]
    fn regions_are_opencti_regions() {
        assert_eq!(region(" eastern europe"), Some("Eastern Europe"));
        assert_eq!(region("Europe"), Some("Europe"));
        assert_eq!(region("Middle East"), Some("Middle East"));
        assert_eq!(region("Eastern Europe and Caucasus"), None);
    }

    #[test]
    fn channel_names_opencti_accepts() {
        let x = channel(" X ");
        assert_eq!(x.name, "X (Twitter)");
        assert_eq!(x.aliases, vec!["X", "Twitter"]);
        assert_eq!(channel("x"), x);
        let q = channel("Q");
        assert_eq!(q.name, "Q (channel)");
        assert_eq!(q.aliases, vec!["Q"]);
        let t = channel("Telegram");
        assert_eq!((t.name.as_str(), t.aliases.len()), ("Telegram", 0));
        // A character outside the BMP is two UTF-16 units: long enough for OpenCTI.
        assert_eq!(channel("𝕏").name, "𝕏");
    }
}
