//! JWT validation and minting. The algorithm is pinned by configuration: a
//! token signed with any other algorithm (or `alg: none`) is refused, and so
//! is a wrong issuer or audience, a missing `sub`, or a token outside its
//! `nbf`..`exp` window measured by the injected clock.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::bounded::Bounded;
use crate::config::JwtSettings;
use crate::error::{AppError, AppResult};

/// Tolerated clock skew between the identity provider and us.
const LEEWAY_SECONDS: i64 = 30;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    /// The organization id; absent only on ADMIN tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<serde_json::Value>,
    pub role: String,
    pub exp: i64,
    #[serde(default)]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub iss: String,
    pub aud: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl Claims {
    /// The organization id, whether the provider sent it as a number or a string.
    pub fn org_id(&self) -> AppResult<Option<i64>> {
        match &self.org {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad_org),
            Some(serde_json::Value::String(s)) => s.parse().map(Some).map_err(|_| bad_org()),
            Some(_) => Err(bad_org()),
        }
    }
}

fn bad_org() -> AppError {
    AppError::Unauthenticated("token claim `org` is not an organization id".into())
}

/// What `referral-hub token` and tests ask for.
#[derive(Debug, Clone)]
pub struct MintRequest {
    pub subject: String,
    pub role: String,
    pub org: Option<i64>,
    pub lifetime: Duration,
    pub name: Option<String>,
    pub email: Option<String>,
}

#[derive(Clone)]
pub struct JwtKeys {
    algorithm: Algorithm,
    decoding: DecodingKey,
    encoding: Option<EncodingKey>,
    issuer: String,
    audience: String,
    /// What `verify` checks, built once (a dozen allocations a request).
    validation: Validation,
    /// The claims of tokens already checked, by the token's text: a caller
    /// sends the same token with each request until it expires, and checking
    /// its signature again cost 3 % of a page's request with HS256 (an RS256
    /// signature costs far more). Only what a token's text alone decides is
    /// kept; its window (`exp`, `nbf`) is checked against the clock on every
    /// use. Only tokens that passed are kept, and a token must be signed with
    /// our key to pass, so callers cannot fill the cache with tokens of their
    /// own.
    verified: Arc<Bounded<Claims>>,
}

/// How many checked tokens are kept, and the longest one kept.
const KEPT_TOKENS: usize = 4096;
const LONGEST_KEPT_TOKEN: usize = 4096;

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys").field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

impl JwtKeys {
    /// Loads the configured keys. With HS256 and no secret configured, uses
    /// (creating it on first start) a random secret in the data directory,
    /// so no secret is ever compiled in.
    pub fn from_settings(settings: &JwtSettings, data_dir: &Path) -> Result<Self, String> {
        let algorithm = match settings.algorithm.to_ascii_uppercase().as_str() {
            "HS256" => Algorithm::HS256,
            "RS256" => Algorithm::RS256,
            "EDDSA" => Algorithm::EdDSA,
            other => return Err(format!("unsupported JWT_ALGORITHM {other}: use HS256, RS256 or EdDSA")),
        };
        let (decoding, encoding) = match algorithm {
            Algorithm::HS256 => {
                let secret = match &settings.secret {
                    Some(secret) if secret.len() >= 32 => secret.clone().into_bytes(),
                    Some(_) => return Err("JWT_SECRET must be at least 32 bytes".into()),
                    None => embedded_secret(data_dir)?,
                };
                (DecodingKey::from_secret(&secret), Some(EncodingKey::from_secret(&secret)))
            }
            _ => {
                let path =
                    settings.public_key_file.as_ref().ok_or("JWT_PUBLIC_KEY_FILE is required for RS256 and EdDSA")?;
                let pem = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
                let decoding = if algorithm == Algorithm::RS256 {
                    DecodingKey::from_rsa_pem(&pem)
                } else {
                    DecodingKey::from_ed_pem(&pem)
                }
                .map_err(|e| format!("parsing {}: {e}", path.display()))?;
                let encoding = match &settings.private_key_file {
                    None => None,
                    Some(path) => {
                        let pem = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
                        Some(
                            if algorithm == Algorithm::RS256 {
                                EncodingKey::from_rsa_pem(&pem)
                            } else {
                                EncodingKey::from_ed_pem(&pem)
                            }
                            .map_err(|e| format!("parsing {}: {e}", path.display()))?,
                        )
                    }
                };
                (decoding, encoding)
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        // The window is checked in `verify` against the injected clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        Ok(Self {
            algorithm,
            decoding,
            encoding,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            validation,
            verified: Arc::new(Bounded::new(KEPT_TOKENS)),
        })
    }

