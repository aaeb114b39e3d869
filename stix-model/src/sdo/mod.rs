//! Typed STIX domain, relationship and meta objects.
//!
//! Every object keeps the properties it does not know in `custom`, so nothing is lost on a
//! round trip. Each type's doc links the section of STIX 2.1 it models.
//!
//! This module holds what every type shares (the `stix_object!` macro that writes a type, its
//! reader and its writer, and the rule traits); `types` the types, `marking` the
//! marking-definition, which has no `modified` and no common block.

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

mod marking;
mod types;
pub(crate) use types::NOT_ENDPOINTS;

pub use marking::MarkingDefinition;
pub(crate) use marking::MarkingProps;
pub use types::{
    AttackPattern, Campaign, Channel, ExtensionDefinition, Identity, Incident, IntrusionSet,
    Location, Narrative, Note, Relationship, Report, Sighting, ThreatActor,
};
