//! Exact money: integer minor units and a currency that knows its exponent.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::Error;

/// An ISO-4217 currency: a three-letter code and the number of decimal places of its minor unit.
///
/// ```
/// use axum_cart::Currency;
/// assert_eq!(Currency::USD.exponent(), 2);
/// assert_eq!(Currency::JPY.exponent(), 0);
/// // Any other ISO code can be declared with its exponent.
/// let kwd = Currency::new("KWD", 3).unwrap();
/// assert_eq!(kwd.code(), "KWD");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: [u8; 3],
    exponent: u8,
}

impl Currency {
    /// US dollar.
    pub const USD: Currency = Currency::known(*b"USD", 2);
    /// Euro.
    pub const EUR: Currency = Currency::known(*b"EUR", 2);
    /// Pound sterling.
    pub const GBP: Currency = Currency::known(*b"GBP", 2);
    /// Malaysian ringgit.
    pub const MYR: Currency = Currency::known(*b"MYR", 2);
    /// Japanese yen (no minor unit).
    pub const JPY: Currency = Currency::known(*b"JPY", 0);

    /// The currencies this crate knows by code alone.
    const KNOWN: &'static [Currency] = &[
        Currency::USD,
        Currency::EUR,
        Currency::GBP,
        Currency::MYR,
        Currency::JPY,
        Currency::known(*b"AUD", 2),
        Currency::known(*b"CAD", 2),
        Currency::known(*b"CHF", 2),
        Currency::known(*b"CNY", 2),
        Currency::known(*b"HKD", 2),
        Currency::known(*b"IDR", 2),
        Currency::known(*b"INR", 2),
        Currency::known(*b"NZD", 2),
        Currency::known(*b"SGD", 2),
        Currency::known(*b"THB", 2),
        Currency::known(*b"SEK", 2),
        Currency::known(*b"NOK", 2),
        Currency::known(*b"DKK", 2),
        Currency::known(*b"PLN", 2),
        Currency::known(*b"BRL", 2),
        Currency::known(*b"MXN", 2),
        Currency::known(*b"ZAR", 2),
        Currency::known(*b"KRW", 0),
        Currency::known(*b"VND", 0),
        Currency::known(*b"CLP", 0),
        Currency::known(*b"ISK", 0),
        Currency::known(*b"BHD", 3),
        Currency::known(*b"KWD", 3),
        Currency::known(*b"OMR", 3),
        Currency::known(*b"JOD", 3),
        Currency::known(*b"TND", 3),
    ];

    const fn known(code: [u8; 3], exponent: u8) -> Currency {
        Currency { code, exponent }
    }

    /// Declares a currency by its three-letter upper-case code and its exponent (0 to 4).
    pub fn new(code: &str, exponent: u8) -> Result<Currency, Error> {
        let bytes = code.as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_uppercase) {
            return Err(Error::validation(
                "currency",
                format!("`{code}` is not a three-letter upper-case ISO-4217 code"),
            ));
        }
        if exponent > 4 {
            return Err(Error::validation(
                "currency",
                format!("exponent {exponent} of `{code}` is over 4"),
            ));
        }
        Ok(Currency {
            code: [bytes[0], bytes[1], bytes[2]],
            exponent,
        })
    }

    /// Looks a currency up by code among the known ones (USD, EUR, GBP, MYR, JPY and other common codes).
    pub fn from_code(code: &str) -> Result<Currency, Error> {
        Currency::KNOWN
            .iter()
            .copied()
            .find(|c| c.code() == code)
            .ok_or_else(|| {
                Error::validation(
                    "currency",
                    format!(
                        "unknown currency `{code}`; declare it with Currency::new(code, exponent)"
                    ),
                )
            })
    }

    /// The three-letter code.
    pub fn code(&self) -> &str {
        // The constructor admits only ASCII upper-case letters.
        std::str::from_utf8(&self.code).unwrap_or("XXX")
    }

    /// Decimal places of the minor unit (2 for USD, 0 for JPY).
    pub fn exponent(&self) -> u32 {
        u32::from(self.exponent)
    }

    fn is_known(&self) -> bool {
        Currency::KNOWN.contains(self)
    }
}

impl Default for Currency {
    fn default() -> Self {
        Currency::USD
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::from_code(s)
    }
}

