//! Authentication: the basic 4-way handshake (request → challenge → response → success/failure), the
//! third-party JWT exchange of the callstats REST API, and the access tokens both produce.
//!
//! Tokens and challenges are JWTs signed (HS256) with a server key named by `kid`, so any ingest replica
//! holding the keys verifies them without a shared store, and keys rotate by adding a new active key while
//! the old one still verifies. A challenge is short-lived (30 s) and single-use: each replica remembers the
//! challenges it accepted until they expire (memory bounded by the challenge rate times 30 s).
//!
//! Time is passed in (`now`, unix seconds) so every expiry rule is tested without sleeping.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hmac::{Hmac, Mac as _};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use callscope_schemas::enums::AuthErrorAction;

use crate::origin::Origin;
use crate::registry::{JwtAlgorithm, Registry, Secret};

/// The HMAC the client sends back: hex(HMAC-SHA256(key = AppSecret, message = challenge)). The AppSecret
/// never crosses the wire.
pub fn challenge_response(app_secret: &str, challenge: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).unwrap_or_else(|_| {
        // HMAC accepts keys of any length; this branch cannot be taken.
        unreachable!("hmac takes any key length")
    });
    mac.update(challenge.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn verify_response(app_secret: &str, challenge: &str, response_hex: &str) -> bool {
    let Ok(presented) = hex::decode(response_hex) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()) else {
        return false;
    };
    mac.update(challenge.as_bytes());
    mac.verify_slice(&presented).is_ok()
}

/// A server signing key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenKey {
    pub id: String,
    pub secret: Secret,
}

#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Keys that verify tokens; the first signs new ones.
    pub keys: Vec<TokenKey>,
    pub token_ttl: Duration,
    pub challenge_ttl: Duration,
    /// Clock skew tolerated on third-party JWT `exp`/`nbf`.
    pub leeway: Duration,
}

impl AuthSettings {
    pub fn new(keys: Vec<TokenKey>) -> Self {
        Self {
            keys,
            token_ttl: Duration::from_secs(2 * 3600),
            challenge_ttl: Duration::from_secs(30),
            leeway: Duration::from_secs(30),
        }
    }
}

/// Why authentication failed. The message is safe to return to the client: it never contains a secret.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("unknown app {0:?}")]
    UnknownApp(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("missing bearer token")]
    MissingToken,
    #[error("invalid token")]
    InvalidToken,
    #[error("token expired")]
    TokenExpired,
    #[error("token was issued for another app")]
    WrongApp,
    #[error("origin {0:?} is not allowed for this app")]
    OriginMismatch(String),
    #[error("challenge expired")]
    ChallengeExpired,
    #[error("challenge already used")]
    ChallengeReused,
    #[error("challenge response does not match")]
    BadResponse,
    #[error("third-party token: {0}")]
    ThirdParty(ThirdPartyError),
    #[error("no server signing key is configured")]
    NoSigningKey,
}

/// Third-party JWT failures, with the callstats error code and the action the client should take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThirdPartyError {
    InvalidRequest,
    InvalidAppId,
    InvalidToken,
    UnknownKey,
    BadSignature,
    Expired,
    NotYetValid,
    UserIdMismatch,
    AppIdMismatch,
    OriginMismatch,
}

impl std::fmt::Display for ThirdPartyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

