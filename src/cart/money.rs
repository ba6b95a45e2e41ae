//! Exact money: integer minor units in a currency that knows its exponent, rounding modes, and
//! the strict decimal parsing that every amount goes through.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::currency::Currency;
use super::error::Error;

/// How a result with more precision than the currency's minor unit is brought back to it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundingMode {
    /// Half away from zero: 5.025 → 5.03.
    #[default]
    HalfUp,
    /// Half to even (banker's rounding): 5.025 → 5.02, 5.035 → 5.04.
    HalfEven,
    /// Toward zero: 5.029 → 5.02.
    Down,
    /// Away from zero: 5.021 → 5.03.
    Up,
}

impl RoundingMode {
    fn strategy(self) -> RoundingStrategy {
        match self {
            RoundingMode::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            RoundingMode::HalfEven => RoundingStrategy::MidpointNearestEven,
            RoundingMode::Down => RoundingStrategy::ToZero,
            RoundingMode::Up => RoundingStrategy::AwayFromZero,
        }
    }
}

impl FromStr for RoundingMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "half_up" => Ok(RoundingMode::HalfUp),
            "half_even" => Ok(RoundingMode::HalfEven),
            "down" => Ok(RoundingMode::Down),
            "up" => Ok(RoundingMode::Up),
            other => Err(Error::validation(
                "rounding",
                format!("`{other}` is not one of half_up, half_even, down, up"),
            )),
        }
    }
}

