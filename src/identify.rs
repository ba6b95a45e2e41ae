//! Whose cart is this? Guest identifiers (in the session or a signed cookie) and logged-in users.
//!
//! A guest identifier is 128 random bits, URL-safe base64 (22 characters). Anything else found in
//! a session or cookie (tampered, forged, malformed) is ignored: the visitor gets a fresh cart and
//! never reaches another one. User identifiers come from a [`UserResolver`] and are stored as
//! `user:<id>`, so they can never collide with a guest identifier.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cookie::{Cookie, CookieJar, Key, SameSite};
use http::HeaderMap;
use http::request::Parts;
use tower_sessions::Session;

/// The session key a guest identifier is kept under in session mode.
pub const DEFAULT_IDENTIFIER_SESSION_KEY: &str = "cart_id";
/// The cookie name in cookie mode.
pub const DEFAULT_COOKIE_NAME: &str = "cart_id";

/// A fresh guest identifier: 128 random bits, URL-safe base64 without padding.
pub(crate) fn new_guest_identifier() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

/// Whether `value` has the shape of a guest identifier.
///
/// Checked in place, without decoding, since every request with a guest asks: 22 characters of
/// the URL-safe alphabet whose last one carries no bits beyond the 128 (what a canonical
/// decoder accepts as 16 bytes).
pub(crate) fn is_guest_identifier(value: &str) -> bool {
    /// The value of each byte of the URL-safe alphabet, `NOT_BASE64` for the others.
    const NOT_BASE64: u8 = 0xff;
    const SEXTETS: [u8; 256] = {
        let mut table = [NOT_BASE64; 256];
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut at = 0;
        while at < alphabet.len() {
            table[alphabet[at] as usize] = at as u8;
            at += 1;
        }
        table
    };
    let bytes = value.as_bytes();
    let Some((&last, body)) = bytes.split_last() else {
        return false;
    };
    bytes.len() == 22
        && body
            .iter()
            .all(|&byte| SEXTETS[usize::from(byte)] != NOT_BASE64)
        && SEXTETS[usize::from(last)] & 0b1111 == 0
}

/// The storage identifier of a logged-in user's cart.
pub(crate) fn user_identifier(user_id: &str) -> String {
    format!("user:{user_id}")
}

/// Where the guest identifier travels.
#[derive(Clone, Debug)]
pub enum IdentifierMode {
    /// In the tower-sessions session under this key (needs a `SessionManagerLayer`). It survives
    /// `Session::cycle_id` at login, not `Session::flush` at logout.
    Session {
        /// The session key.
        key: String,
    },
    /// In a signed cookie.
    Cookie(CookieConfig),
}

impl Default for IdentifierMode {
    fn default() -> Self {
        IdentifierMode::Session {
            key: DEFAULT_IDENTIFIER_SESSION_KEY.to_owned(),
        }
    }
}

/// The fewest bytes a text signing secret may have. The whole secret is hashed into the key, so
/// a longer one is fine and every byte of it counts.
pub(crate) const MIN_COOKIE_SECRET_BYTES: usize = 64;

/// The 64-byte signing key of a secret of any length: SHA-512 of the whole secret. The cookie
/// crate signs with the first half of a key, so taking a secret's bytes as they are would let
/// only its first 32 bytes count.
pub(crate) fn key_from_secret(secret: &[u8]) -> Key {
    use sha2::{Digest, Sha512};
    Key::from(Sha512::digest(secret).as_slice())
}

/// The signed cookie that carries a guest identifier in cookie mode. HttpOnly always.
///
/// `SameSite=None` always goes out with `Secure`: browsers drop a `SameSite=None` cookie that
/// is not `Secure`, which would silently cost every visitor their cart, so the combination
/// cannot be configured in code (see [`CookieConfig::with_same_site`]); settings refuse it at
/// start-up.
#[derive(Clone)]
pub struct CookieConfig {
    key: Key,
    /// Keys that still verify cookies but never sign: the keys of before a rotation.
    previous_keys: Vec<Key>,
    name: String,
    max_age: Option<Duration>,
    secure: bool,
    same_site: SameSite,
    path: String,
    domain: Option<String>,
}

