//! How a spec logs in: a fixed credential (bearer token, API key, basic),
//! or an OAuth2 access token the engine obtains and renews itself.
//!
//! Three OAuth2 grants are covered:
//! - **client credentials** (PayPal, many B2B APIs): the client id and
//!   secret buy an access token;
//! - **refresh token** (QuickBooks Online, Xero, HubSpot apps): the refresh
//!   token buys an access token, and the server may hand back a *new*
//!   refresh token and revoke the old one (rotation);
//! - **JWT bearer** (Google service accounts): an RS256-signed assertion
//!   buys an access token.
//!
//! Access tokens are renewed a minute before they expire, and once more
//! when the API answers 401 (a token revoked early).
//!
//! ## Where a rotated refresh token is kept, and why there
//!
//! A rotated refresh token is written to a token file (`token_store`, by
//! default under the user's state directory) *before* the access token it
//! came with is used, with a write-then-rename and an fsync of the file and
//! its folder. It is not kept in the warehouse: the vendor revoked the old
//! token the moment it issued the new one, whatever becomes of the run, so
//! the new one must outlive a load that rolls back, a warehouse that is
//! locked by the run itself, and a process killed before its first commit.
//! A lock file next to the token file makes concurrent runs take turns, and
//! each reads the file again under the lock, so a token another process
//! rotated is used rather than refused.
//!
//! The file also records a hash of the refresh token the spec was given;
//! when the user configures a new one (after authorizing the app again),
//! it takes over from the stored one.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::Value;
use url::Url;
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{CoreError, Result};
use crate::secret::{Redactor, Secret};
use crate::sources::http::client::root_cause;

mod store;
pub use store::default_store;
use store::{lock_store, read_store, write_store, Stored};

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthSpec {
    Bearer {
        token: Secret,
    },
    ApiKey {
        name: String,
        value: Secret,
        #[serde(default)]
        location: KeyLocation,
    },
    Basic {
        username: String,
        #[serde(default = "empty_secret")]
        password: Secret,
    },
    Oauth2ClientCredentials {
        token_url: String,
        client_id: String,
        client_secret: Secret,
        scope: Option<String>,
        #[serde(default)]
        client_auth: ClientAuth,
        /// More fields for the token request (`audience`, `resource`).
        #[serde(default)]
        token_params: BTreeMap<String, String>,
    },
    Oauth2RefreshToken {
        token_url: String,
        client_id: String,
        client_secret: Secret,
        refresh_token: Secret,
        scope: Option<String>,
        #[serde(default)]
        client_auth: ClientAuth,
        #[serde(default)]
        token_params: BTreeMap<String, String>,
        /// The token file (see the module doc); unset: one under the
        /// user's state directory, named for the token URL and client id.
        token_store: Option<String>,
    },
    /// A Google service account: its JSON key's `client_email`,
    /// `private_key` (PEM) and, optionally, `private_key_id`.
    JwtServiceAccount {
        client_email: String,
        private_key: Secret,
        private_key_id: Option<String>,
        #[serde(default = "google_token_url")]
        token_url: String,
        #[serde(default, deserialize_with = "scopes")]
        scopes: Vec<String>,
        /// A user the account acts for (domain-wide delegation).
        subject: Option<String>,
    },
}

fn empty_secret() -> Secret {
    Secret::new("")
}

fn google_token_url() -> String {
    "https://oauth2.googleapis.com/token".into()
}

fn scopes<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s.split_whitespace().map(String::from).collect(),
        OneOrMany::Many(v) => v,
    })
}

#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum KeyLocation {
    #[default]
    Header,
    Query,
}

/// How the client proves itself to the token endpoint: HTTP basic auth
/// (RFC 6749's recommendation, and what Intuit, Xero and PayPal document),
/// or `client_id` and `client_secret` in the form body.
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    #[default]
    Basic,
    Body,
}

impl AuthSpec {
    /// What identifies these credentials, for sharing a budget or a token
    /// between resources (hashed by the caller; never shown).
    pub fn fingerprint(&self) -> String {
        match self {
            AuthSpec::Bearer { token } => format!("bearer|{}", token.expose()),
            AuthSpec::ApiKey { name, value, .. } => format!("key|{name}|{}", value.expose()),
            AuthSpec::Basic { username, password } => {
                format!("basic|{username}|{}", password.expose())
            }
            AuthSpec::Oauth2ClientCredentials {
                token_url,
                client_id,
                client_secret,
                scope,
                ..
            } => format!(
                "cc|{token_url}|{client_id}|{}|{scope:?}",
                client_secret.expose()
            ),
            AuthSpec::Oauth2RefreshToken {
                token_url,
                client_id,
                ..
            } => format!("refresh|{token_url}|{client_id}"),
            AuthSpec::JwtServiceAccount {
                client_email,
                token_url,
                scopes,
                subject,
                ..
            } => format!("jwt|{token_url}|{client_email}|{scopes:?}|{subject:?}"),
        }
    }

