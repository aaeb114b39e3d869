//! Typed STIX domain, relationship and meta objects.
//!
//! Every object keeps the properties it does not know in `custom`, so nothing is lost on a
//! round trip. Each type's doc links the section of STIX 2.1 it models.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use serde::de::{Deserializer, IgnoredAny};
use serde::Deserialize as _;

use crate::common::{
    check_external_references, check_granular, check_marking_refs, check_precision, common_refs,
    finish_header, CommonProps,
};
use crate::read::{
    check_custom, check_extensions, ids, known, read_custom, strip_raw, Cx, Key, Properties, Slot,
};
use crate::write::{Obj, Written};
use crate::{
    Common, ExtensionType, ExternalReference, GranularMarking, Identifier, IdentityClass,
    KillChainPhase, ThreatActorType, Timestamp,
};

/// A typed object read property by property: its `Props` collect the properties, `finish`
/// builds the object and checks every rule.
pub(crate) trait Typed: Sized {
    type Props: Properties + Default;
    fn finish(props: Self::Props, cx: &mut Cx) -> Option<Self>;
}

/// Per-type rules beyond the shape of the properties.
pub(crate) trait TypeRules {
    /// Cross-property checks.
    fn check(&self, _cx: &mut Cx) {}
    /// References held in type-specific properties.
    fn own_refs<'a>(&'a self, _out: &mut Vec<(&'static str, &'a str)>) {}
    /// Kill-chain phases, for the types that have them.
    fn phases(&self) -> &[KillChainPhase] {
        &[]
    }
}

/// The property name of a field (`abstract` for `r#abstract`).
macro_rules! key {
    ($f:ident) => {
        const { strip_raw(stringify!($f)) }
    };
}

