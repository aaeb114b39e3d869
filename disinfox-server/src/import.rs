//! Bulk import: STIX 2.1 bundles and the upstream DISINFOX bulk CSV format.
//!
//! An import has two steps. [`plan`] reads and checks the whole file (CPU only, run off the
//! async workers by [`plan_blocking`]): one [`Planned`] incident per CSV event and year or per
//! STIX incident id, each to save, revoke or reject with reasons. Then each planned incident
//! is applied on its own, in transactions of [`BATCH`] incidents that also write the job's
//! report rows ([`crate::db::Store::import_items`]): a rejected incident changes nothing,
//! and the report names it with its row numbers (CSV) or id (STIX) and the reasons. Importing the same file twice creates nothing new: ids are deterministic (CSV) or
//! kept (STIX), and an unchanged incident is reported as such without a new version.
//!
//! The web page and the API run imports as jobs ([`crate::jobs`]); the command line runs the
//! same two steps inline ([`run_inline`]).

use std::collections::BTreeMap;

use serde::Serialize;
use stix_model::disarm::{DisarmVersion, TechniqueId};
use stix_model::extension::{DisinformationIncident, PartialDate};
use stix_model::{Bundle, CountryCode, StixObject, Timestamp};

use crate::db::jobs::{Change, Outcome, Planned};
use crate::error::{ApiError, ApiResult};
use crate::model::{is_url, IncidentInput, TechniquePolicy};
use crate::state::AppState;

/// A checked file: its incidents in file order, and warnings about the file itself.
#[derive(Debug, Default)]
pub struct Plan {
    /// The incidents.
    pub items: Vec<Planned>,
    /// About the file.
    pub warnings: Vec<String>,
}

/// What an import did.
#[derive(Debug, Default, Serialize)]
pub struct ImportReport {
    /// Ids of incidents created.
    pub created: Vec<String>,
    /// Ids of incidents given a new version.
    pub updated: Vec<String>,
    /// Incidents identical to what is stored.
    pub unchanged: usize,
    /// Incidents (or objects) rejected, with the reasons.
    pub rejected: Vec<Rejected>,
    /// Things accepted but worth knowing (unknown DISARM ids, odd cells).
    pub warnings: Vec<String>,
}

/// The two formats of a bulk import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A STIX 2.1 bundle (JSON).
    Stix,
    /// The upstream DISINFOX bulk CSV.
    Csv,
}

impl Format {
    /// The format of a request body by its media type (the API), if it is one of the two.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        let ct = media_type.trim().to_ascii_lowercase();
        if ct.starts_with("application/json") || ct.contains("+json") {
            Some(Self::Stix)
        } else if ct.starts_with("text/csv")
            || ct.starts_with("application/vnd.ms-excel")
            || ct.starts_with("text/plain")
        {
            Some(Self::Csv)
        } else {
            None
        }
    }

    /// The format of a file by its name and content (the command line and the upload page): a
    /// `.json` name or a first character `{` is a bundle, anything else CSV.
    pub fn of_file(name: &str, bytes: &[u8]) -> Self {
        let is_json = std::path::Path::new(name)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
            || bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        if is_json {
            Self::Stix
        } else {
            Self::Csv
        }
    }

    /// The stored spelling (`stix`, `csv`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stix => "stix",
            Self::Csv => "csv",
        }
    }

    /// Refuses at once a file that cannot be of this format (read only its start): a bundle
    /// must be a JSON object, a CSV file must have the DISINFOX header.
    pub fn check_head(self, bytes: &[u8]) -> ApiResult<()> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::BadRequest("the file is empty".into()));
        }
        match self {
            Self::Stix => {
                let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
                if first != Some(&b'{') {
                    return Err(ApiError::BadRequest(
                        "not a STIX bundle: a bundle is a JSON object ({\"type\": \"bundle\", …})"
                            .into(),
                    ));
                }
                Ok(())
            }
            Self::Csv => csv_header(bytes).map(|_| ()),
        }
    }
}

/// Reads and checks a whole file: what to do with each of its incidents. A file that cannot
/// be read at all (not the format, a refused bundle) is an error; anything less is a
/// rejected incident of the plan.
pub fn plan(format: Format, bytes: &[u8], disarm: DisarmVersion) -> ApiResult<Plan> {
    match format {
        Format::Stix => plan_stix(bytes, disarm),
        Format::Csv => plan_csv(bytes, disarm),
    }
}