impl std::fmt::Debug for CookieConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieConfig")
            .field("key", &"[redacted]")
            .field("previous_keys", &self.previous_keys.len())
            .field("name", &self.name)
            .field("max_age", &self.max_age)
            .field("secure", &self.is_secure())
            .field("same_site", &self.same_site)
            .field("path", &self.path)
            .finish()
    }
}

impl CookieConfig {
    /// Signs with `key` (HMAC-SHA256; see [`cookie::Key::generate`], or
    /// [`crate::settings::cookie_key_from_secret`] for a text secret of any length).
    /// Defaults: name `cart_id`, Max-Age 30 days, refreshed by every write, Secure,
    /// SameSite=Lax, path `/`.
    pub fn new(key: Key) -> Self {
        CookieConfig {
            key,
            previous_keys: Vec::new(),
            name: DEFAULT_COOKIE_NAME.to_owned(),
            max_age: Some(Duration::from_secs(30 * 24 * 3600)),
            secure: true,
            same_site: SameSite::Lax,
            path: "/".to_owned(),
            domain: None,
        }
    }

    /// The cookie name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Keys a cookie may still be signed with, such as the key used before a rotation (this
    /// replaces any given earlier). They verify but never sign: a cookie they verify reaches its
    /// cart, and the next write answers with the cookie signed by the current key. Drop a
    /// previous key once the cookies it signed have expired (Max-Age after the rotation).
    ///
    /// # Examples
    ///
    /// ```
    /// use axum_cart::CookieConfig;
    /// use cookie::Key;
    ///
    /// let (old, new) = (Key::generate(), Key::generate());
    /// let config = CookieConfig::new(new).with_previous_keys([old]);
    /// ```
    pub fn with_previous_keys(mut self, keys: impl IntoIterator<Item = Key>) -> Self {
        self.previous_keys = keys.into_iter().collect();
        self
    }

    /// Max-Age; `None` makes a browser-session cookie. Every request that writes a cart sends the
    /// cookie again, so the age counts from the visitor's last write.
    pub fn with_max_age(mut self, max_age: Option<Duration>) -> Self {
        self.max_age = max_age;
        self
    }

    /// The Secure attribute (on by default; turn off only for plain-HTTP development). It applies
    /// to `SameSite=Lax` and `Strict` cookies: a `SameSite=None` cookie is Secure regardless.
    pub fn with_secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// The SameSite attribute. `SameSite::None` (a cart shared with another site that embeds the
    /// shop) needs HTTPS: the cookie then always carries `Secure`, whatever
    /// [`CookieConfig::with_secure`] says, because browsers refuse a `SameSite=None` cookie
    /// without it and the visitor would get a new, empty cart on every request.
    ///
    /// # Examples
    ///
    /// ```
    /// use axum_cart::CookieConfig;
    /// use cookie::{Key, SameSite};
    ///
    /// let config = CookieConfig::new(Key::generate())
    ///     .with_secure(false)
    ///     .with_same_site(SameSite::None);
    /// assert!(config.is_secure());
    /// ```
    pub fn with_same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// The Path attribute.
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// The Domain attribute.
    pub fn with_domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// The cookie name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the cookie goes out with the Secure attribute (always with `SameSite=None`).
    pub fn is_secure(&self) -> bool {
        self.secure || self.same_site == SameSite::None
    }

    /// Reads and verifies the identifier cookie with the current key, then the previous ones; a
    /// missing, unsigned, tampered or malformed cookie, or one signed by an unknown key, gives
    /// `None`.
    pub(crate) fn read(&self, headers: &HeaderMap) -> Option<String> {
        let mut jar = CookieJar::new();
        for header in headers.get_all(http::header::COOKIE) {
            let Ok(header) = header.to_str() else {
                continue;
            };
            for cookie in Cookie::split_parse_encoded(header.to_owned()).flatten() {
                if cookie.name() == self.name {
                    jar.add_original(cookie.into_owned());
                }
            }
        }
        let value = std::iter::once(&self.key)
            .chain(&self.previous_keys)
            .find_map(|key| jar.signed(key).get(&self.name))?
            .value()
            .to_owned();
        is_guest_identifier(&value).then_some(value)
    }

