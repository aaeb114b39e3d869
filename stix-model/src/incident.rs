//! From a plain description of an incident to a complete, self-contained STIX bundle.
//!
//! [`BundleBuilder`] turns [`IncidentDescription`]s into an `incident` with the
//! [disinformation extension](crate::extension), its DISARM attack-patterns, actors, target and
//! origin locations, the author identity, the TLP marking, the extension-definition and the
//! relationships (`uses`, `attributed-to`, `targets`, `originates-from`), with no dangling
//! reference. Every id is OpenCTI's deterministic id, so a re-sent incident merges instead of
//! duplicating.
//!
//! Shared reference entities (countries, actors, DISARM techniques, identities) carry a fixed
//! `created`/`modified` ([`SHARED_CREATED`]) so that every export of them is byte-identical and
//! consumers never see spurious new versions of them.

use std::collections::BTreeSet;

use serde_json::json;

use crate::disarm::{Catalogue, DisarmVersion};
use crate::extension::{self, AttributionSource, DisinformationIncident, PartialDate};
use crate::markings::Tlp;
use crate::opencti::{self, LocationKind, OpenCtiIdRules, ThreatActorKind};
use crate::opencti_names;
use crate::{
    AttackPattern, Bundle, Channel, Common, Confidence, CountryCode, Error, ExternalReference,
    Identifier, Identity, IdentityClass, Incident, KillChainPhase, Location, MarkingDefinition,
    Note, Relationship, StixObject, ThreatActor, ThreatActorType, Timestamp,
};

/// `created`/`modified` of shared reference entities.
pub const SHARED_CREATED: &str = "2020-01-01T00:00:00.000Z";

/// The OpenCTI id of the "DISARM Foundation" organization, author of DISARM techniques.
pub const DISARM_IDENTITY_ID: &str = "identity--cde4da14-81be-5162-94b1-75a771cd1b83";

/// The incident type OpenCTI shows for DISINFOX incidents (`incident_type_ov` is open: OpenCTI
/// adds the term to the vocabulary on first use; `docs/opencti-import.md`).
pub const OPENCTI_INCIDENT_TYPE: &str = "disinformation";

/// The label prefix of attribution source kinds in OpenCTI-bound incidents.
pub const ATTRIBUTION_LABEL_PREFIX: &str = "attribution-source:";

/// The description of an `attributed-to` relationship whose attribution is uncertain.
pub const UNCERTAIN_ATTRIBUTION: &str = "Uncertain attribution (marked with * in DISINFOX)";

/// The DISARM Foundation's licence statement marking (CC BY-SA 4.0), as in its bundles.
pub const DISARM_MARKING_ID: &str = "marking-definition--f79f25d2-8b96-4580-b169-eb7b613a7c31";

/// An actor an incident is attributed to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ActorDescription {
    /// Name, e.g. `Russia` or `Storm-1516`.
    pub name: String,
    /// A person rather than a group.
    pub individual: bool,
    /// What kind of actor, when known (never guessed).
    pub types: Vec<ThreatActorType>,
    /// The attribution is uncertain (`Russia*` in DISINFOX data).
    pub uncertain: bool,
}

impl ActorDescription {
    /// The name without surrounding spaces or a trailing `*` uncertainty mark.
    pub fn clean_name(&self) -> &str {
        self.name.trim().trim_end_matches('*').trim_end()
    }

    /// Uncertain when flagged, or when the name ends with `*` (DISINFOX's convention).
    pub fn is_uncertain(&self) -> bool {
        self.uncertain || self.name.trim().ends_with('*')
    }

