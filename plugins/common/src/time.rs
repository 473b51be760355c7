//! Epoch time ↔ ISO-8601 UTC text, over 1970-01-01..=9999-12-31: what
//! plugins write into date fields (so OpenSearch maps them as `date`) and
//! what the host reads back for date-patterned index names.

/// The civil date `(year, month, day)` of a day count from 1970-01-01
/// (proleptic Gregorian): Howard Hinnant's `civil_from_days`, exact for every
/// day of 1970..=9999 (and far beyond).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The largest epoch-millisecond value accepted: 9999-12-31T23:59:59.999Z.
/// Larger values cannot be written as a four-digit-year ISO-8601 date.
pub const MAX_EPOCH_MS: i64 = 253_402_300_799_999;

/// Format milliseconds since the Unix epoch as ISO-8601 UTC with
/// milliseconds (`2019-12-13T23:40:12.771Z`), the form OpenSearch's dynamic
/// date detection maps as `date`. `None` outside 1970-01-01..=9999-12-31.
pub fn epoch_ms_to_iso(ms: i64) -> Option<String> {
    let mut out = String::with_capacity(ISO_MS_LEN);
    push_epoch_ms_iso(&mut out, ms).then_some(out)
}

/// The length of [`epoch_ms_to_iso`]'s text.
pub const ISO_MS_LEN: usize = 24;

/// [`epoch_ms_to_iso`], appended to `out` without an allocation of its own
/// (digits written directly: `format!` took about 5 % of the host's CPU
/// time inside the WAF plugin at full rate). `false`, and `out` unchanged,
/// outside 1970-01-01..=9999-12-31.
pub fn push_epoch_ms_iso(out: &mut String, ms: i64) -> bool {
    if !(0..=MAX_EPOCH_MS).contains(&ms) {
        return false;
    }
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000) as u32;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400) as u32;
    let mut b = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut v: u32| {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y as u32);
    put(5, 2, mo);
    put(8, 2, d);
    put(11, 2, sod / 3600);
    put(14, 2, sod % 3600 / 60);
    put(17, 2, sod % 60);
    put(20, 3, millis);
    out.extend(b.iter().map(|&c| c as char));
    true
}

/// Format seconds since the Unix epoch as ISO-8601 UTC (`2014-10-21T21:24:44Z`).
/// `None` outside 1970-01-01..=9999-12-31.
pub fn epoch_seconds_to_iso(secs: i64) -> Option<String> {
    let mut iso = epoch_ms_to_iso(secs.checked_mul(1000)?)?;
    // drop the ".000" of whole seconds
    iso.truncate(ISO_MS_LEN - 5);
    iso.push('Z');
    Some(iso)
}

