//! ISO 8601 durations for `CONNECTOR_DURATION_PERIOD`.
//!
//! Accepted: upper-case `P[nY][nM][nW][nD][T[nH][nM][nS]]` with at least one component, a
//! decimal fraction allowed on any number, `Y` = 365 days, `M` (before `T`) = 30 days, `W` = 7
//! days, as pycti (through pydantic) reads them; the result is truncated to whole seconds. The
//! string `0` and zero durations mean "run once and terminate". Unlike pycti, negative
//! durations, lower-case designators, surrounding spaces and pydantic's non-ISO forms
//! (`01:00:00`, `1d`, `300`) are refused.

use std::time::Duration;

/// Parses a period; `Ok(Duration::ZERO)` means run-and-terminate.
pub fn parse_period(s: &str) -> Result<Duration, String> {
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let bad = || format!("{s:?} is not an ISO 8601 duration, e.g. PT1H");
    let rest = s.strip_prefix('P').ok_or_else(bad)?;
    if rest.is_empty() {
        return Err(bad());
    }
    let mut seconds = 0f64;
    let mut in_time = false;
    let mut number = String::new();
    let mut components = 0;
    let mut last_rank = 0;
    for c in rest.chars() {
        match c {
            '0'..='9' | '.' => number.push(c),
            'T' if !in_time && number.is_empty() => {
                in_time = true;
                last_rank = 4;
            }
            'Y' | 'M' | 'W' | 'D' | 'H' | 'S' => {
                let (rank, unit) = match (c, in_time) {
                    ('Y', false) => (1, 365.0 * 86_400.0),
                    ('M', false) => (2, 30.0 * 86_400.0),
                    ('W', false) => (3, 7.0 * 86_400.0),
                    ('D', false) => (4, 86_400.0),
                    ('H', true) => (5, 3_600.0),
                    ('M', true) => (6, 60.0),
                    ('S', true) => (7, 1.0),
                    _ => return Err(bad()),
                };
                if rank <= last_rank && !(rank == 4 && last_rank == 3) || number.is_empty() {
                    return Err(bad());
                }
                let n: f64 = number.parse().map_err(|_| bad())?;
                seconds += n * unit;
                number.clear();
                components += 1;
                last_rank = rank;
            }
            _ => return Err(bad()),
        }
    }
    if !number.is_empty() || components == 0 || !seconds.is_finite() || seconds > 1e12 {
        return Err(bad());
    }
    Ok(Duration::from_secs(seconds.trunc() as u64))
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
            "P1H", "PT1D", "P1D1Y", "PT5", "P1.2.3D", "PTT1H",
        ] {
            let e = parse_period(bad).unwrap_err();
            assert!(
                e.contains("is not an ISO 8601 duration, e.g. PT1H"),
                "{bad}: {e}"
            );
        }
    }
}
