//! The upstream DISINFOX bulk CSV format (docs/disinfox-upstream.md §2): one row per (incident, actor)
//! pair, gathered into one incident per event and year, with the quirks of the published files
//! survived and reported.

use std::collections::BTreeMap;

use stix_model::disarm::{DisarmVersion, TechniqueId};
use stix_model::extension::PartialDate;
use stix_model::{CountryCode, Timestamp};

use super::{field_errors, ImportReport, Plan, Rejected};
use crate::db::jobs::{Change, Planned};
use crate::error::{ApiError, ApiResult};
use crate::model::{is_url, IncidentInput, TechniquePolicy};

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
    rec: &::csv::ByteRecord,
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
pub(super) fn header(bytes: &[u8]) -> ApiResult<(::csv::Reader<&[u8]>, Vec<String>)> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut rdr = ::csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(bytes);
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
    let (mut rdr, headers) = header(bytes)?;
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
    let mut rec = ::csv::ByteRecord::new();
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

/// Plans a DISINFOX bulk CSV file: one incident per event and year.
pub(super) fn plan(bytes: &[u8], disarm: DisarmVersion) -> ApiResult<Plan> {
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

/// The columns of the DISINFOX bulk CSV format before the technique flags
/// (docs/disinfox-upstream.md §5), in the order of the upstream template.
const LEADING: [&str; 8] = [
    "Year",
    "Target Country",
    "Event",
    "Region",
    "Sub-region",
    "Country of Origin",
    "Threat Actor",
    "Event description",
];

/// The attribution columns, after the channel flags and `Cyber Attacks`.
const ATTRIBUTION: [&str; 4] = [
    "Attribution Source: Government",
    "Attribution Source: Platform",
    "Attribution Source: Company",
    "Attribution Source: Researchers/Journalists",
];

/// How many `Source n` columns the template has (as upstream's).
const TEMPLATE_SOURCES: usize = 8;

/// A CSV template of the bulk format this importer reads: the header (the eight leading columns,
/// one `Txxxx_Name` flag column per technique of the DISARM version, the channel flags, `Cyber
/// Attacks`, the attribution flags, `Source 1` … `Source 8`) and one example row, which imports
/// as one incident. The technique names in the headers are for the reader: the importer reads
/// the id before the first `_`.
pub fn template(disarm: DisarmVersion) -> String {
    let cat = stix_model::disarm::Catalogue::builtin(disarm);
    // The example flags a technique of both DISARM versions (Develop Memes).
    let example_technique = Some("T0086.001");
    let mut header: Vec<String> = LEADING.iter().map(|s| (*s).to_owned()).collect();
    let mut row: Vec<String> = [
        "2024",
        "Poland",
        "Example: forged ministry letter on grain imports",
        "Europe",
        "Eastern Europe",
        "Russia",
        "Example Actor",
        "A forged letter, shared as a meme on Telegram, claims the ministry will stop grain imports.",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for t in cat.techniques() {
        header.push(format!("{}_{}", t.id.as_str(), t.name));
        row.push(
            if Some(t.id.as_str()) == example_technique {
                "1"
            } else {
                "0"
            }
            .to_owned(),
        );
    }
    for c in CHANNELS {
        header.push((*c).to_owned());
        row.push(if *c == "Telegram" { "1" } else { "0" }.to_owned());
    }
    header.push("Cyber Attacks".to_owned());
    row.push("0".to_owned());
    for a in ATTRIBUTION {
        header.push(a.to_owned());
        row.push(if a.ends_with("Journalists") { "1" } else { "0" }.to_owned());
    }
    for n in 1..=TEMPLATE_SOURCES {
        header.push(format!("Source {n}"));
        row.push(
            if n == 1 {
                "https://example.org/fact-check/forged-letter"
            } else {
                ""
            }
            .to_owned(),
        );
    }
    let mut w = ::csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail; a failure would leave an empty template, never a panic.
    let _ = w.write_record(&header).and_then(|()| w.write_record(&row));
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

#[cfg(test)]
mod template_tests {
    use super::*;

    #[test]
    fn the_template_names_every_column_the_importer_reads_and_plans_one_incident() {
        for v in [DisarmVersion::V1_6, DisarmVersion::V1_7] {
            let t = template(v);
            let (_, headers) = header(t.as_bytes()).unwrap();
            for h in LEADING.iter().chain(ATTRIBUTION.iter()).chain(CHANNELS) {
                assert!(headers.iter().any(|x| x == h), "{h}");
            }
            let cat = stix_model::disarm::Catalogue::builtin(v);
            assert_eq!(
                headers
                    .iter()
                    .filter(|h| h.starts_with('T') && h.contains('_'))
                    .count(),
                cat.len()
            );
            let mut report = ImportReport::default();
            let groups = parse_csv(t.as_bytes(), &mut report).unwrap();
            assert!(report.warnings.is_empty(), "{:?}", report.warnings);
            assert_eq!(groups.len(), 1);
            let g = &groups[0];
            assert!(g.errors.is_empty(), "{:?}", g.errors);
            assert_eq!(g.input.techniques.len(), 1);
            assert_eq!(g.input.channels, vec!["Telegram".to_owned()]);
            assert_eq!(g.input.source_urls.len(), 1);
        }
    }
}
