//! Date-times in instance events, as milliseconds since the Unix epoch.
//!
//! A state event's `eventDate` is a `java.util.Date` written by the runtime's Jackson mapper with
//! `StdDateFormat().withColonInTimeZone(true)` (`2026-03-02T10:15:30.123+00:00`), or as epoch
//! milliseconds by mappers without that format (`1698332756677`); the Data Index reads both, so
//! this does too, plus the other ISO-8601 spellings Jackson writes (`Z`, `+0000`, `+00`, no
//! fraction, more than three fraction digits). Dates from the binary encoding are already epoch
//! milliseconds.

/// Epoch milliseconds of an ISO-8601 date-time with an offset (`Z` or `±HH[:MM]`); `None`
/// when it is not one.
pub fn parse_millis(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let digits = |from: usize, n: usize| -> Option<i64> {
        let part = b.get(from..from + n)?;
        part.iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let year = digits(0, 4)?;
    let month = digits(5, 2)?;
    let day = digits(8, 2)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let hour = digits(11, 2)?;
    let minute = digits(14, 2)?;
    if b.get(13) != Some(&b':') {
        return None;
    }
    let mut at = 16;
    let mut second = 0;
    let mut millis = 0;
    if b.get(at) == Some(&b':') {
        second = digits(at + 1, 2)?;
        at += 3;
        if matches!(b.get(at), Some(b'.' | b',')) {
            at += 1;
            let start = at;
            while b.get(at).is_some_and(u8::is_ascii_digit) {
                if at - start < 3 {
                    millis = millis * 10 + i64::from(b[at] - b'0');
                }
                at += 1;
            }
            let n = at - start;
            if n == 0 {
                return None;
            }
            for _ in n..3 {
                millis *= 10;
            }
        }
    }
    let offset_minutes = match b.get(at) {
        Some(b'Z' | b'z') if at + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let hours = digits(at + 1, 2)?;
            let minutes = match b.len() - (at + 3) {
                0 => 0,
                2 => digits(at + 3, 2)?,
                3 if b[at + 3] == b':' => digits(at + 4, 2)?,
                _ => return None,
            };
            if hours > 18 || minutes > 59 {
                return None;
            }
            let total = hours * 60 + minutes;
            if sign == b'-' { -total } else { total }
        }
        _ => return None,
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [
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
    ];
    if !(1..=12).contains(&month)
        || day < 1
        || day > month_days[(month - 1) as usize]
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse_millis;

    #[test]
    fn jackson_spellings_of_one_instant_agree() {
        // 2026-03-02T10:15:30.118Z
        let expected = Some(1_772_446_530_118);
        for text in [
            "2026-03-02T10:15:30.118+00:00",
            "2026-03-02T10:15:30.118Z",
            "2026-03-02T10:15:30.118+0000",
            "2026-03-02T10:15:30.118+00",
            "2026-03-02T12:15:30.118+02:00",
            "2026-03-02T00:15:30.118-10:00",
            "2026-03-02T10:15:30.118456789Z",
        ] {
            assert_eq!(parse_millis(text), expected, "{text}");
        }
        assert_eq!(
            parse_millis("2022-03-18T15:33:05.608395+10:00"),
            Some(1_647_581_585_608)
        );
        assert_eq!(parse_millis("1970-01-01T00:00Z"), Some(0));
        assert_eq!(parse_millis("2000-02-29T00:00:00Z"), Some(951_782_400_000));
    }

    #[test]
    fn what_is_not_a_date_time_is_none() {
        for text in [
            "",
            "yesterday",
            "2026-03-02",
            "2026-03-02T10:15:30",
            "2026-13-02T10:15:30Z",
            "2026-02-30T10:15:30Z",
            "2026-03-02T24:00:00Z",
            "2026-03-02T10:15:30.Z",
            "2026-03-02T10:15:30Zjunk",
            "2026-03-02T10:15:30+1",
            "２０２６-03-02T10:15:30Z",
        ] {
            assert_eq!(parse_millis(text), None, "{text}");
        }
    }
}