    /// A group actor of unknown type.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

/// What an analyst records about a disinformation incident, in plain Rust.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct IncidentDescription {
    /// The incident's id, kept for life; `None` derives OpenCTI's id from name and `created`.
    pub id: Option<Identifier>,
    /// Name (required).
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Creation time; `None` means now.
    pub created: Option<Timestamp>,
    /// Time of this version; `None` means `created`.
    pub modified: Option<Timestamp>,
    /// First seen, with its precision.
    pub first_seen: Option<PartialDate>,
    /// Last seen, with its precision.
    pub last_seen: Option<PartialDate>,
    /// DISARM technique ids, e.g. `T0002`, `T0049.003`.
    pub techniques: Vec<String>,
    /// Attributed actors.
    pub actors: Vec<ActorDescription>,
    /// Target countries.
    pub target_countries: Vec<CountryCode>,
    /// Country of origin.
    pub country_of_origin: Option<CountryCode>,
    /// Region as recorded.
    pub region: Option<String>,
    /// Sub-region as recorded.
    pub sub_region: Option<String>,
    /// Channels and platforms.
    pub channels: Vec<String>,
    /// Who made the attribution.
    pub attribution_sources: Vec<AttributionSource>,
    /// Confidence in the attribution.
    pub attribution_confidence: Option<Confidence>,
    /// Source URLs.
    pub source_urls: Vec<String>,
    /// Whether the operation included cyber attacks.
    pub cyber_attack: Option<bool>,
    /// Labels.
    pub labels: Vec<String>,
    /// Analyst confidence in the incident.
    pub confidence: Option<Confidence>,
    /// The incident was deleted: it is published revoked, alone.
    pub revoked: bool,
}

impl IncidentDescription {
    /// A description with a name and nothing else.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

/// Choices that apply to every incident of a bundle.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BuildOptions {
    /// The organization that authors the incidents (`created_by_ref`).
    pub author: Identity,
    /// The TLP marking applied to what the author creates.
    pub tlp: Tlp,
    /// The DISARM version techniques are looked up in.
    pub disarm: DisarmVersion,
    /// OpenCTI's id rules for attack-patterns.
    pub id_rules: OpenCtiIdRules,
    /// Add what only OpenCTI reads: top-level `x_mitre_id` on techniques, `channel` objects
    /// (`uses`), top-level incident dates and type, OpenCTI's regions, a note with the facts
    /// OpenCTI has no field for, attribution labels. Bundles then use custom properties. What
    /// each fact becomes in OpenCTI: `docs/opencti-import.md`.
    pub opencti: bool,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            author: extension::project_identity(),
            tlp: Tlp::default(),
            disarm: DisarmVersion::default(),
            id_rules: OpenCtiIdRules::default(),
            opencti: false,
        }
    }
}

impl BuildOptions {
    /// Options with an organization of the given name as author (OpenCTI's id for it).
    pub fn with_author(name: &str) -> Result<Self, Error> {
        let id = opencti::identity(name, "organization")?;
        let mut author = Identity::new(shared_common(id), name.trim());
        author.identity_class = Some(IdentityClass::Organization);
        Ok(Self {
            author,
            ..Self::default()
        })
    }
}

fn shared_time() -> Timestamp {
    Timestamp::parse(SHARED_CREATED).unwrap_or_else(|_| unreachable!("constant time"))
}

fn shared_common(id: Identifier) -> Common {
    Common::at(id, shared_time())
}

fn constant_id(s: &str) -> Identifier {
    Identifier::parse(s).unwrap_or_else(|_| unreachable!("constant id {s}"))
}

/// Builds bundles of incidents, each object once, dependencies before dependents.
#[derive(Debug)]
pub struct BundleBuilder {
    opts: BuildOptions,
    catalogue: &'static Catalogue,
    objects: Vec<StixObject>,
    seen: BTreeSet<String>,
    incidents: usize,
}

impl BundleBuilder {
    /// A builder; the author identity, its marking, the project identity and the
    /// extension-definition are added first.
    pub fn new(opts: BuildOptions) -> Self {
        let catalogue = Catalogue::builtin(opts.disarm);
        let mut b = Self {
            opts,
            catalogue,
            objects: Vec::new(),
            seen: BTreeSet::new(),
            incidents: 0,
        };
        b.add_object(b.opts.tlp.marking().into());
        b.add_object(b.opts.author.clone().into());
        b.add_object(extension::project_identity().into());
        b.add_object(extension::extension_definition().into());
        b
    }

