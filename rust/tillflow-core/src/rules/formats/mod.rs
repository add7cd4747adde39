//! Value formats checked properly, not by a loose regex: a [`Format`] from a
//! rule's arguments is compiled once into a [`Checker`], which then says of
//! one text value at a time whether it is in that format.
//!
//! Every checker refuses a value with leading or trailing whitespace
//! (trimming is another rule's job). What each format accepts is documented
//! on its [`Format`] variant.

mod bank;
mod codes;
mod iso_tables;
mod net;
mod postal;
#[cfg(test)]
mod tests;
mod text;

use serde::Deserialize;

/// A format that a text value can be checked against. It deserializes from
/// the rule's arguments, `{"name": "postal_code", "country": "GB"}`; an
/// unknown argument is an error, for formats without arguments too.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "Args")]
pub enum Format {
    /// An email address: the WHATWG HTML "valid e-mail address" shape (a
    /// local part of atext characters and dots; a domain of letter, digit
    /// and hyphen labels of at most 63 octets that neither start nor end
    /// with a hyphen) with the RFC 5321 lengths (local part at most 64
    /// octets, whole address at most 254). The local part has no leading,
    /// trailing or doubled dot; the domain has at least two labels and a
    /// top-level label that is not all digits.
    ///
    /// Internationalized addresses (RFC 6531) pass: the local part may hold
    /// letters, marks and digits of any script, and a domain label may be
    /// an IDNA U-label, written in the lowercase, NFC form that IDNA maps
    /// it to (`zoë@bücher.example` passes, `ZOË@BÜCHER.EXAMPLE` fails on
    /// its domain); `xn--` labels must be valid A-labels. Lengths are
    /// counted in UTF-8 octets, a label's in its A-label form.
    ///
    /// Quoted local parts (`"john doe"@example.com`) and IP-literal domains
    /// (`user@[192.0.2.1]`) fail.
    Email,
    /// An absolute URL as the `url` crate (WHATWG URL Standard) parses it,
    /// with a scheme in `schemes` (compared case-insensitively; default
    /// `http` and `https`) and a non-empty host. Values the standard calls
    /// invalid even though browsers repair them fail: a space or other
    /// character that needs percent-encoding, a `%` not followed by two hex
    /// digits, a backslash, a tab or newline, `http:example.com` without
    /// `//`. User names and passwords (`https://user:pw@host/`) pass.
    /// Schemes without a host (`mailto:`, `urn:`, `file:///tmp`) never pass.
    Url { schemes: Option<Vec<String>> },
    /// A UUID in the canonical hyphenated 8-4-4-4-12 form of hex digits, in
    /// either case. Braced (`{...}`), URN (`urn:uuid:...`) and unhyphenated
    /// forms fail. Without `version` any UUID passes, the nil and max UUIDs
    /// included; with `version` (1 to 8) the version digit must equal it
    /// and the variant must be the RFC 9562 (RFC 4122) one.
    Uuid { version: Option<u8> },
    /// An IPv4 address in dotted-quad form (`192.0.2.1`); an octet with a
    /// leading zero, fewer than four parts or a prefix length fail.
    Ipv4,
    /// An IPv6 address in RFC 4291 text form (`2001:db8::1`, `::`,
    /// `::ffff:192.0.2.1`); a zone id (`fe80::1%eth0`), brackets or a prefix
    /// length fail.
    Ipv6,
    /// An IPv4 or an IPv6 address, as for `ipv4` and `ipv6`.
    Ip,
    /// An IPv4 or IPv6 address inside at least one of `networks`, each a
    /// CIDR network (`10.0.0.0/8`, `2001:db8::/32`) without host bits set.
    /// An address only matches networks of its own family: the IPv4-mapped
    /// `::ffff:10.0.0.1` is not inside `10.0.0.0/8`.
    IpNetwork { networks: Vec<String> },
    /// A phone number in E.164 form: `+`, then 2 to 15 digits, the first not
    /// 0, starting with a country calling code that the ITU-T has assigned
    /// (to a country or a global service) and that has numbers in service,
    /// followed by at least one more digit. Reserved codes (+379, reserved
    /// for Vatican City, which uses +39; +997, reserved for Kazakhstan, which
    /// uses +7) and the unused shared codes +388 and +991 fail. Spaces,
    /// hyphens and brackets fail.
    E164,
    /// An ISO 4217 alphabetic currency code in uppercase, from the codes that
    /// Debian's iso-codes lists as current: these include funds (`USN`),
    /// precious metals (`XAU`) and the codes `XTS` and `XXX`.
    Currency,
    /// An ISO 3166-1 country code in uppercase: alpha-2 (`alpha: 2`, the
    /// default) or alpha-3 (`alpha: 3`). User-assigned codes such as `XK`
    /// and reserved ones such as `UK` and `EU` fail.
    Country { alpha: u8 },
    /// An ISO 639 language code in lowercase: `part: 1` (the default) takes
    /// the two-letter ISO 639-1 codes, `part: 2` the three-letter ISO 639-2
    /// codes (terminology and bibliographic forms, such as `deu` and `ger`;
    /// not the local-use range `qaa`-`qtz`), `part: 3` the ISO 639-3 codes.
    Language { part: u8 },
    /// An IBAN: a country code from the SWIFT IBAN registry, the length that
    /// the registry gives for that country, two check digits that pass ISO
    /// 7064 MOD 97-10, and only the characters `A`-`Z` and `0`-`9`. Both the
    /// electronic form (`GB82WEST12345698765432`) and the print form (groups
    /// of four separated by single spaces, `GB82 WEST 1234 5698 7654 32`)
    /// pass; lowercase letters fail.
    Iban,
    /// A payment card number: 12 to 19 digits that pass the Luhn check,
    /// optionally in groups separated by single spaces or by single hyphens
    /// (one kind of separator per number, none leading or trailing).
    CardNumber,
    /// A postal code in the written form of the country's postal service
    /// (`country`, an ISO 3166-1 alpha-2 code): uppercase letters only, with
    /// the separator the service prints (`SW1A 1AA`, `1234 AB`, `1234-567`,
    /// `123 45`), so `sw1a 1aa` and `SW1A1AA` fail. Known countries: AR,
    /// AT, AU, BE, BG, BR, CA, CH, CL, CN, CO, CZ, DE, DK, EE, EG, ES, FI,
    /// FR, GB, GR, HR, HU, ID, IE, IL, IN, IS, IT, JP, KR, LI, LT, LU, LV,
    /// MA, MX, MY, NL, NO, NZ, PH, PK, PL, PT, RO, RS, RU, SA, SE, SG, SI,
    /// SK, TH, TR, TW, UA, US, ZA. A country whose post uses no postal codes
    /// (HK, AE, ...) is refused when the rule is compiled.
    PostalCode { country: String },
    /// A complete JSON text by the RFC 8259 grammar, of any type and depth:
    /// `{"a": 1}`, `[1]`, `"x"`, `3`, `null`. Duplicate object keys and
    /// `\u` escapes of lone surrogates pass, as the grammar allows them.
    Json,
    /// A JSON text (as for `json`) that is valid against `schema`, a JSON
    /// Schema (draft 2020-12 unless its `$schema` names another draft)
    /// whose `$ref`s stay inside the schema. A value nested deeper than 128
    /// levels, or with a lone surrogate escape, fails. `format` keywords are
    /// annotations, as the 2019-09 and 2020-12 drafts define them, and are
    /// asserted only by the older drafts.
    JsonSchema { schema: serde_json::Value },
}