/// [`plan`] on the blocking pool, off the async workers (its CPU work grows with the file).
pub async fn plan_blocking(
    format: Format,
    bytes: impl AsRef<[u8]> + Send + 'static,
    disarm: DisarmVersion,
) -> ApiResult<Plan> {
    tokio::task::spawn_blocking(move || plan(format, bytes.as_ref(), disarm))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("reading the file: {e}")))?
}

impl ImportReport {
    /// Adds what applying a planned incident did.
    pub fn add(&mut self, item: &Planned, outcome: &Outcome) {
        match outcome {
            Outcome::Created(id, _) => self.created.push(id.clone()),
            Outcome::Updated(id, _) => self.updated.push(id.clone()),
            Outcome::Unchanged(_) => self.unchanged += 1,
            Outcome::Rejected => self.rejected.push(Rejected {
                r#ref: item.r#ref.clone(),
                name: item.name.clone(),
                errors: match &item.change {
                    Change::Reject(e) => e.clone(),
                    _ => Vec::new(),
                },
            }),
        }
        self.warnings
            .extend(item.warnings.iter().map(|w| format!("{}: {w}", item.r#ref)));
    }
}

/// Imports a file inline (the command line): the same plan and the same per-incident
/// transactions as a job, without a job record. `progress(done, total)` is called after each
/// incident.
pub async fn run_inline(
    state: &AppState,
    format: Format,
    bytes: Vec<u8>,
    user_id: Option<i64>,
    progress: &mut (dyn FnMut(usize, usize) + Send),
) -> ApiResult<ImportReport> {
    let plan = plan_blocking(format, bytes, state.settings.disarm_version).await?;
    let mut report = ImportReport {
        warnings: plan.warnings.clone(),
        ..ImportReport::default()
    };
    let total = plan.items.len();
    let numbered: Vec<(i64, &Planned)> = (1..).zip(&plan.items).collect();
    let mut done = 0;
    for batch in numbered.chunks(BATCH) {
        let outcomes = state.store.import_items(None, batch, user_id).await?;
        for ((_, item), outcome) in batch.iter().zip(&outcomes) {
            report.add(item, outcome);
        }
        done += batch.len();
        progress(done, total);
    }
    Ok(report)
}

/// Incidents applied per transaction: one commit for a few dozen incidents, and the writer
/// lock held for a few milliseconds at a time, so other writes go on during an import.
pub const BATCH: usize = 32;

/// A rejected incident or object.
#[derive(Debug, Serialize)]
pub struct Rejected {
    /// `rows 3, 4` for CSV, the STIX id for bundles.
    pub r#ref: String,
    /// The incident's name when known.
    pub name: Option<String>,
    /// Why.
    pub errors: Vec<String>,
}

/// The channel columns of the DISINFOX CSV format (also the channels the web form suggests).
pub const CHANNELS: &[&str] = &[
    "Facebook",
    "Instagram",
    "X",
    "Youtube",
    "TikTok",
    "Telegram",
    "Gab",
    "Parler",
    "Gettr",
    "Truth Social",
    "Vkontakte",
    "Odnoklassniki",
    "Reddit",
    "4chan",
    "Discord",
    "Tumblr",
    "Pinterest",
    "Paypal",
    "LiveJournal",
    "Pastebin",
    "Vimeo",
    "WhatsApp",
    "WeChat",
    "Line",
    "Fiverr",
    "OpenAI",
];

const NOWHERE: &[&str] = &[
    "world",
    "worldwide",
    "global",
    "international",
    "nan",
    "n/a",
    "unknown",
];

#[derive(Debug, Default)]
struct Group {
    rows: Vec<String>,
    input: IncidentInput,
    errors: Vec<String>,
    /// What the lists hold already, `(list, lower-case value)`: a set, so that gathering the
    /// rows of one incident costs n log n in the rows, not their square.
    seen: std::collections::BTreeSet<(List, String)>,
}

/// The lists of an incident gathered over its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum List {
    Targets,
    Actors,
    Techniques,
    Channels,
    Attribution,
    Sources,
}

impl Group {
    /// Adds `value` to `list` unless it holds it already (ASCII case ignored).
    fn add(&mut self, list: List, value: &str) {
        if !self.seen.insert((list, value.to_ascii_lowercase())) {
            return;
        }
        let inp = &mut self.input;
        let v = match list {
            List::Targets => &mut inp.target_countries,
            List::Actors => &mut inp.actors,
            List::Techniques => &mut inp.techniques,
            List::Channels => &mut inp.channels,
            List::Attribution => &mut inp.attribution_sources,
            List::Sources => &mut inp.source_urls,
        };
        v.push(value.to_owned());
    }
}

fn flag(cell: &str) -> Result<bool, ()> {
    match cell.trim().trim_start_matches('`').trim() {
        "" | "0" | "0.0" => Ok(false),
        "1" | "1.0" => Ok(true),
        _ => Err(()),
    }
}

fn split_list(cell: &str) -> Vec<String> {
    cell.split([',', ';'])
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case("nan"))
        .collect()
}

/// Source cells: glued URLs are split, `www.` gets `https://`, placeholders are skipped.
fn source_urls(cell: &str) -> (Vec<String>, Option<String>) {
    let cell = cell.trim();
    if cell.is_empty() || cell.eq_ignore_ascii_case("nan") || cell.starts_with('#') {
        return (Vec::new(), None);
    }
    let mut urls = Vec::new();
    let mut other = Vec::new();
    for word in cell.split_whitespace() {
        let mut pieces = Vec::new();
        let mut rest = word;
        // Split before every "http" that is not at the start (two URLs glued together).
        while let Some(pos) = rest
            .char_indices()
            .nth(1)
            .and_then(|(first, _)| rest[first..].find("http").map(|p| p + first))
        {
            pieces.push(&rest[..pos]);
            rest = &rest[pos..];
        }
        pieces.push(rest);
        for p in pieces {
            let p = p.trim_matches(|c: char| c == ',' || c == ';' || c == '"');
            if is_url(p) {
                urls.push(p.to_owned());
            } else if p.starts_with("www.") && p.len() > 5 {
                urls.push(format!("https://{p}"));
            } else if !p.is_empty() {
                other.push(p.to_owned());
            }
        }
    }
    let note = (!other.is_empty()).then(|| other.join(" "));
    (urls, note)
}

/// The cells of a row as text, and what is wrong with the row itself: a cell that is not
/// UTF-8 (read with replacement characters only to find its incident), more cells than
/// the header, or a quoted cell that runs over several lines and leaves the row with a
/// wrong number of cells (a quote that is not closed where it should be).
fn row_cells(
    rec: &csv::ByteRecord,
    headers: &[String],
    row_label: &str,
    line: u64,
) -> (Vec<String>, Vec<String>) {
    let mut errors = Vec::new();
    let column = |c: usize| {
        headers
            .get(c)
            .filter(|h| !h.is_empty())
            .map_or_else(|| format!("{}", c + 1), |h| format!("{h:?}"))
    };
    let cells: Vec<String> = rec
        .iter()
        .enumerate()
        .map(|(c, b)| match std::str::from_utf8(b) {
            Ok(s) => s.to_owned(),
            Err(e) => {
                errors.push(format!(
                    "{row_label}: column {} is not UTF-8 text (invalid bytes after {} bytes of the cell); save the file as UTF-8",
                    column(c),
                    e.valid_up_to()
                ));
                String::from_utf8_lossy(b).into_owned()
            }
        })
        .collect();
    let newlines = |s: &str| s.matches('\n').count() as u64;
    let multi_line = cells.iter().position(|c| c.contains('\n'));
    match multi_line {
        Some(first) if cells.len() != headers.len() => {
            let opened = line + cells[..first].iter().map(|c| newlines(c)).sum::<u64>();
            // (A quote left open at the end of the file takes the file's last line break.)
            let last = line
                + cells
                    .iter()
                    .map(|c| newlines(c.trim_end_matches(['\r', '\n'])))
                    .sum::<u64>();
            errors.push(format!(
                "{row_label}: the quoted cell of column {} opened on line {opened} is not closed \
                 where it should be: it runs to line {last} and leaves this row with {} cells where \
                 the header has {}; check the quotes on line {opened} (a quote inside a cell is \
                 written twice: \"\")",
                column(first),
                cells.len(),
                headers.len()
            ));
        }
        _ if cells.len() > headers.len() => errors.push(format!(
            "{row_label}: {} cells where the header has {}; the cells after column {} have no column \
             (a comma inside a cell needs quotes around the cell)",
            cells.len(),
            headers.len(),
            headers.len()
        )),
        _ => {}
    }
    (cells, errors)
}

/// A CSV reader past the header, and the header's cells: refused unless it is UTF-8 with an
/// `Event` column.
fn csv_header(bytes: &[u8]) -> ApiResult<(csv::Reader<&[u8]>, Vec<String>)> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let headers: Vec<String> = rdr
        .byte_headers()
        .map_err(|e| ApiError::BadRequest(format!("CSV header: {e}")))?
        .iter()
        .enumerate()
        .map(|(i, h)| {
            std::str::from_utf8(h)
                .map(|h| h.trim().to_owned())
                .map_err(|_| {
                    ApiError::BadRequest(format!(
                        "CSV header (line 1): column {} is not UTF-8 text; save the file as UTF-8",
                        i + 1
                    ))
                })
        })
        .collect::<ApiResult<_>>()?;
    if !headers.iter().any(|h| h.eq_ignore_ascii_case("Event")) {
        return Err(ApiError::BadRequest("CSV: no \"Event\" column; expected the DISINFOX bulk format (Year, Target Country, Event, …)".into()));
    }
    Ok((rdr, headers))
}

