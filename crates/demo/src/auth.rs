//! Stateless bearer tokens: `username.expiry.mac`, where the MAC is a keyed hash under a
//! random per-process key. Nothing is stored per login, so a soak test that logs in millions
//! of times does not grow the demo's memory.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::OnceLock;

/// The only password the demo accepts, for any username.
pub const DEMO_PASSWORD: &str = "demo";

/// Seconds a token stays valid.
pub(crate) const TOKEN_TTL_SECS: u64 = 3600;

/// Longest username accepted, so a token always fits comfortably in a header.
const MAX_USERNAME: usize = 64;

/// `RandomState` seeds SipHash with a random 128-bit key: a keyed PRF, which is what a MAC
/// needs, from the standard library alone.
fn key() -> &'static RandomState {
    static KEY: OnceLock<RandomState> = OnceLock::new();
    KEY.get_or_init(RandomState::new)
}

/// Whether `username` can be carried in a token: 1 to 64 visible ASCII characters, so the
/// token is a valid header value and its `.` separators stay unambiguous from the right.
pub(crate) fn is_valid_username(username: &str) -> bool {
    (1..=MAX_USERNAME).contains(&username.len()) && username.bytes().all(|b| b.is_ascii_graphic())
}

/// Issues a token for `username` that expires at `expires_at` (Unix seconds).
pub(crate) fn issue(username: &str, expires_at: u64) -> String {
    let (a, b) = mac(username, expires_at);
    format!("{username}.{expires_at}.{a:016x}{b:016x}")
}

/// Returns the username a token was issued to, if its MAC is right and it has not expired.
pub(crate) fn verify(token: &str, now: u64) -> Option<&str> {
    let mut parts = token.rsplitn(3, '.');
    let (mac_hex, expires, username) = (parts.next()?, parts.next()?, parts.next()?);
    let expires_at: u64 = expires.parse().ok()?;
    let is_well_formed = mac_hex.len() == 32 && mac_hex.is_ascii();
    if expires_at <= now || !is_valid_username(username) || !is_well_formed {
        return None;
    }
    let (a, b) = mac(username, expires_at);
    let got_a = u64::from_str_radix(&mac_hex[..16], 16).ok()?;
    let got_b = u64::from_str_radix(&mac_hex[16..], 16).ok()?;
    // Compare without short-circuit; timing hardly matters here, but it costs nothing.
    (((a ^ got_a) | (b ^ got_b)) == 0).then_some(username)
}

fn mac(username: &str, expires_at: u64) -> (u64, u64) {
    let half = |domain: u8| {
        let mut h = key().build_hasher();
        h.write_u8(domain);
        h.write(username.as_bytes());
        h.write_u64(expires_at);
        h.finish()
    };
    (half(1), half(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_tampering() {
        let token = issue("a.b@c", 1000);
        assert_eq!(verify(&token, 999), Some("a.b@c"));
        assert_eq!(verify(&token, 1000), None, "expired");
        let forged = token.replacen("a.b@c", "a.b@d", 1);
        assert_eq!(verify(&forged, 999), None);
        let later = token.replacen(".1000.", ".2000.", 1);
        assert_eq!(verify(&later, 999), None);
        for junk in ["", "x", "x.1", "x.1.zz", "x.1.00000000000000000000000000000000"] {
            assert_eq!(verify(junk, 0), None, "{junk:?}");
        }
    }

    #[test]
    fn usernames_must_fit_a_header() {
        assert!(is_valid_username("alice"));
        assert!(!is_valid_username(""));
        assert!(!is_valid_username("al ice"));
        assert!(!is_valid_username("álice"));
        assert!(!is_valid_username(&"a".repeat(65)));
    }
}
