//! Currencies: an ISO-4217 code and the exponent of its minor unit.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::Error;

/// An ISO-4217 currency: a three-letter code and the number of decimal places of its minor unit.
///
/// ```
/// use axum_cart::cart::Currency;
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
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] naming `currency` for any other code or exponent.
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
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] naming `currency` for a code this crate does not know; declare it
    /// with [`Currency::new`].
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

    /// Returns the three-letter ISO-4217 code.
    pub fn code(&self) -> &str {
        // The constructor admits only ASCII upper-case letters.
        std::str::from_utf8(&self.code).unwrap_or("XXX")
    }

    /// Returns the number of decimal places of the minor unit (2 for USD, 0 for JPY).
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