impl ThirdPartyError {
    /// The `error` field (OAuth2 style codes, as callstats answered).
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidAppId => "invalid_client",
            Self::UserIdMismatch | Self::AppIdMismatch | Self::OriginMismatch => {
                "unauthorized_client"
            }
            Self::InvalidToken
            | Self::UnknownKey
            | Self::BadSignature
            | Self::Expired
            | Self::NotYetValid => "invalid_grant",
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Self::InvalidRequest => {
                "grant_type must be authorization_code, code a JWT and client_id localID@appID"
            }
            Self::InvalidAppId => "INVALID_APPID: no such app",
            Self::InvalidToken => {
                "INVALID_TOKEN: the code is not a well-formed JWT with appID, userID and keyID claims"
            }
            Self::UnknownKey => "INVALID_TOKEN: keyID is not a registered key of this app",
            Self::BadSignature => {
                "INVALID_TOKEN: signature does not verify with the registered key"
            }
            Self::Expired => "INVALID_TOKEN: token expired (exp)",
            Self::NotYetValid => "INVALID_TOKEN: token not valid yet (nbf)",
            Self::UserIdMismatch => {
                "USERID_MISMATCH: the token's userID is not the localID of client_id"
            }
            Self::AppIdMismatch => "INVALID_APPID: the token's appID is not the appID of client_id",
            Self::OriginMismatch => {
                "ORIGIN_MISMATCH: the request origin is not allowed for this app"
            }
        }
    }

    pub fn action(self) -> AuthErrorAction {
        match self {
            Self::Expired | Self::NotYetValid | Self::BadSignature | Self::InvalidToken => {
                AuthErrorAction::GetNewToken
            }
            Self::InvalidRequest
            | Self::InvalidAppId
            | Self::UnknownKey
            | Self::UserIdMismatch
            | Self::AppIdMismatch
            | Self::OriginMismatch => AuthErrorAction::ReportError,
        }
    }
}

/// Claims of callscope's own tokens. `typ` keeps a challenge from passing as an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub typ: String,
    /// appID
    pub app: String,
    /// userID (the callstats localID)
    pub sub: String,
    /// The origin the token was issued to, when issued to a browser.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    pub iat: i64,
    pub exp: i64,
    /// Random id: makes challenges unique and single-use, and tokens traceable.
    pub jti: String,
}

const ACCESS: &str = "access";
const CHALLENGE: &str = "challenge";

/// An access token handed to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssuedToken {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssuedChallenge {
    pub challenge: String,
    pub expires_in: u64,
}

/// Claims of a third-party JWT, as the callstats docs define them.
#[derive(Debug, Deserialize)]
struct ThirdPartyClaims {
    #[serde(rename = "appID", deserialize_with = "string_or_number")]
    app_id: String,
    #[serde(rename = "userID", deserialize_with = "string_or_number")]
    user_id: String,
    #[serde(rename = "keyID")]
    key_id: String,
    exp: Option<i64>,
    nbf: Option<i64>,
}

/// callstats' own example signs `appID` as a number.
fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected a string, got {other}"
        ))),
    }
}

pub struct Authenticator {
    settings: AuthSettings,
    registry: Registry,
    /// Accepted challenge jti → expiry; pruned as they expire.
    used_challenges: Mutex<HashMap<String, i64>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").finish_non_exhaustive()
    }
}