    /// Checks signature, algorithm, issuer, audience and the required claims,
    /// then the validity window against `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> AppResult<Claims> {
        let claims = match self.verified.get(token) {
            Some(claims) => claims,
            None => {
                let claims = self.check(token)?;
                if token.len() <= LONGEST_KEPT_TOKEN {
                    self.verified.put(token.to_owned(), claims.clone());
                }
                claims
            }
        };
        let now = now.timestamp();
        if claims.exp + LEEWAY_SECONDS <= now {
            return Err(AppError::Unauthenticated("invalid token: expired".into()));
        }
        if claims.nbf.is_some_and(|nbf| nbf - LEEWAY_SECONDS > now) {
            return Err(AppError::Unauthenticated("invalid token: not yet valid".into()));
        }
        Ok(claims)
    }

    /// What the token's text alone decides: signature, algorithm, issuer,
    /// audience, type and the required claims.
    fn check(&self, token: &str) -> AppResult<Claims> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| AppError::Unauthenticated(format!("invalid token: {e}")))?;
        // A token of another type (an ID token's `typ` is JWT too, but a
        // refresh or logout token's is not) is not an access token for us:
        // `typ` may be absent, `JWT`, or RFC 9068's `at+jwt`.
        if let Some(typ) = data.header.typ.as_deref()
            && !typ.eq_ignore_ascii_case("JWT")
            && !typ.eq_ignore_ascii_case("at+jwt")
        {
            return Err(AppError::Unauthenticated(format!("invalid token: type {typ} is not an access token")));
        }
        let claims = data.claims;
        if claims.sub.trim().is_empty() {
            return Err(AppError::Unauthenticated("invalid token: empty `sub`".into()));
        }
        Ok(claims)
    }

    /// Mints a token for development and tests.
    pub fn mint(&self, req: &MintRequest, now: DateTime<Utc>) -> Result<String, String> {
        let key = self.encoding.as_ref().ok_or("minting needs JWT_SECRET (HS256) or JWT_PRIVATE_KEY_FILE")?;
        let claims = Claims {
            sub: req.subject.clone(),
            org: req.org.map(|id| serde_json::Value::String(id.to_string())),
            role: req.role.clone(),
            exp: (now + req.lifetime).timestamp(),
            iat: Some(now.timestamp()),
            nbf: None,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            name: req.name.clone(),
            email: req.email.clone(),
        };
        jsonwebtoken::encode(&Header::new(self.algorithm), &claims, key).map_err(|e| e.to_string())
    }
}

