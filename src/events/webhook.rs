//! Webhook signatures. Each delivery carries
//! `X-ReferralHub-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` where the
//! MAC is over `"<t>.<raw body>"` with the endpoint's secret. Receivers
//! recompute it, compare in constant time, and refuse a timestamp more than
//! five minutes from their clock (the replay window).

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "x-referralhub-signature";
pub const EVENT_HEADER: &str = "x-referralhub-event";
pub const DELIVERY_HEADER: &str = "x-referralhub-delivery";
/// How far a receiver should accept a signature's timestamp from its clock.
pub const REPLAY_WINDOW_SECONDS: i64 = 300;

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for a body sent at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let digest = mac(secret, timestamp, body).finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// What a receiver does: parse, check the window, verify in constant time.
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64) -> bool {
    let mut timestamp = None;
    let mut signature = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signature = decode_hex(v),
            _ => {}
        }
    }
    let (Some(t), Some(sig)) = (timestamp, signature) else { return false };
    (now - t).abs() <= REPLAY_WINDOW_SECONDS && mac(secret, t, body).verify_slice(&sig).is_ok()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// A new endpoint secret: 32 random bytes, hex.
pub fn new_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_within_the_window_only() {
        let body = br#"{"kind":"REFERRAL_STATUS_CHANGED"}"#;
        let header = sign("whsec_abc", 1_700_000_000, body);
        assert!(header.starts_with("t=1700000000,v1="));
        assert!(verify("whsec_abc", &header, body, 1_700_000_100));
        assert!(!verify("whsec_abc", &header, body, 1_700_000_000 + REPLAY_WINDOW_SECONDS + 1), "replayed too late");
        assert!(!verify("whsec_other", &header, body, 1_700_000_000), "another secret");
        assert!(!verify("whsec_abc", &header, b"{}", 1_700_000_000), "another body");
        assert!(!verify("whsec_abc", "t=1,v1=zz", body, 1));
    }
}
