//! The object types OpenCTI imports.

use crate::names::Names;

/// Type prefixes OpenCTI imports (pycti 6.8.10 and the 7.x additions), sorted.
const SUPPORTED: &[&str] = &[
    "ai-prompt",
    "artifact",
    "attack-pattern",
    "autonomous-system",
    "bank-account",
    "campaign",
    "capability",
    "case-incident",
    "case-rfi",
    "case-rft",
    "channel",
    "course-of-action",
    "credential",
    "cryptocurrency-wallet",
    "cryptographic-key",
    "data-component",
    "data-source",
    "deleteoperation",
    "directory",
    "domain-name",
    "draftworkspace",
    "email-addr",
    "email-message",
    "email-mime-part-type",
    "event",
    "external-reference",
    "feedback",
    "file",
    "group",
    "grouping",
    "hostname",
    "iccid",
    "identity",
    "imei",
    "imsi",
    "incident",
    "indicator",
    "infrastructure",
    "intrusion-set",
    "ipv4-addr",
    "ipv6-addr",
    "kill-chain-phase",
    "label",
    "language",
    "location",
    "mac-addr",
    "malware",
    "malware-analysis",
    "marking-definition",
    "media-content",
    "mutex",
    "narrative",
    "network-traffic",
    "note",
    "notification",
    "observed-data",
    "opinion",
    "payment-card",
    "persona",
    "phone-number",
    "pir",
    "playbook",
    "process",
    "publicdashboard",
    "relationship",
    "report",
    "role",
    "security-coverage",
    "security-coverage-result",
    "settings",
    "sighting",
    "simple-observable",
    "software",
    "ssh-key",
    "task",
    "text",
    "threat-actor",
    "tool",
    "tracking-number",
    "trash",
    "url",
    "user",
    "user-account",
    "user-agent",
    "vocabulary",
    "vulnerability",
    "windows-registry-key",
    "windows-registry-value-type",
    "work",
    "workspace",
    "x-mitre-data-component",
    "x-mitre-data-source",
    "x-opencti-case-incident",
    "x-opencti-case-rfi",
    "x-opencti-case-rft",
    "x-opencti-feedback",
    "x-opencti-task",
    "x509-certificate",
];

/// Whether OpenCTI imports objects with this id (by its type prefix; ids without `--` pass).
pub fn is_supported_id(id: &str) -> bool {
    let b = id.as_bytes();
    // A STIX id: the `--` sits 36 bytes (a UUID) before the end; else look for the first one.
    let sep = match b.len().checked_sub(38) {
        Some(at) if b[at..at + 2] == *b"--" && !b[..at].windows(2).any(|w| w == b"--") => at,
        _ => match b.windows(2).position(|w| w == b"--") {
            Some(at) => at,
            None => return true,
        },
    };
    SUPPORTED_TYPES.find(&id[..sep]).is_some()
}

/// The supported types, found by a cheap hash.
static SUPPORTED_TYPES: Names<512> = Names::new(SUPPORTED, [1, 17, 13, 17, 5]);

#[cfg(test)]
mod tests {
    use super::is_supported_id;

    #[test]
    fn ids_are_judged_by_the_text_before_their_first_double_hyphen() {
        assert!(is_supported_id(
            "incident--c1817dc0-80ae-547f-83c0-920b0c6a25b8"
        ));
        assert!(!is_supported_id(
            "x-mitre-tactic--4a6e3b68-6d5c-4b5d-9d8a-1b2c3d4e5f60"
        ));
        assert!(is_supported_id("internal-1"), "not a STIX id: passes");
        assert!(!is_supported_id(
            "x--incident--c1817dc0-80ae-547f-83c0-920b0c6a25b8"
        ));
        assert!(is_supported_id("note--x--y"));
        assert!(!is_supported_id("--"));
        assert!(is_supported_id("identité"));
    }

    #[test]
    fn every_supported_type_is_found_once() {
        assert!(
            super::SUPPORTED.windows(2).all(|w| w[0] < w[1]),
            "sorted, each once"
        );
        for ty in super::SUPPORTED {
            assert!(is_supported_id(&format!(
                "{ty}--c1817dc0-80ae-547f-83c0-920b0c6a25b8"
            )));
        }
    }
}