/// An exact amount of money: integer minor units in one currency. No floats anywhere.
///
/// ```
/// use axum_cart::cart::{Currency, Money};
/// let price = Money::parse("10.99", Currency::USD).unwrap();
/// assert_eq!(price.minor_units(), 1099);
/// let total = price.checked_mul(3).unwrap();
/// assert_eq!(total.to_string(), "32.97");
/// // More decimals than the currency has is an error, not a silent rounding.
/// assert!(Money::parse("10.999", Currency::USD).is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    /// Creates an amount of `minor` minor units (cents for USD) in `currency`.
    pub const fn from_minor(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    /// Returns zero in `currency`.
    pub const fn zero(currency: Currency) -> Money {
        Money { minor: 0, currency }
    }

    /// Parses a decimal string in major units (`"10.99"`, `"-3"`, `"1000"` for JPY), naming
    /// `field` in its errors.
    ///
    /// # Errors
    ///
    /// Rejects anything but an optional sign, digits and at most the currency's number of decimals:
    /// exponents, `NaN`, `inf`, spaces and over-precise amounts are [`Error::Validation`]s naming
    /// `field`; an amount that does not fit in 64-bit minor units is an [`Error::Overflow`].
    pub fn parse_field(input: &str, currency: Currency, field: &str) -> Result<Money, Error> {
        if let Some(minor) = super::minor_units::parse_minor_units(input, currency.exponent()) {
            return Ok(Money { minor, currency });
        }
        let decimal = parse_plain_decimal(input, field)?;
        Money::from_decimal_exact(decimal, currency, field)
    }

    /// Parses a decimal string in major units of `currency`, as [`Money::parse_field`] does with
    /// the field name `amount`.
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] naming `amount` when the text is not a plain decimal number or has
    /// more decimals than the currency; [`Error::Overflow`] when it does not fit in 64-bit minor
    /// units.
    ///
    /// # Examples
    ///
    /// ```
    /// use axum_cart::cart::{Currency, Money};
    ///
    /// let price = Money::parse("100.00", Currency::USD)?;
    /// assert_eq!(price.minor_units(), 10_000);
    /// assert_eq!(Money::parse("9.9", Currency::USD)?.to_string(), "9.90");
    /// assert_eq!(Money::parse("1500", Currency::JPY)?.minor_units(), 1500);
    ///
    /// // More decimals than the currency has is an error, never a silent rounding.
    /// let err = Money::parse("9.999", Currency::USD).unwrap_err();
    /// assert_eq!(err.field(), Some("amount"));
    /// assert!(Money::parse("1e3", Currency::USD).is_err());
    /// # Ok::<(), axum_cart::cart::Error>(())
    /// ```
    pub fn parse(input: &str, currency: Currency) -> Result<Money, Error> {
        Money::parse_field(input, currency, "amount")
    }

    /// Converts an exact decimal amount in major units, rejecting more decimals than the currency has.
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] naming `field` when `amount` has more decimals than `currency`;
    /// [`Error::Overflow`] when it does not fit in 64-bit minor units.
    pub fn from_decimal_exact(
        amount: Decimal,
        currency: Currency,
        field: &str,
    ) -> Result<Money, Error> {
        let normalized = amount.normalize();
        if normalized.scale() > currency.exponent() {
            return Err(Error::validation(
                field,
                format!(
                    "`{amount}` has more than {} decimal places for {currency}",
                    currency.exponent()
                ),
            ));
        }
        let minor = normalized
            .checked_mul(Decimal::from(10i64.pow(currency.exponent())))
            .and_then(|m| i64::try_from(m.trunc()).ok())
            .ok_or_else(|| Error::overflow(field))?;
        Ok(Money { minor, currency })
    }

    /// Rounds an exact decimal amount in minor units with `mode`.
    pub(crate) fn from_minor_decimal(
        minor: Decimal,
        currency: Currency,
        mode: RoundingMode,
        field: &str,
    ) -> Result<Money, Error> {
        let rounded = minor.round_dp_with_strategy(0, mode.strategy());
        let minor = i64::try_from(rounded).map_err(|_| Error::overflow(field))?;
        Ok(Money { minor, currency })
    }

    /// Returns the amount in minor units (cents for USD).
    pub const fn minor_units(&self) -> i64 {
        self.minor
    }

    /// Returns the currency of the amount.
    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// Returns the amount in major units as an exact decimal.
    pub fn to_decimal(&self) -> Decimal {
        Decimal::new(self.minor, self.currency.exponent())
    }

    /// Returns `true` when the amount is zero.
    pub const fn is_zero(&self) -> bool {
        self.minor == 0
    }

    /// Returns `true` when the amount is below zero.
    pub const fn is_negative(&self) -> bool {
        self.minor < 0
    }

    fn same_currency(&self, other: &Money) -> Result<(), Error> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(Error::CurrencyMismatch {
                expected: self.currency.code().to_owned(),
                found: other.currency.code().to_owned(),
            })
        }
    }

    /// Adds two amounts of one currency.
    ///
    /// # Errors
    ///
    /// [`Error::CurrencyMismatch`] for two currencies, [`Error::Overflow`] when the sum does not
    /// fit.
    pub fn checked_add(&self, other: Money) -> Result<Money, Error> {
        self.same_currency(&other)?;
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or_else(|| Error::overflow("amount"))?;
        Ok(Money { minor, ..*self })
    }

    /// Subtracts `other` from this amount; both must be in one currency.
    ///
    /// # Errors
    ///
    /// [`Error::CurrencyMismatch`] for two currencies, [`Error::Overflow`] when the difference
    /// does not fit.
    pub fn checked_sub(&self, other: Money) -> Result<Money, Error> {
        self.same_currency(&other)?;
        let minor = self
            .minor
            .checked_sub(other.minor)
            .ok_or_else(|| Error::overflow("amount"))?;
        Ok(Money { minor, ..*self })
    }

    /// Multiplies by a whole number (a quantity).
    ///
    /// # Errors
    ///
    /// [`Error::Overflow`] when the product does not fit.
    pub fn checked_mul(&self, factor: i64) -> Result<Money, Error> {
        let minor = self
            .minor
            .checked_mul(factor)
            .ok_or_else(|| Error::overflow("amount"))?;
        Ok(Money { minor, ..*self })
    }

    /// Returns the larger of this amount and zero.
    pub fn at_least_zero(self) -> Money {
        Money {
            minor: self.minor.max(0),
            ..self
        }
    }
}

impl fmt::Display for Money {
    /// The amount in major units with exactly the currency's decimals: `10.50`, `-3.00`, `1000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Digits written backwards into a buffer: amounts are printed on every answer and every
        // stored document, and the formatting machinery costs more than the amount.
        let exponent = self.currency.exponent() as usize;
        let mut buffer = [0u8; 24];
        let mut at = buffer.len();
        let mut rest = self.minor.unsigned_abs();
        let mut written = 0;
        while written <= exponent || rest > 0 {
            if written == exponent && exponent > 0 {
                at -= 1;
                buffer[at] = b'.';
            }
            at -= 1;
            buffer[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
            written += 1;
        }
        if self.minor < 0 {
            at -= 1;
            buffer[at] = b'-';
        }
        // Only ASCII digits, a dot and a sign were written.
        f.write_str(std::str::from_utf8(&buffer[at..]).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self, self.currency)
    }
}

