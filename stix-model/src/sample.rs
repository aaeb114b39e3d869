//! Deterministic synthetic incidents for demos, tests and benchmarks.
//!
//! The same seed always gives the same incidents. Names, actors and channels are invented
//! or generic; no third-party dataset is used.

use crate::disarm::{Catalogue, DisarmVersion};
use crate::extension::{AttributionSource, PartialDate};
use crate::incident::{ActorDescription, IncidentDescription};
use crate::{Confidence, CountryCode, Timestamp};

/// A small deterministic pseudo-random generator (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
    /// One element of a slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len()))
    }
}

const ACTORS: &[&str] = &[
    "Russia",
    "China",
    "Iran",
    "Storm-1516",
    "Doppelganger network",
    "Ghostwriter",
    "Spamouflage",
    "Secondary Infektion",
    "Internet Research Agency",
    "Unknown",
];
const COUNTRIES: &[&str] = &[
    "UA", "FR", "DE", "PL", "US", "GB", "MD", "GE", "LT", "LV", "EE", "ES", "IT", "RO", "SK", "CZ",
    "TW", "PH", "ML", "BF", "NE", "CF", "BR", "IN",
];
const ORIGINS: &[&str] = &["RU", "CN", "IR", "BY"];
const CHANNELS: &[&str] = &[
    "Facebook",
    "Instagram",
    "X",
    "Youtube",
    "TikTok",
    "Telegram",
    "Vkontakte",
    "Reddit",
    "WhatsApp",
    "Discord",
];
const SUBJECTS: &[&str] = &[
    "elections",
    "refugees",
    "vaccines",
    "energy prices",
    "military aid",
    "farmers' protests",
    "NATO exercises",
    "a chemical plant",
    "the central bank",
    "grain exports",
];
const CLAIMS: &[&str] = &[
    "Fabricated report about",
    "Cloned news site story on",
    "Deepfake video about",
    "Bot-amplified hashtag campaign on",
    "Forged government letter about",
    "Fake fact-check about",
    "Paid influencer campaign on",
];

/// `n` synthetic incidents from `seed`, created one after another from 2022 on: spread over
/// the three years 2022–2024 (at least an hour apart), so a small set still covers many months.
pub fn incidents(seed: u64, n: usize) -> Vec<IncidentDescription> {
    let mut rng = Rng::new(seed);
    let catalogue = Catalogue::builtin(DisarmVersion::V1_7);
    let techniques: Vec<&str> = catalogue.techniques().map(|t| t.id.as_str()).collect();
    let start = Timestamp::parse("2022-01-01T00:00:00.000Z")
        .map(|t| t.unix_seconds())
        .unwrap_or(0);
    const THREE_YEARS: i64 = 3 * 365 * 86_400;
    let step = (THREE_YEARS / n.max(1) as i64).max(3_600);
    (0..n)
        .map(|i| {
            let claim = rng.pick(CLAIMS).copied().unwrap_or("Report on");
            let subject = rng.pick(SUBJECTS).copied().unwrap_or("events");
            let country = rng.pick(COUNTRIES).and_then(|c| CountryCode::parse(c).ok());
            let mut d = IncidentDescription::new(format!(
                "{claim} {subject} in {} #{}",
                country.map_or("Europe", |c| c.name()),
                i + 1
            ));
            d.description = Some(format!(
                "Synthetic incident {} for demonstrations: {} {} spread across several platforms.",
                i + 1,
                claim.to_lowercase(),
                subject
            ));
            let secs = start + (i as i64) * step + rng.below(step as usize) as i64;
            let created = Timestamp::from_unix_nanos(secs, 0, 3);
            d.created = Some(created);
            let (y, m, _) = created.date();
            d.first_seen = PartialDate::parse(&format!("{y:04}-{m:02}")).ok();
            for _ in 0..1 + rng.below(4) {
                if let Some(t) = rng.pick(&techniques) {
                    if !d.techniques.iter().any(|x| x == t) {
                        d.techniques.push((*t).to_owned());
                    }
                }
            }
            if let Some(a) = rng.pick(ACTORS) {
                let mut actor = ActorDescription::new(*a);
                actor.uncertain = rng.below(4) == 0;
                d.actors.push(actor);
            }
            d.target_countries.extend(country);
            if rng.below(3) == 0 {
                if let Some(c) = rng.pick(COUNTRIES).and_then(|c| CountryCode::parse(c).ok()) {
                    if !d.target_countries.contains(&c) {
                        d.target_countries.push(c);
                    }
                }
            }
            d.country_of_origin = rng.pick(ORIGINS).and_then(|c| CountryCode::parse(c).ok());
            for _ in 0..1 + rng.below(3) {
                if let Some(c) = rng.pick(CHANNELS) {
                    if !d.channels.iter().any(|x| x == c) {
                        d.channels.push((*c).to_owned());
                    }
                }
            }
            d.attribution_sources = vec![match rng.below(4) {
                0 => AttributionSource::Government,
                1 => AttributionSource::Platform,
                2 => AttributionSource::Company,
                _ => AttributionSource::Researchers,
            }];
            d.attribution_confidence = Confidence::new(40 + rng.below(60) as i64).ok();
            d.source_urls = vec![format!("https://example.org/sources/{}", i + 1)];
            d.labels = vec!["disinformation".into()];
            d
        })
        .collect()
}
