//! The DISARM framework: tactics, techniques and sub-techniques, keyed on DISARM ids.
//!
//! Two versions are built in (v1.7, the default, and v1.6), derived by
//! `scripts/derive_disarm.py` from the DISARM Foundation's STIX bundles into `data/`. Any other
//! DISARM STIX bundle can be loaded at run time with [`Catalogue::from_stix_json`].
//!
//! Techniques are keyed on their DISARM ids (`T0002`, `T0015.001`) and tactics on theirs
//! (`TA01`) or their short names (`plan-strategy`), never on DISARM's STIX ids, which change
//! between versions (`docs/disarm.md` §3 in the repository; the data's shapes, counts and
//! sources are there too).
//!
//! DISARM is by the [DISARM Foundation](https://www.disarm.foundation/), licensed under
//! [CC BY-SA 4.0](https://creativecommons.org/licenses/by-sa/4.0/).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Bundle, Error, StixObject};

/// A built-in DISARM version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[non_exhaustive]
pub enum DisarmVersion {
    /// DISARM 1.6 (the version OpenCTI's DISARM connector imports).
    V1_6,
    /// DISARM 1.7.
    #[default]
    V1_7,
}

impl DisarmVersion {
    /// `1.6` or `1.7`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1_6 => "1.6",
            Self::V1_7 => "1.7",
        }
    }
}

impl std::str::FromStr for DisarmVersion {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().trim_start_matches(['v', 'V']) {
            "1.6" => Ok(Self::V1_6),
            "1.7" => Ok(Self::V1_7),
            _ => Err(Error::InvalidValue {
                what: "DISARM version",
                value: s.to_owned(),
                reason: "expected 1.6 or 1.7".into(),
            }),
        }
    }
}

impl fmt::Display for DisarmVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A DISARM technique id: `T` and four digits, optionally `.` and three digits
/// (`T0002`, `T0049.003`). A lower-case `t` is accepted on input and written upper-case.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TechniqueId(String);

impl TechniqueId {
    /// Parses an id.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let b = s.as_bytes();
        let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        let ok = matches!(b.first(), Some(b'T' | b't'))
            && (b.len() == 5 || b.len() == 9)
            && digits(1..5)
            && (b.len() == 5 || (b[5] == b'.' && digits(6..9)));
        if ok {
            Ok(Self(format!("T{}", &s[1..])))
        } else {
            Err(Error::InvalidValue {
                what: "DISARM technique id",
                value: s.to_owned(),
                reason: "expected T#### or T####.### (e.g. T0002, T0049.003)".into(),
            })
        }
    }
    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Whether this is a sub-technique (`T0049.003`).
    pub fn is_subtechnique(&self) -> bool {
        self.0.len() == 9
    }
    /// The parent technique of a sub-technique.
    pub fn parent(&self) -> Option<TechniqueId> {
        self.is_subtechnique().then(|| Self(self.0[..5].to_owned()))
    }
}

/// A DISARM tactic id: `TA` and two digits (`TA01`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TacticId(String);

impl TacticId {
    /// Parses an id (`ta01` is accepted and written `TA01`).
    pub fn parse(s: &str) -> Result<Self, Error> {
        let b = s.as_bytes();
        if b.len() == 4
            && b[..2].eq_ignore_ascii_case(b"TA")
            && b[2..].iter().all(u8::is_ascii_digit)
        {
            Ok(Self(format!("TA{}", &s[2..])))
        } else {
            Err(Error::InvalidValue {
                what: "DISARM tactic id",
                value: s.to_owned(),
                reason: "expected TA## (e.g. TA01)".into(),
            })
        }
    }
    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_id {
    ($t:ident) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", self.0)
            }
        }
        impl std::str::FromStr for $t {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                Self::parse(s)
            }
        }
        impl TryFrom<String> for $t {
            type Error = Error;
            fn try_from(s: String) -> Result<Self, Error> {
                Self::parse(&s)
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}
string_id!(TechniqueId);
string_id!(TacticId);

/// The four DISARM phases (not in the STIX data; from the framework pages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// P01 Plan.
    Plan,
    /// P02 Prepare.
    Prepare,
    /// P03 Execute.
    Execute,
    /// P04 Assess.
    Assess,
}

