//! Condition values: parsing `-10%`, `+5.00`, `*1.5` and `/2`, and applying them to an amount
//! with exact arithmetic.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::currency::Currency;
use super::error::Error;
use super::money::{Money, RoundingMode, parse_plain_decimal, truncate_for_message};

/// A parsed condition value.
///
/// Syntax: a trailing `%` is a signed percentage (`-10%`, `+12.5%`, `10%` = +10%); otherwise a
/// leading `+`, `-`, `*` or `/` is the operator and no operator means `+`. Fixed amounts are in
/// major units (`+5.00` is five dollars in a USD cart).
///
/// ```
/// use axum_cart::cart::ConditionValue;
/// let v: ConditionValue = "-10%".parse().unwrap();
/// assert_eq!(v.to_string(), "-10%");
/// assert!("/0".parse::<ConditionValue>().is_err());
/// assert!("NaN".parse::<ConditionValue>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConditionValue {
    /// Add this signed percentage of the base.
    Percent(Decimal),
    /// Add this signed fixed amount, in major units.
    Amount(Decimal),
    /// Multiply the base.
    Multiply(Decimal),
    /// Divide the base (never by zero).
    Divide(Decimal),
}

impl ConditionValue {
    /// Parses a value such as `-10%`, `+5.00`, `*1.5` or `/2`, naming `field` in its errors.
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] naming `field` when the text is not a value of this syntax, has two
    /// operators, or divides by zero.
    pub fn parse_field(input: &str, field: &str) -> Result<ConditionValue, Error> {
        if let Some(percent) = input.strip_suffix('%') {
            return Ok(ConditionValue::Percent(parse_plain_decimal(
                percent, field,
            )?));
        }
        let unsigned_operand = |rest: &str| {
            if rest.starts_with(['+', '-']) {
                Err(Error::validation(
                    field,
                    format!("`{}` has two operators", truncate_for_message(input)),
                ))
            } else {
                parse_plain_decimal(rest, field)
            }
        };
        if let Some(rest) = input.strip_prefix('*') {
            return Ok(ConditionValue::Multiply(unsigned_operand(rest)?));
        }
        if let Some(rest) = input.strip_prefix('/') {
            let divisor = unsigned_operand(rest)?;
            if divisor.is_zero() {
                return Err(Error::validation(field, "division by zero"));
            }
            return Ok(ConditionValue::Divide(divisor));
        }
        Ok(ConditionValue::Amount(parse_plain_decimal(input, field)?))
    }

    /// Returns `true` when the value lowers the amount it applies to, as a discount does.
    pub fn is_reduction(&self) -> bool {
        match *self {
            ConditionValue::Percent(p) | ConditionValue::Amount(p) => p.is_sign_negative(),
            ConditionValue::Multiply(m) => m < Decimal::ONE,
            ConditionValue::Divide(d) => d > Decimal::ONE,
        }
    }

    /// The same value with a minus sign forced on it (for discounts).
    pub(crate) fn as_reduction(self, field: &str) -> Result<ConditionValue, Error> {
        match self {
            ConditionValue::Percent(p) => Ok(ConditionValue::Percent(-p.abs())),
            ConditionValue::Amount(a) => Ok(ConditionValue::Amount(-a.abs())),
            ConditionValue::Multiply(_) | ConditionValue::Divide(_) => Err(Error::validation(
                field,
                "a discount is a percentage or an amount, not a multiplier",
            )),
        }
    }

    /// Checks a fixed amount against the cart's currency (no more decimals than it has).
    pub(crate) fn check_currency(&self, currency: Currency, field: &str) -> Result<(), Error> {
        if let ConditionValue::Amount(amount) = self {
            Money::from_decimal_exact(*amount, currency, field)?;
        }
        Ok(())
    }

    /// Applies the value to `base`; the result is rounded with `mode` and never below zero.
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] when a fixed amount has more decimals than the currency of `base`,
    /// and [`Error::Overflow`] when the result does not fit in 64-bit minor units.
    pub fn apply(&self, base: Money, mode: RoundingMode) -> Result<Money, Error> {
        let currency = base.currency();
        if let ConditionValue::Amount(amount) = *self {
            let amount = Money::from_decimal_exact(amount, currency, "value")?;
            return Ok(base.checked_add(amount)?.at_least_zero());
        }
        let result = match self.apply_integer(base.minor_units(), mode) {
            Some(minor) => {
                let minor = i64::try_from(minor).map_err(|_| Error::overflow("value"))?;
                Money::from_minor(minor, currency)
            }
            None => self.apply_decimal(base, mode)?,
        };
        Ok(result.at_least_zero())
    }

    /// The exact result as `numerator / denominator` in minor units, rounded once. Integer
    /// arithmetic on i128 is exact and much cheaper than decimal arithmetic; `None` when an
    /// intermediate value does not fit, and then [`Self::apply_decimal`] takes over.
    fn apply_integer(&self, minor: i64, mode: RoundingMode) -> Option<i128> {
        let minor = i128::from(minor);
        let parts = |d: Decimal| (d.mantissa(), 10i128.checked_pow(d.scale()));
        let (numerator, denominator) = match *self {
            ConditionValue::Percent(percent) => {
                let (mantissa, scale) = parts(percent);
                let scale = scale?;
                let factor = scale.checked_mul(100)?.checked_add(mantissa)?;
                (minor.checked_mul(factor)?, scale.checked_mul(100)?)
            }
            ConditionValue::Multiply(factor) => {
                let (mantissa, scale) = parts(factor);
                (minor.checked_mul(mantissa)?, scale?)
            }
            ConditionValue::Divide(divisor) => {
                let (mantissa, scale) = parts(divisor);
                (minor.checked_mul(scale?)?, mantissa)
            }
            ConditionValue::Amount(_) => return None,
        };
        divide_rounded(numerator, denominator, mode)
    }

    fn apply_decimal(&self, base: Money, mode: RoundingMode) -> Result<Money, Error> {
        let currency = base.currency();
        let minor = Decimal::from(base.minor_units());
        let overflow = || Error::overflow("value");
        let exact = match *self {
            ConditionValue::Percent(percent) => {
                let factor = Decimal::ONE_HUNDRED
                    .checked_add(percent)
                    .ok_or_else(overflow)?;
                minor
                    .checked_mul(factor)
                    .and_then(|m| m.checked_div(Decimal::ONE_HUNDRED))
                    .ok_or_else(overflow)?
            }
            ConditionValue::Multiply(factor) => minor.checked_mul(factor).ok_or_else(overflow)?,
            ConditionValue::Divide(divisor) => minor.checked_div(divisor).ok_or_else(overflow)?,
            ConditionValue::Amount(_) => unreachable_amount()?,
        };
        Money::from_minor_decimal(exact, currency, mode, "value")
    }
}