/// [`Format`] as written in a rule. Formats without arguments are empty
/// struct variants here because serde ignores unknown fields of an
/// internally tagged unit variant, even with `deny_unknown_fields`.
#[derive(Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
enum Args {
    Email {},
    Url {
        #[serde(default)]
        schemes: Option<Vec<String>>,
    },
    Uuid {
        #[serde(default)]
        version: Option<u8>,
    },
    Ipv4 {},
    Ipv6 {},
    Ip {},
    IpNetwork {
        networks: Vec<String>,
    },
    E164 {},
    Currency {},
    Country {
        #[serde(default = "two")]
        alpha: u8,
    },
    Language {
        #[serde(default = "one")]
        part: u8,
    },
    Iban {},
    CardNumber {},
    PostalCode {
        country: String,
    },
    Json {},
    JsonSchema {
        schema: serde_json::Value,
    },
}

fn one() -> u8 {
    1
}

fn two() -> u8 {
    2
}

impl From<Args> for Format {
    fn from(args: Args) -> Self {
        match args {
            Args::Email {} => Format::Email,
            Args::Url { schemes } => Format::Url { schemes },
            Args::Uuid { version } => Format::Uuid { version },
            Args::Ipv4 {} => Format::Ipv4,
            Args::Ipv6 {} => Format::Ipv6,
            Args::Ip {} => Format::Ip,
            Args::IpNetwork { networks } => Format::IpNetwork { networks },
            Args::E164 {} => Format::E164,
            Args::Currency {} => Format::Currency,
            Args::Country { alpha } => Format::Country { alpha },
            Args::Language { part } => Format::Language { part },
            Args::Iban {} => Format::Iban,
            Args::CardNumber {} => Format::CardNumber,
            Args::PostalCode { country } => Format::PostalCode { country },
            Args::Json {} => Format::Json,
            Args::JsonSchema { schema } => Format::JsonSchema { schema },
        }
    }
}