impl Phase {
    /// `P01` … `P04`.
    pub fn id(self) -> &'static str {
        match self {
            Self::Plan => "P01",
            Self::Prepare => "P02",
            Self::Execute => "P03",
            Self::Assess => "P04",
        }
    }
    /// `Plan`, `Prepare`, `Execute`, `Assess`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plan => "Plan",
            Self::Prepare => "Prepare",
            Self::Execute => "Execute",
            Self::Assess => "Assess",
        }
    }
    fn from_id(s: &str) -> Option<Self> {
        Some(match s {
            "P01" => Self::Plan,
            "P02" => Self::Prepare,
            "P03" => Self::Execute,
            "P04" => Self::Assess,
            _ => return None,
        })
    }
    /// The phase of a tactic, from the DISARM framework pages.
    pub fn of_tactic(tactic: &str) -> Option<Self> {
        Some(match tactic {
            "TA01" | "TA02" | "TA13" => Self::Plan,
            "TA14" | "TA06" | "TA15" | "TA16" | "TA05" | "TA07" => Self::Prepare,
            "TA08" | "TA09" | "TA17" | "TA18" | "TA10" | "TA11" => Self::Execute,
            "TA12" => Self::Assess,
            _ => return None,
        })
    }
}

/// A tactic: a column of the DISARM matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tactic {
    /// `TA01`.
    pub id: TacticId,
    /// `plan-strategy`: the kill-chain `phase_name`.
    pub shortname: String,
    /// `Plan Strategy`.
    pub name: String,
    /// The phase.
    pub phase: Option<Phase>,
    /// The DISARM page.
    pub url: Option<String>,
}

/// A technique or sub-technique.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Technique {
    /// `T0049.003`.
    pub id: TechniqueId,
    /// `Bots Amplify via Automated Forwarding and Reposting`.
    pub name: String,
    /// The tactic's short name, e.g. `maximise-exposure`.
    pub tactic: String,
    /// The parent technique of a sub-technique.
    pub parent: Option<TechniqueId>,
    /// The DISARM page.
    pub url: Option<String>,
}

/// A DISARM framework version: tactics in matrix column order and techniques by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalogue {
    version: String,
    tactics: Vec<Tactic>,
    techniques: BTreeMap<TechniqueId, Technique>,
}

static V16: LazyLock<Catalogue> =
    LazyLock::new(|| Catalogue::from_tsv(include_str!("../../data/disarm-1.6.tsv")));
static V17: LazyLock<Catalogue> =
    LazyLock::new(|| Catalogue::from_tsv(include_str!("../../data/disarm-1.7.tsv")));