/// Known currencies serialize as their code; declared ones as `{"code", "exponent"}` so that a
/// stored cart keeps its exponent.
impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.is_known() {
            serializer.serialize_str(self.code())
        } else {
            #[derive(Serialize)]
            struct Declared<'a> {
                code: &'a str,
                exponent: u8,
            }
            Declared {
                code: self.code(),
                exponent: self.exponent,
            }
            .serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Code(String),
            Declared { code: String, exponent: u8 },
        }
        match Repr::deserialize(deserializer)? {
            Repr::Code(code) => Currency::from_code(&code),
            Repr::Declared { code, exponent } => Currency::new(&code, exponent),
        }
        .map_err(serde::de::Error::custom)
    }
}

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
/// use axum_cart::{Currency, Money};
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
    /// Money from minor units (cents for USD).
    pub const fn from_minor(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    /// Zero in `currency`.
    pub const fn zero(currency: Currency) -> Money {
        Money { minor: 0, currency }
    }

    /// Parses a decimal string in major units (`"10.99"`, `"-3"`, `"1000"` for JPY).
    ///
    /// Rejects anything but an optional sign, digits and at most the currency's number of decimals:
    /// exponents, `NaN`, `inf`, spaces and over-precise amounts are validation errors naming `field`.
    pub fn parse_field(input: &str, currency: Currency, field: &str) -> Result<Money, Error> {
        let decimal = parse_plain_decimal(input, field)?;
        Money::from_decimal_exact(decimal, currency, field)
    }

    /// [`Money::parse_field`] with the field name `amount`.
    pub fn parse(input: &str, currency: Currency) -> Result<Money, Error> {
        Money::parse_field(input, currency, "amount")
    }

    /// Converts an exact decimal amount in major units, rejecting more decimals than the currency has.
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

    /// The amount in minor units.
    pub const fn minor_units(&self) -> i64 {
        self.minor
    }

    /// The currency.
    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// The amount in major units as an exact decimal.
    pub fn to_decimal(&self) -> Decimal {
        Decimal::new(self.minor, self.currency.exponent())
    }

    /// `true` for zero.
    pub const fn is_zero(&self) -> bool {
        self.minor == 0
    }

    /// `true` below zero.
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

    /// Adds two amounts of one currency; overflow and mixed currencies are errors.
    pub fn checked_add(&self, other: Money) -> Result<Money, Error> {
        self.same_currency(&other)?;
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or_else(|| Error::overflow("amount"))?;
        Ok(Money { minor, ..*self })
    }

    /// Subtracts two amounts of one currency; overflow and mixed currencies are errors.
    pub fn checked_sub(&self, other: Money) -> Result<Money, Error> {
        self.same_currency(&other)?;
        let minor = self
            .minor
            .checked_sub(other.minor)
            .ok_or_else(|| Error::overflow("amount"))?;
        Ok(Money { minor, ..*self })
    }

    /// Multiplies by a whole number (a quantity); overflow is an error.
    pub fn checked_mul(&self, factor: i64) -> Result<Money, Error> {
        let minor = self
            .minor
            .checked_mul(factor)
            .ok_or_else(|| Error::overflow("amount"))?;
        Ok(Money { minor, ..*self })
    }

    /// The larger of `self` and zero.
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
        let exponent = self.currency.exponent();
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        if exponent == 0 {
            return write!(f, "{sign}{abs}");
        }
        let scale = 10u64.pow(exponent);
        write!(
            f,
            "{sign}{}.{:0width$}",
            abs / scale,
            abs % scale,
            width = exponent as usize
        )
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
pub fn serialize_decimal<S: Serializer>(money: &Money, serializer: S) -> Result<S::Ok, S::Error> {
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
            assert_eq!(err.field(), Some("price"), "{bad:?} gave {err}");
        }
        let err = Money::parse_field("10.999", Currency::USD, "price").unwrap_err();
        assert!(err.to_string().contains("decimal places"), "{err}");
        assert!(Money::parse("1.5", Currency::JPY).is_err());
        let forty_digits = "1234567890123456789012345678901234567890";
        assert!(Money::parse(forty_digits, Currency::USD).is_err());
        // Fits a Decimal but not i64 minor units: an overflow error, not a wrap.
        assert!(Money::parse("99999999999999999999", Currency::USD).is_err());
    }

    #[test]
    fn arithmetic_is_checked() {
        let max = Money::from_minor(i64::MAX, Currency::USD);
        assert!(
            max.checked_add(Money::from_minor(1, Currency::USD))
                .is_err()
        );
        assert!(max.checked_mul(2).is_err());
        let eur = Money::from_minor(1, Currency::EUR);
        assert!(matches!(
            Money::from_minor(1, Currency::USD).checked_add(eur),
            Err(Error::CurrencyMismatch { .. })
        ));
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
    fn currency_serde_keeps_declared_exponents() {
        let kwd = Currency::new("XTS", 3).unwrap();
        let json = serde_json::to_string(&kwd).unwrap();
        assert_eq!(json, r#"{"code":"XTS","exponent":3}"#);
        assert_eq!(serde_json::from_str::<Currency>(&json).unwrap(), kwd);
        assert_eq!(serde_json::to_string(&Currency::JPY).unwrap(), r#""JPY""#);
        assert!(serde_json::from_str::<Currency>(r#""usd""#).is_err());
        assert!(Currency::new("US", 2).is_err());
    }

    #[test]
    fn money_json_form() {
        let m = Money::parse("10.99", Currency::USD).unwrap();
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"amount":"10.99","currency":"USD"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), m);
    }
}