/// Parses a DISINFOX bulk CSV into incidents (one per event and year), with row numbers.
fn parse_csv(bytes: &[u8], report: &mut ImportReport) -> ApiResult<Vec<Group>> {
    let (mut rdr, headers) = csv_header(bytes)?;
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let event_col = col("Event").unwrap_or_default();
    let year_col = col("Year");
    let target_col = col("Target Country");
    let region_col = col("Region");
    let sub_col = col("Sub-region");
    let origin_col = col("Country of Origin");
    let actor_col = col("Threat Actor");
    let desc_col = col("Event description");
    let cyber_col = col("Cyber Attacks");
    let technique_cols: Vec<(usize, String)> = headers
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            let id = h.split('_').next()?.trim();
            TechniqueId::parse(id)
                .ok()
                .filter(|_| h.contains('_'))
                .map(|t| (i, t.to_string()))
        })
        .collect();
    let channel_cols: Vec<(usize, &str)> = CHANNELS
        .iter()
        .filter_map(|c| col(c).map(|i| (i, *c)))
        .collect();
    let attribution_cols: Vec<(usize, &str)> = [
        ("Attribution Source: Government", "government"),
        ("Attribution Source: Platform", "platform"),
        ("Attribution Source: Company", "company"),
        ("Attribution Source: Researchers/Journalists", "researchers"),
    ]
    .iter()
    .filter_map(|(h, v)| col(h).map(|i| (i, *v)))
    .collect();
    let source_cols: Vec<usize> = headers
        .iter()
        .enumerate()
        .filter(|(_, h)| h.starts_with("Source ") && h[7..].trim().parse::<u32>().is_ok())
        .map(|(i, _)| i)
        .collect();
    let known_ids: Vec<&String> = technique_cols.iter().map(|(_, t)| t).collect();
    let catalogue_16 =
        stix_model::disarm::Catalogue::builtin(stix_model::disarm::DisarmVersion::V1_6);
    let catalogue_17 =
        stix_model::disarm::Catalogue::builtin(stix_model::disarm::DisarmVersion::V1_7);
    let unknown: Vec<&str> = known_ids
        .iter()
        .filter(|t| catalogue_16.technique(t).is_none() && catalogue_17.technique(t).is_none())
        .map(|t| t.as_str())
        .collect();
    if !unknown.is_empty() {
        report.warnings.push(format!(
            "technique columns not in DISARM 1.6 or 1.7 (kept on the incidents that flag them): {}",
            unknown.join(", ")
        ));
    }

    let mut groups: Vec<Group> = Vec::new();
    let mut index: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut rec = csv::ByteRecord::new();
    for i in 0.. {
        let row = i + 2; // 1-based, after the header
        match rdr.read_byte_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                report.rejected.push(Rejected {
                    r#ref: format!("row {row}"),
                    name: None,
                    errors: vec![format!("unreadable CSV row: {e}")],
                });
                continue;
            }
        }
        // Spreadsheet row numbers (the header is row 1); a quoted cell may span lines.
        let line = rec.position().map_or(row as u64, |p| p.line());
        let row_label = if line == row as u64 {
            format!("row {row}")
        } else {
            format!("row {row} (line {line})")
        };
        let (cells, row_errors) = row_cells(&rec, &headers, &row_label, line);
        let cell = |c: Option<usize>| c.and_then(|c| cells.get(c)).map_or("", |s| s.trim());
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let name = cell(Some(event_col)).to_owned();
        let year = cell(year_col).trim_end_matches(".0").to_owned();
        let key = (name.to_lowercase(), year.clone());
        let gi = *index.entry(key).or_insert_with(|| {
            groups.push(Group::default());
            groups.len() - 1
        });
        let g = &mut groups[gi];
        g.rows.push(row_label.clone());
        g.errors.extend(row_errors);
        if name.is_empty() {
            g.errors.push(format!("{row_label}: Event is empty"));
        }
        g.input.name = name;
        if !year.is_empty() {
            match PartialDate::parse(&year) {
                Ok(d) if d.month().is_none() => g.input.first_seen = Some(d.to_string()),
                _ => g
                    .errors
                    .push(format!("{row_label}: Year {year:?} is not a year")),
            }
        }
        let desc = cell(desc_col);
        if !desc.is_empty()
            && !desc.eq_ignore_ascii_case("no description")
            && !desc.eq_ignore_ascii_case("nan")
            && g.input.description.is_empty()
        {
            g.input.description = desc.to_owned();
        }
        for c in split_list(cell(target_col)) {
            if NOWHERE.contains(&c.to_lowercase().as_str()) {
                report.warnings.push(format!(
                    "{row_label}: target {c:?} names no country; left out"
                ));
            } else {
                g.add(List::Targets, &c);
            }
        }
        for (k, v) in [
            (region_col, &mut g.input.region),
            (sub_col, &mut g.input.sub_region),
        ] {
            let c = cell(k);
            if !c.is_empty() && !c.eq_ignore_ascii_case("nan") {
                *v = Some(c.to_owned());
            }
        }
        let origin = cell(origin_col);
        if !origin.is_empty() && !NOWHERE.contains(&origin.to_lowercase().as_str()) {
            match CountryCode::lookup(origin.trim_end_matches('*')) {
                Some(c) => g.input.country_of_origin = Some(c.to_string()),
                None => report.warnings.push(format!(
                    "{row_label}: country of origin {origin:?} is not a country; left out"
                )),
            }
        }
        for a in split_list(cell(actor_col)) {
            g.add(List::Actors, &a);
        }
        let mut flagged = |c: usize, header: &str| -> bool {
            let v = cells.get(c).map_or("", String::as_str);
            match flag(v) {
                Ok(b) => b,
                Err(()) => {
                    report.warnings.push(format!(
                        "{row_label}: column {header:?} holds {v:?}, not 0 or 1; read as 0"
                    ));
                    false
                }
            }
        };
        for (c, t) in &technique_cols {
            if flagged(*c, &headers[*c]) {
                g.add(List::Techniques, t);
            }
        }
        for (c, ch) in &channel_cols {
            if flagged(*c, ch) {
                g.add(List::Channels, ch);
            }
        }
        if let Some(c) = cyber_col {
            if flagged(c, "Cyber Attacks") {
                g.input.cyber_attack = Some(true);
            }
        }
        for (c, v) in &attribution_cols {
            if flagged(*c, v) {
                g.add(List::Attribution, v);
            }
        }
        for c in &source_cols {
            let (urls, note) = source_urls(cells.get(*c).map_or("", String::as_str));
            for u in urls {
                g.add(List::Sources, &u);
            }
            if let Some(n) = note {
                report
                    .warnings
                    .push(format!("{row_label}: source {n:?} is not a URL; left out"));
            }
        }
    }
    Ok(groups)
}

