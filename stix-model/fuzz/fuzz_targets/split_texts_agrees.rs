//! The split on JSON text must never panic and must agree with the split on JSON values:
//! each input line is an object's text; the lines that are JSON objects are split with
//! `split_texts`, `split_strs` and `split_objects`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use stix_model::split::{split_objects, split_strs, split_texts, SplitOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut texts = Vec::new();
    let mut maps = Vec::new();
    for line in text.lines() {
        if let Ok(m) = serde_json::from_str::<Map<String, Value>>(line) {
            texts.push(line.to_owned());
            maps.push(m);
        }
    }
    let opts = SplitOptions::default();
    let id = Some("bundle--00000000-0000-4000-8000-000000000000");
    let s = split_strs(id, texts.iter().map(String::as_str).collect(), &opts);
    let t = split_texts(id, texts.clone(), &opts);
    let m = split_objects(id, maps, &opts);
    assert_eq!(t.expectations(), m.bundles.len());
    for (k, b) in m.bundles.iter().enumerate() {
        let tb: Value = serde_json::from_str(&t.bundle(k).expect("a bundle")).expect("JSON");
        assert_eq!(&tb, b);
    }
    assert_eq!(t.dropped, m.dropped);
    assert_eq!(t.removed_refs, m.removed_refs);
    assert_eq!(s.expectations(), m.bundles.len());
    for (k, b) in m.bundles.iter().enumerate() {
        let sb: Value = serde_json::from_str(&s.bundle(k).expect("a bundle")).expect("JSON");
        assert_eq!(&sb, b);
    }
    assert_eq!(s.dropped, m.dropped);
    assert_eq!(s.removed_refs, m.removed_refs);
});
