//! Amounts parsed straight to minor units: the common case of
//! [`Money::parse_field`](super::Money::parse_field), without a detour through `Decimal`.

/// The common case of [`Money::parse_field`](super::Money::parse_field) without a detour through `Decimal`: an optional
/// sign, at most 18 digits and no more decimals than the currency has. `None` for anything
/// else, which the exact path then accepts or refuses with its error.
pub(super) fn parse_minor_units(input: &str, exponent: u32) -> Option<i64> {
    let unsigned = input.strip_prefix(['+', '-']).unwrap_or(input);
    let negative = input.starts_with('-');
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let exponent = exponent as usize;
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || whole.len() + exponent > 18
        || fraction.len() > exponent
        || (unsigned.contains('.') && fraction.is_empty())
        || !digits(whole)
        || !digits(fraction)
    {
        return None;
    }
    let mut minor: i64 = 0;
    for b in whole.bytes().chain(fraction.bytes()) {
        minor = minor * 10 + i64::from(b - b'0');
    }
    minor *= 10i64.pow((exponent - fraction.len()) as u32);
    Some(if negative { -minor } else { minor })
}