impl Catalogue {
    /// A built-in version.
    pub fn builtin(version: DisarmVersion) -> &'static Catalogue {
        match version {
            DisarmVersion::V1_6 => &V16,
            DisarmVersion::V1_7 => &V17,
        }
    }

    /// Parses the derived TSV (lines that do not parse are skipped; the built-in files are
    /// checked by the tests).
    fn from_tsv(text: &str) -> Self {
        let mut c = Self {
            version: String::new(),
            tactics: Vec::new(),
            techniques: BTreeMap::new(),
        };
        let opt = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_owned);
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let mut p = line.split('\t');
            match p.next() {
                Some("version") => c.version = p.next().unwrap_or_default().to_owned(),
                Some("tactic") => {
                    let (Some(Ok(id)), Some(short), Some(name)) =
                        (p.next().map(TacticId::parse), p.next(), p.next())
                    else {
                        continue;
                    };
                    let phase = p.next().and_then(Phase::from_id);
                    c.tactics.push(Tactic {
                        id,
                        shortname: short.to_owned(),
                        name: name.to_owned(),
                        phase,
                        url: opt(p.next()),
                    });
                }
                Some("technique") => {
                    let (Some(Ok(id)), Some(name), Some(tactic)) =
                        (p.next().map(TechniqueId::parse), p.next(), p.next())
                    else {
                        continue;
                    };
                    c.techniques.insert(
                        id.clone(),
                        Technique {
                            parent: id.parent(),
                            id,
                            name: name.to_owned(),
                            tactic: tactic.to_owned(),
                            url: opt(p.next()),
                        },
                    );
                }
                _ => {}
            }
        }
        c
    }

    /// Loads any DISARM STIX 2.1 bundle: attack-patterns carrying a DISARM id in a
    /// `mitre-attack` or `DISARM` external reference, `x-mitre-tactic` objects with
    /// `x_mitre_shortname`, and the column order of the `x-mitre-matrix`.
    pub fn from_stix_json(bytes: &[u8]) -> Result<Catalogue, Error> {
        let (bundle, report) = Bundle::read_lenient(bytes)?;
        if !report.is_valid() {
            return Err(Error::Invalid(report.violations));
        }
        Self::from_bundle(&bundle)
    }

    /// Builds a catalogue from a parsed DISARM bundle.
    pub fn from_bundle(bundle: &Bundle) -> Result<Catalogue, Error> {
        let mut tactics_by_stix_id = BTreeMap::new();
        let mut column_order: Vec<String> = Vec::new();
        let mut techniques = BTreeMap::new();
        let mut version = String::new();
        for o in &bundle.objects {
            match o {
                StixObject::AttackPattern(ap) => {
                    let Some(r) = ap.common.external_references.iter().find(|r| {
                        (r.source_name == "mitre-attack" || r.source_name == "DISARM")
                            && r.external_id.is_some()
                    }) else {
                        continue;
                    };
                    let Some(Ok(id)) = r.external_id.as_deref().map(TechniqueId::parse) else {
                        continue;
                    };
                    let tactic = ap
                        .kill_chain_phases
                        .first()
                        .map(|p| p.phase_name.clone())
                        .unwrap_or_default();
                    techniques.insert(
                        id.clone(),
                        Technique {
                            parent: id.parent(),
                            id,
                            name: ap.name.split_whitespace().collect::<Vec<_>>().join(" "),
                            tactic,
                            url: r.url.clone(),
                        },
                    );
                }
                StixObject::Custom(c) if c.object_type() == "x-mitre-tactic" => {
                    let tid = c
                        .get("external_references")
                        .and_then(|v| v.as_array())
                        .and_then(|refs| {
                            refs.iter().find_map(|r| {
                                let id = r.get("external_id")?.as_str()?;
                                Some((
                                    TacticId::parse(id).ok()?,
                                    r.get("url").and_then(|u| u.as_str()).map(str::to_owned),
                                ))
                            })
                        });
                    let short = c.get("x_mitre_shortname").and_then(|v| v.as_str());
                    let name = c.get("name").and_then(|v| v.as_str());
                    if let (Some((id, url)), Some(short), Some(name)) = (tid, short, name) {
                        let phase = Phase::of_tactic(id.as_str());
                        tactics_by_stix_id.insert(
                            c.id().to_owned(),
                            Tactic {
                                id,
                                shortname: short.to_owned(),
                                name: name.split_whitespace().collect::<Vec<_>>().join(" "),
                                phase,
                                url,
                            },
                        );
                    }
                }
                StixObject::Custom(c) if c.object_type() == "x-mitre-matrix" => {
                    if let Some(refs) = c.get("tactic_refs").and_then(|v| v.as_array()) {
                        column_order = refs
                            .iter()
                            .filter_map(|r| r.as_str().map(str::to_owned))
                            .collect();
                    }
                    if let Some(m) = c.get("modified").and_then(|v| v.as_str()) {
                        version = m.get(..10).unwrap_or(m).to_owned();
                    }
                }
                _ => {}
            }
        }
        let mut tactics = Vec::new();
        for r in &column_order {
            if let Some(t) = tactics_by_stix_id.remove(r) {
                tactics.push(t);
            }
        }
        tactics.extend(tactics_by_stix_id.into_values());
        if techniques.is_empty() || tactics.is_empty() {
            return Err(Error::InvalidValue {
                what: "DISARM bundle",
                value: bundle.id.to_string(),
                reason: "holds no DISARM techniques or no tactics".into(),
            });
        }
        Ok(Self {
            version,
            tactics,
            techniques,
        })
    }

    /// The version label (`1.7` for the built-in catalogues; the matrix date for a loaded one).
    pub fn version_label(&self) -> &str {
        &self.version
    }

    /// Tactics in matrix column order.
    pub fn tactics(&self) -> &[Tactic] {
        &self.tactics
    }

    /// A tactic by short name (`plan-strategy`) or id (`TA01`).
    pub fn tactic(&self, key: &str) -> Option<&Tactic> {
        self.tactics
            .iter()
            .find(|t| t.shortname == key || t.id.as_str().eq_ignore_ascii_case(key))
    }

    /// A technique by id (`T0002`, case-insensitive).
    pub fn technique(&self, id: &str) -> Option<&Technique> {
        TechniqueId::parse(id.trim())
            .ok()
            .and_then(|id| self.techniques.get(&id))
    }

    /// Every technique and sub-technique, in id order.
    pub fn techniques(&self) -> impl Iterator<Item = &Technique> {
        self.techniques.values()
    }

    /// The techniques and sub-techniques of a tactic (by short name), in id order.
    pub fn techniques_of_tactic<'a>(
        &'a self,
        shortname: &'a str,
    ) -> impl Iterator<Item = &'a Technique> {
        self.techniques
            .values()
            .filter(move |t| t.tactic == shortname)
    }

    /// The sub-techniques of a technique.
    pub fn subtechniques<'a>(
        &'a self,
        parent: &'a TechniqueId,
    ) -> impl Iterator<Item = &'a Technique> {
        self.techniques
            .values()
            .filter(move |t| t.parent.as_ref() == Some(parent))
    }

    /// The number of techniques and sub-techniques.
    pub fn len(&self) -> usize {
        self.techniques.len()
    }

    /// Whether the catalogue holds no technique.
    pub fn is_empty(&self) -> bool {
        self.techniques.is_empty()
    }
}

#[cfg(test)]
mod tests;
