//! Escaping text for XML: the SVG maps and graph, and the DOCX parts of the reports.

use std::fmt::Write;

/// Appends `s` to `out` with `&`, `<`, `>`, `"` and `'` escaped, and the characters XML 1.0
/// forbids (C0 controls other than tab, newline and carriage return; U+FFFE, U+FFFF) dropped,
/// so that any text an analyst typed makes well-formed XML.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
}

/// `s` escaped for XML text and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

/// Appends a number with at most one decimal, without a trailing `.0` (compact SVG).
pub(crate) fn num(out: &mut String, v: f64) {
    let r = (v * 10.0).round() / 10.0;
    if r.fract() == 0.0 {
        let _ = write!(out, "{}", r as i64);
    } else {
        let _ = write!(out, "{r:.1}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_drops_forbidden_characters() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>\u{1}\u{FFFF}\tok"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;\tok"
        );
        assert_eq!(escape("Україна"), "Україна");
        let mut s = String::new();
        num(&mut s, 2.0);
        s.push(' ');
        num(&mut s, -0.25);
        s.push(' ');
        num(&mut s, 10.06);
        assert_eq!(s, "2 -0.3 10.1");
    }
}
