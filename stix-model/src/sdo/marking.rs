//! The marking-definition ([STIX 2.1 §7.2.1]).
//!
//! [STIX 2.1 §7.2.1]: https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_k5fndj2c7c1k

use super::*;

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