fn unreachable_amount() -> Result<Decimal, Error> {
    Err(Error::validation(
        "value",
        "a fixed amount is added, not scaled",
    ))
}

/// `numerator / denominator` rounded to a whole number with `mode`; `None` for a zero denominator.
fn divide_rounded(numerator: i128, denominator: i128, mode: RoundingMode) -> Option<i128> {
    if denominator == 0 {
        return None;
    }
    let (numerator, denominator) = if denominator < 0 {
        (numerator.checked_neg()?, denominator.checked_neg()?)
    } else {
        (numerator, denominator)
    };
    let quotient = numerator / denominator;
    let remainder = numerator % denominator;
    if remainder == 0 {
        return Some(quotient);
    }
    // Away from zero is the direction of the numerator's sign.
    let away = if numerator < 0 {
        quotient - 1
    } else {
        quotient + 1
    };
    let twice = remainder.unsigned_abs() * 2;
    let half = twice.cmp(&denominator.unsigned_abs());
    Some(match mode {
        RoundingMode::Down => quotient,
        RoundingMode::Up => away,
        RoundingMode::HalfUp => {
            if half.is_lt() {
                quotient
            } else {
                away
            }
        }
        RoundingMode::HalfEven => match half {
            std::cmp::Ordering::Less => quotient,
            std::cmp::Ordering::Greater => away,
            std::cmp::Ordering::Equal => {
                if quotient % 2 == 0 {
                    quotient
                } else {
                    away
                }
            }
        },
    })
}

