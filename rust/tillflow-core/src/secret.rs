//! Secrets never leave the process in clear text: not in errors, logs or reprs.
//!
//! A credential reaches text a person sees in more shapes than the one it was
//! configured in: a server echoes an `Authorization: Basic …` header back in
//! base64, a query-string key comes back percent-encoded inside a URL, a JSON
//! error body escapes its slashes. [`Redactor`] masks every such form, and
//! only those: a value too short to be told from ordinary words (`wrong`,
//! `test`) is masked only where it stands as a credential, after `Bearer`,
//! `Basic` or a credential-named key, never inside unrelated text.

use std::fmt;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Deserializer};

pub const MASK: &str = "***";

/// Values at least this long are masked wherever they appear; shorter ones
/// only in a credential position (see [`Redactor`]).
pub const MIN_ANYWHERE: usize = 8;

/// A credential. `Debug` and `Display` print a mask; only `expose` reveals it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Whether a header, query parameter or field of this name carries a
/// credential (`Authorization`, `X-Api-Key`, `X-Shopify-Access-Token`,
/// `client_secret`, `Cookie`, …).
pub fn is_credential_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    const WORDS: [&str; 11] = [
        "auth",
        "token",
        "key",
        "secret",
        "password",
        "passwd",
        "pwd",
        "cookie",
        "session",
        "signature",
        "credential",
    ];
    WORDS.iter().any(|w| n.contains(w)) || n == "sig"
}

/// Characters left alone by the percent-encoders a URL or a log line is
/// likely to have gone through: RFC 3986's unreserved set, that set plus `/`
/// (Python's `quote`), and JavaScript's `encodeURIComponent`.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
const UNRESERVED_SLASH: &AsciiSet = &UNRESERVED.remove(b'/');
const URI_COMPONENT: &AsciiSet = &UNRESERVED
    .remove(b'!')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Every form `value` takes on the wire and in text: as is, percent-encoded
/// (form and path styles, upper- and lower-case hex), JSON-escaped (with and
/// without `\/`) and HTML-escaped. The forms are distinct; the first is the
/// value itself.
pub fn forms(value: &str) -> Vec<String> {
    let mut out = vec![value.to_string()];
    let mut add = |s: String| {
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    };
    add(url::form_urlencoded::byte_serialize(value.as_bytes()).collect());
    for set in [UNRESERVED, UNRESERVED_SLASH, URI_COMPONENT] {
        let upper = utf8_percent_encode(value, set).to_string();
        add(lower_hex(&upper));
        add(upper);
    }
    let json = serde_json::to_string(value).unwrap_or_default();
    let json = json[1..json.len().saturating_sub(1).max(1)].to_string();
    add(json.replace('/', "\\/"));
    add(json);
    add(ascii_json(value));
    add(html_escape(value));
    out
}