    fn base(&self, value: String) -> Cookie<'static> {
        let mut cookie = Cookie::build((self.name.clone(), value))
            .http_only(true)
            .secure(self.is_secure())
            .same_site(self.same_site)
            .path(self.path.clone());
        if let Some(domain) = &self.domain {
            cookie = cookie.domain(domain.clone());
        }
        cookie.build()
    }

    /// The `Set-Cookie` value carrying `identifier`, signed with the current key.
    pub(crate) fn set_cookie(&self, identifier: &str) -> String {
        let mut cookie = self.base(identifier.to_owned());
        if let Some(max_age) = self.max_age {
            cookie.set_max_age(cookie::time::Duration::try_from(max_age).ok());
        }
        let mut jar = CookieJar::new();
        jar.signed_mut(&self.key).add(cookie);
        jar.get(&self.name)
            .map(|c| c.encoded().to_string())
            .unwrap_or_default()
    }

    /// The `Set-Cookie` value that removes the cookie.
    pub(crate) fn removal_cookie(&self) -> String {
        let mut cookie = self.base(String::new());
        cookie.make_removal();
        cookie.encoded().to_string()
    }
}

/// Finds the logged-in user for a request. It wins over the guest identifier; when it first
/// yields a user while a guest cart exists, the guest cart is merged into the user's.
///
/// Any `Fn(&Parts) -> Option<String>` is a resolver, e.g. one that reads an extension your auth
/// layer inserted. For users kept in the tower-sessions session, see [`SessionUserResolver`].
#[async_trait]
pub trait UserResolver: Send + Sync + 'static {
    /// The id of the logged-in user, or `None` for a guest.
    async fn user_id(&self, parts: &Parts) -> Option<String>;
}

#[async_trait]
impl<F> UserResolver for F
where
    F: Fn(&Parts) -> Option<String> + Send + Sync + 'static,
{
    async fn user_id(&self, parts: &Parts) -> Option<String> {
        self(parts)
    }
}

/// Reads the user id from a tower-sessions session key (a string or a number).
#[derive(Clone, Debug)]
pub struct SessionUserResolver {
    key: Arc<str>,
}

impl SessionUserResolver {
    /// Reads the user id stored under `key`.
    pub fn new(key: impl Into<Arc<str>>) -> Self {
        SessionUserResolver { key: key.into() }
    }
}

