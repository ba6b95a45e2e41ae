//! The `identifier.*` settings: the cookie signing key of a text secret
//! ([`cookie_key_from_secret`]), key rotation, the `SameSite`/`Secure` rule, and the
//! [`IdentifierMode`] they describe.

use std::time::Duration;

use super::{CartSettings, IdentifierCarrier, IdentifierSettings, SettingsError};
use crate::identify::{CookieConfig, IdentifierMode, MIN_COOKIE_SECRET_BYTES, key_from_secret};

/// The cookie signing key of a text secret of any length of at least 64 bytes: the SHA-512 of
/// the whole secret, so every byte of it counts (the same secret gives the same key in every
/// process). Settings' `identifier.cookie_key` and `identifier.previous_cookie_keys` go through
/// it; use it in code to sign with a secret you keep as text.
///
/// # Errors
///
/// A secret shorter than 64 bytes, as an error on `identifier.cookie_key`.
///
/// # Examples
///
/// ```
/// use axum_cart::CookieConfig;
/// use axum_cart::settings::cookie_key_from_secret;
///
/// let secret = "a long random text secret, kept out of the source: 64 bytes or more ...";
/// let config = CookieConfig::new(cookie_key_from_secret(secret).unwrap());
///
/// let error = cookie_key_from_secret("hunter2").unwrap_err();
/// assert_eq!(error.key, "identifier.cookie_key");
/// assert!(error.message.contains("at least 64"));
/// ```
pub fn cookie_key_from_secret(secret: impl AsRef<[u8]>) -> Result<cookie::Key, SettingsError> {
    let secret = secret.as_ref();
    if secret.len() < MIN_COOKIE_SECRET_BYTES {
        return Err(SettingsError::new(
            "identifier.cookie_key",
            format!(
                "the secret has {} bytes; at least {MIN_COOKIE_SECRET_BYTES} are needed (all of \
                 a longer one count)",
                secret.len()
            ),
        ));
    }
    Ok(key_from_secret(secret))
}

impl IdentifierSettings {
    /// The keys of `previous_cookie_keys`.
    fn previous_keys(&self) -> Result<Vec<cookie::Key>, SettingsError> {
        self.previous_cookie_keys
            .iter()
            .map(|secret| {
                cookie_key_from_secret(secret).map_err(|error| SettingsError {
                    key: "identifier.previous_cookie_keys".to_owned(),
                    ..error
                })
            })
            .collect()
    }

    /// Refuses `SameSite=None` without Secure: code cannot configure that cookie (it goes out
    /// Secure anyway), but settings that ask for both contradict themselves.
    fn check_same_site(&self) -> Result<(), SettingsError> {
        if self.cookie_same_site == "none" && !self.cookie_secure {
            return Err(SettingsError::new(
                "identifier.cookie_same_site",
                "`none` needs `identifier.cookie_secure` (CART_COOKIE_SECURE) to be true: \
                 browsers drop a SameSite=None cookie that is not Secure",
            ));
        }
        Ok(())
    }

    /// The checks of [`CartSettings::validate`] on `identifier.*`.
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        if !matches!(self.cookie_same_site.as_str(), "lax" | "strict" | "none") {
            return Err(SettingsError::new(
                "identifier.cookie_same_site",
                format!(
                    "`{}` is not one of lax, strict, none",
                    self.cookie_same_site
                ),
            ));
        }
        self.check_same_site()?;
        self.previous_keys()?;
        if self.mode == IdentifierCarrier::Cookie {
            match &self.cookie_key {
                None => {
                    return Err(SettingsError::new(
                        "identifier.cookie_key",
                        format!(
                            "cookie mode needs a signing secret of at least \
                             {MIN_COOKIE_SECRET_BYTES} bytes"
                        ),
                    ));
                }
                Some(secret) => {
                    cookie_key_from_secret(secret)?;
                }
            }
        }
        if self.mode == IdentifierCarrier::Cookie && self.cookie_name.is_empty() {
            return Err(SettingsError::new(
                "identifier.cookie_name",
                "must not be empty",
            ));
        }
        Ok(())
    }
}

impl CartSettings {
    /// The identifier mode these settings describe.
    ///
    /// # Errors
    ///
    /// In cookie mode, an error on `identifier.cookie_key` when the signing secret is missing or
    /// shorter than 64 bytes, on `identifier.previous_cookie_keys` when one of them is, and on
    /// `identifier.cookie_same_site` for `none` without Secure.
    pub fn identifier_mode(&self) -> Result<IdentifierMode, SettingsError> {
        Ok(match self.identifier.mode {
            IdentifierCarrier::Session => IdentifierMode::Session {
                key: self.identifier.session_key.clone(),
            },
            IdentifierCarrier::Cookie => {
                let secret = self.identifier.cookie_key.as_deref().unwrap_or_default();
                let same_site = match self.identifier.cookie_same_site.as_str() {
                    "strict" => cookie::SameSite::Strict,
                    "none" => cookie::SameSite::None,
                    _ => cookie::SameSite::Lax,
                };
                let max_age = (self.identifier.cookie_max_age > 0)
                    .then(|| Duration::from_secs(self.identifier.cookie_max_age));
                let key = cookie_key_from_secret(secret)?;
                let previous_keys = self.identifier.previous_keys()?;
                self.identifier.check_same_site()?;
                IdentifierMode::Cookie(
                    CookieConfig::new(key)
                        .with_previous_keys(previous_keys)
                        .with_name(self.identifier.cookie_name.clone())
                        .with_secure(self.identifier.cookie_secure)
                        .with_same_site(same_site)
                        .with_max_age(max_age),
                )
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_keys_come_from_the_whole_secret() {
        let head = "s".repeat(64);
        let a = cookie_key_from_secret(format!("{head}a")).unwrap();
        let b = cookie_key_from_secret(format!("{head}b")).unwrap();
        assert_ne!(a.master(), b.master());
        assert_ne!(a.signing(), b.signing());
        let again = cookie_key_from_secret(format!("{head}a")).unwrap();
        assert_eq!(a.master(), again.master());
        // Not the secret's own bytes, which would make the tail above count for nothing.
        assert_ne!(
            a.master(),
            format!("{head}a").as_bytes()[..64].to_vec().as_slice()
        );
        let error = cookie_key_from_secret("s".repeat(63)).unwrap_err();
        assert_eq!(error.key, "identifier.cookie_key");
        assert!(error.message.contains("at least 64"), "{error}");
    }
}
