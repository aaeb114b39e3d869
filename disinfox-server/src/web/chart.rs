//! The dashboard's chart of incidents over time, drawn on the server as SVG (no script, no
//! third-party library): one bar per month, or per year when the span is longer than ten
//! years; each bar links to the incidents of its period.

use chrono::{Datelike, Months, NaiveDate};

use crate::db::Count;

/// One bar.
#[derive(Debug, Clone)]
pub(crate) struct Bar {
    pub(crate) x: String,
    pub(crate) y: String,
    pub(crate) w: String,
    pub(crate) h: String,
    pub(crate) label: String,
    pub(crate) count: i64,
    pub(crate) href: String,
}

/// The chart, in SVG user units.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chart {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) left: u32,
    pub(crate) base: u32,
    pub(crate) max: i64,
    pub(crate) first: String,
    pub(crate) last: String,
    pub(crate) bars: Vec<Bar>,
    /// `(label, x)`.
    pub(crate) xticks: Vec<(String, String)>,
    /// `(label, y)`.
    pub(crate) yticks: Vec<(i64, u32)>,
}

/// The first day of the month `YYYY-MM`.
fn parse_month(key: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(&format!("{key}-01"), "%Y-%m-%d").ok()
}

/// A round upper bound of the axis: 1, 2 or 5 times a power of ten.
fn nice_ceiling(n: i64) -> i64 {
    let mut p = 1;
    loop {
        for f in [1, 2, 5] {
            if f * p >= n {
                return f * p;
            }
        }
        p *= 10;
    }
}

/// Builds the chart from incidents per month (`YYYY-MM`).
pub(crate) fn timeline(months: &[Count]) -> Chart {
    let mut points: Vec<(NaiveDate, i64)> = months
        .iter()
        .filter_map(|c| parse_month(&c.key).map(|m| (m, c.count)))
        .collect();
    points.sort();
    let (Some(&(first, _)), Some(&(last, _))) = (points.first(), points.last()) else {
        return Chart::default();
    };
    let span = (last.year() - first.year()) * 12 + last.month0() as i32 - first.month0() as i32 + 1;
    let yearly = span > 120;
    // (label, from, to, count) per period, gaps included.
    let mut periods: Vec<(String, String, String, i64)> = Vec::new();
    if yearly {
        for y in first.year()..=last.year() {
            let n = points
                .iter()
                .filter(|(m, _)| m.year() == y)
                .map(|p| p.1)
                .sum();
            periods.push((
                y.to_string(),
                format!("{y:04}-01-01"),
                format!("{y:04}-12-31"),
                n,
            ));
        }
    } else {
        let mut month = first;
        while month <= last {
            let n = points.iter().find(|(k, _)| *k == month).map_or(0, |p| p.1);
            let Some(next) = month.checked_add_months(Months::new(1)) else {
                break;
            };
            let end = next.pred_opt().unwrap_or(month);
            periods.push((
                month.format("%Y-%m").to_string(),
                month.format("%Y-%m-%d").to_string(),
                end.format("%Y-%m-%d").to_string(),
                n,
            ));
            month = next;
        }
    }
    let (width, height, left, top, base) = (960u32, 230u32, 40u32, 10u32, 205u32);
    let max = periods.iter().map(|p| p.3).max().unwrap_or(0).max(1);
    let axis_max = nice_ceiling(max);
    let step = f64::from(width - left) / periods.len() as f64;
    let scale = f64::from(base - top) / axis_max as f64;
    let bars = periods
        .iter()
        .enumerate()
        .map(|(i, (label, from, to, n))| {
            let h = *n as f64 * scale;
            Bar {
                x: format!("{:.1}", f64::from(left) + i as f64 * step + step * 0.1),
                y: format!("{:.1}", f64::from(base) - h),
                w: format!("{:.1}", (step * 0.8).max(0.5)),
                h: format!("{h:.1}"),
                label: label.clone(),
                count: *n,
                href: format!("/incidents?from={from}&to={to}&sort=date&order=asc"),
            }
        })
        .collect();
    // Year labels, at most about twelve of them.
    let years: Vec<(usize, &str)> = periods
        .iter()
        .enumerate()
        .filter(|(_, p)| yearly || p.0.ends_with("-01") || p.0 == periods[0].0)
        .map(|(i, p)| (i, p.0.get(..4).unwrap_or(&p.0)))
        .collect();
    let every = years.len().div_ceil(12).max(1);
    let mut seen = Vec::new();
    let xticks = years
        .iter()
        .filter(|(_, y)| {
            let new = !seen.contains(y);
            seen.push(*y);
            new
        })
        .step_by(every)
        .map(|(i, y)| {
            (
                (*y).to_owned(),
                format!("{:.1}", f64::from(left) + *i as f64 * step),
            )
        })
        .collect();
    let yticks = [axis_max, axis_max / 2]
        .into_iter()
        .filter(|v| *v > 0)
        .map(|v| (v, base - (v as f64 * scale).round() as u32))
        .collect();
    Chart {
        width,
        height,
        left,
        base,
        max,
        first: periods.first().map(|p| p.0.clone()).unwrap_or_default(),
        last: periods.last().map(|p| p.0.clone()).unwrap_or_default(),
        bars,
        xticks,
        yticks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(k: &str, n: i64) -> Count {
        Count {
            key: k.into(),
            count: n,
        }
    }

    #[test]
    fn months_with_gaps_and_links() {
        let ch = timeline(&[c("2023-11", 2), c("2024-02", 5)]);
        assert_eq!(ch.bars.len(), 4, "Nov, Dec, Jan, Feb");
        assert_eq!(ch.bars[1].count, 0);
        assert_eq!(ch.max, 5);
        assert_eq!(
            ch.bars[3].href, "/incidents?from=2024-02-01&to=2024-02-29&sort=date&order=asc",
            "leap year"
        );
        assert_eq!(
            ch.xticks.iter().map(|t| t.0.as_str()).collect::<Vec<_>>(),
            vec!["2023", "2024"]
        );
    }

    #[test]
    fn long_spans_are_yearly_and_empty_is_empty() {
        let ch = timeline(&[c("1990-05", 1), c("2020-01", 3), c("nonsense", 9)]);
        assert_eq!(ch.bars.len(), 31);
        assert!(ch.xticks.len() <= 12);
        assert!(timeline(&[]).bars.is_empty());
        assert_eq!(nice_ceiling(7), 10);
        assert_eq!(nice_ceiling(11), 20);
        assert_eq!(nice_ceiling(1), 1);
    }
}
