//! PDFs for tests, written byte by byte: plain ones of the common kind (a standard Type 1
//! font, WinAnsi text), a scanned-looking one (an image, no text), an encrypted one. The
//! intake's unit tests use them, and the server's HTTP and browser tests include this file
//! (`#[path]`), so every test makes its PDFs the same way.
#![allow(unreachable_pub)]

/// The lines of a short report naming two technique ids (`T0015`, `T0086.001`), one
/// technique by its name (Flood Information Space, `T0049`), a URL and a bare domain, a
/// country (Moldova), an actor (Storm-1516: proposed once recorded) and a channel.
#[allow(dead_code)]
pub const SAMPLE_REPORT: &[&str] = &[
    "Summary of the operation.",
    "Operators linked to Storm-1516 built cloned news sites (T0015 and T0086.001) and",
    "pushed them on Telegram to audiences in Moldova.",
    "They tried to flood information space at scale; see https://example.org/reports/cloned-sites.",
    "Mirrors sat on rrn.media for months.",
];

/// A PDF of the given objects (object 1 the catalogue), with a classic cross-reference
/// table; `trailer` adds entries to the trailer.
pub fn build_pdf(objects: &[Vec<u8>], trailer: &str) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(o);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R {trailer} >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

pub fn obj(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

pub fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut o = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
    o.extend_from_slice(data);
    o.extend_from_slice(b"\nendstream");
    o
}

/// A PDF string literal of WinAnsi text (ASCII here).
pub fn literal(s: &str) -> String {
    let mut o = String::from("(");
    for c in s.chars() {
        if matches!(c, '(' | ')' | '\\') {
            o.push('\\');
        }
        o.push(c);
    }
    o.push(')');
    o
}

/// A plain PDF: Helvetica, one text object per page, lines advanced with `T*`.
pub fn plain_pdf(pages: &[&[&str]]) -> Vec<u8> {
    let n = pages.len();
    // 1 catalogue, 2 page tree, 3 font, then a page and its content per page.
    let kids: Vec<String> = (0..n).map(|i| format!("{} 0 R", 4 + 2 * i)).collect();
    let mut objects = vec![
        obj("<< /Type /Catalog /Pages 2 0 R >>"),
        obj(&format!(
            "<< /Type /Pages /Kids [{}] /Count {n} >>",
            kids.join(" ")
        )),
        obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"),
    ];
    for (i, lines) in pages.iter().enumerate() {
        objects.push(obj(&format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] \
             /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
            5 + 2 * i
        )));
        let mut content = String::from("BT /F1 11 Tf 14 TL 72 720 Td\n");
        for (k, l) in lines.iter().enumerate() {
            if k > 0 {
                content.push_str("T*\n");
            }
            content.push_str(&format!("{} Tj\n", literal(l)));
        }
        content.push_str("ET");
        objects.push(stream("", content.as_bytes()));
    }
    build_pdf(&objects, "")
}

pub fn image_only_pdf() -> Vec<u8> {
    build_pdf(
        &[
            obj("<< /Type /Catalog /Pages 2 0 R >>"),
            obj("<< /Type /Pages /Kids [3 0 R] /Count 1 >>"),
            obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] \
                 /Resources << /XObject << /Im1 5 0 R >> >> /Contents 4 0 R >>"),
            stream("", b"q 400 0 0 500 100 150 cm /Im1 Do Q"),
            stream(
                "/Type /XObject /Subtype /Image /Width 2 /Height 2 /ColorSpace /DeviceGray \
                 /BitsPerComponent 8",
                &[0, 255, 255, 0],
            ),
        ],
        "",
    )
}

/// A PDF whose text needs a password: a standard security handler (RC4, 128-bit) whose
/// owner and user entries match no password, so the empty one fails too.
pub fn encrypted_pdf() -> Vec<u8> {
    let mut objects = vec![
        obj("<< /Type /Catalog /Pages 2 0 R >>"),
        obj("<< /Type /Pages /Kids [3 0 R] /Count 1 >>"),
        obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] \
             /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>"),
        stream("", b"\x8a\x13\x99\x01\x7f\x22\xc4\x10\x55\x66\x01\x02\x03"),
        obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"),
    ];
    let hex = |b: u8| format!("<{}>", format!("{b:02X}").repeat(32));
    objects.push(obj(&format!(
        "<< /Filter /Standard /V 2 /R 3 /Length 128 /P -3904 /O {} /U {} >>",
        hex(0x3c),
        hex(0x7a)
    )));
    build_pdf(
        &objects,
        "/Encrypt 6 0 R /ID [<0123456789ABCDEF0123456789ABCDEF> <0123456789ABCDEF0123456789ABCDEF>]",
    )
}
