//! ISO 8601 durations for `CONNECTOR_DURATION_PERIOD`.
//!
//! Accepted: upper-case `P[nY][nM][nW][nD][T[nH][nM][nS]]` with at least one component, a
//! decimal fraction allowed on any number, `Y` = 365 days, `M` (before `T`) = 30 days, `W` = 7
//! days, as pycti (through pydantic) reads them; the result is truncated to whole seconds. The
//! string `0` and zero durations mean "run once and terminate". Unlike pycti, negative
//! durations, lower-case designators, surrounding spaces and pydantic's non-ISO forms
//! (`01:00:00`, `1d`, `300`) are refused.
//!
//! The numbers are read by the `iso8601-duration` crate. In front of it stands a gate that keeps
//! the strictness above, which the crate alone does not: it takes signs, exponents, decimal
//! commas and `inf` in numbers, and it reads weeks only alone (`P2W`), while pydantic also
//! takes them with other components (`P2W3D`), so the number of weeks is read on its own. The
//! crate holds each number as an `f32`: a number keeps its first 7 significant digits.

use std::time::Duration;

use iso8601_duration::Duration as Iso;

const DAY: f64 = 86_400.0;

/// Parses a period; `Ok(Duration::ZERO)` means run-and-terminate.
pub fn parse_period(s: &str) -> Result<Duration, String> {
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let bad = || format!("{s:?} is not an ISO 8601 duration, e.g. PT1H");
    let (weeks, rest) = gate(s).ok_or_else(bad)?;
    let weeks_read = match &weeks {
        // Read as days, so that the crate does not multiply by 7 in f32.
        Some(w) => Iso::parse(&format!("P{w}D")).map_err(|_| bad())?.day,
        None => 0.0,
    };
    let rest = Some(rest).filter(|r| r != "P" && r != "PT");
    let d = match &rest {
        Some(r) => Iso::parse(r).map_err(|_| bad())?,
        None => Iso::new(0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    };
    // Summed in the written order, each number times its unit in seconds.
    let seconds = [
        (d.year, 365.0 * DAY),
        (d.month, 30.0 * DAY),
        (weeks_read, 7.0 * DAY),
        (d.day, DAY),
        (d.hour, 3_600.0),
        (d.minute, 60.0),
        (d.second, 1.0),
    ]
    .into_iter()
    .fold(0.0, |sum, (n, unit)| sum + decimal(n) * unit);
    if weeks.is_none() && rest.is_none() || !seconds.is_finite() || seconds > 1e12 {
        return Err(bad());
    }
    Ok(Duration::from_secs(seconds.trunc() as u64))
}

/// The number the crate read (as an `f32`) as the decimal that was written, when it had at
/// most 7 significant digits: `0.1` stays 0.1, not 0.10000000149.
fn decimal(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
}

/// The strict form, checked before the crate reads the numbers: `P`, then numbers (digits and
/// at most one `.`) each followed by a designator, nothing else. Returns the number of weeks
/// (its text), if any, and the period without it.
fn gate(s: &str) -> Option<(Option<String>, String)> {
    let body = s.strip_prefix('P')?;
    if !body
        .bytes()
        .all(|b| b.is_ascii_digit() || b".YMWDTHS".contains(&b))
    {
        return None;
    }
    // Every number is followed by a designator, has a digit and at most one point.
    let mut number = String::new();
    for c in body.chars() {
        match c {
            '0'..='9' | '.' => number.push(c),
            _ if number.is_empty() => {
                if c != 'T' {
                    return None;
                }
            }
            _ => {
                if !number.bytes().any(|b| b.is_ascii_digit())
                    || number.matches('.').count() > 1
                    || c == 'T'
                {
                    return None;
                }
                number.clear();
            }
        }
    }
    if !number.is_empty() {
        return None;
    }
    let Some(w) = body.find('W') else {
        return Some((None, s.to_owned()));
    };
    // One weeks component, in the date part, after years and months and before days.
    let start = body[..w]
        .rfind(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or(0, |i| i + 1);
    let before = body[..start].chars().last();
    let after = body[w + 1..]
        .chars()
        .find(|c| !(c.is_ascii_digit() || *c == '.'));
    let date_part = body.find('T').is_none_or(|t| w < t);
    if body.matches('W').count() > 1
        || !date_part
        || !matches!(before, None | Some('Y' | 'M'))
        || !matches!(after, None | Some('D' | 'T'))
    {
        return None;
    }
    let weeks = body[start..w].to_owned();
    let rest = format!("P{}{}", &body[..start], &body[w + 1..]);
    Some((Some(weeks), rest))
}

#[cfg(test)]
mod tests {
    use super::parse_period;

    #[test]
    fn table() {
        for (input, secs) in [
            ("PT5M", 300),
            ("PT1H", 3600),
            ("P1D", 86_400),
            ("P1W", 604_800),
            ("P2W3D", 1_468_800),
            ("P1M", 2_592_000),
            ("P1Y", 31_536_000),
            ("PT1.5S", 1),
            ("P0.5D", 43_200),
            ("P1DT2H3M4S", 93_784),
            ("P1Y2M3W4DT5H6M7.5S", 38_898_367),
            ("P1WT", 604_800),
            ("P1DT", 86_400),
            ("P.1W", 60_480),
            ("P0.12Y", 3_784_320),
            ("PT0S", 0),
            ("P0D", 0),
            ("0", 0),
        ] {
            assert_eq!(
                parse_period(input).map(|d| d.as_secs()),
                Ok(secs),
                "{input}"
            );
        }
        for bad in [
            "", "P", "PT", "300", "PT5m", "pt5m", " PT5M", "PT5M ", "-PT5M", "01:00:00", "1d",
            "P1H", "PT1D", "P1D1Y", "PT5", "P1.2.3D", "PTT1H", "P2W1Y", "P1DT2W", "PT1W", "P1W2W",
            "P1e3D", "P-1D", "P+1D", "P1,5D", "P.D", "PT1H2H", "PinfD", "P1W1M",
        ] {
            let e = parse_period(bad).unwrap_err();
            assert!(
                e.contains("is not an ISO 8601 duration, e.g. PT1H"),
                "{bad}: {e}"
            );
        }
    }
}