/// The base64 forms of HTTP Basic credentials (`user:password`), in the
/// standard and URL-safe alphabets, with and without padding.
pub fn basic_forms(username: &str, password: &str) -> Vec<String> {
    let raw = format!("{username}:{password}");
    let mut out: Vec<String> = Vec::new();
    for s in [
        STANDARD.encode(&raw),
        STANDARD_NO_PAD.encode(&raw),
        URL_SAFE.encode(&raw),
        URL_SAFE_NO_PAD.encode(&raw),
    ] {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// `%2f` for `%2F`: some encoders write lower-case hex.
fn lower_hex(encoded: &str) -> String {
    let b = encoded.as_bytes();
    let mut out = String::with_capacity(encoded.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push('%');
            out.push((b[i + 1] as char).to_ascii_lowercase());
            out.push((b[i + 2] as char).to_ascii_lowercase());
            i += 3;
        } else {
            // Percent-encoded text is ASCII.
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// JSON text with every non-ASCII character as `\uXXXX` (Python's default
/// `json.dumps`), without the quotes.
fn ascii_json(value: &str) -> String {
    let json = serde_json::to_string(value).unwrap_or_default();
    let inner = &json[1..json.len().saturating_sub(1).max(1)];
    let mut out = String::with_capacity(inner.len());
    for c in inner.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

fn html_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// Scrubs every known secret, in each of its forms, and every query
/// parameter that carries one, out of text that is about to be shown to a
/// person.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    /// Forms long enough to be masked wherever they appear, longest first.
    anywhere: Vec<String>,
    /// Short forms, masked only in a credential position.
    positional: Vec<String>,
    secret_params: Vec<String>,
}

impl Redactor {
    pub fn add_secret(&mut self, s: &Secret) {
        if s.expose().is_empty() {
            return;
        }
        for f in forms(s.expose()) {
            self.add_form(f);
        }
    }

    /// HTTP Basic credentials: the password in its forms, and the base64
    /// `user:password` a server may echo back from the `Authorization` header.
    pub fn add_basic(&mut self, username: &str, password: &Secret) {
        self.add_secret(password);
        for f in basic_forms(username, password.expose()) {
            self.add_form(f);
        }
    }

    pub fn add_query_param(&mut self, name: &str) {
        if !self.secret_params.iter().any(|p| p == name) {
            self.secret_params.push(name.to_string());
        }
    }

    fn add_form(&mut self, form: String) {
        let list = if form.chars().count() >= MIN_ANYWHERE {
            &mut self.anywhere
        } else {
            &mut self.positional
        };
        if !list.contains(&form) {
            list.push(form);
            // Longest first, so a form holding another is masked whole.
            list.sort_by_key(|f| std::cmp::Reverse(f.len()));
        }
    }

    /// Whether a (decoded) query parameter carries a secret: by its name, or
    /// because its value is one.
    pub fn is_secret_param(&self, name: &str, value: &str) -> bool {
        self.secret_params.iter().any(|p| p == name)
            || self
                .anywhere
                .iter()
                .chain(&self.positional)
                .any(|f| f == value)
    }

    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for f in &self.anywhere {
            if out.contains(f.as_str()) {
                out = out.replace(f.as_str(), MASK);
            }
        }
        for f in &self.positional {
            if out.contains(f.as_str()) {
                out = mask_in_credential_position(&out, f);
            }
        }
        out
    }

    /// A URL fit for an error message: secret query values masked.
    pub fn url(&self, u: &url::Url) -> String {
        if self.secret_params.is_empty() || u.query().is_none() {
            return self.text(u.as_str());
        }
        let mut clean = u.clone();
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if self.secret_params.iter().any(|p| p == &k) {
                    MASK.to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        clean.query_pairs_mut().clear().extend_pairs(pairs);
        self.text(clean.as_str())
    }
}

/// Characters that continue a token: a short secret next to one of these is
/// part of a longer word, not a credential of its own. (`=` may end a
/// base64 token, but before a value it separates a key from it.)
fn continues_before(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '~' | '+' | '/' | '%')
}

fn continues_after(c: char) -> bool {
    continues_before(c) || c == '='
}

/// Masks the occurrences of `form` that stand as a whole token right after a
/// credential marker: `Bearer wrong`, `Basic dTpw`, `token=wrong`,
/// `"password": "wrong"`, `X-Api-Key: wrong`.
fn mask_in_credential_position(text: &str, form: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    for (at, _) in text.match_indices(form) {
        if at < rest {
            continue;
        }
        let before = &text[..at];
        let after = &text[at + form.len()..];
        let whole = !before.chars().next_back().is_some_and(continues_before)
            && !after.chars().next().is_some_and(continues_after);
        if whole && follows_credential_marker(before) {
            out.push_str(&text[rest..at]);
            out.push_str(MASK);
            rest = at + form.len();
        }
    }
    out.push_str(&text[rest..]);
    out
}

fn follows_credential_marker(before: &str) -> bool {
    let trimmed = before.trim_end_matches(|c: char| {
        c.is_whitespace() || matches!(c, '"' | '\'' | ':' | '=' | '\\')
    });
    if trimmed.len() == before.len() {
        // Nothing separates the value from what precedes it.
        return false;
    }
    let word: String = trimmed
        .chars()
        .rev()
        .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let w = word.to_ascii_lowercase();
    w == "bearer" || w == "basic" || w == "token" || is_credential_name(&w)
}

#[cfg(test)]
mod tests;