/// Days from 1970-01-01 to the civil date `y-m-d` (proleptic Gregorian);
/// the inverse of [`civil_from_days`] (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 }); // [0, 11]
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// Whether `y` is a Gregorian leap year.
pub fn is_leap_year(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Read exactly `N` ASCII digits at `at` as a number.
fn digits<const N: usize>(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + N)?;
    s.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// Parse an RFC 3339 / ISO-8601 UTC-or-offset timestamp into milliseconds
/// since the Unix epoch: `2014-03-06T17:10:34Z`,
/// `2020-05-08T03:41:48.614Z`, `2021-02-04T17:51:55.123456+02:00`.
///
/// Accepted: a four-digit year, `T`/`t` or a space between date and time, an
/// optional fraction of any length (truncated to milliseconds), and `Z`/`z` or
/// a `±HH:MM` offset. The date must exist (leap years checked); seconds are
/// `00`–`59` (no leap second). `None` for anything else, and for instants
/// outside 1970-01-01T00:00:00Z..=9999-12-31T23:59:59.999Z (the range
/// [`epoch_ms_to_iso`] can write back).
pub fn iso_to_epoch_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let year = digits::<4>(b, 0)?;
    let month = digits::<2>(b, 5)?;
    let day = digits::<2>(b, 8)?;
    let hour = digits::<2>(b, 11)?;
    let minute = digits::<2>(b, 14)?;
    let second = digits::<2>(b, 17)?;
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    let year = i64::from(year);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > month_days || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut at = 19;
    let mut millis = 0i64;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            if at - start < 3 {
                millis = millis * 10 + i64::from(b[at] - b'0');
            }
            at += 1;
        }
        match at - start {
            0 => return None,
            1 => millis *= 100,
            2 => millis *= 10,
            _ => {}
        }
    }
    let offset_minutes = match b.get(at..)? {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let oh = digits::<2>(&[*h1, *h2], 0)?;
            let om = digits::<2>(&[*m1, *m2], 0)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let minutes = i64::from(oh * 60 + om);
            if *sign == b'-' { -minutes } else { minutes }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_minutes * 60;
    let ms = secs * 1000 + millis;
    (0..=MAX_EPOCH_MS).contains(&ms).then_some(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_from_epoch_ms() {
        assert_eq!(epoch_ms_to_iso(0).unwrap(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            epoch_ms_to_iso(1_576_280_412_771).unwrap(),
            "2019-12-13T23:40:12.771Z"
        );
        // leap day
        assert_eq!(
            epoch_ms_to_iso(951_782_400_000).unwrap(),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            epoch_ms_to_iso(MAX_EPOCH_MS).unwrap(),
            "9999-12-31T23:59:59.999Z"
        );
        assert_eq!(epoch_ms_to_iso(MAX_EPOCH_MS + 1), None);
        assert_eq!(epoch_ms_to_iso(-1), None);
    }

    #[test]
    fn iso_matches_a_day_by_day_walk() {
        // Walk day by day over 1970..2100 with a naive calendar and compare.
        let (mut y, mut m, mut d) = (1970i64, 1u32, 1u32);
        for day in 0..(130 * 366) {
            let expect = format!("{y:04}-{m:02}-{d:02}T00:00:00.000Z");
            assert_eq!(epoch_ms_to_iso(day * 86_400_000).unwrap(), expect);
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ][m as usize - 1];
            d += 1;
            if d > len {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }

    #[test]
    fn iso_from_epoch_seconds() {
        assert_eq!(
            epoch_seconds_to_iso(1_418_530_010).unwrap(),
            "2014-12-14T04:06:50Z"
        );
        assert_eq!(epoch_seconds_to_iso(i64::MAX), None);
    }

    #[test]
    fn iso_to_epoch_ms_parses_rfc3339() {
        assert_eq!(iso_to_epoch_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            iso_to_epoch_ms("2019-12-13T23:40:12.771Z"),
            Some(1_576_280_412_771)
        );
        assert_eq!(
            iso_to_epoch_ms("2014-12-14T04:06:50Z"),
            Some(1_418_530_010_000)
        );
        // fractions of any length, truncated to ms
        assert_eq!(iso_to_epoch_ms("1970-01-01T00:00:01.5Z"), Some(1_500));
        assert_eq!(iso_to_epoch_ms("1970-01-01T00:00:01.05Z"), Some(1_050));
        assert_eq!(
            iso_to_epoch_ms("1970-01-01T00:00:01.123999999Z"),
            Some(1_123)
        );
        // offsets, lowercase and space separators
        assert_eq!(iso_to_epoch_ms("1970-01-01T02:00:00+02:00"), Some(0));
        assert_eq!(iso_to_epoch_ms("1969-12-31T23:30:00-00:30"), Some(0));
        assert_eq!(iso_to_epoch_ms("1970-01-01t00:00:00z"), Some(0));
        assert_eq!(iso_to_epoch_ms("1970-01-01 00:00:00Z"), Some(0));
        // leap days
        assert_eq!(
            iso_to_epoch_ms("2000-02-29T00:00:00Z"),
            Some(951_782_400_000)
        );
        assert_eq!(iso_to_epoch_ms("1900-02-29T00:00:00Z"), None);
        assert_eq!(iso_to_epoch_ms("2023-02-29T00:00:00Z"), None);
        assert_eq!(
            iso_to_epoch_ms("9999-12-31T23:59:59.999Z"),
            Some(MAX_EPOCH_MS)
        );
    }

    #[test]
    fn iso_to_epoch_ms_refuses_the_rest() {
        for bad in [
            "",
            "2014-03-06",
            "2014-03-06T17:10:34",
            "2014-03-06T17:10:34+0200",
            "2014-03-06T17:10:34.Z",
            "2014-03-06T17:10:34ZZ",
            "2014-03-06T17:10:34Z ",
            "2014-13-06T17:10:34Z",
            "2014-00-06T17:10:34Z",
            "2014-04-31T17:10:34Z",
            "2014-03-00T17:10:34Z",
            "2014-03-06T24:00:00Z",
            "2014-03-06T23:60:00Z",
            "2014-03-06T23:59:60Z",
            "2014-03-06T23:59:59+24:00",
            "2025-10-21TT00:52:27Z",
            "+2014-03-06T17:10:34Z",
            "14-03-06T17:10:34Z",
            "1969-12-31T23:59:59.999Z",
            "1970-01-01T00:00:00+00:01",
            "Mar 24, 2014 9:11:59 PM",
            "２０１４-03-06T17:10:34Z",
        ] {
            assert_eq!(iso_to_epoch_ms(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn epoch_ms_to_iso_writes_what_format_would() {
        let reference = |ms: i64| {
            let secs = ms.div_euclid(1000);
            let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
            let sod = secs.rem_euclid(86_400);
            format!(
                "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
                sod / 3600,
                (sod % 3600) / 60,
                sod % 60,
                ms.rem_euclid(1000)
            )
        };
        let mut ms = 0i64;
        while ms <= MAX_EPOCH_MS {
            assert_eq!(epoch_ms_to_iso(ms).unwrap(), reference(ms), "{ms}");
            ms += 86_399_999 * 7 + 12_345;
        }
        let mut out = "x".to_string();
        assert!(!push_epoch_ms_iso(&mut out, -1));
        assert_eq!(out, "x");
        assert!(push_epoch_ms_iso(&mut out, MAX_EPOCH_MS));
        assert_eq!(out, "x9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn iso_round_trips_with_epoch_ms_to_iso() {
        // every day of 1970..2100 at a varying time of day, plus the edges
        for day in 0..(130 * 366) {
            let ms = day * 86_400_000 + (day * 7_919_123) % 86_400_000;
            let iso = epoch_ms_to_iso(ms).unwrap();
            assert_eq!(iso_to_epoch_ms(&iso), Some(ms), "{iso}");
        }
        for ms in [0, 1, 999, MAX_EPOCH_MS - 1, MAX_EPOCH_MS] {
            assert_eq!(iso_to_epoch_ms(&epoch_ms_to_iso(ms).unwrap()), Some(ms));
        }
        let s = epoch_seconds_to_iso(1_418_530_010).unwrap();
        assert_eq!(iso_to_epoch_ms(&s), Some(1_418_530_010_000));
    }
}