#[async_trait]
impl UserResolver for SessionUserResolver {
    async fn user_id(&self, parts: &Parts) -> Option<String> {
        let session = parts.extensions.get::<Session>()?;
        match session.get_value(&self.key).await.ok()?? {
            serde_json::Value::String(id) if !id.is_empty() => Some(id),
            serde_json::Value::Number(id) => Some(id.to_string()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_identifiers_are_128_bit_base64() {
        let id = new_guest_identifier();
        assert!(is_guest_identifier(&id), "{id}");
        assert_ne!(id, new_guest_identifier());
        assert!(!is_guest_identifier("user:42"));
        assert!(!is_guest_identifier("AAAAAAAAAAAAAAAAAAAAA")); // 21 chars
        assert!(!is_guest_identifier("AAAAAAAAAAAAAAAAAAAAA*"));
    }

    #[test]
    fn the_in_place_check_accepts_exactly_what_decodes_to_16_bytes() {
        let decodes = |value: &str| {
            URL_SAFE_NO_PAD
                .decode(value)
                .is_ok_and(|bytes| bytes.len() == 16)
        };
        let id = new_guest_identifier();
        // Every byte value at the last place (trailing bits), in the middle, and at the start.
        for at in [21, 10, 0] {
            for byte in 0..=255u8 {
                let mut candidate = id.clone().into_bytes();
                candidate[at] = byte;
                let Ok(candidate) = String::from_utf8(candidate) else {
                    continue;
                };
                assert_eq!(
                    is_guest_identifier(&candidate),
                    decodes(&candidate),
                    "{candidate:?}"
                );
            }
        }
        for length in [0, 1, 21, 23, 24, 32] {
            let candidate = "A".repeat(length);
            assert!(!is_guest_identifier(&candidate), "{length} characters");
        }
        for _ in 0..1_000 {
            assert!(is_guest_identifier(&new_guest_identifier()));
        }
    }

    #[test]
    fn signed_cookie_round_trip_and_tampering() {
        let config = CookieConfig::new(Key::generate());
        let id = new_guest_identifier();
        let set = config.set_cookie(&id);
        let pair = set.split(';').next().unwrap().to_owned();
        let mut headers = HeaderMap::new();
        headers.insert(http::header::COOKIE, pair.parse().unwrap());
        assert_eq!(config.read(&headers), Some(id.clone()));

        // Same value signed with another key: rejected.
        let other = CookieConfig::new(Key::generate()).set_cookie(&id);
        headers.insert(
            http::header::COOKIE,
            other.split(';').next().unwrap().parse().unwrap(),
        );
        assert_eq!(config.read(&headers), None);

        // Unsigned value: rejected.
        headers.insert(
            http::header::COOKIE,
            format!("cart_id={id}").parse().unwrap(),
        );
        assert_eq!(config.read(&headers), None);
    }

    fn cookie_header(set_cookie: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let pair = set_cookie.split(';').next().unwrap();
        headers.insert(http::header::COOKIE, pair.parse().unwrap());
        headers
    }

    #[test]
    fn previous_keys_verify_and_the_current_key_signs() {
        let (old, new) = (Key::generate(), Key::generate());
        let id = new_guest_identifier();
        let before = CookieConfig::new(old.clone()).set_cookie(&id);
        let rotated = CookieConfig::new(new.clone()).with_previous_keys([old.clone()]);
        assert_eq!(rotated.read(&cookie_header(&before)), Some(id.clone()));

        let after = rotated.set_cookie(&id);
        assert_ne!(after, before);
        let only_new = CookieConfig::new(new);
        assert_eq!(only_new.read(&cookie_header(&after)), Some(id.clone()));
        assert_eq!(only_new.read(&cookie_header(&before)), None);
        assert_eq!(
            CookieConfig::new(old).read(&cookie_header(&after)),
            None,
            "a previous key never signs"
        );
    }

    #[test]
    fn every_byte_of_a_secret_counts() {
        let head = "s".repeat(MIN_COOKIE_SECRET_BYTES);
        let (a, b) = (format!("{head}-tail-a"), format!("{head}-tail-b"));
        assert_ne!(
            key_from_secret(a.as_bytes()).signing(),
            key_from_secret(b.as_bytes()).signing()
        );
        assert_eq!(
            key_from_secret(a.as_bytes()).master(),
            key_from_secret(a.as_bytes()).master()
        );
        let id = new_guest_identifier();
        let signed_by_a = CookieConfig::new(key_from_secret(a.as_bytes())).set_cookie(&id);
        let config_b = CookieConfig::new(key_from_secret(b.as_bytes()));
        assert_eq!(config_b.read(&cookie_header(&signed_by_a)), None);
    }

    #[test]
    fn same_site_none_is_always_secure() {
        for config in [
            CookieConfig::new(Key::generate())
                .with_secure(false)
                .with_same_site(SameSite::None),
            CookieConfig::new(Key::generate())
                .with_same_site(SameSite::None)
                .with_secure(false),
        ] {
            assert!(config.is_secure());
            let set = config.set_cookie(&new_guest_identifier());
            assert!(set.contains("; SameSite=None"), "{set}");
            assert!(set.contains("; Secure"), "{set}");
            assert!(config.removal_cookie().contains("; Secure"));
        }
        let lax = CookieConfig::new(Key::generate()).with_secure(false);
        assert!(!lax.is_secure());
        assert!(!lax.set_cookie(&new_guest_identifier()).contains("Secure"));
    }
}
