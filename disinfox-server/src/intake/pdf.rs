//! The text of a PDF, read with `lopdf` under the intake's limits (`docs/pdf-intake.md` §1).

use lopdf::{Document, LoadOptions};

use super::{IntakeError, Limits};

/// The text of a PDF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// Pages in the document.
    pub pages: u32,
    /// Pages read.
    pub pages_read: u32,
    /// The text, page after page, lines joined into sentences.
    pub text: String,
    /// What was left out, and why.
    pub notes: Vec<String>,
}

/// The most characters of a reader's error shown to the analyst.
const DETAIL_CHARS: usize = 160;

fn malformed(detail: impl std::fmt::Display) -> IntakeError {
    let d = detail.to_string();
    let mut short: String = d.chars().take(DETAIL_CHARS).collect();
    if short.len() < d.len() {
        short.push('…');
    }
    IntakeError::Malformed(short)
}

/// Whether the file's trailer names an encryption dictionary: `/Encrypt` anywhere in the
/// file's last 64 KiB (a cross-reference stream's dictionary sits before its data, and
/// incremental updates append trailers) or in a cross-reference stream near the start
/// (linearized files).
fn declares_encryption(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(64 * 1024)..];
    let head = &bytes[..bytes.len().min(64 * 1024)];
    contains(tail, b"/Encrypt") || contains(head, b"/Encrypt")
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Indirect objects the file declares in the open (`N G obj`); objects packed in object
/// streams are bounded by the stream limit instead.
fn count_objects(bytes: &[u8]) -> usize {
    bytes
        .windows(4)
        .enumerate()
        .filter(|(i, w)| {
            w == b" obj"
                && bytes
                    .get(i + 4)
                    .is_none_or(|c| c.is_ascii_whitespace() || b"<[(/".contains(c))
        })
        .count()
}

/// Reads the text of `bytes` under `limits`. Checks, in order: size, header, object
/// count, then parses; an encrypted file, a file with no page and a file without text are
/// errors of their own.
pub fn extract(bytes: &[u8], limits: &Limits) -> Result<Extracted, IntakeError> {
    if bytes.len() > limits.max_bytes {
        return Err(IntakeError::TooLarge {
            size: bytes.len(),
            max: limits.max_bytes,
        });
    }
    // The header may follow a little junk (ISO 32000-1 §7.5.2 allows readers to look
    // for it in the first 1024 bytes).
    if !contains(&bytes[..bytes.len().min(1024)], b"%PDF-") {
        return Err(IntakeError::NotPdf);
    }
    if count_objects(bytes) > limits.max_objects {
        return Err(IntakeError::TooComplex {
            max: limits.max_objects,
        });
    }
    let options = LoadOptions {
        max_decompressed_size: Some(limits.max_stream_bytes),
        ..LoadOptions::default()
    };
    // A reader's bug on a crafted file must not take the worker down: a panic is one more
    // way a file can be unreadable.
    let loaded = std::panic::catch_unwind(|| Document::load_mem_with_options(bytes, options));
    let doc = match loaded {
        Ok(Ok(doc)) => doc,
        Ok(Err(_)) | Err(_) if declares_encryption(bytes) => return Err(IntakeError::Encrypted),
        Ok(Err(e)) => return Err(malformed(e)),
        Err(_) => return Err(malformed("the reader gave up on it")),
    };
    // Decrypted on loading when the user password is empty (files that only restrict
    // printing or copying); still encrypted when a password is needed.
    if doc.is_encrypted() {
        return Err(IntakeError::Encrypted);
    }
    let page_numbers: Vec<u32> = doc.get_pages().keys().copied().collect();
    let pages = u32::try_from(page_numbers.len()).unwrap_or(u32::MAX);
    if pages == 0 {
        return Err(malformed("it has no page"));
    }
    let mut notes = Vec::new();
    let mut text = String::new();
    let mut chars = 0usize;
    let mut pages_read = 0u32;
    let mut unreadable = 0u32;
    for &n in page_numbers.iter().take(limits.max_pages as usize) {
        // Reading only: a panic leaves nothing half-changed (hence AssertUnwindSafe).
        let chunks = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            doc.extract_text_chunks_with_limit(&[n], limits.max_stream_bytes)
        }))
        .unwrap_or_default();
        pages_read += 1;
        let mut page = String::new();
        let mut failed = chunks.is_empty();
        for c in chunks {
            match c {
                Ok(s) => page.push_str(&s),
                Err(_) => failed = true,
            }
        }
        if failed && page.trim().is_empty() {
            unreadable += 1;
        }
        let page = join_lines(&page);
        if page.is_empty() {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\n\n");
            chars += 2;
        }
        let room = limits.max_text_chars.saturating_sub(chars);
        let n_chars = page.chars().count();
        if n_chars > room {
            text.extend(page.chars().take(room));
            notes.push(format!(
                "Only the first {} characters of text were read (up to page {n}).",
                limits.max_text_chars
            ));
            break;
        }
        chars += n_chars;
        text.push_str(&page);
    }
    if pages > pages_read && notes.is_empty() {
        notes.push(format!(
            "Only the first {pages_read} of {pages} pages were read."
        ));
    }
    if text.trim().is_empty() {
        return Err(IntakeError::NoText { pages });
    }
    if unreadable > 0 {
        notes.push(format!(
            "{unreadable} page(s) gave no readable text (images, or fonts without a text mapping)."
        ));
    }
    Ok(Extracted {
        pages,
        pages_read,
        text,
        notes,
    })
}

/// Joins the lines of a page into running text: a line break becomes a space, a word
/// hyphenated at the end of a line is joined again (`disinfor-` + `mation`), runs of
/// spaces become one, and blank lines stay as paragraph breaks.
pub(crate) fn join_lines(page: &str) -> String {
    let mut out = String::with_capacity(page.len());
    let mut blank = false;
    for line in page.lines() {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if out.is_empty() {
        } else if blank {
            out.push_str("\n\n");
        } else if out.ends_with('-')
            && out[..out.len() - 1]
                .chars()
                .next_back()
                .is_some_and(char::is_alphabetic)
            && line.chars().next().is_some_and(char::is_lowercase)
        {
            out.pop();
        } else {
            out.push(' ');
        }
        blank = false;
        out.push_str(&line);
    }
    out
}
