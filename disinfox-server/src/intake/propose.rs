//! Proposals from a report's text (`docs/pdf-intake.md` §2): what is matched, and how sure
//! a match is.

use std::collections::BTreeMap;

use stix_model::disarm::Catalogue;
use stix_model::CountryCode;

/// What a proposal would fill in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProposalKind {
    /// A DISARM technique; the value is its id (`T0086.001`).
    Technique,
    /// A source URL.
    SourceUrl,
    /// A domain named in the report or hosting one of its URLs (`rrn.media`).
    Domain,
    /// A country; the value is its ISO 3166-1 alpha-2 code.
    Country,
    /// A known actor; the value is its name as the store has it.
    Actor,
    /// A channel or platform; the value is its name as the known list has it.
    Channel,
}

/// How sure a proposal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Confidence {
    /// A technique's name, or a one- or two-letter channel name (`X`): often a false match.
    Low,
    /// A name matched as whole words (country, actor, channel), or a bare domain.
    Medium,
    /// An exact identifier: a DISARM id the catalogue has, a URL, a URL's domain.
    High,
}

/// One proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// What it would fill in.
    pub kind: ProposalKind,
    /// The value to put in the form (`T0086.001`, a URL, `UA`, an actor's name).
    pub value: String,
    /// The value in words (`T0086.001 Develop Memes`, `Ukraine`).
    pub label: String,
    /// How sure it is.
    pub confidence: Confidence,
    /// The first sentence it was found in (at most 300 characters, cut around the match).
    pub sentence: String,
    /// How many times it was found.
    pub occurrences: usize,
}

/// What the store knows, to recognise in the text.
#[derive(Debug, Clone, Copy)]
pub struct Known<'a> {
    /// The DISARM version the form uses.
    pub catalogue: &'a Catalogue,
    /// Actors already recorded (names).
    pub actors: &'a [String],
    /// Channel and platform names to look for ([`DEFAULT_CHANNELS`], or the store's).
    pub channels: &'a [&'a str],
}

/// Platforms commonly named in disinformation reports.
pub const DEFAULT_CHANNELS: &[&str] = &[
    "Facebook",
    "Instagram",
    "Telegram",
    "TikTok",
    "X",
    "Twitter",
    "YouTube",
    "VKontakte",
    "VK",
    "Odnoklassniki",
    "WhatsApp",
    "Reddit",
    "LinkedIn",
    "Snapchat",
    "Rumble",
    "Gab",
    "Truth Social",
    "Threads",
    "Bluesky",
    "WeChat",
    "Weibo",
    "Discord",
    "Substack",
    "Medium",
    "Pinterest",
    "Twitch",
];

/// Other names of countries, as reports write them, beside the names the project uses.
const COUNTRY_ALIASES: &[(&str, &str)] = &[
    ("Russia", "RU"),
    ("UK", "GB"),
    ("Britain", "GB"),
    ("Great Britain", "GB"),
    ("USA", "US"),
    ("United States of America", "US"),
    ("Czech Republic", "CZ"),
    ("Turkey", "TR"),
    ("Viet Nam", "VN"),
    ("Ivory Coast", "CI"),
    ("Burma", "MM"),
    ("Republic of Moldova", "MD"),
    ("Republic of Korea", "KR"),
    ("DPRK", "KP"),
    ("PRC", "CN"),
    ("UAE", "AE"),
];

/// The longest sentence a proposal quotes; a longer one is cut around the match.
pub(crate) const MAX_SENTENCE_CHARS: usize = 300;

/// Generic top-level domains a bare word may end with to count as a domain; two-letter
/// ones must be ISO 3166-1 codes (or `eu`, `uk`, `su`). A closed list keeps file names
/// (`pkix.asn`, `report.pdf`, `data.tar.gz`) and code (`Example.Group`) out.
const GENERIC_TLDS: &[&str] = &[
    "com", "org", "net", "info", "biz", "edu", "gov", "int", "mil", "media", "news", "online",
    "site", "top", "xyz", "live", "club", "press", "world", "today", "space", "website", "store",
    "tech", "blog", "app", "dev", "link", "page", "icu", "pro", "agency", "global", "digital",
    "network", "center", "eu", "uk", "su",
];

fn known_tld(tld: &str) -> bool {
    GENERIC_TLDS.contains(&tld)
        || (tld.len() == 2 && CountryCode::parse(&tld.to_ascii_uppercase()).is_ok())
}