/// Reads the embedded default's secret, creating it on first use.
fn embedded_secret(data_dir: &Path) -> Result<Vec<u8>, String> {
    let path = data_dir.join("jwt-secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let secret = existing.trim().to_owned();
        if secret.len() >= 32 {
            return Ok(secret.into_bytes());
        }
    }
    std::fs::create_dir_all(data_dir).map_err(|e| format!("creating {}: {e}", data_dir.display()))?;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, &secret).map_err(|e| format!("writing {}: {e}", path.display()))?;
    tracing::info!(path = %path.display(), "created a JWT secret for the embedded default");
    Ok(secret.into_bytes())
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
    }

    fn settings(algorithm: &str, public: Option<&str>, private: Option<&str>, secret: Option<&str>) -> JwtSettings {
        JwtSettings {
            algorithm: algorithm.into(),
            secret: secret.map(Into::into),
            public_key_file: public.map(fixture),
            private_key_file: private.map(fixture),
            issuer: "referral-hub".into(),
            audience: "referral-hub".into(),
        }
    }

    fn request() -> MintRequest {
        MintRequest {
            subject: "u1".into(),
            role: "VENDOR".into(),
            org: Some(7),
            lifetime: Duration::hours(1),
            name: None,
            email: None,
        }
    }

    #[test]
    fn a_token_kept_after_its_first_check_is_still_held_to_its_window() {
        let keys =
            JwtKeys::from_settings(&settings("HS256", None, None, Some(&"s".repeat(40))), Path::new(".")).unwrap();
        let now = Utc::now();
        let token = keys.mint(&request(), now).unwrap();
        assert_eq!(keys.verify(&token, now).unwrap().sub, "u1");
        assert!(keys.verified.get(&token).is_some(), "a token that passed is kept");
        assert_eq!(keys.verify(&token, now + Duration::minutes(30)).unwrap().sub, "u1");
        match keys.verify(&token, now + Duration::hours(2)) {
            Err(AppError::Unauthenticated(message)) => assert!(message.contains("expired"), "{message}"),
            other => panic!("a kept token past its expiry: {other:?}"),
        }
        // Another text is checked on its own: a changed signature, or the
        // same claims signed with another key, are refused and not kept.
        let mut forged = token.clone();
        let last = if forged.ends_with('A') { "B" } else { "A" };
        forged.replace_range(forged.len() - 1.., last);
        let foreign = JwtKeys::from_settings(&settings("HS256", None, None, Some(&"t".repeat(40))), Path::new("."))
            .unwrap()
            .mint(&request(), now)
            .unwrap();
        for refused in [forged, foreign] {
            assert!(keys.verify(&refused, now).is_err());
            assert!(keys.verified.get(&refused).is_none());
        }
    }

    #[test]
    fn asymmetric_algorithms_verify_their_own_tokens_only() {
        let now = Utc::now();
        let hs = JwtKeys::from_settings(&settings("HS256", None, None, Some(&"s".repeat(40))), Path::new(".")).unwrap();
        let hs_token = hs.mint(&request(), now).unwrap();
        for (alg, public, private) in
            [("EdDSA", "ed25519-public.pem", "ed25519-private.pem"), ("RS256", "rsa-public.pem", "rsa-private.pem")]
        {
            let keys =
                JwtKeys::from_settings(&settings(alg, Some(public), Some(private), None), Path::new(".")).unwrap();
            let token = keys.mint(&request(), now).unwrap();
            let claims = keys.verify(&token, now).unwrap();
            assert_eq!((claims.sub.as_str(), claims.org_id().unwrap()), ("u1", Some(7)));
            // The pinned algorithm refuses an HS256 token, and HS256 refuses this one.
            assert!(keys.verify(&hs_token, now).is_err(), "{alg} must refuse HS256");
            assert!(hs.verify(&token, now).is_err(), "HS256 must refuse {alg}");
            // Verification needs only the public key.
            let verify_only = JwtKeys::from_settings(&settings(alg, Some(public), None, None), Path::new(".")).unwrap();
            assert!(verify_only.verify(&token, now).is_ok());
            assert!(verify_only.mint(&request(), now).is_err());
        }
    }

    #[test]
    fn configuration_mistakes_are_start_up_errors() {
        assert!(JwtKeys::from_settings(&settings("HS512", None, None, Some(&"s".repeat(40))), Path::new(".")).is_err());
        assert!(JwtKeys::from_settings(&settings("HS256", None, None, Some("short")), Path::new(".")).is_err());
        assert!(JwtKeys::from_settings(&settings("RS256", None, None, None), Path::new(".")).is_err());
    }

    #[test]
    fn the_embedded_default_creates_and_reuses_a_secret() {
        let dir = std::env::temp_dir().join(format!("rh-jwt-{}", uuid::Uuid::new_v4()));
        let first = JwtKeys::from_settings(&settings("HS256", None, None, None), &dir).unwrap();
        let token = first.mint(&request(), Utc::now()).unwrap();
        let second = JwtKeys::from_settings(&settings("HS256", None, None, None), &dir).unwrap();
        assert!(second.verify(&token, Utc::now()).is_ok(), "a restart keeps the secret");
        let _ = std::fs::remove_dir_all(dir);
    }
}