/// The field errors of an invalid incident as report lines.
fn field_errors(fields: BTreeMap<String, String>) -> Vec<String> {
    fields
        .into_iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect()
}

/// Plans a DISINFOX bulk CSV file: one incident per event and year.
fn plan_csv(bytes: &[u8], disarm: DisarmVersion) -> ApiResult<Plan> {
    let mut report = ImportReport::default();
    let groups = parse_csv(bytes, &mut report)?;
    let mut plan = Plan {
        warnings: report.warnings,
        items: Vec::with_capacity(groups.len() + report.rejected.len()),
    };
    plan.items
        .extend(report.rejected.into_iter().map(|r| Planned {
            r#ref: r.r#ref,
            name: r.name,
            change: Change::Reject(r.errors),
            warnings: Vec::new(),
        }));
    let now = Timestamp::now();
    for g in groups {
        let r#ref = g.rows.join(", ");
        let name = Some(g.input.name.clone()).filter(|n| !n.is_empty());
        let mut warnings = Vec::new();
        let change = if !g.errors.is_empty() {
            Change::Reject(g.errors)
        } else {
            match g
                .input
                .validate(disarm, TechniquePolicy::Keep, &mut warnings)
            {
                Err(fields) => Change::Reject(field_errors(fields)),
                Ok(incident) => {
                    // The id is derived from the name and the start of the incident's year:
                    // importing the same file again updates (or leaves unchanged) instead of
                    // duplicating.
                    let created = incident
                        .input
                        .first_seen
                        .as_deref()
                        .and_then(|d| PartialDate::parse(d).ok())
                        .map_or(now, |d| d.start());
                    match stix_model::opencti::incident(
                        &incident.input.name,
                        &created.at_least_millis().to_string(),
                    ) {
                        Ok(id) => Change::Save {
                            id,
                            by_name: true,
                            incident: Box::new(incident),
                            created,
                            modified: None,
                        },
                        Err(e) => Change::Reject(vec![format!("name: {e}")]),
                    }
                }
            }
        };
        plan.items.push(Planned {
            r#ref,
            name,
            change,
            warnings,
        });
    }
    Ok(plan)
}