    /// Adds an object unless one with the same id is there already.
    pub fn add_object(&mut self, o: StixObject) {
        if self.seen.insert(o.id().to_owned()) {
            self.objects.push(o);
        }
    }

    fn authored(&self, id: Identifier, at: Timestamp) -> Common {
        let mut c = Common::at(id, at);
        c.created_by_ref = Some(self.opts.author.common.id.clone());
        c.object_marking_refs = vec![constant_id(self.opts.tlp.id())];
        c
    }

    /// Adds one incident and everything it refers to; returns the incident's id.
    pub fn add_incident(&mut self, d: &IncidentDescription) -> Result<Identifier, Error> {
        let name = d.name.trim();
        if name.is_empty() {
            return Err(Error::MissingProperty { name: "name" });
        }
        let created = d.created.unwrap_or_else(Timestamp::now).at_least_millis();
        let modified = d.modified.unwrap_or(created).at_least_millis();
        if modified < created {
            return Err(Error::InvalidValue {
                what: "modified",
                value: modified.to_string(),
                reason: "must not be earlier than created".into(),
            });
        }
        if let (Some(a), Some(b)) = (d.first_seen, d.last_seen) {
            if b.start() < a.start() {
                return Err(Error::InvalidValue {
                    what: "last_seen",
                    value: b.to_string(),
                    reason: "must not be earlier than first_seen".into(),
                });
            }
        }
        let id = match &d.id {
            Some(id) if id.object_type() == "incident" => id.clone(),
            Some(id) => {
                return Err(Error::InvalidIdentifier {
                    value: id.to_string(),
                    reason: "an incident id must start with incident--",
                })
            }
            None => opencti::incident(name, &created.to_string())?,
        };

        let mut common = self.authored(id.clone(), created);
        common.modified = modified;
        common.labels = d.labels.clone();
        if self.opts.opencti {
            for s in &d.attribution_sources {
                let label = format!("{ATTRIBUTION_LABEL_PREFIX}{}", s.as_str());
                if !common.labels.contains(&label) {
                    common.labels.push(label);
                }
            }
        }
        common.confidence = d.confidence;
        if d.revoked {
            common.revoked = Some(true);
        }
        for url in &d.source_urls {
            let url = url.trim();
            if url.is_empty() {
                return Err(Error::InvalidValue {
                    what: "source URL",
                    value: url.into(),
                    reason: "must not be empty".into(),
                });
            }
            common
                .external_references
                .push(ExternalReference::url("source", url));
        }

        let mut ext = DisinformationIncident::new();
        ext.target_countries = d.target_countries.clone();
        let text = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        ext.region = text(&d.region);
        ext.sub_region = text(&d.sub_region);
        ext.country_of_origin = d.country_of_origin;
        ext.channels = d.channels.clone();
        ext.attribution.source_kinds = d.attribution_sources.clone();
        ext.attribution.confidence = d.attribution_confidence;
        ext.attribution.uncertain_actors = d
            .actors
            .iter()
            .filter(|a| a.is_uncertain())
            .map(|a| a.clean_name().to_owned())
            .collect();
        ext.source_urls = d.source_urls.iter().map(|s| s.trim().to_owned()).collect();
        ext.first_seen = d.first_seen;
        ext.last_seen = d.last_seen;
        ext.cyber_attack = d.cyber_attack;
        ext.disarm_version = Some(self.opts.disarm.as_str().to_owned());

        // Resolve techniques before anything is added, so an error leaves the builder as it was.
        let mut techniques = Vec::new();
        for t in &d.techniques {
            let (ap, known) = self.technique(t)?;
            if !known {
                ext.unknown_techniques.push(t.trim().to_ascii_uppercase());
            }
            techniques.push(ap);
        }
        let mut actors = Vec::new();
        for a in &d.actors {
            actors.push(self.actor(a)?);
        }
        let mut targets = Vec::new();
        for c in &d.target_countries {
            targets.push(self.country(*c)?);
        }
        let origin = d.country_of_origin.map(|c| self.country(c)).transpose()?;
        // Repeats (`X` and `x`, a region that is also the sub-region) give the same ids, which
        // the bundle holds once (`add_object`).
        let mut channels = Vec::new();
        let mut regions = Vec::new();
        if self.opts.opencti {
            for c in &d.channels {
                channels.push(self.channel(c)?);
            }
            for text in [&ext.region, &ext.sub_region].into_iter().flatten() {
                if let Some(name) = opencti_names::region(text) {
                    regions.push(self.region(name)?);
                }
            }
        }
        let note = if self.opts.opencti && !d.revoked {
            Some(self.note(&id, created, modified, &ext)?)
        } else {
            None
        };

        common
            .extensions
            .insert(extension::EXTENSION_ID.into(), ext.to_value());
        let mut incident = Incident::new(common, name);
        incident.description = d.description.clone().filter(|s| !s.trim().is_empty());
        if self.opts.opencti {
            if let Some(f) = d.first_seen {
                incident
                    .custom
                    .insert("first_seen".into(), json!(f.start().to_string()));
            }
            if let Some(l) = d.last_seen {
                incident
                    .custom
                    .insert("last_seen".into(), json!(l.start().to_string()));
            }
            incident
                .custom
                .insert("incident_type".into(), json!(OPENCTI_INCIDENT_TYPE));
        }

        if d.revoked {
            self.add_object(incident.into());
            self.incidents += 1;
            return Ok(id);
        }

        let mut rels: Vec<Relationship> = Vec::new();
        let relate = |rels: &mut Vec<Relationship>,
                      ty: &str,
                      target: &Identifier,
                      conf: Option<Confidence>|
         -> Result<(), Error> {
            rels.push(self.relationship(ty, &id, target, created, modified, conf)?);
            Ok(())
        };
        for ap in &techniques {
            relate(&mut rels, "uses", &ap.common.id, None)?;
        }
        for (ta, a) in actors.iter().zip(&d.actors) {
            // An uncertain attribution without a stated confidence gets 50 ("likely").
            let conf = if a.is_uncertain() {
                d.attribution_confidence.or(Confidence::new(50).ok())
            } else {
                d.attribution_confidence
            };
            relate(&mut rels, "attributed-to", &ta.common.id, conf)?;
            if self.opts.opencti && a.is_uncertain() {
                if let Some(r) = rels.last_mut() {
                    r.description = Some(UNCERTAIN_ATTRIBUTION.into());
                }
            }
        }
        for loc in targets.iter().chain(&regions) {
            relate(&mut rels, "targets", &loc.common.id, None)?;
        }
        if let Some(loc) = &origin {
            relate(&mut rels, "originates-from", &loc.common.id, None)?;
        }
        // OpenCTI's rules accept `Incident uses Channel` (docs/opencti-import.md).
        for ch in &channels {
            relate(&mut rels, "uses", &ch.common.id, None)?;
        }

        if !techniques.is_empty() {
            self.add_object(disarm_identity().into());
            self.add_object(disarm_marking().into());
        }
        for ap in techniques {
            self.add_object(ap.into());
        }
        for ta in actors {
            self.add_object(ta.into());
        }
        for loc in targets.into_iter().chain(origin).chain(regions) {
            self.add_object(loc.into());
        }
        for ch in channels {
            self.add_object(ch.into());
        }
        self.add_object(incident.into());
        for r in rels {
            self.add_object(r.into());
        }
        if let Some(n) = note {
            self.add_object(n.into());
        }
        self.incidents += 1;
        Ok(id)
    }

