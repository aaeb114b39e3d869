//! The objects OpenCTI accepted during one run, remembered by their exact JSON text, so that an
//! object a later page carries again byte for byte (the identity, the markings, the techniques,
//! actors, countries and channels every page repeats) is neither checked nor sent again.
//!
//! - Exact: a look-up hashes the text, then compares it byte for byte with the remembered one,
//!   so two different texts are never taken for one another (no fingerprint collisions). Any
//!   change — another `modified`, a revocation, one property more — is another text, checked
//!   and sent like a new object.
//! - Accepted only: the run adds a page's objects after OpenCTI (or the broker) accepted the
//!   page, never before, and a new run starts with an empty set (OpenCTI may have been reset
//!   in between).
//! - Bounded: the texts live in one buffer of at most `budget` bytes; an object that does not
//!   fit is not remembered. Once per page ([`SeenSet::tidy`]), when the buffer is half full,
//!   the objects not met again since the last tidy-up are forgotten. Forgetting only costs a
//!   check and a send more.

use hashbrown::{DefaultHashBuilder, HashTable};
use std::hash::BuildHasher;
use stix_model::Timestamp;

/// The most bytes of object text (and ids) a run remembers.
pub const RUN_BUDGET: usize = 4 << 20;

/// What is remembered of an accepted object besides its text.
#[derive(Debug, Clone, Copy)]
pub struct Known<'a> {
    /// Its `id`.
    pub id: &'a str,
    /// Its `modified`, if it has one.
    pub modified: Option<Timestamp>,
    /// Whether it is an incident.
    pub incident: bool,
}

#[derive(Debug)]
struct Entry {
    hash: u64,
    at: u32,
    text_len: u32,
    id_len: u32,
    modified: Option<Timestamp>,
    incident: bool,
    /// Met again since the last tidy-up.
    hit: bool,
}

impl Entry {
    fn text<'a>(&self, arena: &'a [u8]) -> &'a [u8] {
        let at = self.at as usize;
        &arena[at..at + self.text_len as usize]
    }

    fn id<'a>(&self, arena: &'a [u8]) -> &'a str {
        let at = self.at as usize + self.text_len as usize;
        // Written from a `&str`, so always UTF-8.
        std::str::from_utf8(&arena[at..at + self.id_len as usize]).unwrap_or_default()
    }

    fn len(&self) -> usize {
        (self.text_len + self.id_len) as usize
    }
}

/// The accepted objects of one run, by their exact JSON text (see the module documentation).
#[derive(Debug)]
pub struct SeenSet {
    table: HashTable<Entry>,
    /// Each entry's text followed by its id.
    arena: Vec<u8>,
    hasher: DefaultHashBuilder,
    budget: usize,
}

impl SeenSet {
    /// An empty set whose texts take at most `budget` bytes (0: remembers nothing).
    pub fn new(budget: usize) -> Self {
        Self {
            table: HashTable::new(),
            arena: Vec::new(),
            hasher: DefaultHashBuilder::default(),
            budget: budget.min(u32::MAX as usize),
        }
    }

    /// How many objects are remembered.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The bytes the remembered texts and ids take.
    pub fn bytes(&self) -> usize {
        self.arena.len()
    }

