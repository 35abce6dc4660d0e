//! Timestamps: stored as Unix milliseconds, shown as RFC 3339 UTC.

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// Formats Unix milliseconds as RFC 3339 UTC with second precision: `2026-11-24T10:00:00Z`.
pub fn rfc3339(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Reads what [`rfc3339`] writes, `2026-11-24T10:00:00Z` (UTC, second precision), back into
/// Unix milliseconds; anything else is `None`. A day past its month's end counts on into the
/// next (`2026-02-30` is 2 March), as a filter's bound may.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let shape_ok = b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        });
    if !shape_ok {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text[range].parse::<i64>().ok();
    let (y, m, d) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hh, mm, ss) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    let days = days_from_civil(y, m as u32, d as u32);
    Some(((days * 86_400) + hh * 3_600 + mm * 60 + ss) * 1000)
}

/// (year, month, day) in the proleptic Gregorian calendar to days since 1970-01-01 (Howard
/// Hinnant's `days_from_civil`, the inverse of [`civil_from_days`]).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A duration in words for a person, in the largest unit that states it exactly:
/// `15 minutes`, `30 days`, `1 hour`, `90 seconds`.
pub fn spoken_duration(seconds: u32) -> String {
    let (n, unit) = [(86_400, "day"), (3_600, "hour"), (60, "minute")]
        .into_iter()
        .find(|(size, _)| seconds >= *size && seconds.is_multiple_of(*size))
        .map_or((seconds, "second"), |(size, unit)| (seconds / size, unit));
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `seconds`, rounded up to whole minutes, in words, for "try again in …": `1 minute`,
/// `15 minutes` (never `0 minutes`).
pub fn minutes_rounded_up(seconds: u64) -> String {
    let minutes = seconds.div_ceil(60).max(1);
    format!("{minutes} minute{}", if minutes == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_hints_round_up_to_whole_minutes() {
        assert_eq!(minutes_rounded_up(0), "1 minute");
        assert_eq!(minutes_rounded_up(60), "1 minute");
        assert_eq!(minutes_rounded_up(61), "2 minutes");
        assert_eq!(minutes_rounded_up(900), "15 minutes");
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000_123), "2026-11-18T11:06:40Z");
        assert_eq!(rfc3339(-1000), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn reads_back_what_it_writes() {
        for ms in [
            0,
            951_782_400_000,
            1_795_000_000_000,
            -1000,
            4_102_444_799_000,
        ] {
            assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms), "{ms}");
        }
        for bad in [
            "",
            "2026-11-18",
            "2026-11-18T11:06:40",
            "2026-11-18T11:06:40+00:00",
            "2026-11-18 11:06:40Z",
            "2026-13-01T00:00:00Z",
            "2026-02-32T00:00:00Z",
            "2026-00-10T00:00:00Z",
            "2026-01-10T24:00:00Z",
            "2026-01-10T23:60:00Z",
            "+026-01-10T23:00:00Z",
            "2026-01-10T23:00:00.5Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(
            parse_rfc3339("2028-02-29T00:00:00Z")
                .map(rfc3339)
                .as_deref(),
            Some("2028-02-29T00:00:00Z")
        );
        assert_eq!(
            parse_rfc3339("2026-02-30T00:00:00Z")
                .map(rfc3339)
                .as_deref(),
            Some("2026-03-02T00:00:00Z")
        );
    }

    #[test]
    fn durations_are_spoken_in_the_largest_exact_unit() {
        assert_eq!(spoken_duration(900), "15 minutes");
        assert_eq!(spoken_duration(30 * 86_400), "30 days");
        assert_eq!(spoken_duration(86_400), "1 day");
        assert_eq!(spoken_duration(3_600), "1 hour");
        assert_eq!(spoken_duration(5_400), "90 minutes");
        assert_eq!(spoken_duration(90), "90 seconds");
        assert_eq!(spoken_duration(60), "1 minute");
        assert_eq!(spoken_duration(5), "5 seconds");
        assert_eq!(spoken_duration(1), "1 second");
        assert_eq!(spoken_duration(0), "0 seconds");
    }
}