impl Format {
    /// The rule kind that checks this format.
    pub fn kind(&self) -> &'static str {
        match self {
            Format::Email => "is_email",
            Format::Url { .. } => "is_url",
            Format::Uuid { .. } => "is_uuid",
            Format::Ipv4 => "is_ipv4",
            Format::Ipv6 => "is_ipv6",
            Format::Ip => "is_ip",
            Format::IpNetwork { .. } => "is_ip_in_network",
            Format::E164 => "is_e164",
            Format::Currency => "is_currency_code",
            Format::Country { .. } => "is_country_code",
            Format::Language { .. } => "is_language_code",
            Format::Iban => "is_iban",
            Format::CardNumber => "is_card_number",
            Format::PostalCode { .. } => "is_postal_code",
            Format::Json => "is_json",
            Format::JsonSchema { .. } => "matches_json_schema",
        }
    }

    /// Checks the arguments and builds the checker. An error names the
    /// argument that is wrong and says why.
    pub fn compile(&self) -> Result<Checker, (&'static str, String)> {
        let inner = match self {
            Format::Email => Inner::Email,
            Format::Url { schemes } => Inner::Url(text::url_schemes(schemes.as_deref())?),
            Format::Uuid { version: None } => Inner::Uuid(None),
            Format::Uuid { version: Some(v) } if (1..=8).contains(v) => Inner::Uuid(Some(*v)),
            Format::Uuid { .. } => return Err(("version", "UUID versions are 1 to 8".into())),
            Format::Ipv4 => Inner::Ipv4,
            Format::Ipv6 => Inner::Ipv6,
            Format::Ip => Inner::Ip,
            Format::IpNetwork { networks } => Inner::IpNetwork(net::networks(networks)?),
            Format::E164 => Inner::E164,
            Format::Currency => Inner::Code(&iso_tables::CURRENCY),
            Format::Country { alpha: 2 } => Inner::Code2(&iso_tables::COUNTRY_ALPHA2),
            Format::Country { alpha: 3 } => Inner::Code(&iso_tables::COUNTRY_ALPHA3),
            Format::Country { .. } => return Err(("alpha", "2 or 3".into())),
            Format::Language { part: 1 } => Inner::Code2(&iso_tables::LANGUAGE_PART1),
            Format::Language { part: 2 } => Inner::Code(&iso_tables::LANGUAGE_PART2),
            Format::Language { part: 3 } => Inner::Code(&iso_tables::LANGUAGE_PART3),
            Format::Language { .. } => return Err(("part", "1, 2 or 3".into())),
            Format::Iban => Inner::Iban,
            Format::CardNumber => Inner::CardNumber,
            Format::PostalCode { country } => Inner::Postal(postal::compile(country)?),
            Format::Json => Inner::Json,
            Format::JsonSchema { schema } => Inner::JsonSchema(Box::new(text::schema(schema)?)),
        };
        Ok(Checker { inner })
    }
}

/// A compiled [`Format`], cheap to call from many threads at once. Checking
/// a value allocates nothing, except in the parsers of `url`, `json` (for
/// nesting) and `json_schema`, and for an internationalized email domain.
pub struct Checker {
    inner: Inner,
}

enum Inner {
    Email,
    Url(Vec<String>),
    Uuid(Option<u8>),
    Ipv4,
    Ipv6,
    Ip,
    IpNetwork(Vec<net::Network>),
    E164,
    Code(&'static [[u8; 3]]),
    Code2(&'static [[u8; 2]]),
    Iban,
    CardNumber,
    Postal(regex::Regex),
    Json,
    JsonSchema(Box<jsonschema::Validator>),
}

impl Checker {
    /// Whether `value` is in the format. A value with leading or trailing
    /// whitespace never is.
    pub fn is_valid(&self, value: &str) -> bool {
        let padded = value.starts_with(char::is_whitespace) || value.ends_with(char::is_whitespace);
        if padded {
            return false;
        }
        match &self.inner {
            Inner::Email => text::is_email(value),
            Inner::Url(schemes) => text::is_url(value, schemes),
            Inner::Uuid(version) => codes::is_uuid(value, *version),
            Inner::Ipv4 => value.parse::<std::net::Ipv4Addr>().is_ok(),
            Inner::Ipv6 => value.parse::<std::net::Ipv6Addr>().is_ok(),
            Inner::Ip => value.parse::<std::net::IpAddr>().is_ok(),
            Inner::IpNetwork(networks) => net::in_networks(value, networks),
            Inner::E164 => codes::is_e164(value),
            Inner::Code(table) => <[u8; 3]>::try_from(value.as_bytes())
                .is_ok_and(|code| table.binary_search(&code).is_ok()),
            Inner::Code2(table) => <[u8; 2]>::try_from(value.as_bytes())
                .is_ok_and(|code| table.binary_search(&code).is_ok()),
            Inner::Iban => bank::is_iban(value),
            Inner::CardNumber => bank::is_card_number(value),
            Inner::Postal(pattern) => pattern.is_match(value),
            Inner::Json => text::is_json(value),
            Inner::JsonSchema(validator) => text::matches_schema(value, validator),
        }
    }
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match &self.inner {
            Inner::Email => "email",
            Inner::Url(_) => "url",
            Inner::Uuid(_) => "uuid",
            Inner::Ipv4 => "ipv4",
            Inner::Ipv6 => "ipv6",
            Inner::Ip => "ip",
            Inner::IpNetwork(_) => "ip_network",
            Inner::E164 => "e164",
            Inner::Code(_) | Inner::Code2(_) => "code",
            Inner::Iban => "iban",
            Inner::CardNumber => "card_number",
            Inner::Postal(_) => "postal_code",
            Inner::Json => "json",
            Inner::JsonSchema(_) => "json_schema",
        };
        f.debug_struct("Checker").field("format", &name).finish()
    }
}
