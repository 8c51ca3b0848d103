//! The calendar date and time now, in UTC, as Frappe writes them (no time-zone crate: the
//! tool only ever needs UTC).

/// Today's date in UTC, `YYYY-MM-DD`.
pub fn today_utc() -> String {
    let (y, m, d) = civil_from_days((unix_seconds() / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Now, UTC, RFC 3339 to the second.
pub fn now_utc() -> String {
    let secs = unix_seconds();
    let rem = secs % 86_400;
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        today_from(secs),
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn today_from(secs: u64) -> String {
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_from_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_429), (2025, 12, 7));
        assert_eq!(civil_from_days(20_794), (2026, 12, 7));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(today_from(20_794 * 86_400 + 5), "2026-12-07");
    }

    #[test]
    fn now_is_rfc3339_to_the_second() {
        let now = now_utc();
        assert_eq!(
            (now.len(), &now[10..11], &now[19..]),
            (20, "T", "Z"),
            "{now}"
        );
    }
}