macro_rules! stix_object {
    (
        $(#[$m:meta])* $name:ident = $ty:literal, read by $props:ident;
        required { $($(#[$rm:meta])* $rf:ident : $rt:ty),* $(,)? }
        optional { $($(#[$om:meta])* $of:ident : $ot:ty),* $(,)? }
        lists { $($(#[$lm:meta])* $lf:ident : $lt:ty),* $(,)? }
        required_lists { $($(#[$qm:meta])* $qf:ident : $qt:ty),* $(,)? }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[non_exhaustive]
        pub struct $name {
            /// Common properties.
            #[serde(flatten)]
            pub common: Common,
            $($(#[$rm])* pub $rf: $rt,)*
            $($(#[$om])* #[serde(skip_serializing_if = "Option::is_none")] pub $of: Option<$ot>,)*
            $($(#[$lm])* #[serde(skip_serializing_if = "Vec::is_empty")] pub $lf: Vec<$lt>,)*
            $($(#[$qm])* pub $qf: Vec<$qt>,)*
            /// Custom and unknown properties, kept as they came.
            #[serde(flatten)]
            pub custom: BTreeMap<String, Value>,
        }

        impl $name {
            /// The STIX type name.
            pub const TYPE: &'static str = $ty;

            /// A new object with its required properties; the others are empty.
            #[allow(clippy::too_many_arguments)]
            pub fn new(common: Common $(, $rf: impl Into<$rt>)* $(, $qf: Vec<$qt>)*) -> Self {
                Self {
                    common,
                    $($rf: $rf.into(),)*
                    $($of: None,)*
                    $($lf: Vec::new(),)*
                    $($qf,)*
                    custom: BTreeMap::new(),
                }
            }

            pub(crate) fn refs<'a>(&'a self, out: &mut Vec<(&'static str, &'a str)>) {
                self.common.refs(out);
                self.own_refs(out);
                custom_refs(&self.custom, out);
            }

            /// Writes the object as JSON, `type` first, as `Serialize` writes it.
            pub(crate) fn write_json(&self, out: &mut Vec<u8>) -> Written {
                let mut o = Obj::begin(out);
                o.type_name($ty);
                self.common.write_fields(&mut o)?;
                $(o.field(key!($rf), &self.$rf)?;)*
                $(o.opt(key!($of), &self.$of)?;)*
                $(o.list(key!($lf), &self.$lf)?;)*
                $(o.field(key!($qf), &self.$qf)?;)*
                o.custom(&self.custom)?;
                o.end();
                Ok(())
            }
        }

        #[doc = concat!("The properties of a `", $ty, "` being read.")]
        #[derive(Debug, Default)]
        pub(crate) struct $props {
            common: CommonProps,
            $($rf: Slot<$rt>,)*
            $($of: Slot<$ot>,)*
            $($lf: Slot<Vec<$lt>>,)*
            $($qf: Slot<Vec<$qt>>,)*
            custom: BTreeMap<String, Value>,
        }

        impl Properties for $props {
            fn read<'de, D: Deserializer<'de>>(
                &mut self,
                key: Key,
                d: D,
                cx: &mut Cx,
            ) -> Result<(), D::Error> {
                let Some(d) = self.common.read(&key, d, cx)? else {
                    return Ok(());
                };
                match key.known() {
                    $(Some(k) if k == const { known(stringify!($rf)) } => self.$rf.read(key!($rf), d, cx),)*
                    $(Some(k) if k == const { known(stringify!($of)) } => self.$of.read(key!($of), d, cx),)*
                    $(Some(k) if k == const { known(stringify!($lf)) } => self.$lf.read(key!($lf), d, cx),)*
                    $(Some(k) if k == const { known(stringify!($qf)) } => self.$qf.read(key!($qf), d, cx),)*
                    _ => read_custom(&mut self.custom, key, d),
                }
            }
        }

        impl Typed for $name {
            type Props = $props;

            fn finish(p: $props, cx: &mut Cx) -> Option<Self> {
                let common = p.common.finish($ty, cx);
                $(let $rf = p.$rf.required(key!($rf), cx);)*
                $(let $qf = p.$qf.required_list(key!($qf), cx);)*
                check_custom(&p.custom, cx);
                let common = common?;
                $(
                    let Some($rf) = $rf else {
                        cx.id = Some(common.id.to_string());
                        return None;
                    };
                )*
                let obj = Self {
                    common,
                    $($rf,)*
                    $($of: p.$of.optional(),)*
                    $($lf: p.$lf.list(),)*
                    $($qf,)*
                    custom: p.custom,
                };
                obj.check(cx);
                Some(obj)
            }
        }
    };
}

/// Collects `*_ref`/`*_refs` custom properties (e.g. `x-mitre-matrix.tactic_refs`).
pub(crate) fn custom_refs<'a>(
    custom: &'a BTreeMap<String, Value>,
    out: &mut Vec<(&'static str, &'a str)>,
) {
    for (k, v) in custom {
        if k.ends_with("_ref") {
            if let Value::String(s) = v {
                out.push(("custom", s.as_str()));
            }
        } else if k.ends_with("_refs") {
            if let Value::Array(a) = v {
                for s in a.iter().filter_map(Value::as_str) {
                    out.push(("custom", s));
                }
            }
        }
    }
}

fn check_seen(f: &mut Cx, first: Option<&Timestamp>, last: Option<&Timestamp>) {
    if let (Some(a), Some(b)) = (first, last) {
        if b < a {
            f.violation("last_seen", "must not be earlier than first_seen");
        }
    }
}

stix_object! {
    /// An attack pattern ([STIX 2.1 §4.1]): here, a DISARM technique.
    ///
    /// [STIX 2.1 §4.1]: https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_axjijf603msy
    AttackPattern = "attack-pattern", read by AttackPatternProps;
    required {
        /// Name.
        name: String,
    }
    optional {
        /// Description.
        description: String,
    }
    lists {
        /// Alternative names.
        aliases: String,
        /// Kill chain phases (for DISARM: the tactic).
        kill_chain_phases: KillChainPhase,
    }
    required_lists {}
}
impl TypeRules for AttackPattern {
    fn check(&self, f: &mut Cx) {
        check_phases(f, &self.kill_chain_phases);
    }
    fn phases(&self) -> &[KillChainPhase] {
        &self.kill_chain_phases
    }
}

fn check_phases(f: &mut Cx, p: &[KillChainPhase]) {
    for (i, k) in p.iter().enumerate() {
        if k.kill_chain_name.is_empty() || k.phase_name.is_empty() {
            f.violation(
                format!("kill_chain_phases[{i}]"),
                "kill_chain_name and phase_name must not be empty",
            );
        }
    }
}

stix_object! {
    /// A campaign ([STIX 2.1 §4.2]).
    ///
    /// [STIX 2.1 §4.2]: https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_pcpvfz4ik6d6
    Campaign = "campaign", read by CampaignProps;
    required {
        /// Name.
        name: String,
    }
    optional {
        /// Description.
        description: String,
        /// First seen.
        first_seen: Timestamp,
        /// Last seen (≥ first seen).
        last_seen: Timestamp,
        /// Objective.
        objective: String,
    }
    lists {
        /// Alternative names.
        aliases: String,
    }
    required_lists {}
}
impl TypeRules for Campaign {
    fn check(&self, f: &mut Cx) {
        check_seen(f, self.first_seen.as_ref(), self.last_seen.as_ref());
    }
}

stix_object! {
    /// An identity ([STIX 2.1 §4.5]): an organization, person or system.
    ///
    /// [STIX 2.1 §4.5]: https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_wh296fiwpklp
    Identity = "identity", read by IdentityProps;
    required {
        /// Name.
        name: String,
    }
    optional {
        /// Description.
        description: String,
        /// Kind of identity.
        identity_class: IdentityClass,
        /// Contact information.
        contact_information: String,
    }
    lists {
        /// Roles.
        roles: String,
        /// Industry sectors.
        sectors: String,
    }
    required_lists {}
}
impl TypeRules for Identity {}

stix_object! {
    /// An incident ([STIX 2.1 §4.6]). STIX defines it as a stub; what DISINFOX records about a
    /// disinformation incident travels in [`crate::extension`] and in relationships.
    ///
    /// [STIX 2.1 §4.6]: https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_sczfhw64pjxt
    Incident = "incident", read by IncidentProps;
    required {
        /// Name.
        name: String,
    }
    optional {
        /// Description.
        description: String,
    }
    lists {}
    required_lists {}
}
impl TypeRules for Incident {}

stix_object! {
    /// An intrusion set ([STIX 2.1 §4.8]).
    ///
    /// [STIX 2.1 §4.8]: https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_5ol9xlbbnrdn
    IntrusionSet = "intrusion-set", read by IntrusionSetProps;
    required {
        /// Name.
        name: String,
    }
    optional {
        /// Description.
        description: String,
        /// First seen.
        first_seen: Timestamp,
        /// Last seen.
        last_seen: Timestamp,
        /// Resource level.
        resource_level: String,
        /// Primary motivation.
        primary_motivation: String,
    }
    lists {
        /// Alternative names.
        aliases: String,
        /// Goals.
        goals: String,
        /// Secondary motivations.
        secondary_motivations: String,
    }
    required_lists {}
}
impl TypeRules for IntrusionSet {
    fn check(&self, f: &mut Cx) {
        check_seen(f, self.first_seen.as_ref(), self.last_seen.as_ref());
    }
}

stix_object! {
    /// A threat actor ([STIX 2.1 §4.16]).
    ///
    /// [STIX 2.1 §4.16]: https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_k017w16zutw
    ThreatActor = "threat-actor", read by ThreatActorProps;
    required {
        /// Name.
        name: String,
    }
    optional {
        /// Description.
        description: String,
        /// First seen.
        first_seen: Timestamp,
        /// Last seen.
        last_seen: Timestamp,
        /// Sophistication.
        sophistication: String,
        /// Resource level (OpenCTI reads `individual` as a lone actor).
        resource_level: String,
        /// Primary motivation.
        primary_motivation: String,
    }
    lists {
        /// Kinds of actor.
        threat_actor_types: ThreatActorType,
        /// Alternative names.
        aliases: String,
        /// Roles.
        roles: String,
        /// Goals.
        goals: String,
        /// Secondary motivations.
        secondary_motivations: String,
        /// Personal motivations.
        personal_motivations: String,
    }
    required_lists {}
}
impl TypeRules for ThreatActor {
    fn check(&self, f: &mut Cx) {
        check_seen(f, self.first_seen.as_ref(), self.last_seen.as_ref());
    }
}

stix_object! {
    /// A location ([STIX 2.1 §4.11]): needs a region, a country, or both latitude and longitude.
    ///
    /// [STIX 2.1 §4.11]: https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_th8nitr8jb4k
    Location = "location", read by LocationProps;
    required {}
    optional {
        /// Name (OpenCTI requires one).
        name: String,
        /// Description.
        description: String,
        /// Latitude, −90 to 90.
        latitude: f64,
        /// Longitude, −180 to 180.
        longitude: f64,
        /// Precision in metres.
        precision: f64,
        /// Region (`region-ov`).
        region: String,
        /// Country, ISO 3166-1 alpha-2.
        country: String,
        /// Administrative area.
        administrative_area: String,
        /// City.
        city: String,
        /// Street address.
        street_address: String,
        /// Postal code.
        postal_code: String,
    }
    lists {}
    required_lists {}
}
impl TypeRules for Location {
    fn check(&self, f: &mut Cx) {
        let has_point = self.latitude.is_some() && self.longitude.is_some();
        if self.region.is_none() && self.country.is_none() && !has_point {
            f.violation(
                "",
                "a location needs region, country, or latitude and longitude",
            );
        }
        if self.latitude.is_some() != self.longitude.is_some() {
            f.violation("latitude", "latitude and longitude go together");
        }
        if matches!(self.latitude, Some(v) if !(-90.0..=90.0).contains(&v)) {
            f.violation("latitude", "must be between -90 and 90");
        }
        if matches!(self.longitude, Some(v) if !(-180.0..=180.0).contains(&v)) {
            f.violation("longitude", "must be between -180 and 180");
        }
        if self.precision.is_some() && !has_point {
            f.violation("precision", "only allowed with latitude and longitude");
        }
    }
}

stix_object! {
    /// A note ([STIX 2.1 §4.12]).
    ///
    /// [STIX 2.1 §4.12]: https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_gudodcg1sbb9
    Note = "note", read by NoteProps;
    required {
        /// The note's text.
        content: String,
    }
    optional {
        /// A summary.
        r#abstract: String,
    }
    lists {
        /// Authors.
        authors: String,
    }
    required_lists {
        /// The objects the note is about.
        object_refs: Identifier,
    }
}
impl TypeRules for Note {
    fn own_refs<'a>(&'a self, out: &mut Vec<(&'static str, &'a str)>) {
        out.extend(self.object_refs.iter().map(|r| ("object_refs", r.as_str())));
    }
}

stix_object! {
    /// A report ([STIX 2.1 §4.15]).
    ///
    /// [STIX 2.1 §4.15]: https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_n8bjzg1ysgdq
    Report = "report", read by ReportProps;
    required {
        /// Name.
        name: String,
        /// Publication time.
        published: Timestamp,
    }
    optional {
        /// Description.
        description: String,
    }
    lists {
        /// Report types.
        report_types: String,
    }
    required_lists {
        /// The objects the report covers.
        object_refs: Identifier,
    }
}
impl TypeRules for Report {
    fn own_refs<'a>(&'a self, out: &mut Vec<(&'static str, &'a str)>) {
        out.extend(self.object_refs.iter().map(|r| ("object_refs", r.as_str())));
    }
}

stix_object! {
    /// An extension-definition ([STIX 2.1 §7.3]). `created_by_ref` is required.
    ///
    /// [STIX 2.1 §7.3]: https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_32j232tfvtly
    ExtensionDefinition = "extension-definition", read by ExtensionDefinitionProps;
    required {
        /// Name.
        name: String,
        /// The schema: a URL or a prose description.
        schema: String,
        /// Version of the extension (semantic versioning).
        version: String,
    }
    optional {
        /// Description (SHOULD be present).
        description: String,
    }
    lists {
        /// Top-level properties a `toplevel-property-extension` adds.
        extension_properties: String,
    }
    required_lists {
        /// What the extension adds.
        extension_types: ExtensionType,
    }
}
impl TypeRules for ExtensionDefinition {
    fn check(&self, f: &mut Cx) {
        if self.common.created_by_ref.is_none() {
            f.violation("created_by_ref", "required on an extension-definition");
        }
        if !self.extension_properties.is_empty()
            && !self
                .extension_types
                .contains(&ExtensionType::ToplevelPropertyExtension)
        {
            f.violation(
                "extension_properties",
                "only allowed with a toplevel-property-extension",
            );
        }
    }
}

stix_object! {
    /// A relationship ([STIX 2.1 §5.1]).
    ///
    /// [STIX 2.1 §5.1]: https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_e2e1szrqfoan
    Relationship = "relationship", read by RelationshipProps;
    required {
        /// The kind, e.g. `uses`, `attributed-to`, `targets`.
        relationship_type: String,
        /// Source object.
        source_ref: Identifier,
        /// Target object.
        target_ref: Identifier,
    }
    optional {
        /// Description.
        description: String,
        /// Start of the relationship.
        start_time: Timestamp,
        /// End of the relationship (> start).
        stop_time: Timestamp,
    }
    lists {}
    required_lists {}
}
impl TypeRules for Relationship {
    fn check(&self, f: &mut Cx) {
        let t = &self.relationship_type;
        if t.is_empty()
            || !t
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        {
            f.violation("relationship_type", "must match ^[a-z0-9-]+$");
        }
        for (path, r) in [
            ("source_ref", &self.source_ref),
            ("target_ref", &self.target_ref),
        ] {
            if NOT_ENDPOINTS.contains(&r.object_type()) {
                f.violation(
                    path,
                    format!("a {} cannot be a relationship endpoint", r.object_type()),
                );
            }
        }
        if let Some(msg) = crate::relationship_rules::check_pair(
            t,
            self.source_ref.object_type(),
            self.target_ref.object_type(),
        ) {
            f.violation("relationship_type", msg);
        }
        if let (Some(a), Some(b)) = (&self.start_time, &self.stop_time) {
            if b <= a {
                f.violation("stop_time", "must be later than start_time");
            }
        }
    }
    fn own_refs<'a>(&'a self, out: &mut Vec<(&'static str, &'a str)>) {
        out.push(("source_ref", self.source_ref.as_str()));
        out.push(("target_ref", self.target_ref.as_str()));
    }
}

/// Types that can never be the end of a relationship.
const NOT_ENDPOINTS: &[&str] = &[
    "bundle",
    "extension-definition",
    "language-content",
    "marking-definition",
];

stix_object! {
    /// A sighting ([STIX 2.1 §5.2]).
    ///
    /// [STIX 2.1 §5.2]: https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_a795guqsap3r
    Sighting = "sighting", read by SightingProps;
    required {
        /// What was seen.
        sighting_of_ref: Identifier,
    }
    optional {
        /// Description.
        description: String,
        /// First seen.
        first_seen: Timestamp,
        /// Last seen.
        last_seen: Timestamp,
        /// How many times, 0–999,999,999.
        count: u64,
        /// Whether this is a summary.
        summary: bool,
    }
    lists {
        /// Observed data.
        observed_data_refs: Identifier,
        /// Identities or locations where it was seen.
        where_sighted_refs: Identifier,
    }
    required_lists {}
}
impl TypeRules for Sighting {
    fn check(&self, f: &mut Cx) {
        check_seen(f, self.first_seen.as_ref(), self.last_seen.as_ref());
        if matches!(self.count, Some(c) if c > 999_999_999) {
            f.violation("count", "must be at most 999999999");
        }
        if matches!(
            self.sighting_of_ref.object_type(),
            "relationship" | "sighting" | "marking-definition" | "extension-definition"
        ) {
            f.violation("sighting_of_ref", "must refer to a domain object");
        }
        for (i, r) in self.where_sighted_refs.iter().enumerate() {
            if !matches!(r.object_type(), "identity" | "location") {
                f.violation(
                    format!("where_sighted_refs[{i}]"),
                    "must refer to an identity or a location",
                );
            }
        }
        for (i, r) in self.observed_data_refs.iter().enumerate() {
            if r.object_type() != "observed-data" {
                f.violation(
                    format!("observed_data_refs[{i}]"),
                    "must refer to observed-data",
                );
            }
        }
    }
    fn own_refs<'a>(&'a self, out: &mut Vec<(&'static str, &'a str)>) {
        out.push(("sighting_of_ref", self.sighting_of_ref.as_str()));
        out.extend(
            self.observed_data_refs
                .iter()
                .map(|r| ("observed_data_refs", r.as_str())),
        );
        out.extend(
            self.where_sighted_refs
                .iter()
                .map(|r| ("where_sighted_refs", r.as_str())),
        );
    }
}

stix_object! {
    /// OpenCTI's `narrative`: a story an operation pushes (not a STIX 2.1 type; OpenCTI sends it
    /// as a custom type carrying its extension with `extension_type: "new-sdo"`).
    Narrative = "narrative", read by NarrativeProps;
    required {
        /// Name.
        name: String,
    }
    optional {
        /// Description.
        description: String,
    }
    lists {
        /// Narrative types.
        narrative_types: String,
        /// Alternative names.
        aliases: String,
    }
    required_lists {}
}
impl TypeRules for Narrative {}

stix_object! {
    /// OpenCTI's `channel`: an account, page, site or platform used to spread content (not a
    /// STIX 2.1 type; OpenCTI sends it as a custom type with its `new-sdo` extension).
    Channel = "channel", read by ChannelProps;
    required {
        /// Name.
        name: String,
    }
    optional {
        /// Description.
        description: String,
    }
    lists {
        /// Channel types (e.g. `Twitter`, `Telegram`).
        channel_types: String,
        /// Alternative names.
        aliases: String,
    }
    required_lists {}
}
impl TypeRules for Channel {}

/// A marking-definition ([STIX 2.1 §7.2.1]): has `created` but no `modified`.
///
/// [STIX 2.1 §7.2.1]: https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_k5fndj2c7c1k
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct MarkingDefinition {
    /// Always `2.1`.
    pub spec_version: String,
    /// Identifier.
    pub id: Identifier,
    /// Creator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by_ref: Option<Identifier>,
    /// Creation time.
    pub created: Timestamp,
    /// External references.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub external_references: Vec<ExternalReference>,
    /// Markings on this marking.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub object_marking_refs: Vec<Identifier>,
    /// Granular markings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub granular_markings: Vec<GranularMarking>,
    /// Name, e.g. `TLP:GREEN`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `tlp` or `statement` (absent for extension-defined markings such as TLP 2.0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition_type: Option<String>,
    /// The definition, e.g. `{"tlp": "green"}` or `{"statement": "…"}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<Value>,
    /// Extensions (TLP 2.0 markings are defined through one).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extensions: BTreeMap<String, Value>,
    /// Custom properties.
    #[serde(flatten)]
    pub custom: BTreeMap<String, Value>,
}

impl MarkingDefinition {
    /// The STIX type name.
    pub const TYPE: &'static str = "marking-definition";

    /// Writes the object as JSON, `type` first, as `Serialize` writes it.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) -> Written {
        let mut o = Obj::begin(out);
        o.type_name(Self::TYPE);
        o.field("spec_version", &self.spec_version)?;
        o.field("id", &self.id)?;
        o.opt("created_by_ref", &self.created_by_ref)?;
        o.field("created", &self.created)?;
        o.list("external_references", &self.external_references)?;
        o.list("object_marking_refs", &self.object_marking_refs)?;
        o.list("granular_markings", &self.granular_markings)?;
        o.opt("name", &self.name)?;
        o.opt("definition_type", &self.definition_type)?;
        o.opt("definition", &self.definition)?;
        o.map("extensions", &self.extensions)?;
        o.custom(&self.custom)?;
        o.end();
        Ok(())
    }

    pub(crate) fn refs<'a>(&'a self, out: &mut Vec<(&'static str, &'a str)>) {
        common_refs(
            self.created_by_ref.as_ref(),
            &self.object_marking_refs,
            &self.granular_markings,
            &self.extensions,
            out,
        );
        custom_refs(&self.custom, out);
    }
}

/// The properties of a marking-definition being read.
#[derive(Debug, Default)]
pub(crate) struct MarkingProps {
    spec_version: Slot<String>,
    id: Slot<String>,
    created_by_ref: Slot<Identifier>,
    created: Slot<Timestamp>,
    external_references: Slot<Vec<ExternalReference>>,
    object_marking_refs: Slot<Vec<Identifier>>,
    granular_markings: Slot<Vec<GranularMarking>>,
    name: Slot<String>,
    definition_type: Slot<String>,
    definition: Slot<Value>,
    extensions: Slot<BTreeMap<String, Value>>,
    modified: bool,
    custom: BTreeMap<String, Value>,
}

impl Properties for MarkingProps {
    fn read<'de, D: Deserializer<'de>>(
        &mut self,
        key: Key,
        d: D,
        cx: &mut Cx,
    ) -> Result<(), D::Error> {
        match key.known() {
            Some(ids::SPEC_VERSION) => self.spec_version.read("spec_version", d, cx),
            Some(ids::ID) => self.id.read("id", d, cx),
            Some(ids::CREATED_BY_REF) => self.created_by_ref.read("created_by_ref", d, cx),
            Some(ids::CREATED) => self.created.read("created", d, cx),
            Some(ids::EXTERNAL_REFERENCES) => {
                self.external_references.read("external_references", d, cx)
            }
            Some(ids::OBJECT_MARKING_REFS) => {
                self.object_marking_refs.read("object_marking_refs", d, cx)
            }
            Some(ids::GRANULAR_MARKINGS) => self.granular_markings.read("granular_markings", d, cx),
            Some(ids::NAME) => self.name.read("name", d, cx),
            Some(ids::DEFINITION_TYPE) => self.definition_type.read("definition_type", d, cx),
            Some(ids::DEFINITION) => self.definition.read("definition", d, cx),
            Some(ids::EXTENSIONS) => self.extensions.read("extensions", d, cx),
            Some(ids::MODIFIED) => {
                self.modified = true;
                IgnoredAny::deserialize(d).map(drop)
            }
            _ => read_custom(&mut self.custom, key, d),
        }
    }
}

impl Typed for MarkingDefinition {
    type Props = MarkingProps;

    fn finish(p: MarkingProps, cx: &mut Cx) -> Option<Self> {
        let (spec_version, id) = finish_header(p.spec_version, p.id, Self::TYPE, cx);
        let created = p.created.required("created", cx);
        if let Some(c) = &created {
            check_precision(cx, "created", c);
        }
        let external_references = p.external_references.list();
        check_external_references(&external_references, cx);
        let object_marking_refs = p.object_marking_refs.list();
        check_marking_refs(&object_marking_refs, cx);
        let granular_markings = p.granular_markings.list();
        check_granular(cx, &granular_markings);
        let definition_type = p.definition_type.optional();
        let definition = p.definition.optional();
        let extensions = p.extensions.optional().unwrap_or_default();
        check_extensions(&extensions, cx);
        if p.modified {
            cx.violation("modified", "a marking-definition has no modified property");
        }
        match (&definition_type, &definition) {
            (Some(t), Some(d)) => {
                let ok = match t.as_str() {
                    "tlp" => matches!(d.get("tlp").and_then(Value::as_str), Some("white" | "green" | "amber" | "red")),
                    "statement" => d.get("statement").and_then(Value::as_str).is_some(),
                    _ => d.is_object(),
                };
                if !ok {
                    cx.violation("definition", format!("is not a valid {t} definition"));
                }
            }
            (None, None) if !extensions.is_empty() => {}
            _ => cx.violation(
                "definition",
                "definition_type and definition are required unless the marking is defined by an extension",
            ),
        }
        check_custom(&p.custom, cx);
        let (spec_version, id, created) = match (spec_version, id, created) {
            (Some(s), Some(i), Some(c)) => (s, i, c),
            (_, id, _) => {
                cx.id = id.map(String::from).or(cx.id.take());
                return None;
            }
        };
        Some(Self {
            spec_version,
            id,
            created_by_ref: p.created_by_ref.optional(),
            created,
            external_references,
            object_marking_refs,
            granular_markings,
            name: p.name.optional(),
            definition_type,
            definition,
            extensions,
            custom: p.custom,
        })
    }
}
