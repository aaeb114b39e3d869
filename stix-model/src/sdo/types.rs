//! The typed domain and relationship objects, and their rules beyond the shape of their
//! properties.

use super::*;

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
pub(crate) const NOT_ENDPOINTS: &[&str] = &[
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