    /// Teaches `r` every secret of these credentials.
    pub fn add_secrets(&self, r: &mut Redactor) {
        match self {
            AuthSpec::Bearer { token } => r.add_secret(token),
            AuthSpec::ApiKey {
                name,
                value,
                location,
            } => {
                r.add_secret(value);
                if *location == KeyLocation::Query {
                    r.add_query_param(name);
                }
            }
            AuthSpec::Basic { username, password } => r.add_basic(username, password),
            AuthSpec::Oauth2ClientCredentials {
                client_id,
                client_secret,
                ..
            } => r.add_basic(client_id, client_secret),
            AuthSpec::Oauth2RefreshToken {
                client_id,
                client_secret,
                refresh_token,
                ..
            } => {
                r.add_basic(client_id, client_secret);
                r.add_secret(refresh_token);
            }
            AuthSpec::JwtServiceAccount { private_key, .. } => {
                r.add_secret(private_key);
                // The key's base64 body, line by line, as an echo would show it.
                for line in private_key.expose().lines() {
                    if !line.starts_with("-----") {
                        r.add_secret(&Secret::new(line.trim()));
                    }
                }
            }
        }
    }

    pub fn validate(&self) -> Result<()> {
        let url = |field: &str, text: &str| -> Result<()> {
            let u = Url::parse(text).map_err(|e| {
                CoreError::config(format!("auth.{field}"), format!("{e}: {text:?}"))
            })?;
            if !matches!(u.scheme(), "http" | "https") {
                return Err(CoreError::config(
                    format!("auth.{field}"),
                    "must be an http or https URL",
                ));
            }
            Ok(())
        };
        match self {
            AuthSpec::Oauth2ClientCredentials {
                token_url,
                client_id,
                ..
            }
            | AuthSpec::Oauth2RefreshToken {
                token_url,
                client_id,
                ..
            } => {
                url("token_url", token_url)?;
                if client_id.is_empty() {
                    return Err(CoreError::config("auth.client_id", "must not be empty"));
                }
            }
            AuthSpec::JwtServiceAccount {
                token_url,
                private_key,
                client_email,
                ..
            } => {
                url("token_url", token_url)?;
                if client_email.is_empty() {
                    return Err(CoreError::config("auth.client_email", "must not be empty"));
                }
                jsonwebtoken::EncodingKey::from_rsa_pem(private_key.expose().as_bytes()).map_err(
                    |_| {
                        CoreError::config(
                            "auth.private_key",
                            "is not an RSA private key in PEM form (the service account \
                             key file's private_key)",
                        )
                    },
                )?;
            }
            _ => {}
        }
        if let AuthSpec::Oauth2RefreshToken { refresh_token, .. } = self {
            if refresh_token.expose().is_empty() {
                return Err(CoreError::config("auth.refresh_token", "must not be empty"));
            }
        }
        Ok(())
    }

    /// True for the kinds whose access token the engine obtains.
    pub fn is_oauth(&self) -> bool {
        matches!(
            self,
            AuthSpec::Oauth2ClientCredentials { .. }
                | AuthSpec::Oauth2RefreshToken { .. }
                | AuthSpec::JwtServiceAccount { .. }
        )
    }
}

/// An access token and when it stops working.
#[derive(Clone)]
struct Token {
    access: Secret,
    expires_at: Option<SystemTime>,
    /// When to renew it: a little before it expires.
    renew_at: Option<SystemTime>,
    /// Counts renewals, so a 401 renews a token only once however many
    /// requests saw it fail.
    generation: u64,
}

/// Renew at most this long before the server's expiry...
const EARLY: Duration = Duration::from_secs(60);

/// ...and at most a tenth of the time left, so a short-lived token is not
/// renewed for every request.
fn renew_at(expires_at: SystemTime, now: SystemTime) -> SystemTime {
    let left = expires_at.duration_since(now).unwrap_or_default();
    expires_at - EARLY.min(left / 10)
}

impl Token {
    fn fresh(&self, now: SystemTime) -> bool {
        self.renew_at.is_none_or(|t| now < t)
    }
}