impl FromStr for ConditionValue {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ConditionValue::parse_field(s, "value")
    }
}

impl fmt::Display for ConditionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let signed = |d: Decimal| {
            if d.is_sign_negative() {
                format!("-{}", d.abs())
            } else {
                format!("+{d}")
            }
        };
        match *self {
            ConditionValue::Percent(p) => write!(f, "{}%", signed(p)),
            ConditionValue::Amount(a) => f.write_str(&signed(a)),
            ConditionValue::Multiply(m) => write!(f, "*{m}"),
            ConditionValue::Divide(d) => write!(f, "/{d}"),
        }
    }
}

impl Serialize for ConditionValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ConditionValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(s: &str) -> Money {
        Money::parse(s, Currency::USD).unwrap()
    }

    fn apply(value: &str, base: &str) -> String {
        let v: ConditionValue = value.parse().unwrap();
        v.apply(usd(base), RoundingMode::HalfUp)
            .unwrap()
            .to_string()
    }

    #[test]
    fn value_syntax() {
        assert_eq!(apply("-10%", "200.00"), "180.00");
        assert_eq!(apply("10%", "200.00"), "220.00");
        assert_eq!(apply("+12.5%", "100.00"), "112.50");
        assert_eq!(apply("+5.00", "1.00"), "6.00");
        assert_eq!(apply("5", "1.00"), "6.00");
        assert_eq!(apply("-5", "1.00"), "0.00");
        assert_eq!(apply("*1.5", "10.00"), "15.00");
        assert_eq!(apply("/2", "10.01"), "5.01");
        assert_eq!(apply("/3", "10.00"), "3.33");
    }

    #[test]
    fn bad_values_are_typed_errors() {
        for bad in [
            "", "%", "abc", "NaN", "inf", "-inf%", "1e3", "/0", "/0.00", "*-2", "+-3", "10%%",
            "1,5",
        ] {
            let err = ConditionValue::parse_field(bad, "value").unwrap_err();
            assert_eq!(err.field(), Some("value"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn fixed_amounts_are_checked_against_the_currency() {
        let value: ConditionValue = "+0.001".parse().unwrap();
        assert!(value.check_currency(Currency::USD, "value").is_err());
        let kwd = Currency::new("KWD", 3).unwrap();
        assert!(value.check_currency(kwd, "value").is_ok());
    }
    #[test]
    fn integer_and_decimal_paths_agree() {
        let values = [
            "-10%", "+12.5%", "-33.333%", "*1.5", "*0.333", "/3", "/7.5", "+0.01%", "-99.99%",
        ];
        let modes = [
            RoundingMode::HalfUp,
            RoundingMode::HalfEven,
            RoundingMode::Down,
            RoundingMode::Up,
        ];
        for value in values {
            let v: ConditionValue = value.parse().unwrap();
            for minor in [0i64, 1, 5, 15, 25, 1005, 99_999, 123_456_789] {
                for mode in modes {
                    let base = Money::from_minor(minor, Currency::USD);
                    let fast = v
                        .apply_integer(minor, mode)
                        .map(|m| Money::from_minor(m as i64, Currency::USD).at_least_zero());
                    let slow = v.apply_decimal(base, mode).unwrap().at_least_zero();
                    assert_eq!(fast, Some(slow), "{value} on {minor} with {mode:?}");
                }
            }
        }
    }

    #[test]
    fn display_round_trips() {
        for text in ["-10%", "+12.5%", "+5.00", "-3", "*1.5", "/2"] {
            let v: ConditionValue = text.parse().unwrap();
            assert_eq!(v.to_string(), text);
            assert_eq!(v.to_string().parse::<ConditionValue>().unwrap(), v);
        }
        assert_eq!("10%".parse::<ConditionValue>().unwrap().to_string(), "+10%");
    }
}
