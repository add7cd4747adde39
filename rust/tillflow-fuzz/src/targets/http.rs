//! Response headers the HTTP engine reads: Link (paging) and Retry-After.

use fastrand::Rng;
use http::header::{self, HeaderMap, HeaderValue};
use tillflow_core::sources::http::client::{parse_retry_after, Response};
use tillflow_core::sources::http::paging::next_link;

use super::choose;
use crate::engine::Target;
use crate::gen;

/// Header values from an input: one per line (bytes a header cannot hold
/// are left to the HTTP stack, which refuses them before tillflow sees them).
fn values(data: &[u8]) -> Vec<HeaderValue> {
    data.split(|b| *b == b'\n')
        .filter_map(|line| HeaderValue::from_bytes(line).ok())
        .collect()
}

fn link_run(data: &[u8]) {
    let mut c = choose(data);
    let base = c.of(&[
        "https://shop.example/admin/api/orders.json?limit=50",
        "http://127.0.0.1:8080/a/b/",
        "https://ü.example/x?y#z",
    ]);
    let Ok(url) = url::Url::parse(base) else {
        return;
    };
    let mut headers = HeaderMap::new();
    for v in values(data) {
        headers.append(header::LINK, v);
    }
    let resp = Response {
        url,
        headers,
        body: bytes::Bytes::new(),
    };
    for rel in ["next", "previous", "NEXT", ""] {
        let _ = next_link(&resp, rel);
    }
}

fn link_generate(rng: &mut Rng) -> Vec<u8> {
    let target = |rng: &mut Rng| {
        gen::pick(
            rng,
            &[
                "https://shop.example/orders.json?page_info=abc&limit=50",
                "/relative?page=2",
                "?page=3",
                "//other.example/x",
                "",
                "http://[::1",
                "javascript:alert(1)",
                "https://ü.example/é",
                "a b",
            ],
        )
        .to_string()
    };
    let n = 1 + rng.usize(..3);
    let mut lines = Vec::new();
    for _ in 0..rng.usize(1..3) {
        let mut parts = Vec::new();
        for _ in 0..n {
            let t = target(rng);
            let rel = gen::pick(
                rng,
                &[
                    "next",
                    "previous",
                    "\"next\"",
                    "\"next last\"",
                    "NEXT",
                    "",
                    "\"unterminated",
                ],
            );
            let extra = gen::pick(
                rng,
                &[
                    "",
                    "; title=\"a,b\"",
                    "; title*=UTF-8''%e2%82%ac",
                    "; rel=next",
                    ";;",
                    "; =x",
                ],
            );
            parts.push(format!("<{t}>; rel={rel}{extra}"));
        }
        lines.push(parts.join(gen::pick(rng, &[", ", ",", " , ", ",,"])));
    }
    lines.join("\n").into_bytes()
}

pub static LINK_HEADER: Target = Target {
    name: "link_header",
    about:
        "Link headers (RFC 8288) as link-header paging reads them, resolved against the page URL",
    run: link_run,
    generate: link_generate,
    dict: &[
        b"<",
        b">",
        b";",
        b",",
        b"rel=",
        b"\"",
        b"next",
        b"https://",
        b"?page_info=",
        b"\n",
    ],
    max_len: 8 * 1024,
};

fn retry_run(data: &[u8]) {
    let mut headers = HeaderMap::new();
    for v in values(data) {
        headers.append(header::RETRY_AFTER, v);
    }
    let _ = parse_retry_after(&headers);
}

fn retry_generate(rng: &mut Rng) -> Vec<u8> {
    let v = match rng.u8(..4) {
        0 => gen::number(rng),
        1 => format!("{}.{}", rng.u32(..), rng.u32(..)),
        _ => gen::pick(
            rng,
            &[
                "120",
                " 3 ",
                "1e30",
                "1.8e19",
                "18446744073709551616",
                "-1",
                "-0",
                "inf",
                "NaN",
                "0x10",
                "Wed, 21 Oct 2015 07:28:00 GMT",
                "Fri, 31 Dec 9999 23:59:59 GMT",
                "Thu, 01 Jan 1970 00:00:00 GMT",
                "Sunday, 06-Nov-94 08:49:37 GMT",
                "Sun Nov  6 08:49:37 1994",
                "Mon, 31 Feb 2025 25:61:61 GMT",
                "",
            ],
        )
        .to_string(),
    };
    v.into_bytes()
}

pub static RETRY_AFTER: Target = Target {
    name: "retry_after",
    about: "Retry-After as delta-seconds or an HTTP date",
    run: retry_run,
    generate: retry_generate,
    dict: &[b"GMT", b"Mon, ", b" Jan ", b"00:00:00", b".", b"e", b"-"],
    max_len: 1024,
};