fn random_id() -> String {
    use rand::RngCore as _;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Authenticator {
    pub fn new(settings: AuthSettings, registry: Registry) -> Self {
        Self {
            settings,
            registry,
            used_challenges: Mutex::new(HashMap::new()),
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn token_ttl(&self) -> Duration {
        self.settings.token_ttl
    }

    fn sign(&self, claims: &Claims) -> Result<String, AuthError> {
        let key = self.settings.keys.first().ok_or(AuthError::NoSigningKey)?;
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.id.clone());
        jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_secret(key.secret.expose().as_bytes()),
        )
        .map_err(|_| AuthError::NoSigningKey)
    }

    /// Verifies signature and type; expiry is checked against `now` by the caller.
    fn decode(&self, token: &str, typ: &str) -> Result<Claims, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::InvalidToken)?;
        if header.alg != Algorithm::HS256 {
            return Err(AuthError::InvalidToken);
        }
        let kid = header.kid.ok_or(AuthError::InvalidToken)?;
        let key = self
            .settings
            .keys
            .iter()
            .find(|k| k.id == kid)
            .ok_or(AuthError::InvalidToken)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Claims>(
            token,
            &DecodingKey::from_secret(key.secret.expose().as_bytes()),
            &validation,
        )
        .map_err(|_| AuthError::InvalidToken)?;
        if data.claims.typ != typ {
            return Err(AuthError::InvalidToken);
        }
        Ok(data.claims)
    }

    fn check_origin(app: &crate::registry::App, origin: Option<&Origin>) -> Result<(), AuthError> {
        if app.allows_origin(origin) {
            Ok(())
        } else {
            Err(AuthError::OriginMismatch(
                origin.map(|o| o.as_str().to_owned()).unwrap_or_default(),
            ))
        }
    }

    fn issue(
        &self,
        app_id: &str,
        user_id: &str,
        origin: Option<&Origin>,
        now: i64,
    ) -> Result<IssuedToken, AuthError> {
        let ttl = self.settings.token_ttl.as_secs();
        let claims = Claims {
            typ: ACCESS.to_owned(),
            app: app_id.to_owned(),
            sub: user_id.to_owned(),
            org: origin.map(|o| o.as_str().to_owned()),
            iat: now,
            exp: now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX)),
            jti: random_id(),
        };
        Ok(IssuedToken {
            access_token: self.sign(&claims)?,
            token_type: "bearer",
            expires_in: ttl,
        })
    }

    /// Step 1 → 2 of the handshake: a challenge for (appID, userID).
    pub fn challenge(
        &self,
        app_id: &str,
        user_id: &str,
        origin: Option<&Origin>,
        now: i64,
    ) -> Result<IssuedChallenge, AuthError> {
        let app = self
            .registry
            .get(app_id)
            .ok_or_else(|| AuthError::UnknownApp(app_id.to_owned()))?;
        Self::check_origin(&app, origin)?;
        if user_id.is_empty() || user_id.len() > callscope_schemas::limits::USER_ID_MAX_BYTES {
            return Err(AuthError::InvalidRequest(format!(
                "userID must be 1 to {} bytes",
                callscope_schemas::limits::USER_ID_MAX_BYTES
            )));
        }
        let ttl = self.settings.challenge_ttl.as_secs();
        let claims = Claims {
            typ: CHALLENGE.to_owned(),
            app: app_id.to_owned(),
            sub: user_id.to_owned(),
            org: origin.map(|o| o.as_str().to_owned()),
            iat: now,
            exp: now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX)),
            jti: random_id(),
        };
        Ok(IssuedChallenge {
            challenge: self.sign(&claims)?,
            expires_in: ttl,
        })
    }

    /// Step 3 → 4: the client's HMAC of the challenge; success is an access token.
    pub fn respond(
        &self,
        challenge: &str,
        response_hex: &str,
        origin: Option<&Origin>,
        now: i64,
    ) -> Result<IssuedToken, AuthError> {
        let claims = self.decode(challenge, CHALLENGE)?;
        if claims.exp <= now {
            return Err(AuthError::ChallengeExpired);
        }
        let app = self
            .registry
            .get(&claims.app)
            .ok_or_else(|| AuthError::UnknownApp(claims.app.clone()))?;
        Self::check_origin(&app, origin)?;
        if claims.org.as_deref() != origin.map(Origin::as_str) {
            return Err(AuthError::OriginMismatch(
                origin.map(|o| o.as_str().to_owned()).unwrap_or_default(),
            ));
        }
        if !verify_response(app.secret.expose(), challenge, response_hex) {
            return Err(AuthError::BadResponse);
        }
        {
            let mut used = self
                .used_challenges
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            used.retain(|_, exp| *exp > now);
            if used.insert(claims.jti.clone(), claims.exp).is_some() {
                return Err(AuthError::ChallengeReused);
            }
        }
        self.issue(&claims.app, &claims.sub, origin, now)
    }

    /// The app a challenge was issued for, when it is one of ours (signature checked, expiry not):
    /// integration progress counts a failed handshake for that app.
    #[must_use]
    pub fn challenge_app(&self, challenge: &str) -> Option<String> {
        self.decode(challenge, CHALLENGE).ok().map(|c| c.app)
    }

    /// The callstats REST `POST /authenticate`: a JWT signed by the app's origin server.
    pub fn third_party(
        &self,
        grant_type: &str,
        code: &str,
        client_id: &str,
        origin: Option<&Origin>,
        now: i64,
    ) -> Result<IssuedToken, AuthError> {
        use ThirdPartyError as E;
        let fail = |e| AuthError::ThirdParty(e);
        if grant_type != "authorization_code" || code.is_empty() {
            return Err(fail(E::InvalidRequest));
        }
        let (local_id, app_id) = client_id.rsplit_once('@').ok_or(fail(E::InvalidRequest))?;
        if local_id.is_empty() || app_id.is_empty() {
            return Err(fail(E::InvalidRequest));
        }
        let app = self.registry.get(app_id).ok_or(fail(E::InvalidAppId))?;
        if !app.allows_origin(origin) {
            return Err(fail(E::OriginMismatch));
        }
        // Read the claims before verifying, only to find the key; nothing is trusted until verified.
        let header = jsonwebtoken::decode_header(code).map_err(|_| fail(E::InvalidToken))?;
        let unverified = jsonwebtoken::dangerous::insecure_decode_claims::<ThirdPartyClaims>(code)
            .map_err(|_| fail(E::InvalidToken))?;
        let key = app.jwt_key(&unverified.key_id).ok_or(fail(E::UnknownKey))?;
        let (algorithm, decoding_key) = match key.algorithm {
            JwtAlgorithm::HS256 => (
                Algorithm::HS256,
                DecodingKey::from_secret(key.material.expose().as_bytes()),
            ),
            JwtAlgorithm::ES256 => (
                Algorithm::ES256,
                DecodingKey::from_ec_pem(key.material.expose().as_bytes())
                    .map_err(|_| fail(E::UnknownKey))?,
            ),
        };
        if header.alg != algorithm {
            return Err(fail(E::BadSignature));
        }
        let mut validation = Validation::new(algorithm);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let verified = jsonwebtoken::decode::<ThirdPartyClaims>(code, &decoding_key, &validation)
            .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => fail(E::BadSignature),
            _ => fail(E::InvalidToken),
        })?;
        let claims = verified.claims;
        let leeway = i64::try_from(self.settings.leeway.as_secs()).unwrap_or(0);
        if claims.exp.is_some_and(|exp| exp + leeway <= now) {
            return Err(fail(E::Expired));
        }
        if claims.nbf.is_some_and(|nbf| nbf - leeway > now) {
            return Err(fail(E::NotYetValid));
        }
        if claims.app_id != app.app_id {
            return Err(fail(E::AppIdMismatch));
        }
        if claims.user_id != local_id {
            return Err(fail(E::UserIdMismatch));
        }
        self.issue(&app.app_id, &claims.user_id, origin, now)
    }

    /// Checks a bearer token for a request to `app_id` from `origin`.
    pub fn verify(
        &self,
        token: &str,
        app_id: &str,
        origin: Option<&Origin>,
        now: i64,
    ) -> Result<Claims, AuthError> {
        let claims = self.decode(token, ACCESS)?;
        if claims.exp <= now {
            return Err(AuthError::TokenExpired);
        }
        if claims.app != app_id {
            return Err(AuthError::WrongApp);
        }
        // A token issued to a browser origin is bound to it; server tokens (no origin) are not used from
        // browsers with another origin either.
        if let Some(o) = origin
            && claims
                .org
                .as_deref()
                .is_some_and(|bound| bound != o.as_str())
        {
            return Err(AuthError::OriginMismatch(o.as_str().to_owned()));
        }
        if claims.org.is_some() && origin.is_none() {
            return Err(AuthError::OriginMismatch(String::new()));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    const NOW: i64 = 1_800_000_000;

    fn setup() -> (Authenticator, String, String) {
        let registry = Registry::in_memory(Vec::new());
        let a = registry.add("a", Some("111")).unwrap();
        registry.add("b", Some("222")).unwrap();
        let auth = Authenticator::new(
            AuthSettings::new(vec![TokenKey {
                id: "k1".into(),
                secret: Secret::new("server-key-0123456789abcdef"),
            }]),
            registry,
        );
        (auth, a.app_id, a.secret)
    }

    fn handshake(
        auth: &Authenticator,
        secret: &str,
        origin: Option<&Origin>,
    ) -> Result<IssuedToken, AuthError> {
        let c = auth.challenge("111", "alice", origin, NOW)?;
        auth.respond(
            &c.challenge,
            &challenge_response(secret, &c.challenge),
            origin,
            NOW + 1,
        )
    }

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        // RFC 4231 §4.3: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            challenge_response("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn handshake_issues_a_two_hour_token_bound_to_app_user_origin() {
        let (auth, _, secret) = setup();
        let origin = Origin::parse("https://call.example").unwrap();
        let token = handshake(&auth, &secret, Some(&origin)).unwrap();
        assert_eq!(token.expires_in, 7200);
        assert_eq!(token.token_type, "bearer");
        // Issued at NOW + 1 (the response step): valid for 7200 s from then.
        let claims = auth
            .verify(&token.access_token, "111", Some(&origin), NOW + 1 + 7199)
            .unwrap();
        assert_eq!((claims.app.as_str(), claims.sub.as_str()), ("111", "alice"));
        assert_eq!(
            auth.verify(&token.access_token, "111", Some(&origin), NOW + 1 + 7200),
            Err(AuthError::TokenExpired)
        );
        assert!(!token.access_token.contains(&secret));
    }

    #[test]
    fn wrong_secret_is_refused() {
        let (auth, _, _) = setup();
        assert_eq!(
            handshake(&auth, "not-the-secret", None),
            Err(AuthError::BadResponse)
        );
    }

    #[test]
    fn replayed_challenge_is_refused() {
        let (auth, _, secret) = setup();
        let c = auth.challenge("111", "alice", None, NOW).unwrap();
        let r = challenge_response(&secret, &c.challenge);
        auth.respond(&c.challenge, &r, None, NOW + 1).unwrap();
        assert_eq!(
            auth.respond(&c.challenge, &r, None, NOW + 2),
            Err(AuthError::ChallengeReused)
        );
    }

    #[test]
    fn expired_challenge_is_refused() {
        let (auth, _, secret) = setup();
        let c = auth.challenge("111", "alice", None, NOW).unwrap();
        assert_eq!(c.expires_in, 30);
        let r = challenge_response(&secret, &c.challenge);
        assert_eq!(
            auth.respond(&c.challenge, &r, None, NOW + 30),
            Err(AuthError::ChallengeExpired)
        );
    }

    #[test]
    fn challenge_cannot_be_used_as_a_token_nor_token_as_challenge() {
        let (auth, _, secret) = setup();
        let c = auth.challenge("111", "alice", None, NOW).unwrap();
        assert_eq!(
            auth.verify(&c.challenge, "111", None, NOW),
            Err(AuthError::InvalidToken)
        );
        let t = handshake(&auth, &secret, None).unwrap();
        let r = challenge_response(&secret, &t.access_token);
        assert_eq!(
            auth.respond(&t.access_token, &r, None, NOW),
            Err(AuthError::InvalidToken)
        );
    }

    #[test]
    fn token_of_app_a_is_refused_on_app_b() {
        let (auth, _, secret) = setup();
        let t = handshake(&auth, &secret, None).unwrap();
        assert_eq!(
            auth.verify(&t.access_token, "222", None, NOW),
            Err(AuthError::WrongApp)
        );
    }

    #[test]
    fn tampered_token_is_refused() {
        let (auth, _, secret) = setup();
        let t = handshake(&auth, &secret, None).unwrap();
        let parts: Vec<&str> = t.access_token.split('.').collect();
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut claims: serde_json::Value =
            serde_json::from_slice(&engine.decode(parts[1]).unwrap()).unwrap();
        claims["app"] = "222".into();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            engine.encode(serde_json::to_vec(&claims).unwrap()),
            parts[2]
        );
        assert_eq!(
            auth.verify(&forged, "222", None, NOW),
            Err(AuthError::InvalidToken)
        );
        assert_eq!(
            auth.verify("garbage", "111", None, NOW),
            Err(AuthError::InvalidToken)
        );
    }

    #[test]
    fn token_signed_by_an_unknown_or_retired_key_is_refused_and_rotation_keeps_old_tokens() {
        let (auth, _, secret) = setup();
        let t = handshake(&auth, &secret, None).unwrap();
        let rotated = Authenticator::new(
            AuthSettings::new(vec![
                TokenKey {
                    id: "k2".into(),
                    secret: Secret::new("new-server-key-0123456789"),
                },
                TokenKey {
                    id: "k1".into(),
                    secret: Secret::new("server-key-0123456789abcdef"),
                },
            ]),
            auth.registry().clone(),
        );
        rotated
            .verify(&t.access_token, "111", None, NOW)
            .expect("old key still verifies");
        let retired = Authenticator::new(
            AuthSettings::new(vec![TokenKey {
                id: "k2".into(),
                secret: Secret::new("new-server-key-0123456789"),
            }]),
            auth.registry().clone(),
        );
        assert_eq!(
            retired.verify(&t.access_token, "111", None, NOW),
            Err(AuthError::InvalidToken)
        );
    }

    #[test]
    fn wrong_origin_is_refused_at_challenge_and_on_use() {
        let (auth, _, secret) = setup();
        auth.registry()
            .add_origin("111", "https://call.example")
            .unwrap();
        let evil = Origin::parse("https://evil.example").unwrap();
        assert_eq!(
            auth.challenge("111", "alice", Some(&evil), NOW),
            Err(AuthError::OriginMismatch("https://evil.example".into()))
        );
        let good = Origin::parse("https://call.example").unwrap();
        let t = handshake(&auth, &secret, Some(&good)).unwrap();
        assert!(matches!(
            auth.verify(&t.access_token, "111", Some(&evil), NOW),
            Err(AuthError::OriginMismatch(_))
        ));
        // A challenge issued to one origin cannot be answered from another.
        let c = auth.challenge("111", "alice", Some(&good), NOW).unwrap();
        let r = challenge_response(&secret, &c.challenge);
        assert!(matches!(
            auth.respond(&c.challenge, &r, Some(&evil), NOW),
            Err(AuthError::OriginMismatch(_))
        ));
    }

    #[test]
    fn unknown_app_is_named() {
        let (auth, _, _) = setup();
        assert_eq!(
            auth.challenge("999", "alice", None, NOW),
            Err(AuthError::UnknownApp("999".into()))
        );
    }

    fn hs256_jwt(secret: &str, claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn third_party_setup() -> Authenticator {
        let (auth, _, _) = setup();
        auth.registry()
            .add_jwt_key(
                "111",
                "key-hs",
                JwtAlgorithm::HS256,
                "shared-secret-0123456789",
            )
            .unwrap();
        auth
    }

    fn claims(exp: i64, nbf: i64) -> serde_json::Value {
        serde_json::json!({"appID": 111, "userID": "4358", "keyID": "key-hs", "exp": exp, "nbf": nbf, "jti": "25b3"})
    }

    #[test]
    fn third_party_hs256_token_is_exchanged() {
        let auth = third_party_setup();
        let code = hs256_jwt("shared-secret-0123456789", claims(NOW + 300, NOW - 300));
        let t = auth
            .third_party("authorization_code", &code, "4358@111", None, NOW)
            .unwrap();
        let verified = auth.verify(&t.access_token, "111", None, NOW).unwrap();
        assert_eq!(verified.sub, "4358");
    }

    #[test]
    fn third_party_refusals_carry_the_callstats_codes_and_actions() {
        use ThirdPartyError as E;
        let auth = third_party_setup();
        let good = hs256_jwt("shared-secret-0123456789", claims(NOW + 300, NOW - 300));
        let tp = |code: &str, client: &str| match auth.third_party(
            "authorization_code",
            code,
            client,
            None,
            NOW,
        ) {
            Err(AuthError::ThirdParty(e)) => Some(e),
            _ => None,
        };
        assert_eq!(
            tp(
                &hs256_jwt("another-secret-0123456789", claims(NOW + 300, NOW - 300)),
                "4358@111"
            ),
            Some(E::BadSignature)
        );
        assert_eq!(
            tp(
                &hs256_jwt("shared-secret-0123456789", claims(NOW - 31, NOW - 600)),
                "4358@111"
            ),
            Some(E::Expired)
        );
        assert_eq!(
            tp(
                &hs256_jwt("shared-secret-0123456789", claims(NOW + 600, NOW + 31)),
                "4358@111"
            ),
            Some(E::NotYetValid)
        );
        let unknown_key = serde_json::json!({"appID": "111", "userID": "4358", "keyID": "nope"});
        assert_eq!(
            tp(
                &hs256_jwt("shared-secret-0123456789", unknown_key),
                "4358@111"
            ),
            Some(E::UnknownKey)
        );
        assert_eq!(tp(&good, "someone-else@111"), Some(E::UserIdMismatch));
        assert_eq!(tp(&good, "4358@999"), Some(E::InvalidAppId));
        assert_eq!(tp(&good, "no-at-sign"), Some(E::InvalidRequest));
        assert_eq!(tp("not.a.jwt", "4358@111"), Some(E::InvalidToken));
        assert!(matches!(
            auth.third_party("password", &good, "4358@111", None, NOW),
            Err(AuthError::ThirdParty(E::InvalidRequest))
        ));
        assert_eq!(E::Expired.action(), AuthErrorAction::GetNewToken);
        assert_eq!(E::UnknownKey.action(), AuthErrorAction::ReportError);
        // Leeway: 30 s of clock skew are tolerated.
        auth.third_party(
            "authorization_code",
            &hs256_jwt("shared-secret-0123456789", claims(NOW - 29, NOW - 600)),
            "4358@111",
            None,
            NOW,
        )
        .unwrap();
    }

    #[test]
    fn third_party_es256_token_is_verified_with_the_public_key() {
        use p256::ecdsa::SigningKey;
        use p256::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
        let auth = third_party_setup();
        let signing = SigningKey::random(&mut rand::rngs::OsRng);
        let private_pem = signing.to_pkcs8_pem(LineEnding::LF).unwrap();
        let public_pem = signing
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        auth.registry()
            .add_jwt_key("111", "key-es", JwtAlgorithm::ES256, &public_pem)
            .unwrap();
        let body = serde_json::json!({"appID": "111", "userID": "4358", "keyID": "key-es", "exp": NOW + 300});
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("JWT".into());
        let code = jsonwebtoken::encode(
            &header,
            &body,
            &EncodingKey::from_ec_pem(private_pem.as_bytes()).unwrap(),
        )
        .unwrap();
        auth.third_party("authorization_code", &code, "4358@111", None, NOW)
            .unwrap();
        // An HS256 token naming the ES256 key (algorithm confusion) is refused.
        let confused = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &body,
            &EncodingKey::from_secret(public_pem.as_bytes()),
        )
        .unwrap();
        assert_eq!(
            auth.third_party("authorization_code", &confused, "4358@111", None, NOW),
            Err(AuthError::ThirdParty(ThirdPartyError::BadSignature))
        );
    }
}
