//! Sanity rules for the endpoints of well-known relationship types.
//!
//! STIX 2.1 suggests relationship types per pair of objects (§4, each SDO's "Relationships"
//! table) and OpenCTI enforces its own mapping on import. We check the types this project
//! emits and a few common ones, so that a relationship OpenCTI would refuse (say an incident
//! that `targets` an attack-pattern) is caught before it is sent. Unknown relationship types are
//! allowed: STIX lets producers define their own. See `docs/stix-rules.md` §10 and
//! `docs/opencti-ids.md` §7.4 in the repository.

/// Returns a message when `source -[rel]-> target` is not a sensible pair.
pub(crate) fn check_pair(rel: &str, source: &str, target: &str) -> Option<String> {
    let allowed_targets: &[&str] = match rel {
        "related-to" | "derived-from" => return None,
        "duplicate-of" => {
            return (source != target).then(|| {
                format!("duplicate-of must join two objects of one type, not {source} and {target}")
            })
        }
        "uses" => &[
            "attack-pattern",
            "channel",
            "infrastructure",
            "malware",
            "narrative",
            "tool",
        ],
        "attributed-to" => &["campaign", "identity", "intrusion-set", "threat-actor"],
        "targets" => &["identity", "infrastructure", "location", "vulnerability"],
        "originates-from" | "located-at" => &["location"],
        "subtechnique-of" => &["attack-pattern"],
        "indicates" => {
            return (source != "indicator")
                .then(|| format!("indicates must start at an indicator, not a {source}"))
        }
        _ => return None,
    };
    let source_ok = match rel {
        "subtechnique-of" => source == "attack-pattern",
        "attributed-to" => matches!(
            source,
            "campaign" | "incident" | "intrusion-set" | "threat-actor"
        ),
        _ => !matches!(source, "location" | "vulnerability"),
    };
    if !source_ok {
        return Some(format!("a {source} cannot be the source of {rel}"));
    }
    if allowed_targets.contains(&target) {
        None
    } else {
        Some(format!(
            "{rel} from {source} must point to one of {}, not {target}",
            allowed_targets.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::check_pair;

    #[test]
    fn table() {
        let cases = [
            ("uses", "incident", "attack-pattern", true),
            ("uses", "incident", "location", false),
            ("attributed-to", "incident", "threat-actor", true),
            ("attributed-to", "incident", "location", false),
            ("attributed-to", "location", "threat-actor", false),
            ("targets", "incident", "location", true),
            ("targets", "incident", "attack-pattern", false),
            ("originates-from", "incident", "location", true),
            ("originates-from", "incident", "identity", false),
            ("subtechnique-of", "attack-pattern", "attack-pattern", true),
            ("subtechnique-of", "incident", "attack-pattern", false),
            ("related-to", "incident", "channel", true),
            ("duplicate-of", "incident", "incident", true),
            ("duplicate-of", "incident", "campaign", false),
            ("x-custom-rel", "incident", "anything", true),
        ];
        for (rel, s, t, ok) in cases {
            assert_eq!(check_pair(rel, s, t).is_none(), ok, "{s} -{rel}-> {t}");
        }
    }
}