    fn technique(&self, raw: &str) -> Result<(AttackPattern, bool), Error> {
        let tid: crate::disarm::TechniqueId = raw.trim().parse()?;
        let (found, known) = match self.catalogue.technique(tid.as_str()) {
            Some(t) => (Some(t), true),
            None => {
                let other = match self.opts.disarm {
                    DisarmVersion::V1_7 => DisarmVersion::V1_6,
                    _ => DisarmVersion::V1_7,
                };
                (Catalogue::builtin(other).technique(tid.as_str()), false)
            }
        };
        let name = found.map_or_else(|| tid.to_string(), |t| t.name.clone());
        let id = opencti::attack_pattern(&name, Some(tid.as_str()), self.opts.id_rules)?;
        let mut common = shared_common(id);
        common.created_by_ref = Some(constant_id(DISARM_IDENTITY_ID));
        common.object_marking_refs = vec![constant_id(DISARM_MARKING_ID)];
        common.external_references = vec![ExternalReference::external_id(
            "mitre-attack",
            tid.as_str(),
            found.and_then(|t| t.url.clone()),
        )];
        let mut ap = AttackPattern::new(common, name);
        if let Some(t) = found {
            ap.kill_chain_phases = vec![KillChainPhase::new("disarm", t.tactic.clone())];
        }
        if self.opts.opencti {
            ap.custom.insert("x_mitre_id".into(), json!(tid.as_str()));
        }
        Ok((ap, known))
    }

