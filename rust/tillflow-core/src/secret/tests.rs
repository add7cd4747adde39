use super::*;

fn redactor(secret: &str) -> Redactor {
    let mut r = Redactor::default();
    r.add_secret(&Secret::new(secret));
    r
}

#[test]
fn debug_and_display_mask() {
    let s = Secret::new("shpat_abcdef");
    assert_eq!(format!("{s:?} {s}"), "*** ***");
    assert_eq!(s.expose(), "shpat_abcdef");
}

#[test]
fn query_parameters_named_as_secret_are_masked_in_urls() {
    let mut r = redactor("k3y/with space");
    r.add_query_param("api_key");
    let u = url::Url::parse("http://h/x?api_key=zz&page=2").unwrap();
    assert_eq!(r.url(&u), "http://h/x?api_key=***&page=2");
    assert_eq!(r.text("token k3y/with space here"), "token *** here");
}

#[test]
fn every_wire_form_of_a_long_secret_is_masked() {
    let secret = "tfCanary/9Q+x=Zk4 é";
    let r = redactor(secret);
    let shown = [
        "tfCanary/9Q+x=Zk4 é",
        "tfCanary%2F9Q%2Bx%3DZk4+%C3%A9",
        "tfCanary%2F9Q%2Bx%3DZk4%20%C3%A9",
        "tfCanary%2f9Q%2bx%3dZk4%20%c3%a9",
        "tfCanary/9Q%2Bx%3DZk4%20%C3%A9",
        "tfCanary\\/9Q+x=Zk4 é",
        "tfCanary/9Q+x=Zk4 \\u00e9",
    ];
    for form in shown {
        let text = format!("server said: {form}, bye");
        assert_eq!(r.text(&text), "server said: ***, bye", "{form}");
    }
}

#[test]
fn json_and_html_escapes_are_masked() {
    let r = redactor("a\"b<c>'d&e");
    assert_eq!(r.text(r#"{"echo":"a\"b<c>'d&e"}"#), r#"{"echo":"***"}"#);
    assert_eq!(
        r.text("<p>a&quot;b&lt;c&gt;&#x27;d&amp;e</p>"),
        "<p>***</p>"
    );
}

#[test]
fn basic_credentials_are_masked_in_base64_in_both_alphabets() {
    let mut r = Redactor::default();
    // "?>" makes the standard and URL-safe alphabets differ.
    r.add_basic("shop?>", &Secret::new("pa55word?>"));
    let raw = "shop?>:pa55word?>";
    for encoded in [
        STANDARD.encode(raw),
        STANDARD_NO_PAD.encode(raw),
        URL_SAFE.encode(raw),
        URL_SAFE_NO_PAD.encode(raw),
    ] {
        let text = format!("you sent Authorization: Basic {encoded}.");
        assert_eq!(
            r.text(&text),
            "you sent Authorization: Basic ***.",
            "{encoded}"
        );
    }
    assert_eq!(r.text("password pa55word?> wrong"), "password *** wrong");
}

#[test]
fn a_short_secret_is_masked_only_where_it_stands_as_a_credential() {
    let r = redactor("wrong");
    // Unrelated text keeps its words.
    assert_eq!(
        r.text("something went wrong on our side; wrongly routed"),
        "something went wrong on our side; wrongly routed"
    );
    assert_eq!(
        r.text("Authorization: Bearer wrong"),
        "Authorization: Bearer ***"
    );
    assert_eq!(
        r.text("GET /x?api_key=wrong&page=2"),
        "GET /x?api_key=***&page=2"
    );
    assert_eq!(
        r.text(r#"{"token": "wrong", "msg": "wrong"}"#),
        r#"{"token": "***", "msg": "wrong"}"#
    );
    assert_eq!(r.text("X-Api-Key: wrong"), "X-Api-Key: ***");
    // A longer word holding it is not it.
    assert_eq!(r.text("token=wrongful"), "token=wrongful");
}

#[test]
fn nothing_else_is_masked() {
    let r = redactor("a-long-api-key-123");
    let text = "HTTP 500 Internal Server Error: a-long-api-key-12 is close but not it";
    assert_eq!(r.text(text), text);
    assert!(Redactor::default().text("anything").eq("anything"));
}

#[test]
fn a_secret_holding_another_form_is_masked_whole() {
    let mut r = Redactor::default();
    r.add_secret(&Secret::new("abcdefgh"));
    r.add_secret(&Secret::new("abcdefghijkl"));
    assert_eq!(r.text("x abcdefghijkl y"), "x *** y");
}

#[test]
fn credential_names() {
    for n in [
        "Authorization",
        "X-Api-Key",
        "X-Shopify-Access-Token",
        "client_secret",
        "Cookie",
        "apikey",
        "sig",
    ] {
        assert!(is_credential_name(n), "{n}");
    }
    for n in ["Accept", "Stripe-Version", "page", "limit", "cursor"] {
        assert!(!is_credential_name(n), "{n}");
    }
}

#[test]
fn forms_are_distinct_and_start_with_the_value() {
    let f = forms("plain");
    assert_eq!(f, vec!["plain".to_string()]);
    let f = forms("a/b c");
    assert_eq!(f[0], "a/b c");
    let mut sorted = f.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), f.len());
}