/// Standalone money serializes as `{"amount": "10.99", "currency": "USD"}`.
impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Repr<'a> {
            amount: String,
            currency: &'a Currency,
        }
        Repr {
            amount: self.to_string(),
            currency: &self.currency,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Repr {
            amount: String,
            currency: Currency,
        }
        let repr = Repr::deserialize(deserializer)?;
        Money::parse(&repr.amount, repr.currency).map_err(serde::de::Error::custom)
    }
}

/// Serializes money as its bare decimal string (`"10.99"`), for places where the currency is the
/// cart's and said once.
pub(crate) fn serialize_decimal<S: Serializer>(
    money: &Money,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(money)
}

/// Parses `[+-]digits[.digits]` into an exact decimal; everything else (exponents, `NaN`, `inf`,
/// spaces, empty strings, more than 28 significant digits) is a validation error naming `field`.
pub(crate) fn parse_plain_decimal(input: &str, field: &str) -> Result<Decimal, Error> {
    let unsigned = input.strip_prefix(['+', '-']).unwrap_or(input);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let well_formed = !whole.is_empty()
        && digits_ok(whole)
        && fraction.is_none_or(|f| !f.is_empty() && digits_ok(f));
    if !well_formed {
        return Err(Error::validation(
            field,
            format!("`{}` is not a decimal number", truncate_for_message(input)),
        ));
    }
    Decimal::from_str_exact(input).map_err(|_| {
        Error::validation(
            field,
            format!(
                "`{}` has too many digits to be exact",
                truncate_for_message(input)
            ),
        )
    })
}