/// Obtains and renews access tokens for one set of OAuth2 credentials;
/// shared by every resource that uses them.
pub struct TokenSource {
    spec: AuthSpec,
    /// Names the spec in errors (the resource that first asked).
    owner: String,
    client: reqwest::Client,
    current: tokio::sync::Mutex<Option<Token>>,
    /// Tokens this source obtained, for masking.
    issued: RwLock<Vec<Secret>>,
}

impl TokenSource {
    /// The source for `spec`'s credentials, made once per process.
    pub fn shared(spec: &AuthSpec, owner: &str, timeout: Duration) -> Result<Arc<TokenSource>> {
        static ALL: OnceLock<Mutex<HashMap<u64, Arc<TokenSource>>>> = OnceLock::new();
        spec.validate()?;
        let key = xxh3_64(spec.fingerprint().as_bytes())
            ^ xxh3_64(format!("{:?}", spec_secret_material(spec)).as_bytes());
        let mut all = ALL
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(s) = all.get(&key) {
            return Ok(s.clone());
        }
        crate::runtime::install_tls_provider();
        let client = reqwest::Client::builder()
            .user_agent(concat!("tillflow/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| CoreError::Internal(format!("building the HTTP client: {e}")))?;
        let made = Arc::new(TokenSource {
            spec: spec.clone(),
            owner: owner.to_string(),
            client,
            current: tokio::sync::Mutex::new(None),
            issued: RwLock::new(Vec::new()),
        });
        all.insert(key, made.clone());
        Ok(made)
    }

    /// Masks every token this source obtained.
    pub fn mask(&self, text: &str) -> String {
        let issued = self.issued.read().unwrap_or_else(|p| p.into_inner());
        let mut out = text.to_string();
        for t in issued.iter() {
            if t.expose().len() >= 8 {
                out = out.replace(t.expose(), crate::secret::MASK);
            }
        }
        out
    }

    /// A working access token and its generation.
    pub async fn access(&self) -> Result<(Secret, u64)> {
        let mut current = self.current.lock().await;
        if let Some(t) = current.as_ref().filter(|t| t.fresh(SystemTime::now())) {
            return Ok((t.access.clone(), t.generation));
        }
        let generation = current.as_ref().map_or(0, |t| t.generation + 1);
        let token = self.obtain(generation, false).await?;
        let out = (token.access.clone(), token.generation);
        *current = Some(token);
        Ok(out)
    }

    /// After a 401 with the token of `generation`: a new token, unless
    /// another request already renewed it.
    pub async fn renew(&self, generation: u64) -> Result<(Secret, u64)> {
        let mut current = self.current.lock().await;
        if let Some(t) = current.as_ref().filter(|t| t.generation > generation) {
            return Ok((t.access.clone(), t.generation));
        }
        let token = self.obtain(generation + 1, true).await?;
        let out = (token.access.clone(), token.generation);
        *current = Some(token);
        Ok(out)
    }

    fn remember(&self, s: &Secret) {
        self.issued
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(s.clone());
    }

    async fn obtain(&self, generation: u64, after_401: bool) -> Result<Token> {
        match &self.spec {
            AuthSpec::Oauth2ClientCredentials {
                token_url,
                scope,
                token_params,
                ..
            } => {
                let mut form: Vec<(String, String)> =
                    vec![("grant_type".into(), "client_credentials".into())];
                if let Some(s) = scope {
                    form.push(("scope".into(), s.clone()));
                }
                form.extend(token_params.iter().map(|(k, v)| (k.clone(), v.clone())));
                let grant = self.post(token_url, form).await?;
                Ok(self.token_from(grant, generation))
            }
            AuthSpec::JwtServiceAccount { token_url, .. } => {
                let assertion = self.assertion()?;
                let form = vec![
                    (
                        "grant_type".into(),
                        "urn:ietf:params:oauth:grant-type:jwt-bearer".into(),
                    ),
                    ("assertion".into(), assertion),
                ];
                let grant = self.post(token_url, form).await?;
                Ok(self.token_from(grant, generation))
            }
            AuthSpec::Oauth2RefreshToken { .. } => self.refresh(generation, after_401).await,
            _ => Err(CoreError::Internal(
                "a token source for a fixed credential".into(),
            )),
        }
    }

    fn token_from(&self, grant: Grant, generation: u64) -> Token {
        let access = Secret::new(grant.access_token);
        self.remember(&access);
        let now = SystemTime::now();
        let expires_at = grant.expires_in.and_then(seconds).map(|d| now + d);
        Token {
            access,
            expires_at,
            renew_at: expires_at.map(|t| renew_at(t, now)),
            generation,
        }
    }

    /// The refresh grant, with rotation kept in the token file.
    async fn refresh(&self, generation: u64, after_401: bool) -> Result<Token> {
        let AuthSpec::Oauth2RefreshToken {
            token_url,
            client_id,
            refresh_token,
            scope,
            token_params,
            token_store,
            ..
        } = &self.spec
        else {
            unreachable!("refresh is only called for the refresh grant")
        };
        let path = match token_store {
            Some(p) => PathBuf::from(p),
            None => default_store(token_url, client_id)?,
        };
        let configured = format!("{:016x}", xxh3_64(refresh_token.expose().as_bytes()));
        // Another run may be refreshing: take turns, and read what it left.
        let lock = lock_store(&path)?;
        let stored = read_store(&path)?.filter(|s| s.configured == configured);
        if let Some(s) = &stored {
            self.remember(&Secret::new(s.refresh_token.as_str()));
            if let (Some(access), Some(at)) = (&s.access_token, s.expires_at) {
                let expires_at = UNIX_EPOCH + Duration::from_secs(at);
                let token = Token {
                    access: Secret::new(access.as_str()),
                    expires_at: Some(expires_at),
                    renew_at: Some(renew_at(expires_at, SystemTime::now())),
                    generation,
                };
                self.remember(&token.access);
                if !after_401 && token.fresh(SystemTime::now()) {
                    return Ok(token);
                }
            }
        }
        let current = stored
            .as_ref()
            .map(|s| Secret::new(s.refresh_token.as_str()))
            .unwrap_or_else(|| refresh_token.clone());
        let mut form: Vec<(String, String)> = vec![
            ("grant_type".into(), "refresh_token".into()),
            ("refresh_token".into(), current.expose().to_string()),
        ];
        if let Some(s) = scope {
            form.push(("scope".into(), s.clone()));
        }
        form.extend(token_params.iter().map(|(k, v)| (k.clone(), v.clone())));
        let grant = self.post(token_url, form).await?;
        // Rotation: the server may return a new refresh token; it replaces
        // the old one on disk before the access token is used.
        let next_refresh = grant
            .refresh_token
            .clone()
            .unwrap_or_else(|| current.expose().to_string());
        self.remember(&Secret::new(next_refresh.as_str()));
        let token = self.token_from(grant, generation);
        write_store(
            &path,
            &Stored {
                version: 1,
                token_url: token_url.clone(),
                client_id: client_id.clone(),
                configured,
                refresh_token: next_refresh,
                access_token: Some(token.access.expose().to_string()),
                expires_at: token
                    .expires_at
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map(|d| d.as_secs()),
                updated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            },
        )?;
        drop(lock);
        Ok(token)
    }

    /// The signed JWT a service account trades for an access token.
    fn assertion(&self) -> Result<String> {
        let AuthSpec::JwtServiceAccount {
            client_email,
            private_key,
            private_key_id,
            token_url,
            scopes,
            subject,
        } = &self.spec
        else {
            unreachable!("assertion is only made for a service account")
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let mut claims = serde_json::json!({
            "iss": client_email,
            "aud": token_url,
            "iat": now,
            "exp": now + 3600,
        });
        if !scopes.is_empty() {
            claims["scope"] = Value::String(scopes.join(" "));
        }
        if let Some(sub) = subject {
            claims["sub"] = Value::String(sub.clone());
        }
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = private_key_id.clone();
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key.expose().as_bytes())
            .map_err(|_| {
                CoreError::config("auth.private_key", "is not an RSA private key in PEM form")
            })?;
        jsonwebtoken::encode(&header, &claims, &key)
            .map_err(|e| CoreError::Internal(format!("signing the service account's JWT: {e}")))
    }

    /// POSTs a token request; the grant, or an `Auth` error naming the
    /// spec, the token URL and the server's `error` code.
    async fn post(&self, token_url: &str, mut form: Vec<(String, String)>) -> Result<Grant> {
        let mut req = self
            .client
            .post(token_url)
            .header("accept", "application/json");
        match &self.spec {
            AuthSpec::Oauth2ClientCredentials {
                client_id,
                client_secret,
                client_auth,
                ..
            }
            | AuthSpec::Oauth2RefreshToken {
                client_id,
                client_secret,
                client_auth,
                ..
            } => match client_auth {
                ClientAuth::Basic => {
                    req = req.basic_auth(client_id, Some(client_secret.expose()));
                }
                ClientAuth::Body => {
                    form.push(("client_id".into(), client_id.clone()));
                    form.push(("client_secret".into(), client_secret.expose().to_string()));
                }
            },
            _ => {}
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter())
            .finish();
        let resp = req
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| CoreError::Http {
                method: "POST".into(),
                url: token_url.to_string(),
                status: None,
                cause: format!("the token request failed ({})", root_cause(&e)),
                attempts: 1,
            })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        if status.is_success() {
            let grant: Option<Grant> = parsed.and_then(|v| serde_json::from_value(v).ok());
            return match grant {
                Some(g) if !g.access_token.is_empty() => Ok(g),
                _ => Err(CoreError::Http {
                    method: "POST".into(),
                    url: token_url.to_string(),
                    status: Some(status.as_u16()),
                    cause: "the token endpoint's answer has no access_token".into(),
                    attempts: 1,
                }),
            };
        }
        let code = parsed
            .as_ref()
            .and_then(|v| v.get("error"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let described = parsed
            .as_ref()
            .and_then(|v| v.get("error_description"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let hint = match code.as_str() {
            "invalid_grant" if matches!(self.spec, AuthSpec::Oauth2RefreshToken { .. }) => {
                " (the refresh token was revoked, expired or already used; authorize the app \
                 again and configure the new refresh token)"
            }
            "invalid_client" => " (the client id or secret is wrong)",
            _ => "",
        };
        let mut r = Redactor::default();
        self.spec.add_secrets(&mut r);
        let detail = r.text(&format!(
            ": {} refused {}{}{}{hint}",
            self.owner,
            if code.is_empty() {
                "the credentials".to_string()
            } else {
                code.clone()
            },
            if described.is_empty() { "" } else { ": " },
            described,
        ));
        Err(CoreError::Auth {
            method: "POST".into(),
            url: token_url.to_string(),
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("").to_string(),
            detail: self.mask(&detail),
        })
    }
}

/// The secret parts of a spec, hashed into the registry key so that two
/// specs with the same client but different secrets do not share tokens.
fn spec_secret_material(spec: &AuthSpec) -> Vec<String> {
    match spec {
        AuthSpec::Oauth2ClientCredentials { client_secret, .. } => {
            vec![client_secret.expose().to_string()]
        }
        AuthSpec::Oauth2RefreshToken {
            client_secret,
            refresh_token,
            token_store,
            ..
        } => vec![
            client_secret.expose().to_string(),
            refresh_token.expose().to_string(),
            format!("{token_store:?}"),
        ],
        AuthSpec::JwtServiceAccount { private_key, .. } => vec![private_key.expose().to_string()],
        _ => vec![],
    }
}

fn seconds(v: Value) -> Option<Duration> {
    let secs = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

/// A token endpoint's answer (RFC 6749 section 5.1).
#[derive(Deserialize)]
struct Grant {
    access_token: String,
    expires_in: Option<Value>,
    refresh_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_renewed_a_little_before_they_expire() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let hour = now + Duration::from_secs(3600);
        assert_eq!(renew_at(hour, now), hour - Duration::from_secs(60));
        let half_minute = now + Duration::from_secs(30);
        assert_eq!(
            renew_at(half_minute, now),
            half_minute - Duration::from_secs(3)
        );
        assert_eq!(
            renew_at(now, now + Duration::from_secs(5)),
            now,
            "already expired"
        );
    }

    #[test]
    fn specs_are_checked_and_secrets_known() {
        let spec: AuthSpec = serde_json::from_value(serde_json::json!({
            "type": "oauth2_refresh_token", "token_url": "ftp://x", "client_id": "c",
            "client_secret": "s3cr3t-client", "refresh_token": "r-0123456789"
        }))
        .unwrap();
        assert!(spec
            .validate()
            .unwrap_err()
            .to_string()
            .contains("auth.token_url"));
        let mut r = Redactor::default();
        spec.add_secrets(&mut r);
        assert_eq!(r.text("r-0123456789 and s3cr3t-client"), "*** and ***");
        let jwt: AuthSpec = serde_json::from_value(serde_json::json!({
            "type": "jwt_service_account", "client_email": "a@b.iam.gserviceaccount.com",
            "private_key": "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
            "scopes": "https://www.googleapis.com/auth/analytics.readonly"
        }))
        .unwrap();
        let e = jwt.validate().unwrap_err().to_string();
        assert!(
            e.contains("auth.private_key") && !e.contains("not a key"),
            "{e}"
        );
    }
}
