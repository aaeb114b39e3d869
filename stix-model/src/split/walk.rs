//! Where the objects of a bundle are in its text: a light scan of the JSON structure (strings
//! and nesting), without building anything. The objects themselves are then read, and their
//! JSON checked, by the typed reader; what lies outside them is checked here.

use serde::de::IgnoredAny;
use serde_json::Value;

use crate::Error;

/// The bundle's id (when it is a string) and the text of each entry of its `objects` list.
pub(super) struct BundleParts<'a> {
    pub(super) id: Option<String>,
    pub(super) objects: Option<Vec<&'a str>>,
}

/// Finds the parts of a bundle: a JSON object whose `objects`, when given, is a list.
pub(super) fn bundle_parts(text: &str) -> Result<BundleParts<'_>, Error> {
    let mut w = Walk {
        b: text.as_bytes(),
        text,
        at: 0,
    };
    let mut parts = BundleParts {
        id: None,
        objects: None,
    };
    w.ws();
    w.expect(b'{')?;
    w.ws();
    if !w.eat(b'}') {
        loop {
            w.ws();
            let key = w.string()?;
            let key: Value = serde_json::from_str(key)?;
            w.ws();
            w.expect(b':')?;
            w.ws();
            match key.as_str() {
                Some("objects") if w.peek() == Some(b'[') => parts.objects = Some(w.list()?),
                Some("id") => {
                    let v: Value = serde_json::from_str(w.value()?)?;
                    parts.id = v.as_str().map(str::to_owned);
                }
                _ => {
                    serde_json::from_str::<IgnoredAny>(w.value()?)?;
                }
            }
            w.ws();
            if w.eat(b'}') {
                break;
            }
            w.expect(b',')?;
        }
    }
    w.ws();
    if w.at != w.b.len() {
        return Err(w.bad("trailing characters after the bundle"));
    }
    Ok(parts)
}

struct Walk<'a> {
    b: &'a [u8],
    text: &'a str,
    at: usize,
}

impl<'a> Walk<'a> {
    fn bad(&self, what: &str) -> Error {
        Error::InvalidValue {
            what: "bundle",
            value: String::new(),
            reason: format!("not valid JSON at byte {}: {what}", self.at),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        let here = self.peek() == Some(c);
        self.at += usize::from(here);
        here
    }

    fn expect(&mut self, c: u8) -> Result<(), Error> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.bad(&format!("expected {:?}", char::from(c))))
        }
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn span(&self, from: usize) -> Result<&'a str, Error> {
        self.text
            .get(from..self.at)
            .ok_or_else(|| self.bad("a value ends inside a character"))
    }

    /// A string, quotes included.
    fn string(&mut self) -> Result<&'a str, Error> {
        let from = self.at;
        self.expect(b'"')?;
        self.skip_string_rest()?;
        self.span(from)
    }

    /// Past the closing quote of a string whose opening quote is behind.
    fn skip_string_rest(&mut self) -> Result<(), Error> {
        loop {
            match memchr::memchr2(b'"', b'\\', &self.b[self.at..]) {
                Some(i) if self.b[self.at + i] == b'"' => {
                    self.at += i + 1;
                    return Ok(());
                }
                Some(i) => self.at += i + 2,
                None => {
                    self.at = self.b.len();
                    return Err(self.bad("a string does not end"));
                }
            }
        }
    }

    /// Any value: its text (checked later by whoever reads it).
    fn value(&mut self) -> Result<&'a str, Error> {
        let from = self.at;
        match self.peek() {
            Some(b'"') => {
                self.at += 1;
                self.skip_string_rest()?;
            }
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                loop {
                    let Some(c) = self.peek() else {
                        return Err(self.bad("an object or a list does not end"));
                    };
                    self.at += 1;
                    match c {
                        b'"' => self.skip_string_rest()?,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            Some(_) => {
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.at += 1;
                }
                if self.at == from {
                    return Err(self.bad("expected a value"));
                }
            }
            None => return Err(self.bad("expected a value")),
        }
        self.span(from)
    }

    /// The text of each entry of a list.
    fn list(&mut self) -> Result<Vec<&'a str>, Error> {
        self.expect(b'[')?;
        let mut out = Vec::new();
        self.ws();
        if self.eat(b']') {
            return Ok(out);
        }
        loop {
            self.ws();
            out.push(self.value()?);
            self.ws();
            if self.eat(b']') {
                return Ok(out);
            }
            self.expect(b',')?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_objects_and_the_id_and_refuses_what_is_not_json() {
        let text = r#" { "type" : "bundle", "x": [1, {"a": "]}\"{"}], "id": "bundle--x",
            "objects" : [ {"id": "a", "s": "}]"} , 3, "q\"", {"b": [{}]} ], "n": -1.5e3 } "#;
        let parts = bundle_parts(text).unwrap();
        assert_eq!(parts.id.as_deref(), Some("bundle--x"));
        assert_eq!(
            parts.objects.unwrap(),
            vec![
                r#"{"id": "a", "s": "}]"}"#,
                "3",
                r#""q\"""#,
                r#"{"b": [{}]}"#
            ]
        );
        let empty = bundle_parts(r#"{"objects": []}"#).unwrap();
        assert_eq!(empty.objects.unwrap().len(), 0);
        assert!(bundle_parts(r#"{"type": "bundle"}"#)
            .unwrap()
            .objects
            .is_none());
        for bad in [
            "",
            "[]",
            "{",
            r#"{"objects": [}"#,
            r#"{"objects": [{"a": 1}"#,
            r#"{"objects": [] "id": "x"}"#,
            r#"{"objects": []} x"#,
            r#"{"x": tru}"#,
            r#"{"x": "a}"#,
            r#"{x: 1}"#,
        ] {
            assert!(bundle_parts(bad).is_err(), "accepted {bad:?}");
        }
    }
}