/// Keeps error messages short when a client sends a huge string.
pub(crate) fn truncate_for_message(input: &str) -> String {
    const MAX: usize = 64;
    if input.chars().count() <= MAX {
        input.to_owned()
    } else {
        let head: String = input.chars().take(MAX).collect();
        format!("{head}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact path alone, as parsing was before the fast path.
    fn parse_exact(input: &str, currency: Currency) -> Result<Money, Error> {
        let decimal = parse_plain_decimal(input, "amount")?;
        Money::from_decimal_exact(decimal, currency, "amount")
    }

    #[test]
    fn the_fast_paths_agree_with_the_exact_ones() {
        let currencies = [
            Currency::USD,
            Currency::JPY,
            Currency::new("KWD", 3).unwrap(),
            Currency::new("CLF", 4).unwrap(),
        ];
        let inputs = [
            "0",
            "-0",
            "+0",
            "0.0",
            "1",
            "10.99",
            "10.9",
            "-3.05",
            "+5",
            "007.50",
            "1.",
            ".5",
            "1.999",
            "1.9999",
            "1.99999",
            "1e3",
            "",
            "-",
            "1,5",
            " 1",
            "NaN",
            "1.0000",
            "999999999999999999",
            "9999999999999999.99",
            "99999999999999999.99",
            "9223372036854775807",
            "92233720368547758.07",
            "-92233720368547758.08",
            "123456789012345678901234567890",
        ];
        for currency in currencies {
            for input in inputs {
                assert_eq!(
                    Money::parse(input, currency),
                    parse_exact(input, currency),
                    "{input} in {currency}"
                );
            }
            for minor in [
                0,
                1,
                -1,
                9,
                10,
                99,
                100,
                12_345,
                -12_345,
                i64::MAX,
                i64::MIN,
            ] {
                let money = Money::from_minor(minor, currency);
                let exponent = currency.exponent();
                let abs = minor.unsigned_abs();
                let sign = if minor < 0 { "-" } else { "" };
                let expected = if exponent == 0 {
                    format!("{sign}{abs}")
                } else {
                    let scale = 10u64.pow(exponent);
                    let width = exponent as usize;
                    format!("{sign}{}.{:0width$}", abs / scale, abs % scale)
                };
                assert_eq!(money.to_string(), expected);
                if minor != i64::MIN {
                    assert_eq!(Money::parse(&expected, currency), Ok(money));
                }
            }
        }
    }

    #[test]
    fn parses_and_displays_decimal_strings() {
        let usd = |s| Money::parse(s, Currency::USD).unwrap();
        assert_eq!(usd("10.99").minor_units(), 1099);
        assert_eq!(usd("10.9").minor_units(), 1090);
        assert_eq!(usd("10").minor_units(), 1000);
        assert_eq!(usd("-3.05").minor_units(), -305);
        assert_eq!(usd("0.00").to_string(), "0.00");
        assert_eq!(usd("-0.05").to_string(), "-0.05");
        assert_eq!(usd("1234.5").to_string(), "1234.50");
        let yen = Money::parse("1500", Currency::JPY).unwrap();
        assert_eq!(yen.minor_units(), 1500);
        assert_eq!(yen.to_string(), "1500");
        let kwd = Currency::new("KWD", 3).unwrap();
        assert_eq!(Money::parse("1.234", kwd).unwrap().to_string(), "1.234");
    }

    #[test]
    fn rejects_what_is_not_an_exact_amount() {
        for bad in [
            "", "abc", "NaN", "nan", "inf", "-inf", "Infinity", "1e3", "1.2.3", " 1", "1 ", ".5",
            "5.", "--1", "0x10",
        ] {
            let err = Money::parse_field(bad, Currency::USD, "price").unwrap_err();
            assert_eq!(
                err,
                Error::validation("price", format!("`{bad}` is not a decimal number")),
                "{bad:?}"
            );
        }
        assert_eq!(
            Money::parse_field("10.999", Currency::USD, "price").unwrap_err(),
            Error::validation("price", "`10.999` has more than 2 decimal places for USD")
        );
        assert_eq!(
            Money::parse("1.5", Currency::JPY).unwrap_err(),
            Error::validation("amount", "`1.5` has more than 0 decimal places for JPY")
        );
        let forty_digits = "1234567890123456789012345678901234567890";
        assert_eq!(
            Money::parse(forty_digits, Currency::USD).unwrap_err(),
            Error::validation(
                "amount",
                format!("`{forty_digits}` has too many digits to be exact")
            )
        );
        // Fits a Decimal but not i64 minor units: an overflow error, not a wrap.
        assert_eq!(
            Money::parse_field("99999999999999999999", Currency::USD, "price").unwrap_err(),
            Error::overflow("price")
        );
        // The largest amount that fits still parses.
        assert_eq!(
            Money::parse("92233720368547758.07", Currency::USD)
                .unwrap()
                .minor_units(),
            i64::MAX
        );
        assert_eq!(
            Money::parse("92233720368547758.08", Currency::USD).unwrap_err(),
            Error::overflow("amount")
        );
    }

    #[test]
    fn arithmetic_is_checked() {
        let usd = |minor| Money::from_minor(minor, Currency::USD);
        let max = usd(i64::MAX);
        let min = usd(i64::MIN);
        let overflow = Err(Error::overflow("amount"));
        assert_eq!(max.checked_add(usd(1)), overflow);
        assert_eq!(min.checked_sub(usd(1)), overflow);
        assert_eq!(max.checked_mul(2), overflow);
        assert_eq!(min.checked_mul(-1), overflow);
        // Right at the edge nothing overflows.
        assert_eq!(max.checked_add(usd(0)), Ok(max));
        assert_eq!(usd(i64::MAX - 1).checked_add(usd(1)), Ok(max));
        assert_eq!(min.checked_sub(usd(0)), Ok(min));
        assert_eq!(usd(i64::MAX / 2).checked_mul(2), Ok(usd(i64::MAX - 1)));
        let eur = Money::from_minor(1, Currency::EUR);
        let mismatch = Err(Error::CurrencyMismatch {
            expected: "USD".to_owned(),
            found: "EUR".to_owned(),
        });
        assert_eq!(usd(1).checked_add(eur), mismatch);
        assert_eq!(usd(1).checked_sub(eur), mismatch);
        // Rounding a total that does not fit names the total.
        assert_eq!(
            Money::from_minor_decimal(
                Decimal::from(i64::MAX) + Decimal::ONE,
                Currency::USD,
                RoundingMode::HalfUp,
                "total"
            ),
            Err(Error::overflow("total"))
        );
    }

    #[test]
    fn rounding_modes_on_a_half_cent() {
        // 10.05 × 50% = 5.025: each mode decides the half cent its own way.
        let half = Decimal::new(5025, 1); // 502.5 minor units
        let round = |mode| {
            Money::from_minor_decimal(half, Currency::USD, mode, "total")
                .unwrap()
                .to_string()
        };
        assert_eq!(round(RoundingMode::HalfUp), "5.03");
        assert_eq!(round(RoundingMode::HalfEven), "5.02");
        assert_eq!(round(RoundingMode::Down), "5.02");
        assert_eq!(round(RoundingMode::Up), "5.03");
    }

    #[test]
    fn money_json_form() {
        let m = Money::parse("10.99", Currency::USD).unwrap();
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"amount":"10.99","currency":"USD"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), m);
    }
}
