//! Time parameters of the dashboard API: instants (`from`, `to`), durations (`interval`) and the
//! UTC dates of the `date` partition column.

use crate::error::QueryError;

pub const SECOND_MS: i64 = 1_000;
pub const MINUTE_MS: i64 = 60 * SECOND_MS;
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// Most buckets one overview answer may have: enough for a week at 10-minute resolution, few
/// enough that a typo (`interval=1s` over a month) is refused instead of answered with megabytes.
pub const MAX_BUCKETS: i64 = 2_000;

/// Widest range a dashboard request may cover.
pub const MAX_RANGE_MS: i64 = 400 * DAY_MS;

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A duration such as `90s`, `5m`, `1h`, `7d` (or a bare number of seconds), in milliseconds.
pub fn parse_duration(text: &str) -> Option<i64> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: i64 = number.parse().ok()?;
    let unit_ms = match unit {
        "ms" => 1,
        "s" => SECOND_MS,
        "m" => MINUTE_MS,
        "h" => HOUR_MS,
        "d" => DAY_MS,
        _ => return None,
    };
    n.checked_mul(unit_ms).filter(|ms| *ms > 0)
}

/// An instant: Unix milliseconds, an RFC 3339 time, `now`, or `-<duration>` before `now` (e.g.
/// `-24h`). Relative forms keep a polling dashboard's URL constant, so its answers can be cached.
pub fn parse_instant(text: &str, now: i64) -> Option<i64> {
    let text = text.trim();
    if text == "now" {
        return Some(now);
    }
    if let Some(rest) = text.strip_prefix('-') {
        return parse_duration(rest).map(|d| now - d);
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    arrow::compute::kernels::cast_utils::string_to_timestamp_nanos(text)
        .ok()
        .map(|ns| ns.div_euclid(1_000_000))
}

/// The `[from, to)` range of a request, defaulting to the last 24 hours.
pub fn parse_range(
    from: Option<&str>,
    to: Option<&str>,
    now: i64,
) -> Result<(i64, i64), QueryError> {
    let to = match to {
        Some(t) => parse_instant(t, now).ok_or_else(|| bad_instant("to", t))?,
        None => now,
    };
    let from = match from {
        Some(f) => parse_instant(f, now).ok_or_else(|| bad_instant("from", f))?,
        None => to - DAY_MS,
    };
    if from >= to {
        return Err(QueryError::BadRequest("from must be before to".to_owned()));
    }
    if to - from > MAX_RANGE_MS {
        return Err(QueryError::BadRequest(format!(
            "the range may cover at most {} days",
            MAX_RANGE_MS / DAY_MS
        )));
    }
    Ok((from, to))
}

fn bad_instant(name: &str, value: &str) -> QueryError {
    QueryError::BadRequest(format!(
        "{name}: {:?} is not Unix milliseconds, an RFC 3339 time, now, or -<duration> (e.g. -24h)",
        value.chars().take(64).collect::<String>()
    ))
}

/// The overview bucket width: as asked, or the smallest round width that gives at most 200 buckets.
pub fn choose_interval(interval: Option<&str>, from: i64, to: i64) -> Result<i64, QueryError> {
    let ms = match interval {
        Some(text) => parse_duration(text).ok_or_else(|| {
            QueryError::BadRequest(format!(
                "interval: {:?} is not a duration such as 60s, 5m, 1h or 1d",
                text.chars().take(64).collect::<String>()
            ))
        })?,
        None => [
            MINUTE_MS,
            5 * MINUTE_MS,
            15 * MINUTE_MS,
            HOUR_MS,
            6 * HOUR_MS,
            DAY_MS,
            7 * DAY_MS,
        ]
        .into_iter()
        .find(|w| (to - from) / w <= 200)
        .unwrap_or(7 * DAY_MS),
    };
    let buckets = (bucket_start(to - 1, ms) - bucket_start(from, ms)) / ms + 1;
    if buckets > MAX_BUCKETS {
        return Err(QueryError::BadRequest(format!(
            "interval too small: {buckets} buckets, at most {MAX_BUCKETS}"
        )));
    }
    Ok(ms)
}

/// Buckets are aligned on multiples of their width since the Unix epoch (UTC), so the same
/// instant always falls in the same bucket whatever the range asked.
pub fn bucket_start(ms: i64, interval: i64) -> i64 {
    ms.div_euclid(interval) * interval
}

/// The UTC date (`YYYY-MM-DD`) of Unix milliseconds: the `date` partition value.
pub fn utc_date(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY_MS));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to a proleptic Gregorian date.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m as u32, d as u32)
}