struct Found {
    kind: ProposalKind,
    value: String,
    label: String,
    confidence: Confidence,
    sentence: String,
    first: usize,
    occurrences: usize,
}

#[derive(Default)]
struct Collector {
    found: BTreeMap<(ProposalKind, String), Found>,
    order: usize,
}

impl Collector {
    fn add(
        &mut self,
        kind: ProposalKind,
        value: String,
        label: String,
        confidence: Confidence,
        sentence: &str,
        at: &str,
    ) {
        self.order += 1;
        let order = self.order;
        let f = self
            .found
            .entry((kind, value.clone()))
            .or_insert_with(|| Found {
                kind,
                value,
                label,
                confidence,
                sentence: quote(sentence, at),
                first: order,
                occurrences: 0,
            });
        f.occurrences += 1;
        f.confidence = f.confidence.max(confidence);
    }
}

/// The sentence, cut around `at` when longer than [`MAX_SENTENCE_CHARS`].
fn quote(sentence: &str, at: &str) -> String {
    let n = sentence.chars().count();
    if n <= MAX_SENTENCE_CHARS {
        return sentence.to_owned();
    }
    let pos = sentence
        .find(at)
        .map_or(0, |b| sentence[..b].chars().count());
    let start = pos.saturating_sub(MAX_SENTENCE_CHARS / 3);
    let start = start.min(n - MAX_SENTENCE_CHARS);
    let mut s: String = sentence
        .chars()
        .skip(start)
        .take(MAX_SENTENCE_CHARS - 2)
        .collect();
    if start > 0 {
        s.insert(0, '…');
    }
    if start + MAX_SENTENCE_CHARS - 2 < n {
        s.push('…');
    }
    s
}

/// Splits text into sentences: after `.`, `!` or `?` (and closing quotes or brackets)
/// followed by a space and a capital, digit or opening quote; at paragraph breaks.
pub(crate) fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for para in text.split("\n\n") {
        let chars: Vec<(usize, char)> = para.char_indices().collect();
        let mut start = 0;
        for (k, &(_, c)) in chars.iter().enumerate() {
            if !matches!(c, '.' | '!' | '?') {
                continue;
            }
            let mut j = k + 1;
            while chars
                .get(j)
                .is_some_and(|(_, c)| matches!(c, '"' | '\'' | ')' | ']' | '”' | '’' | '»'))
            {
                j += 1;
            }
            let space = chars.get(j).is_some_and(|(_, c)| c.is_whitespace());
            let next = chars.get(j + 1).map(|(_, c)| *c);
            if space
                && next.is_some_and(|c| {
                    c.is_uppercase() || c.is_ascii_digit() || matches!(c, '"' | '“' | '«' | '(')
                })
            {
                let end = chars.get(j).map_or(para.len(), |(b, _)| *b);
                let s = para[start..end].trim();
                if !s.is_empty() {
                    out.push(s);
                }
                start = end;
            }
        }
        let s = para[start..].trim();
        if !s.is_empty() {
            out.push(s);
        }
    }
    out
}

/// Lower-cased words (letters and digits) of a string.
fn words(s: &str) -> Vec<String> {
    raw_words(s).map(str::to_lowercase).collect()
}

/// Names to find as whole word sequences, indexed by their first word.
struct Names {
    by_first: BTreeMap<String, Vec<(Vec<String>, usize)>>,
}

impl Names {
    /// Names matched in any case (`fold`), or only as written.
    fn new(names: impl Iterator<Item = (String, usize)>, fold: bool) -> Self {
        let mut by_first: BTreeMap<String, Vec<(Vec<String>, usize)>> = BTreeMap::new();
        for (name, i) in names {
            let w: Vec<String> = if fold {
                words(&name)
            } else {
                raw_words(&name).map(str::to_owned).collect()
            };
            if let Some(first) = w.first() {
                by_first.entry(first.clone()).or_default().push((w, i));
            }
        }
        // Longest first, so that `United States of America` wins over `United States`.
        for v in by_first.values_mut() {
            v.sort_by_key(|(w, _)| std::cmp::Reverse(w.len()));
        }
        Self { by_first }
    }