    fn actor(&self, a: &ActorDescription) -> Result<ThreatActor, Error> {
        let kind = if a.individual {
            ThreatActorKind::Individual
        } else {
            ThreatActorKind::Group
        };
        let name = a.clean_name();
        let id = opencti::threat_actor(name, kind)?;
        let mut ta = ThreatActor::new(self.authored(id, shared_time()), name);
        ta.threat_actor_types = a.types.clone();
        if a.individual {
            ta.resource_level = Some("individual".into());
        }
        Ok(ta)
    }

    /// A country named as OpenCTI's geography data names it, so that OpenCTI finds its own.
    fn country(&self, c: CountryCode) -> Result<Location, Error> {
        let name = opencti_names::country_name(c);
        let id = opencti::location(name, LocationKind::Country)?;
        let mut l = Location::new(self.authored(id, shared_time()));
        l.name = Some(name.to_owned());
        l.country = Some(c.as_str().to_owned());
        if self.opts.opencti {
            l.custom
                .insert("x_opencti_location_type".into(), json!("Country"));
            let aliases = opencti_names::country_aliases(&c);
            if !aliases.is_empty() {
                l.custom.insert("x_opencti_aliases".into(), json!(aliases));
            }
        }
        Ok(l)
    }

    /// One of OpenCTI's regions (OpenCTI-bound bundles only).
    fn region(&self, name: &str) -> Result<Location, Error> {
        let id = opencti::location(name, LocationKind::Region)?;
        let mut l = Location::new(self.authored(id, shared_time()));
        l.name = Some(name.to_owned());
        l.region = Some(name.to_lowercase().replace(' ', "-"));
        l.custom
            .insert("x_opencti_location_type".into(), json!("Region"));
        Ok(l)
    }

    /// A channel under a name OpenCTI accepts; the name as recorded stays an alias.
    fn channel(&self, recorded: &str) -> Result<Channel, Error> {
        let c = opencti_names::channel(recorded);
        let id = opencti::channel(&c.name)?;
        let mut ch = Channel::new(self.authored(id, shared_time()), c.name);
        ch.aliases = c.aliases;
        Ok(ch)
    }

    /// The note that carries what OpenCTI has no field for (OpenCTI-bound bundles only).
    fn note(
        &self,
        incident: &Identifier,
        created: Timestamp,
        modified: Timestamp,
        ext: &DisinformationIncident,
    ) -> Result<Note, Error> {
        let content = note_content(ext);
        let created_text = created.to_string();
        let id = opencti::contributing::note(
            Some(&created_text),
            &content,
            Some(NOTE_ABSTRACT),
            self.opts.id_rules,
        )?
        .id()?;
        let mut c = self.authored(id, created);
        c.modified = modified;
        let mut n = Note::new(c, content, vec![incident.clone()]);
        n.r#abstract = Some(NOTE_ABSTRACT.into());
        Ok(n)
    }

