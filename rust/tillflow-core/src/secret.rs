//! Secrets never leave the process in clear text: not in errors, logs or reprs.

use std::fmt;

use serde::{Deserialize, Deserializer};

pub const MASK: &str = "***";

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

/// Scrubs every known secret, and every query parameter that carries one,
/// out of text that is about to be shown to a person.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    secrets: Vec<Secret>,
    secret_params: Vec<String>,
}

impl Redactor {
    pub fn add_secret(&mut self, s: &Secret) {
        // Very short values would mask unrelated text; they are still
        // covered by the query-parameter rule.
        if s.expose().len() >= 4 {
            self.secrets.push(s.clone());
        }
    }

    pub fn add_query_param(&mut self, name: &str) {
        self.secret_params.push(name.to_string());
    }

    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.expose()) {
                out = out.replace(s.expose(), MASK);
            }
            // URL-encoded form of the secret may appear in query strings.
            let encoded: String =
                url::form_urlencoded::byte_serialize(s.expose().as_bytes()).collect();
            if encoded != s.expose() && out.contains(&encoded) {
                out = out.replace(&encoded, MASK);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_mask() {
        let s = Secret::new("shpat_abcdef");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        assert_eq!(s.expose(), "shpat_abcdef");
    }

    #[test]
    fn redactor_masks_values_and_params() {
        let mut r = Redactor::default();
        r.add_secret(&Secret::new("k3y/with space"));
        r.add_query_param("api_key");
        let u = url::Url::parse("http://h/x?api_key=zz&page=2").unwrap();
        assert_eq!(r.url(&u), "http://h/x?api_key=***&page=2");
        assert_eq!(r.text("token k3y/with space here"), "token *** here");
        assert_eq!(r.text("q=k3y%2Fwith+space"), "q=***");
    }
}