    /// The accepted object whose JSON text is exactly `text`, if there is one.
    pub fn get(&mut self, text: &str) -> Option<Known<'_>> {
        if self.table.is_empty() {
            return None;
        }
        let hash = self.hasher.hash_one(text);
        let arena = &self.arena;
        let e = self
            .table
            .find_mut(hash, |e| e.hash == hash && e.text(arena) == text.as_bytes())?;
        e.hit = true;
        Some(Known {
            id: e.id(arena),
            modified: e.modified,
            incident: e.incident,
        })
    }

    /// Remembers an object OpenCTI accepted, if the budget has room for it.
    pub fn insert(&mut self, text: &str, known: Known<'_>) {
        let need = text.len() + known.id.len();
        if self.arena.len() + need > self.budget {
            return;
        }
        let hash = self.hasher.hash_one(text);
        let arena = &self.arena;
        if self
            .table
            .find(hash, |e| e.hash == hash && e.text(arena) == text.as_bytes())
            .is_some()
        {
            return;
        }
        if self.arena.capacity() == 0 {
            // Reserved once, whole: the buffer never grows past the budget by doubling.
            self.arena.reserve_exact(self.budget);
        }
        let entry = Entry {
            hash,
            at: self.arena.len() as u32,
            text_len: text.len() as u32,
            id_len: known.id.len() as u32,
            modified: known.modified,
            incident: known.incident,
            hit: false,
        };
        self.arena.extend_from_slice(text.as_bytes());
        self.arena.extend_from_slice(known.id.as_bytes());
        self.table.insert_unique(hash, entry, |e| e.hash);
    }

    /// When the texts take half the budget or more, forgets the objects not met again since
    /// the last tidy-up, moving the others to the front of the buffer (in place).
    pub fn tidy(&mut self) {
        if self.arena.len() * 2 < self.budget {
            return;
        }
        self.table.retain(|e| e.hit);
        // Moved in the order they sit, each to the end of the ones before: never forwards.
        let mut order: Vec<(u32, usize)> = self.table.iter().map(|e| (e.at, e.len())).collect();
        order.sort_unstable();
        let mut moved = Vec::with_capacity(order.len());
        let mut end = 0;
        for (at, len) in order {
            let at = at as usize;
            self.arena.copy_within(at..at + len, end);
            moved.push((at as u32, end as u32));
            end += len;
        }
        self.arena.truncate(end);
        for e in self.table.iter_mut() {
            if let Ok(i) = moved.binary_search_by_key(&e.at, |(from, _)| *from) {
                e.at = moved[i].1;
            }
            e.hit = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(id: &str) -> Known<'_> {
        Known {
            id,
            modified: None,
            incident: false,
        }
    }

    #[test]
    fn an_object_is_found_by_its_exact_text_only() {
        let mut s = SeenSet::new(1 << 20);
        let a = r#"{"id":"identity--1","modified":"2024-01-01T00:00:00.000Z"}"#;
        assert!(s.get(a).is_none());
        s.insert(a, known("identity--1"));
        assert_eq!(s.get(a).map(|k| k.id), Some("identity--1"));
        // Another modified, or one byte more, is another object.
        assert!(s.get(&a.replace("2024-01-01", "2024-01-02")).is_none());
        assert!(s.get(&a.replace('}', ",\"revoked\":true}")).is_none());
        s.insert(a, known("identity--1"));
        assert_eq!(s.len(), 1, "remembered once");
    }

    #[test]
    fn a_half_full_set_forgets_what_was_not_met_again_and_stays_in_its_budget() {
        let text = |i: usize| format!("{{\"id\":\"x--{i}\",\"pad\":\"{}\"}}", "p".repeat(80));
        let budget = 4096;
        let mut s = SeenSet::new(budget);
        let shared = text(0);
        s.insert(&shared, known("x--0"));
        // Pages of ten objects, the shared one on every page.
        for page in 0..40 {
            assert_eq!(
                s.get(&shared).map(|k| k.id),
                Some("x--0"),
                "the shared object stays (page {page})"
            );
            s.tidy();
            for i in 1..=10 {
                s.insert(&text(page * 10 + i), known("x"));
                assert!(s.bytes() <= budget);
            }
            assert!(s.arena.capacity() <= budget);
        }
        assert!(s.get(&text(1)).is_none(), "an object met once is forgotten");
        assert!(s.get(&text(400)).is_some(), "the newest stay");
        // What does not fit is not remembered.
        let big = format!("{{\"pad\":\"{}\"}}", "p".repeat(budget));
        s.insert(&big, known("x--big"));
        assert!(s.get(&big).is_none());
        // A zero budget remembers nothing.
        let mut none = SeenSet::new(0);
        none.insert(&shared, known("x--0"));
        assert!(none.is_empty() && none.get(&shared).is_none());
    }

    #[test]
    fn tidying_keeps_each_text_with_its_own_id() {
        let mut s = SeenSet::new(1024);
        let texts: Vec<String> = (0..8).map(|i| format!("{{\"id\":\"x--{i}\"}}")).collect();
        for (i, t) in texts.iter().enumerate() {
            s.insert(t, known(&format!("x--{i}")));
        }
        let pad = format!("{{\"pad\":\"{}\"}}", "p".repeat(500));
        s.insert(&pad, known("pad"));
        // Every other one met again, then a tidy-up moves them.
        for t in texts.iter().step_by(2) {
            assert!(s.get(t).is_some());
        }
        s.tidy();
        assert_eq!(s.len(), 4);
        for (i, t) in texts.iter().enumerate() {
            let id = s.get(t).map(|k| k.id.to_owned());
            let expected = (i % 2 == 0).then(|| format!("x--{i}"));
            assert_eq!(id, expected);
        }
        assert!(s.get(&pad).is_none());
    }
}