    /// The names found in `ws`, as their indices, one per position (the longest there).
    fn find(&self, ws: &[String]) -> Vec<usize> {
        let mut out = Vec::new();
        let mut k = 0;
        while k < ws.len() {
            let hit = self.by_first.get(&ws[k]).and_then(|cands| {
                cands
                    .iter()
                    .find(|(w, _)| ws.get(k..k + w.len()).is_some_and(|s| s == w.as_slice()))
            });
            match hit {
                Some((w, i)) => {
                    out.push(*i);
                    k += w.len();
                }
                None => k += 1,
            }
        }
        out
    }
}

/// Words of a sentence as written (for names that must match case: `X`, `VK`, `UK`).
fn raw_words(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

fn technique_ids(sentence: &str, cat: &Catalogue, c: &mut Collector) {
    let b = sentence.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    for (i, _) in sentence.match_indices('T') {
        if (i > 0 && b[i - 1].is_ascii_alphanumeric()) || !digits(i + 1..i + 5) {
            continue;
        }
        let end = if b.get(i + 5) == Some(&b'.') && digits(i + 6..i + 9) {
            i + 9
        } else {
            i + 5
        };
        if b.get(end).is_some_and(u8::is_ascii_alphanumeric) {
            continue;
        }
        let id = &sentence[i..end];
        if let Some(t) = cat.technique(id) {
            c.add(
                ProposalKind::Technique,
                t.id.to_string(),
                format!("{} {}", t.id, t.name),
                Confidence::High,
                sentence,
                id,
            );
        }
    }
}

const URL_END: &[char] = &[
    '.', ',', ';', ':', '!', '?', '\'', '"', '”', '’', '»', ']', '}', '>',
];

/// A URL's host, lower-cased, without user info, port or a leading `www.`.
fn host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    let h = authority.split(':').next()?.to_ascii_lowercase();
    let h = h.strip_prefix("www.").unwrap_or(&h).to_owned();
    let ok = h.contains('.')
        && h.len() <= 253
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    ok.then_some(h)
}

