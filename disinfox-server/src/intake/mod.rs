//! Intake from a PDF: the text of an uploaded report, and proposals for the new-incident
//! form drawn from it — DISARM techniques (ids such as `T0086.001`; technique names with
//! lower confidence), source URLs and domains, countries, known actors and channels — each
//! with the sentence it came from. Nothing is stored: the analyst reviews the proposals and
//! keeps what is right.
//!
//! Every call is bounded ([`Limits`]): the size is checked before any parsing, object
//! count and stream decompression are capped, only the first pages are read and the text is
//! cut at a length. The work is CPU-bound: call [`read_pdf`] from
//! `tokio::task::spawn_blocking`, never on an async worker. `docs/pdf-intake.md` says what
//! is read and how, and what the proposals are worth.

mod pdf;
mod propose;

pub use propose::{propose, Confidence, Known, Proposal, ProposalKind, DEFAULT_CHANNELS};

/// The bounds of one intake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest file accepted, in bytes (checked before parsing).
    pub max_bytes: usize,
    /// The most indirect objects the file may declare (counted before parsing).
    pub max_objects: usize,
    /// The most bytes any one stream may decompress to.
    pub max_stream_bytes: usize,
    /// Pages read, from the first; the rest are left out with a note.
    pub max_pages: u32,
    /// Characters of text kept; the rest is left out with a note.
    pub max_text_chars: usize,
    /// Proposals kept per kind (the most frequent first).
    pub max_proposals_per_kind: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 20 * 1024 * 1024,
            max_objects: 100_000,
            max_stream_bytes: 16 * 1024 * 1024,
            max_pages: 300,
            max_text_chars: 1_000_000,
            max_proposals_per_kind: 100,
        }
    }
}

/// What an intake read and proposes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intake {
    /// Pages in the document.
    pub pages: u32,
    /// Pages read (at most [`Limits::max_pages`]).
    pub pages_read: u32,
    /// The extracted text (at most [`Limits::max_text_chars`] characters).
    pub text: String,
    /// The proposals, by kind (in [`ProposalKind`] order), then most frequent first.
    pub proposals: Vec<Proposal>,
    /// What the analyst should know about the reading (pages or text left out, pages
    /// without text).
    pub notes: Vec<String>,
}

/// Why a file gave no proposals. The `Display` text is meant for the analyst.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IntakeError {
    /// Larger than [`Limits::max_bytes`].
    #[error("The file is {} MB; the limit is {} MB. Upload a smaller PDF, or the pages that matter.", mb(*size), mb(*max))]
    TooLarge {
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// No `%PDF-` header.
    #[error("This file is not a PDF (it does not start with %PDF-).")]
    NotPdf,
    /// Password-protected.
    #[error("The PDF is encrypted (password-protected), so its text cannot be read. Remove the protection and upload it again.")]
    Encrypted,
    /// More objects than [`Limits::max_objects`].
    #[error("The PDF has more than {max} objects, more than an intake reads. Upload the pages that matter.")]
    TooComplex {
        /// The limit.
        max: usize,
    },
    /// Damaged or not readable as a PDF.
    #[error("The PDF could not be read: it looks damaged ({0}).")]
    Malformed(String),
    /// Pages without any text: scanned images.
    #[error("The PDF has {pages} page(s) but no text, only images: it looks scanned. Run it through text recognition (OCR) first, or enter the incident by hand.")]
    NoText {
        /// Pages in the document.
        pages: u32,
    },
}

/// A size in MB (MiB), to a tenth, rounded up: how the messages count.
pub fn mb(bytes: usize) -> String {
    let tenths = (bytes as u64 * 10).div_ceil(1024 * 1024);
    if tenths.is_multiple_of(10) {
        (tenths / 10).to_string()
    } else {
        format!("{}.{}", tenths / 10, tenths % 10)
    }
}

/// Reads an uploaded PDF and proposes what to fill in. CPU-bound and bounded by `limits`:
/// call it from `spawn_blocking`.
pub fn read_pdf(bytes: &[u8], known: &Known, limits: &Limits) -> Result<Intake, IntakeError> {
    let extracted = pdf::extract(bytes, limits)?;
    let proposals = propose(&extracted.text, known, limits.max_proposals_per_kind);
    Ok(Intake {
        pages: extracted.pages,
        pages_read: extracted.pages_read,
        text: extracted.text,
        proposals,
        notes: extracted.notes,
    })
}

pub use pdf::{extract, Extracted};

#[cfg(test)]
pub(crate) mod sample_pdfs;
#[cfg(test)]
mod tests;
