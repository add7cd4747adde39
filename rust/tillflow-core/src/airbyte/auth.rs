//! How a manifest's requests prove who they are: API keys, Bearer tokens,
//! Basic auth, and OAuth access tokens from a refresh token, renewed before
//! they expire. With `refresh_token_updater`, a refresh token the server
//! rotates replaces the old one in the config, which the caller persists.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::fields::{cfg, get_str};
use super::http::{set_path, Client};
use super::interp::Interp;
use crate::error::{CoreError, Result};

/// How requests prove who they are.
#[derive(Debug)]
pub enum Auth {
    None,
    Header(String, String),
    Query(String, String),
    Basic(String, String),
    Refreshing(Box<Mutex<OAuth>>),
}

/// An `OAuthAuthenticator`: an access token from a refresh token, renewed
/// before it expires; with `refresh_token_updater`, a refresh token the
/// server rotates is kept in the config, which the caller persists.
#[derive(Debug)]
pub struct OAuth {
    endpoint: String,
    form: Vec<(String, String)>,
    access_token_name: String,
    expires_in_name: String,
    refresh_token_name: String,
    /// Config paths the rotated values go to.
    updater: Option<[Vec<String>; 3]>,
    token: Option<(String, Instant)>,
}

fn config_path(v: Option<&Value>, default: &[&str]) -> Vec<String> {
    match v.and_then(Value::as_array) {
        Some(a) => a
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        None => default.iter().map(|s| s.to_string()).collect(),
    }
}

impl Auth {
    pub fn from_manifest(
        def: Option<&Value>,
        interp: &Interp,
        ctx: &minijinja::Value,
        path: &str,
    ) -> Result<Auth> {
        let Some(def) = def else {
            return Ok(Auth::None);
        };
        let render = |key: &str| -> Result<String> {
            let t =
                get_str(def, key).ok_or_else(|| cfg(&format!("{path}.{key}"), "is required"))?;
            interp
                .render(t, ctx)
                .map_err(|e| cfg(&format!("{path}.{key}"), e))
        };
        Ok(match get_str(def, "type") {
            Some("NoAuth") | None => Auth::None,
            Some("BearerAuthenticator") => Auth::Header(
                "Authorization".into(),
                format!("Bearer {}", render("api_token")?),
            ),
            Some("BasicHttpAuthenticator") => {
                let password = match get_str(def, "password") {
                    Some(_) => render("password")?,
                    None => String::new(),
                };
                Auth::Basic(render("username")?, password)
            }
            Some("ApiKeyAuthenticator") => {
                let token = render("api_token")?;
                let option = def.get("inject_into");
                let (into, field) = match option {
                    Some(o) => (
                        get_str(o, "inject_into").unwrap_or("header").to_string(),
                        interp
                            .render(get_str(o, "field_name").unwrap_or(""), ctx)
                            .map_err(|e| cfg(path, e))?,
                    ),
                    None => (
                        "header".into(),
                        interp
                            .render(get_str(def, "header").unwrap_or("Authorization"), ctx)
                            .map_err(|e| cfg(path, e))?,
                    ),
                };
                match into.as_str() {
                    "header" => Auth::Header(field, token),
                    "request_parameter" => Auth::Query(field, token),
                    other => {
                        return Err(cfg(
                            &format!("{path}.inject_into"),
                            format!(
                                "an API key goes in a header or a request parameter, not {other:?}"
                            ),
                        ))
                    }
                }
            }
            Some("OAuthAuthenticator") => {
                let mut form = vec![
                    (
                        "grant_type".to_string(),
                        match get_str(def, "grant_type") {
                            Some(_) => render("grant_type")?,
                            None => "refresh_token".into(),
                        },
                    ),
                    ("client_id".to_string(), render("client_id")?),
                    ("client_secret".to_string(), render("client_secret")?),
                ];
                if form[0].1 == "refresh_token" {
                    form.push(("refresh_token".into(), render("refresh_token")?));
                }
                if let Some(Value::Array(scopes)) = def.get("scopes") {
                    let s: Vec<&str> = scopes.iter().filter_map(Value::as_str).collect();
                    form.push(("scope".into(), s.join(" ")));
                }
                if let Some(Value::Object(extra)) = def.get("refresh_request_body") {
                    for (k, v) in extra {
                        let text = match v {
                            Value::String(s) => interp.render(s, ctx).map_err(|e| cfg(path, e))?,
                            other => other.to_string(),
                        };
                        form.push((k.clone(), text));
                    }
                }
                let updater = def.get("refresh_token_updater").map(|u| {
                    [
                        config_path(
                            u.get("refresh_token_config_path"),
                            &["credentials", "refresh_token"],
                        ),
                        config_path(
                            u.get("access_token_config_path"),
                            &["credentials", "access_token"],
                        ),
                        config_path(
                            u.get("token_expiry_date_config_path"),
                            &["credentials", "token_expiry_date"],
                        ),
                    ]
                });
                let refresh_token_name = def
                    .get("refresh_token_updater")
                    .and_then(|u| get_str(u, "refresh_token_name"))
                    .unwrap_or("refresh_token")
                    .to_string();
                Auth::Refreshing(Box::new(Mutex::new(OAuth {
                    endpoint: render("token_refresh_endpoint")?,
                    form,
                    access_token_name: get_str(def, "access_token_name")
                        .unwrap_or("access_token")
                        .to_string(),
                    expires_in_name: get_str(def, "expires_in_name")
                        .unwrap_or("expires_in")
                        .to_string(),
                    refresh_token_name,
                    updater,
                    token: None,
                })))
            }
            Some(other) => return Err(cfg(path, format!("unknown authenticator {other:?}"))),
        })
    }
}