/// The `date` partitions to read for rows whose own time is in `[from, to)`. One day of margin
/// each side: a row's partition is the date of its conference's start, which may be the day
/// before its own time (a call over midnight).
pub fn partition_dates(from: i64, to: i64) -> (String, String) {
    (utc_date(from - DAY_MS), utc_date(to + DAY_MS))
}

/// The `date` partitions to read for rows whose time is in `[from, to)` (`from < to`), for tables
/// whose partition is by definition the UTC date of that very time, no margin: `conferences`
/// (`date` = date of `start_time`) and the per-message tables placed by `received_at` (`events`,
/// `errors`, `feedback`). The processor writes both from the same instant (docs/processor.md,
/// "Output layout"). Not for `fabrics`, `user_quality` (client times, partition of their
/// conference's start) nor `track_quality` (placed by `interval_start`).
pub fn exact_partition_dates(from: i64, to: i64) -> (String, String) {
    (utc_date(from), utc_date(to.max(from.saturating_add(1)) - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Some(90_000));
        assert_eq!(parse_duration("5m"), Some(300_000));
        assert_eq!(parse_duration("1h"), Some(3_600_000));
        assert_eq!(parse_duration("2d"), Some(2 * DAY_MS));
        assert_eq!(parse_duration("250ms"), Some(250));
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("1w"), None);
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn instants() {
        let now = 1_700_000_000_000;
        assert_eq!(parse_instant("now", now), Some(now));
        assert_eq!(parse_instant("-24h", now), Some(now - DAY_MS));
        assert_eq!(parse_instant("1700000000000", now), Some(now));
        assert_eq!(
            parse_instant("2023-11-14T22:13:20Z", now),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            parse_instant("2023-11-14T23:13:20+01:00", now),
            Some(1_700_000_000_000)
        );
        assert_eq!(parse_instant("yesterday", now), None);
    }

    #[test]
    fn ranges() {
        let now = 10 * DAY_MS;
        assert_eq!(parse_range(None, None, now).unwrap(), (9 * DAY_MS, now));
        assert!(parse_range(Some("5"), Some("5"), now).is_err());
        assert!(parse_range(Some("0"), Some(&(500 * DAY_MS).to_string()), now).is_err());
        assert!(parse_range(Some("x"), None, now).is_err());
    }

    #[test]
    fn intervals() {
        assert_eq!(choose_interval(None, 0, DAY_MS).unwrap(), 15 * MINUTE_MS);
        assert_eq!(choose_interval(None, 0, HOUR_MS).unwrap(), MINUTE_MS);
        assert_eq!(choose_interval(Some("1h"), 0, DAY_MS).unwrap(), HOUR_MS);
        assert!(choose_interval(Some("1s"), 0, DAY_MS).is_err());
        assert!(choose_interval(Some("soon"), 0, DAY_MS).is_err());
        assert_eq!(bucket_start(3_599_999, HOUR_MS), 0);
        assert_eq!(bucket_start(3_600_000, HOUR_MS), HOUR_MS);
    }

    #[test]
    fn utc_dates_by_hand() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(1_700_000_000_000), "2023-11-14");
        assert_eq!(utc_date(19_782 * DAY_MS), "2024-02-29");
        assert_eq!(utc_date(19_782 * DAY_MS - 1), "2024-02-28");
        assert_eq!(utc_date(-1), "1969-12-31");
        assert_eq!(
            partition_dates(19_782 * DAY_MS, 19_783 * DAY_MS),
            ("2024-02-28".to_owned(), "2024-03-02".to_owned())
        );
        // One UTC day is one partition; `to` is exclusive.
        assert_eq!(
            exact_partition_dates(19_782 * DAY_MS, 19_783 * DAY_MS),
            ("2024-02-29".to_owned(), "2024-02-29".to_owned())
        );
        assert_eq!(
            exact_partition_dates(19_782 * DAY_MS - 1, 19_783 * DAY_MS + 1),
            ("2024-02-28".to_owned(), "2024-03-01".to_owned())
        );
    }
}
