//! RFC 3339 timestamps of the stored document (`priced_at`), written and read without the
//! general-purpose formatter and parser for the one form this crate writes
//! (`2024-05-01T12:30:00.123456789Z`, UTC, trailing zeros of the fraction dropped): every line of
//! every stored cart carries one, and a cart is read and written on every request. Anything else
//! goes through `time`'s RFC 3339 parser and formatter, so both paths read and write the same text.

use serde::{Deserialize, Deserializer, Serializer};
use std::borrow::Cow;
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Now, to the second: the time a line's catalogue price is taken. A price's age is told in
/// seconds and more, and the fraction would take ten more bytes on every line of every write.
pub(crate) fn now_to_the_second() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

/// The longest text the fast path writes: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
pub(crate) const MAX_LEN: usize = 30;

/// Writes `at` as RFC 3339 into `buffer`; `None` when the fast path does not cover it.
fn format_utc(at: OffsetDateTime, buffer: &mut [u8; MAX_LEN]) -> Option<&str> {
    // Every line of a stored cart has a time, so this runs per line on every write: the date
    // and the time of day are taken apart once each, and digits written in pairs.
    let (year, month, day) = at.to_calendar_date();
    if at.offset() != UtcOffset::UTC || !(0..10_000).contains(&year) {
        return None;
    }
    let (hour, minute, second, nanos) = at.to_hms_nano();
    let year = year as u32;
    let two_digits = |buffer: &mut [u8; MAX_LEN], at: usize, value: u32| {
        buffer[at] = b'0' + (value / 10) as u8;
        buffer[at + 1] = b'0' + (value % 10) as u8;
    };
    // `YYYY-MM-DDTHH:MM:SS` has every field at a fixed place.
    buffer[..19].copy_from_slice(b"0000-00-00T00:00:00");
    two_digits(buffer, 0, year / 100);
    two_digits(buffer, 2, year % 100);
    two_digits(buffer, 5, u8::from(month).into());
    two_digits(buffer, 8, day.into());
    two_digits(buffer, 11, hour.into());
    two_digits(buffer, 14, minute.into());
    two_digits(buffer, 17, second.into());
    let mut len = 19;
    if nanos != 0 {
        buffer[len] = b'.';
        len += 1;
        let (mut digits, mut fraction) = (9, nanos);
        while fraction % 10 == 0 {
            fraction /= 10;
            digits -= 1;
        }
        for position in (0..digits).rev() {
            buffer[len + position] = b'0' + (fraction % 10) as u8;
            fraction /= 10;
        }
        len += digits;
    }
    buffer[len] = b'Z';
    len += 1;
    std::str::from_utf8(&buffer[..len]).ok()
}

/// Reads the form [`format_utc`] writes; `None` for any other text (which may still be valid).
fn parse_utc(text: &str) -> Option<OffsetDateTime> {
    let bytes = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = bytes.get(range)?;
        digits.iter().try_fold(0u32, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
        })
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if bytes.len() < 20 || separators.iter().any(|&(at, b)| bytes[at] != b) {
        return None;
    }
    let nanos = match (bytes[19], bytes.last()) {
        (b'Z', _) if bytes.len() == 20 => 0,
        (b'.', Some(b'Z')) if (22..=30).contains(&bytes.len()) => {
            let digits = bytes.len() - 21;
            number(20..20 + digits)? * 10u32.pow(9 - digits as u32)
        }
        _ => return None,
    };
    let second = number(17..19)?;
    // A leap second is read by the general parser, which knows what to make of it.
    if second > 59 {
        return None;
    }
    let month = Month::try_from(u8::try_from(number(5..7)?).ok()?).ok()?;
    let date = Date::from_calendar_date(number(0..4)? as i32, month, number(8..10)? as u8).ok()?;
    let time = Time::from_hms_nano(
        number(11..13)? as u8,
        number(14..16)? as u8,
        second as u8,
        nanos,
    )
    .ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

/// `at` as RFC 3339 text: written into `buffer` by the fast path, formatted by `time` when the
/// fast path does not cover it.
pub(crate) fn rfc3339(
    at: OffsetDateTime,
    buffer: &mut [u8; MAX_LEN],
) -> Result<Cow<'_, str>, time::error::Format> {
    match format_utc(at, buffer) {
        Some(text) => Ok(Cow::Borrowed(text)),
        None => at.format(&Rfc3339).map(Cow::Owned),
    }
}

/// Serializes an optional timestamp as RFC 3339 text (for `#[serde(serialize_with)]`).
pub(crate) fn serialize_option<S: Serializer>(
    at: &Option<OffsetDateTime>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let Some(at) = *at else {
        return serializer.serialize_none();
    };
    let mut buffer = [0u8; MAX_LEN];
    let text = rfc3339(at, &mut buffer).map_err(serde::ser::Error::custom)?;
    serializer.serialize_some(&*text)
}

/// Reads an optional RFC 3339 timestamp (for `#[serde(deserialize_with)]`).
pub(crate) fn deserialize_option<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<OffsetDateTime>, D::Error> {
    let Some(text) = Option::<Cow<'de, str>>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if let Some(at) = parse_utc(&text) {
        return Ok(Some(at));
    }
    OffsetDateTime::parse(&text, &Rfc3339)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn general(at: OffsetDateTime) -> String {
        at.format(&Rfc3339).unwrap()
    }

    #[test]
    fn the_fast_paths_write_and_read_what_time_does() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut samples = vec![
            time::macros::datetime!(2024-05-01 12:30:00.123456789 UTC),
            time::macros::datetime!(2024-02-29 23:59:59.1 UTC),
            time::macros::datetime!(0000-01-01 00:00:00 UTC),
            time::macros::datetime!(9999-12-31 23:59:59.999999999 UTC),
            time::macros::datetime!(2026-12-02 18:00:00.000001 UTC),
        ];
        for _ in 0..10_000 {
            let seconds = (next() % 253_402_300_799) as i64;
            let nanos = match next() % 4 {
                0 => 0,
                1 => (next() % 1_000) as i64 * 1_000_000,
                2 => (next() % 1_000_000) as i64 * 1_000,
                _ => (next() % 1_000_000_000) as i64,
            };
            samples.push(
                OffsetDateTime::from_unix_timestamp_nanos(
                    i128::from(seconds) * 1_000_000_000 + i128::from(nanos),
                )
                .unwrap(),
            );
        }
        for at in samples {
            let mut buffer = [0u8; MAX_LEN];
            let text = format_utc(at, &mut buffer).expect("a UTC timestamp");
            assert_eq!(text, general(at));
            assert_eq!(parse_utc(text), Some(at), "{text}");
        }
    }

    #[test]
    fn other_forms_fall_back_to_the_general_parser() {
        for text in [
            "2024-05-01T14:30:00+02:00",
            "2024-05-01t12:30:00z",
            "2016-12-31T23:59:60Z",
            "2024-05-01T12:30:00.1234567890Z",
        ] {
            assert_eq!(parse_utc(text), None, "{text}");
        }
        for bad in [
            "2024-02-30T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-05-01T24:00:00Z",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad}");
            assert!(OffsetDateTime::parse(bad, &Rfc3339).is_err(), "{bad}");
        }
        let offset = time::macros::datetime!(2024-05-01 14:30:00 +02:00);
        let mut buffer = [0u8; MAX_LEN];
        assert_eq!(format_utc(offset, &mut buffer), None);
    }
}