    fn relationship(
        &self,
        ty: &str,
        source: &Identifier,
        target: &Identifier,
        created: Timestamp,
        modified: Timestamp,
        confidence: Option<Confidence>,
    ) -> Result<Relationship, Error> {
        let id = opencti::relationship(ty, source, target, None, None)?;
        let mut c = self.authored(id, created);
        c.modified = modified;
        c.confidence = confidence;
        Ok(Relationship::new(c, ty, source.clone(), target.clone()))
    }

    /// How many incidents were added.
    pub fn incident_count(&self) -> usize {
        self.incidents
    }

    /// The objects so far.
    pub fn objects(&self) -> &[StixObject] {
        &self.objects
    }

    /// The finished bundle (a new random bundle id).
    pub fn build(self) -> Bundle {
        Bundle::new(self.objects)
    }

    /// The objects, without a bundle around them.
    pub fn into_objects(self) -> Vec<StixObject> {
        self.objects
    }
}

/// The abstract of the note that carries an incident's facts OpenCTI has no field for.
pub const NOTE_ABSTRACT: &str = "DISINFOX record";

fn precision(p: &PartialDate) -> &'static str {
    match (p.month(), p.day()) {
        (None, _) => "year",
        (Some(_), None) => "month",
        (Some(_), Some(_)) => "day",
    }
}

/// The note's text: one line per fact OpenCTI has no field for (Markdown, as OpenCTI renders
/// notes). The line prefixes are part of the documented mapping (`docs/opencti-import.md`).
pub fn note_content(ext: &DisinformationIncident) -> String {
    let mut lines =
        vec!["What DISINFOX records about this incident that OpenCTI has no field for.".to_owned()];
    let mut line = |k: &str, v: String| lines.push(format!("- {k}: {v}"));
    if let Some(f) = ext.first_seen {
        line("First seen", format!("{f} ({} precision)", precision(&f)));
    }
    if let Some(l) = ext.last_seen {
        line("Last seen", format!("{l} ({} precision)", precision(&l)));
    }
    if let Some(r) = &ext.region {
        line("Region", r.clone());
    }
    if let Some(r) = &ext.sub_region {
        line("Sub-region", r.clone());
    }
    if !ext.attribution.source_kinds.is_empty() {
        let kinds: Vec<&str> = ext
            .attribution
            .source_kinds
            .iter()
            .map(|s| s.as_str())
            .collect();
        line("Attribution sources", kinds.join(", "));
    }
    if let Some(c) = ext.attribution.confidence {
        line("Attribution confidence", c.get().to_string());
    }
    if !ext.attribution.uncertain_actors.is_empty() {
        line(
            "Uncertain attribution",
            ext.attribution.uncertain_actors.join(", "),
        );
    }
    if let Some(c) = ext.cyber_attack {
        line("Cyber attacks", if c { "yes" } else { "no" }.into());
    }
    if let Some(v) = &ext.disarm_version {
        line("DISARM version", v.clone());
    }
    if !ext.unknown_techniques.is_empty() {
        line(
            "Techniques not in this DISARM version",
            ext.unknown_techniques.join(", "),
        );
    }
    lines.join("\n")
}

/// The DISARM Foundation organization, author of the DISARM techniques.
pub fn disarm_identity() -> Identity {
    let mut i = Identity::new(
        shared_common(constant_id(DISARM_IDENTITY_ID)),
        "DISARM Foundation",
    );
    i.identity_class = Some(IdentityClass::Organization);
    i
}

/// The CC BY-SA 4.0 statement marking under which DISARM is published.
pub fn disarm_marking() -> MarkingDefinition {
    let mut m = Tlp::Clear.marking();
    m.id = constant_id(DISARM_MARKING_ID);
    m.name = Some("CC-BY-SA-4.0 DISARM Foundation".into());
    m.definition_type = Some("statement".into());
    m.definition = Some(json!({
        "statement": "DISARM framework data by the DISARM Foundation, licensed under CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/)"
    }));
    m.created = shared_time();
    m
}