impl Client {
    /// An access token for `oauth`, refreshed when it is about to expire.
    pub(super) fn token(&self, oauth: &Mutex<OAuth>, config: &Mutex<Value>) -> Result<String> {
        let mut o = oauth.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((token, until)) = &o.token {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let url = self.target(&o.endpoint)?;
        let form = o.form.clone();
        let http = self.http.clone();
        let reply = crate::runtime::handle().block_on(async move {
            let resp = http
                .post(url.clone())
                .form(&form)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = resp.status();
            let text = resp.text().await.map_err(|e| e.to_string())?;
            Ok::<_, String>((url, status, text))
        });
        let (url, status, text) = reply.map_err(|e| CoreError::Auth {
            method: "POST".into(),
            url: o.endpoint.clone(),
            status: 0,
            reason: e,
            detail: String::new(),
        })?;
        if !status.is_success() {
            return Err(CoreError::Auth {
                method: "POST".into(),
                url: url.to_string(),
                status: status.as_u16(),
                reason: status.canonical_reason().unwrap_or("").into(),
                detail: format!(
                    ": the token refresh was refused: {}",
                    text.chars().take(300).collect::<String>()
                ),
            });
        }
        let body: Value = serde_json::from_str(&text).map_err(|e| CoreError::Source {
            url: url.to_string(),
            message: format!("token response is not JSON: {e}"),
        })?;
        let access = body
            .get(&o.access_token_name)
            .and_then(Value::as_str)
            .ok_or_else(|| CoreError::Source {
                url: url.to_string(),
                message: format!("token response has no {:?}", o.access_token_name),
            })?
            .to_string();
        let expires = body
            .get(&o.expires_in_name)
            .and_then(|v| {
                v.as_f64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .unwrap_or(3600.0);
        // Renewed a little early, so no request carries a token about to expire.
        let until = Instant::now() + Duration::from_secs_f64((expires - 30.0).max(1.0));
        o.token = Some((access.clone(), until));
        if let Some([refresh_path, access_path, expiry_path]) = o.updater.clone() {
            if let Some(new_refresh) = body.get(&o.refresh_token_name).and_then(Value::as_str) {
                for (k, v) in o.form.iter_mut() {
                    if k == "refresh_token" {
                        *v = new_refresh.to_string();
                    }
                }
                let mut c = config.lock().unwrap_or_else(|p| p.into_inner());
                set_path(&mut c, &refresh_path, Value::from(new_refresh));
                set_path(&mut c, &access_path, Value::from(access.clone()));
                let expiry = chrono::Utc::now() + chrono::Duration::seconds(expires as i64);
                set_path(
                    &mut c,
                    &expiry_path,
                    Value::from(expiry.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                );
            }
        }
        Ok(access)
    }
}
