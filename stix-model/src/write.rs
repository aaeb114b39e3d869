//! Writing objects as compact JSON straight into a buffer, without `serde_json::Value`s.
//!
//! The output is byte for byte what the `Serialize` impls give with `serde_json` (the tests
//! check it), only faster: ids, timestamps and property names, which never need escaping, are
//! copied as they are; other strings go through `serde_json`'s escaping, and properties kept
//! as JSON values (custom properties, extensions) through `serde_json`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{
    Confidence, ExtensionType, ExternalReference, GranularMarking, Identifier, IdentityClass,
    KillChainPhase, ThreatActorType, Timestamp,
};

/// What a write gives: writing into a `Vec<u8>` fails only if `serde_json` refuses a value.
pub(crate) type Written = Result<(), serde_json::Error>;

/// A value written as JSON.
pub(crate) trait WriteJson {
    fn write_json(&self, out: &mut Vec<u8>) -> Written;
}

/// A string, escaped.
fn escaped(out: &mut Vec<u8>, s: &str) -> Written {
    serde_json::to_writer(out, s)
}

/// A string that needs no escaping, as it is.
fn plain(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

impl WriteJson for String {
    fn write_json(&self, out: &mut Vec<u8>) -> Written {
        escaped(out, self)
    }
}

impl WriteJson for Identifier {
    fn write_json(&self, out: &mut Vec<u8>) -> Written {
        // An identifier holds only ASCII letters, digits and hyphens.
        plain(out, self.as_str());
        Ok(())
    }
}

impl WriteJson for Timestamp {
    fn write_json(&self, out: &mut Vec<u8>) -> Written {
        out.push(b'"');
        self.write_text(out);
        out.push(b'"');
        Ok(())
    }
}

impl WriteJson for bool {
    fn write_json(&self, out: &mut Vec<u8>) -> Written {
        out.extend_from_slice(if *self { b"true" } else { b"false" });
        Ok(())
    }
}

impl WriteJson for f64 {
    fn write_json(&self, out: &mut Vec<u8>) -> Written {
        serde_json::to_writer(out, self)
    }
}

impl WriteJson for u64 {
    fn write_json(&self, out: &mut Vec<u8>) -> Written {
        serde_json::to_writer(out, self)
    }
}

impl WriteJson for Confidence {
    fn write_json(&self, out: &mut Vec<u8>) -> Written {
        serde_json::to_writer(out, &self.get())
    }
}

impl WriteJson for IdentityClass {
    fn write_json(&self, out: &mut Vec<u8>) -> Written {
        escaped(out, self.as_str())
    }
}

impl WriteJson for ThreatActorType {
    fn write_json(&self, out: &mut Vec<u8>) -> Written {
        escaped(out, self.as_str())
    }
}

impl WriteJson for ExtensionType {
    fn write_json(&self, out: &mut Vec<u8>) -> Written {
        plain(out, self.as_str());
        Ok(())
    }
}

impl WriteJson for Value {
    fn write_json(&self, out: &mut Vec<u8>) -> Written {
        serde_json::to_writer(out, self)
    }
}

impl<T: WriteJson> WriteJson for Vec<T> {
    fn write_json(&self, out: &mut Vec<u8>) -> Written {
        out.push(b'[');
        for (i, v) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            v.write_json(out)?;
        }
        out.push(b']');
        Ok(())
    }
}

impl WriteJson for BTreeMap<String, Value> {
    fn write_json(&self, out: &mut Vec<u8>) -> Written {
        let mut o = Obj::begin(out);
        o.custom(self)?;
        o.end();
        Ok(())
    }
}

impl WriteJson for BTreeMap<String, String> {
    fn write_json(&self, out: &mut Vec<u8>) -> Written {
        serde_json::to_writer(out, self)
    }
}

impl WriteJson for ExternalReference {
    fn write_json(&self, out: &mut Vec<u8>) -> Written {
        let mut o = Obj::begin(out);
        o.field("source_name", &self.source_name)?;
        o.opt("description", &self.description)?;
        o.opt("url", &self.url)?;
        o.opt("hashes", &self.hashes)?;
        o.opt("external_id", &self.external_id)?;
        o.custom(&self.custom)?;
        o.end();
        Ok(())
    }
}

impl WriteJson for KillChainPhase {
    fn write_json(&self, out: &mut Vec<u8>) -> Written {
        let mut o = Obj::begin(out);
        o.field("kill_chain_name", &self.kill_chain_name)?;
        o.field("phase_name", &self.phase_name)?;
        o.end();
        Ok(())
    }
}

impl WriteJson for GranularMarking {
    fn write_json(&self, out: &mut Vec<u8>) -> Written {
        let mut o = Obj::begin(out);
        o.opt("lang", &self.lang)?;
        o.opt("marking_ref", &self.marking_ref)?;
        o.field("selectors", &self.selectors)?;
        o.end();
        Ok(())
    }
}

/// A JSON object being written.
pub(crate) struct Obj<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Obj<'a> {
    pub(crate) fn begin(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, empty: true }
    }

    /// A property name that needs no escaping (the crate's own names).
    pub(crate) fn key(&mut self, k: &str) {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        plain(self.out, k);
        self.out.push(b':');
    }

    /// `"type": <ty>`.
    pub(crate) fn type_name(&mut self, ty: &str) {
        self.key("type");
        plain(self.out, ty);
    }

    pub(crate) fn field<T: WriteJson>(&mut self, k: &str, v: &T) -> Written {
        self.key(k);
        v.write_json(self.out)
    }

    /// An optional property: written when it is there.
    pub(crate) fn opt<T: WriteJson>(&mut self, k: &str, v: &Option<T>) -> Written {
        match v {
            Some(v) => self.field(k, v),
            None => Ok(()),
        }
    }

    /// A list: written when it is not empty.
    pub(crate) fn list<T: WriteJson>(&mut self, k: &str, v: &Vec<T>) -> Written {
        if v.is_empty() {
            Ok(())
        } else {
            self.field(k, v)
        }
    }

    /// A map of JSON values: written when it is not empty.
    pub(crate) fn map(&mut self, k: &str, v: &BTreeMap<String, Value>) -> Written {
        if v.is_empty() {
            Ok(())
        } else {
            self.field(k, v)
        }
    }

    /// Properties kept as JSON values, each under its (escaped) name.
    pub(crate) fn custom(&mut self, props: &BTreeMap<String, Value>) -> Written {
        for (k, v) in props {
            if !self.empty {
                self.out.push(b',');
            }
            self.empty = false;
            escaped(self.out, k)?;
            self.out.push(b':');
            v.write_json(self.out)?;
        }
        Ok(())
    }

    /// The buffer, to write a value in place after [`Self::key`].
    pub(crate) fn out(&mut self) -> &mut Vec<u8> {
        self.out
    }

    pub(crate) fn end(self) {
        self.out.push(b'}');
    }
}