fn disarm_id(o: &StixObject) -> Option<String> {
    let StixObject::AttackPattern(ap) = o else {
        return None;
    };
    if let Some(x) = ap.custom.get("x_mitre_id").and_then(|v| v.as_str()) {
        return TechniqueId::parse(x).ok().map(|t| t.to_string());
    }
    ap.common
        .external_references
        .iter()
        .filter(|r| {
            r.source_name.starts_with("mitre-") || r.source_name.eq_ignore_ascii_case("DISARM")
        })
        .find_map(|r| {
            r.external_id
                .as_deref()
                .and_then(|x| TechniqueId::parse(x).ok())
        })
        .map(|t| t.to_string())
}

fn name_of(o: &StixObject) -> Option<String> {
    match o {
        StixObject::ThreatActor(t) => Some(t.name.clone()),
        StixObject::IntrusionSet(t) => Some(t.name.clone()),
        StixObject::Campaign(t) => Some(t.name.clone()),
        StixObject::Identity(t) => Some(t.name.clone()),
        StixObject::Channel(t) => Some(t.name.clone()),
        _ => None,
    }
}

fn country_of(o: &StixObject) -> Option<String> {
    let StixObject::Location(l) = o else {
        return None;
    };
    l.country
        .as_deref()
        .and_then(CountryCode::lookup)
        .or_else(|| l.name.as_deref().and_then(CountryCode::lookup))
        .map(|c| c.to_string())
}