fn is_domain(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    let Some(tld) = labels.last() else {
        return false;
    };
    labels.len() >= 2
        && s.len() <= 253
        && known_tld(tld)
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

fn urls_and_domains(sentence: &str, c: &mut Collector) {
    for token in sentence.split_whitespace() {
        let lower = token.to_ascii_lowercase();
        if let Some(at) = lower.find("http://").or_else(|| lower.find("https://")) {
            let mut url = &token[at..];
            url = url.trim_end_matches(URL_END);
            // A closing parenthesis belongs to the URL only when it opened one.
            while url.ends_with(')') && url.matches('(').count() < url.matches(')').count() {
                url = url[..url.len() - 1].trim_end_matches(URL_END);
            }
            if url.len() > 2048 {
                continue;
            }
            if let Some(h) = host(url) {
                c.add(
                    ProposalKind::SourceUrl,
                    url.to_owned(),
                    url.to_owned(),
                    Confidence::High,
                    sentence,
                    url,
                );
                c.add(
                    ProposalKind::Domain,
                    h.clone(),
                    h,
                    Confidence::High,
                    sentence,
                    url,
                );
            }
            continue;
        }
        // A bare domain: `rrn.media`, `www.example.org/path`; not an e-mail address.
        let bare = token.trim_matches(|ch: char| !ch.is_alphanumeric());
        if bare.contains('@') || bare.contains("://") {
            continue;
        }
        let bare = bare.split('/').next().unwrap_or_default();
        // `Facebook.com` and `RRN.media` are written so; `Example.Group.id` is code.
        if bare
            .split('.')
            .skip(1)
            .any(|l| l.chars().any(|ch| ch.is_uppercase()))
        {
            continue;
        }
        let bare = bare.to_ascii_lowercase();
        let bare = bare.strip_prefix("www.").unwrap_or(&bare).to_owned();
        if is_domain(&bare) && bare.chars().any(|ch| ch.is_ascii_lowercase()) {
            let at = token.to_owned();
            c.add(
                ProposalKind::Domain,
                bare.clone(),
                bare,
                Confidence::Medium,
                sentence,
                &at,
            );
        }
    }
}

/// The proposals drawn from `text`: at most `max_per_kind` of each kind, by kind, then the
/// most frequent first (then the first found). Pure and bounded by the text's length.
pub fn propose(text: &str, known: &Known, max_per_kind: usize) -> Vec<Proposal> {
    let cat = known.catalogue;
    let techniques: Vec<(String, String)> = cat
        .techniques()
        // One-word names (`Scam`, `Discourage`) are ordinary words: ids only.
        .filter(|t| words(&t.name).len() >= 2)
        .map(|t| (t.id.to_string(), t.name.clone()))
        .collect();
    let technique_names = Names::new(
        techniques.iter().enumerate().map(|(i, t)| (t.1.clone(), i)),
        true,
    );
    let countries: Vec<(String, CountryCode)> =
        CountryCode::all()
            .map(|c| (c.name().to_owned(), c))
            .chain(COUNTRY_ALIASES.iter().filter_map(|(n, code)| {
                CountryCode::parse(code).ok().map(|c| ((*n).to_owned(), c))
            }))
            .collect();
    // Short names (`UK`, `USA`) match only as written, in capitals; the rest as words.
    let short = |n: &str| n.chars().count() <= 3;
    let country_names = Names::new(
        countries
            .iter()
            .enumerate()
            .filter(|(_, (n, _))| !short(n))
            .map(|(i, (n, _))| (n.clone(), i)),
        true,
    );
    let short_countries: BTreeMap<&str, CountryCode> = countries
        .iter()
        .filter(|(n, _)| short(n))
        .map(|(n, c)| (n.as_str(), *c))
        .collect();
    let actor_names = Names::new(
        known
            .actors
            .iter()
            .enumerate()
            .filter(|(_, n)| !short(n))
            .map(|(i, n)| (n.clone(), i)),
        true,
    );
    let channel_names = Names::new(
        known
            .channels
            .iter()
            .enumerate()
            .filter(|(_, n)| !short(n))
            .map(|(i, n)| ((*n).to_owned(), i)),
        // Platform names are proper nouns, and some are ordinary words too (`Medium`,
        // `Threads`, `Discord`): as written only.
        false,
    );

    let mut c = Collector::default();
    for s in sentences(text) {
        technique_ids(s, cat, &mut c);
        urls_and_domains(s, &mut c);
        let ws = words(s);
        let raw: Vec<String> = raw_words(s).map(str::to_owned).collect();
        for i in technique_names.find(&ws) {
            let (id, name) = &techniques[i];
            c.add(
                ProposalKind::Technique,
                id.clone(),
                format!("{id} {name}"),
                Confidence::Low,
                s,
                name,
            );
        }
        for i in country_names.find(&ws) {
            let (name, code) = &countries[i];
            c.add(
                ProposalKind::Country,
                code.to_string(),
                code.name().to_owned(),
                Confidence::Medium,
                s,
                name,
            );
        }
        for i in actor_names.find(&ws) {
            let name = &known.actors[i];
            c.add(
                ProposalKind::Actor,
                name.clone(),
                name.clone(),
                Confidence::Medium,
                s,
                name,
            );
        }
        for i in channel_names.find(&raw) {
            let name = known.channels[i];
            c.add(
                ProposalKind::Channel,
                name.to_owned(),
                name.to_owned(),
                Confidence::Medium,
                s,
                name,
            );
        }
        // Short names, as written.
        for w in raw.iter().map(String::as_str).filter(|w| short(w)) {
            if let Some(code) = short_countries.get(w) {
                c.add(
                    ProposalKind::Country,
                    code.to_string(),
                    code.name().to_owned(),
                    Confidence::Medium,
                    s,
                    w,
                );
            }
            if let Some(a) = known.actors.iter().find(|a| a.as_str() == w) {
                c.add(
                    ProposalKind::Actor,
                    a.clone(),
                    a.clone(),
                    Confidence::Low,
                    s,
                    w,
                );
            }
            if let Some(ch) = known.channels.iter().find(|ch| **ch == w) {
                c.add(
                    ProposalKind::Channel,
                    (*ch).to_owned(),
                    (*ch).to_owned(),
                    Confidence::Low,
                    s,
                    w,
                );
            }
        }
    }

    let mut all: Vec<Found> = c.found.into_values().collect();
    all.sort_by(|a, b| {
        (a.kind, std::cmp::Reverse(a.occurrences), a.first).cmp(&(
            b.kind,
            std::cmp::Reverse(b.occurrences),
            b.first,
        ))
    });
    let mut per_kind: BTreeMap<ProposalKind, usize> = BTreeMap::new();
    all.into_iter()
        .filter(|f| {
            let n = per_kind.entry(f.kind).or_default();
            *n += 1;
            *n <= max_per_kind
        })
        .map(|f| Proposal {
            kind: f.kind,
            value: f.value,
            label: f.label,
            confidence: f.confidence,
            sentence: f.sentence,
            occurrences: f.occurrences,
        })
        .collect()
}