/// Reads a bundle: its objects, and a report that rejects each object that does not parse
/// (once, with every violation). A bundle whose own properties are wrong (`type`, `id`,
/// `objects`) is refused whole: nothing of it is imported.
fn read_bundle(bytes: &[u8]) -> ApiResult<(Vec<StixObject>, ImportReport)> {
    let mut objects = Vec::new();
    let mut bad: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let head = Bundle::stream(bytes, |o| {
        match o {
            Ok(o) => objects.push(o),
            Err(violations) => {
                for v in violations {
                    bad.entry(v.object_id.clone().unwrap_or_else(|| "object".into()))
                        .or_default()
                        .push(v.to_string());
                }
            }
        }
        Ok(())
    });
    match head {
        Ok(_) => {}
        Err(stix_model::Error::Invalid(v)) => {
            return Err(ApiError::Invalid {
                message: format!(
                    "the bundle was refused, nothing of it was imported: {}",
                    v.iter()
                        .map(|x| format!(
                            "{}{}",
                            if x.path.is_empty() {
                                String::new()
                            } else {
                                format!("{}: ", x.path)
                            },
                            x.message
                        ))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                fields: BTreeMap::new(),
            })
        }
        Err(e) => return Err(ApiError::BadRequest(format!("not a STIX bundle: {e}"))),
    }
    let mut report = ImportReport::default();
    for (r, errors) in bad {
        report.rejected.push(Rejected {
            r#ref: r,
            name: None,
            errors,
        });
    }
    Ok((objects, report))
}

/// Plans the incidents of a STIX 2.1 bundle (with their techniques, actors, locations and
/// channels read from the relationships and from the DISINFOX extension).
fn plan_stix(bytes: &[u8], disarm: DisarmVersion) -> ApiResult<Plan> {
    let (objects, mut report) = read_bundle(bytes)?;
    let mut items = Vec::new();
    let by_id: BTreeMap<&str, &StixObject> = objects.iter().map(|o| (o.id(), o)).collect();
    let mut rels: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for o in &objects {
        if let StixObject::Relationship(r) = o {
            rels.entry(r.source_ref.as_str())
                .or_default()
                .push((r.relationship_type.as_str(), r.target_ref.as_str()));
        }
    }
    // Each incident id is imported (or rejected) once: an id given more than once is
    // rejected when two copies share a `modified` time (which one is meant cannot be told),
    // else its latest version is imported; an id reported rejected is never applied.
    let rejected_ids: std::collections::BTreeSet<String> =
        report.rejected.iter().map(|r| r.r#ref.clone()).collect();
    let mut copies: BTreeMap<&str, Vec<&stix_model::Incident>> = BTreeMap::new();
    for o in &objects {
        if let StixObject::Incident(inc) = o {
            copies.entry(inc.common.id.as_str()).or_default().push(inc);
        }
    }
    let mut chosen: BTreeMap<&str, &stix_model::Incident> = BTreeMap::new();
    for (id, mut v) in copies {
        if rejected_ids.contains(id) {
            continue;
        }
        v.sort_by_key(|i| i.common.modified);
        let latest = v[v.len() - 1];
        if v.len() > 1 {
            let times: std::collections::BTreeSet<_> =
                v.iter().map(|i| i.common.modified).collect();
            if times.len() < v.len() {
                report.rejected.push(Rejected {
                    r#ref: id.to_owned(),
                    name: Some(latest.name.clone()),
                    errors: vec![format!(
                        "the bundle holds this incident {} times, some with the same modified time: which one to import cannot be told",
                        v.len()
                    )],
                });
                continue;
            }
            report.warnings.push(format!(
                "{id}: the bundle holds {} versions; the latest (modified {}) is imported",
                v.len(),
                latest.common.modified
            ));
        }
        chosen.insert(id, latest);
    }
    // In the bundle's order.
    let chosen: Vec<&stix_model::Incident> = objects
        .iter()
        .filter_map(|o| chosen.remove(o.id()))
        .collect();
    for inc in chosen {
        let id = inc.common.id.clone();
        if inc.common.revoked == Some(true) {
            items.push(Planned {
                r#ref: id.to_string(),
                name: Some(inc.name.clone()),
                change: Change::Revoke(id),
                warnings: Vec::new(),
            });
            continue;
        }
        let mut item_warnings = Vec::new();
        let mut input = IncidentInput {
            name: inc.name.clone(),
            description: inc.description.clone().unwrap_or_default(),
            labels: inc.common.labels.clone(),
            confidence: inc.common.confidence.map(|c| i64::from(c.get())),
            ..IncidentInput::default()
        };
        for r in &inc.common.external_references {
            if let Some(u) = r.url.as_deref().filter(|u| is_url(u)) {
                input.source_urls.push(u.to_owned());
            }
        }
        if let Some(Ok(ext)) = DisinformationIncident::from_extensions(&inc.common.extensions) {
            input.first_seen = ext.first_seen.map(|d| d.to_string());
            input.last_seen = ext.last_seen.map(|d| d.to_string());
            input.region = ext.region.clone();
            input.sub_region = ext.sub_region.clone();
            input.channels = ext.channels.clone();
            input.attribution_sources = ext
                .attribution
                .source_kinds
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect();
            input.attribution_confidence = ext.attribution.confidence.map(|c| i64::from(c.get()));
            input.cyber_attack = ext.cyber_attack;
            input.target_countries = ext
                .target_countries
                .iter()
                .map(ToString::to_string)
                .collect();
            input.country_of_origin = ext.country_of_origin.map(|c| c.to_string());
            input
                .techniques
                .extend(ext.unknown_techniques.iter().cloned());
            for u in &ext.attribution.uncertain_actors {
                input.actors.push(format!("{u}*"));
            }
        }
        // What the lists hold already (lower-case): one set, so many relationships cost
        // n log n, not their square.
        let mut seen: std::collections::BTreeSet<(&str, String)> = input
            .techniques
            .iter()
            .map(|t| ("technique", t.to_ascii_lowercase()))
            .chain(input.actors.iter().map(|a| {
                (
                    "actor",
                    a.trim_end_matches('*').trim_end().to_ascii_lowercase(),
                )
            }))
            .chain(
                input
                    .target_countries
                    .iter()
                    .map(|c| ("target", c.to_ascii_lowercase())),
            )
            .chain(
                input
                    .channels
                    .iter()
                    .map(|c| ("channel", c.to_ascii_lowercase())),
            )
            .collect();
        for (ty, target) in rels.get(id.as_str()).into_iter().flatten() {
            let Some(t) = by_id.get(target) else {
                item_warnings.push(format!("{ty} {target} is not in the bundle; left out"));
                continue;
            };
            // A channel: `uses` in bundles for OpenCTI (`related-to` before). Its name or an
            // alias (the name as recorded, docs/opencti-import.md) may already be listed.
            if let (StixObject::Channel(ch), "uses" | "related-to") = (t, *ty) {
                let known = std::iter::once(&ch.name)
                    .chain(&ch.aliases)
                    .any(|n| seen.contains(&("channel", n.to_ascii_lowercase())));
                if !known && seen.insert(("channel", ch.name.to_ascii_lowercase())) {
                    input.channels.push(ch.name.clone());
                }
                continue;
            }
            match *ty {
                "uses" => match disarm_id(t) {
                    Some(x) => {
                        if seen.insert(("technique", x.to_ascii_lowercase())) {
                            input.techniques.push(x);
                        }
                    }
                    None => item_warnings.push(format!(
                        "uses {target}, which is not a DISARM technique; left out"
                    )),
                },
                "attributed-to" => {
                    if let Some(n) = name_of(t) {
                        if seen.insert(("actor", n.to_ascii_lowercase())) {
                            input.actors.push(n);
                        }
                    }
                }
                "targets" => {
                    if let Some(c) = country_of(t) {
                        if seen.insert(("target", c.to_ascii_lowercase())) {
                            input.target_countries.push(c);
                        }
                    }
                }
                "originates-from" => {
                    input.country_of_origin = country_of(t).or(input.country_of_origin)
                }
                _ => {}
            }
        }
        let change = match input.validate(disarm, TechniquePolicy::Keep, &mut item_warnings) {
            Err(fields) => Change::Reject(field_errors(fields)),
            Ok(incident) => Change::Save {
                id: id.clone(),
                by_name: false,
                incident: Box::new(incident),
                created: inc.common.created,
                modified: Some(inc.common.modified),
            },
        };
        items.push(Planned {
            r#ref: id.to_string(),
            name: Some(inc.name.clone()),
            change,
            warnings: item_warnings,
        });
    }
    if objects
        .iter()
        .all(|o| !matches!(o, StixObject::Incident(_)))
        && report.rejected.is_empty()
    {
        report.warnings.push("the bundle holds no incident".into());
    }
    // Objects that did not parse, and incident ids rejected as a whole, come first.
    let mut all: Vec<Planned> = report
        .rejected
        .into_iter()
        .map(|r| Planned {
            r#ref: r.r#ref,
            name: r.name,
            change: Change::Reject(r.errors),
            warnings: Vec::new(),
        })
        .collect();
    all.extend(items);
    Ok(Plan {
        items: all,
        warnings: report.warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells() {
        assert_eq!(flag(" `1"), Ok(true));
        assert_eq!(flag(""), Ok(false));
        assert_eq!(flag("yes"), Err(()));
        assert_eq!(split_list("Russia, Mexico ,"), vec!["Russia", "Mexico"]);
        let (u, n) = source_urls("https://a.org/xhttps://b.org/y www.c.org plain text");
        assert_eq!(
            u,
            vec!["https://a.org/x", "https://b.org/y", "https://www.c.org"]
        );
        assert_eq!(n.as_deref(), Some("plain text"));
        assert_eq!(source_urls("#NAME?"), (vec![], None));
        assert_eq!(
            source_urls("éhttps://x.org/a").0,
            vec!["https://x.org/a"],
            "no panic on a multi-byte first character"
        );
        assert_eq!(source_urls("ü").1.as_deref(), Some("ü"));
    }
}
