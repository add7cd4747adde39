//! Xero Accounting, as documented at:
//! - https://developer.xero.com/documentation/guides/oauth2/auth-flow/
//!   (token endpoint `/connect/token`, `grant_type=refresh_token`, new
//!   refresh token on every refresh, access tokens for 30 minutes;
//!   `GET /connections` gives the `tenantId` for the `xero-tenant-id` header)
//! - https://developer.xero.com/documentation/api/accounting/invoices,
//!   .../contacts and .../payments (`/api.xro/2.0/{Invoices,Contacts,Payments}`,
//!   `page=N` with 100 records a page (`pageSize` up to 1,000),
//!   `If-Modified-Since` for changed records, `order`)
//! - https://developer.xero.com/documentation/guides/oauth2/limits/ (60
//!   calls a minute, 5,000 a day and 5 at once per tenant; `X-MinLimit-Remaining`,
//!   `X-DayLimit-Remaining`; 429 with `Retry-After` and
//!   `X-Rate-Limit-Problem`)
//! - https://developer.xero.com/documentation/api/accounting/responsecodes
//!
//! Dates are Xero's JSON form, `/Date(1704067200000+0000)/`.

use std::sync::Arc;

use serde_json::{json, Value};

use super::common::{basic, bearer, form, form_get, guid, iso, json as reply_json, parse_time};
use super::data::World;
use super::limits::{InFlight, Window, WindowKind};
use super::oauth::{Refused, RotatingApp};
use super::{Counters, Ctx, Vendor};
use crate::http_server::{Reply, Request};

pub const CLIENT_ID: &str = "0A1B2C3D4E5F60718293A4B5C6D7E8F9";
pub const CLIENT_SECRET: &str = "xero-demo-secret-tillflow-estate-00000000000000";
pub const INITIAL_REFRESH_TOKEN: &str = "xero-demo-refresh-initial-000000000000000000000";
pub const TENANT_ID: &str = "7f1c0a2e-3b4d-4e5f-8a6b-7c8d9e0f1a2b";
pub const TOKEN_PATH: &str = "/connect/token";
pub const ACCESS_TOKEN_SECS: u64 = 1800;
pub const PER_MINUTE: u64 = 60;
pub const PER_DAY: u64 = 5000;
pub const CONCURRENT: u64 = 5;
/// 100 a page unless `pageSize` asks for up to 1,000.
const PAGE_SIZE: usize = 100;
const MAX_PAGE_SIZE: usize = 1000;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Invoices,
    Contacts,
    Payments,
}

pub struct Xero {
    ctx: Arc<Ctx>,
    app: RotatingApp,
    minute: Window,
    day: Window,
    in_flight: InFlight,
}

fn xero_date(secs: i64) -> String {
    format!("/Date({}+0000)/", secs * 1000)
}

impl Xero {
    pub fn new(ctx: Arc<Ctx>) -> Self {
        let ttl = ctx.config.access_token_secs.unwrap_or(ACCESS_TOKEN_SECS);
        let enforce = ctx.config.limits;
        Xero {
            app: RotatingApp::new(
                (CLIENT_ID, CLIENT_SECRET),
                INITIAL_REFRESH_TOKEN,
                TOKEN_PATH,
                ("tenant_id", TENANT_ID),
                ("xero-", ttl),
                ctx.clock.clone(),
            ),
            minute: Window::new(WindowKind::Sliding, PER_MINUTE, 60_000, enforce),
            day: Window::new(WindowKind::Fixed, PER_DAY, 86_400_000, enforce),
            in_flight: InFlight::new(CONCURRENT, enforce),
            ctx,
        }
    }

    fn w(&self) -> &World {
        &self.ctx.world
    }

    fn positions(&self, k: Kind) -> Vec<u64> {
        let w = self.w();
        match k {
            Kind::Contacts => (0..w.customers()).collect(),
            Kind::Invoices => (0..w.invoices()).collect(),
            Kind::Payments => w.paid_invoices(),
        }
    }

    fn updated(&self, k: Kind, p: u64) -> i64 {
        let w = self.w();
        match k {
            Kind::Contacts => w.customer_updated(p),
            Kind::Invoices => w.invoice_updated(p),
            Kind::Payments => w.invoice(p).paid_at.unwrap_or_default(),
        }
    }

    fn contact_ref(&self, c: u64) -> Value {
        let (first, last) = self.w().name(c);
        json!({"ContactID": guid(self.w().seed, 1, c), "Name": format!("{first} {last} ({})", c + 1)})
    }

    fn record(&self, k: Kind, p: u64) -> Value {
        let w = self.w();
        let seed = w.seed;
        let updated = xero_date(self.updated(k, p));
        match k {
            Kind::Contacts => {
                let (first, last) = w.name(p);
                let (city, country) = w.shop.customer_city(p);
                let mut v = self.contact_ref(p);
                v["ContactStatus"] = json!("ACTIVE");
                v["FirstName"] = json!(first);
                v["LastName"] = json!(last);
                v["EmailAddress"] = json!(w.email(p));
                v["IsCustomer"] = json!(true);
                v["IsSupplier"] = json!(false);
                v["Addresses"] =
                    json!([{"AddressType": "POBOX", "City": city, "Country": country}]);
                v["Phones"] = json!([{"PhoneType": "DEFAULT", "PhoneNumber": w.phone(p)}]);
                v["UpdatedDateUTC"] = json!(updated);
                v
            }
            Kind::Invoices => {
                let inv = w.invoice(p);
                let dollars = |c: i64| json!(c as f64 / 100.0);
                let lines: Vec<Value> = inv
                    .lines
                    .iter()
                    .enumerate()
                    .map(|(j, &(product, qty, unit))| {
                        json!({"LineItemID": guid(seed, 4, p * 4 + j as u64),
                               "Description": w.shop.product(product).0, "Quantity": qty,
                               "UnitAmount": dollars(unit), "LineAmount": dollars(qty * unit),
                               "ItemCode": format!("SKU-{product:03}"), "AccountCode": "200", "TaxType": "NONE"})
                    })
                    .collect();
                let paid = inv.paid_at.is_some();
                let payments: Vec<Value> = inv
                    .paid_at
                    .map(|t| json!({"PaymentID": guid(seed, 3, p), "Date": xero_date(t), "Amount": dollars(inv.total)}))
                    .into_iter()
                    .collect();
                json!({"Type": "ACCREC", "InvoiceID": guid(seed, 2, p), "InvoiceNumber": format!("TF-{:04}", p + 1),
                       "Reference": "", "Contact": self.contact_ref(inv.customer),
                       "Date": xero_date(inv.created), "DateString": iso(inv.created).trim_end_matches('Z'),
                       "DueDate": xero_date(inv.due), "DueDateString": iso(inv.due).trim_end_matches('Z'),
                       "Status": if paid { "PAID" } else { "AUTHORISED" }, "LineAmountTypes": "Exclusive",
                       "LineItems": lines, "SubTotal": dollars(inv.total), "TotalTax": 0.0,
                       "Total": dollars(inv.total), "AmountDue": dollars(if paid { 0 } else { inv.total }),
                       "AmountPaid": dollars(if paid { inv.total } else { 0 }), "CurrencyCode": "USD",
                       "Payments": payments, "UpdatedDateUTC": updated})
            }
            Kind::Payments => {
                let inv = w.invoice(p);
                json!({"PaymentID": guid(seed, 3, p), "Date": xero_date(inv.paid_at.unwrap_or_default()),
                       "Amount": inv.total as f64 / 100.0, "Status": "AUTHORISED", "PaymentType": "ACCRECPAYMENT",
                       "Invoice": {"InvoiceID": guid(seed, 2, p), "InvoiceNumber": format!("TF-{:04}", p + 1),
                                   "Contact": self.contact_ref(inv.customer)},
                       "UpdatedDateUTC": updated})
            }
        }
    }

    fn token(&self, req: &Request) -> Reply {
        let fields = form(req);
        let client = basic(req).or_else(|| {
            Some((
                form_get(&fields, "client_id")?.to_string(),
                form_get(&fields, "client_secret")?.to_string(),
            ))
        });
        if !client.is_some_and(|(u, p)| u == CLIENT_ID && p == CLIENT_SECRET) {
            return reply_json(400, &json!({"error": "invalid_client"}));
        }
        if form_get(&fields, "grant_type") != Some("refresh_token") {
            return reply_json(400, &json!({"error": "unsupported_grant_type"}));
        }
        let refresh = form_get(&fields, "refresh_token").unwrap_or_default();
        self.app.refresh(refresh, |t| {
            json!({"access_token": t.access_token, "expires_in": t.expires_in, "token_type": "Bearer",
                   "refresh_token": t.refresh_token,
                   "scope": "offline_access accounting.transactions.read accounting.contacts.read"})
        })
    }

    fn list(&self, k: Kind, name: &str, req: &Request) -> Reply {
        let since = match req.header("if-modified-since") {
            None => None,
            Some(h) => match parse_time(h).or_else(|| {
                httpdate::parse_http_date(h).ok().and_then(|t| {
                    t.duration_since(std::time::UNIX_EPOCH)
                        .ok()
                        .map(|d| d.as_secs() as i64)
                })
            }) {
                Some(t) => Some(t),
                None => return validation(&format!("If-Modified-Since is not a date: {h}")),
            },
        };
        let mut hits: Vec<u64> = self
            .positions(k)
            .into_iter()
            .filter(|&p| since.is_none_or(|t| self.updated(k, p) > t))
            .collect();
        if let Some(order) = req.param("order") {
            let mut parts = order.split_whitespace();
            let field = parts.next().unwrap_or_default();
            let desc = parts.next().is_some_and(|d| d.eq_ignore_ascii_case("DESC"));
            if field.eq_ignore_ascii_case("UpdatedDateUTC") {
                hits.sort_by_key(|&p| (self.updated(k, p), p));
            }
            if desc {
                hits.reverse();
            }
        }
        let total = hits.len();
        let size = match req.param("pageSize").map(str::parse::<usize>) {
            None => PAGE_SIZE,
            Some(Ok(n)) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            Some(_) => {
                return validation(&format!("pageSize must be between 1 and {MAX_PAGE_SIZE}"))
            }
        };
        let (page_no, page): (Option<usize>, Vec<u64>) = match req.param("page") {
            None => (None, hits),
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if n >= 1 => (
                    Some(n),
                    hits.into_iter().skip((n - 1) * size).take(size).collect(),
                ),
                _ => {
                    return validation(&format!("page must be a positive whole number, got {raw}"))
                }
            },
        };
        let records: Vec<Value> = page.iter().map(|&p| self.record(k, p)).collect();
        let mut body = json!({"Id": guid(self.w().seed, 99, self.ctx.clock.now_ms()), "Status": "OK",
                              "ProviderName": "tillflow demo", "DateTimeUTC": xero_date(self.ctx.clock.unix()),
                              name: records});
        if let Some(n) = page_no {
            body["pagination"] = json!({"page": n, "pageSize": size, "pageCount": total.div_ceil(size),
                                        "itemCount": total});
        }
        reply_json(200, &body)
    }
}

impl Vendor for Xero {
    fn name(&self) -> &'static str {
        "xero"
    }

    fn rotating(&self) -> Option<&RotatingApp> {
        Some(&self.app)
    }

    fn handle(&self, req: &Request, _counters: &Counters) -> Reply {
        if let Some(reply) = self.app.token_endpoint(req, |req| self.token(req)) {
            return reply;
        }
        let now = self.ctx.clock.now_ms();
        if let Err(why) = self.app.tokens.check(bearer(req).unwrap_or_default(), now) {
            let detail = match why {
                Refused::Expired => "TokenExpired: token expired",
                Refused::Unknown => "TokenInvalid: the access token is not recognised",
            };
            return problem(401, "Unauthorized", detail)
                .with_header("www-authenticate", "Bearer error=\"invalid_token\"");
        }
        if req.path == "/connections" {
            return reply_json(
                200,
                &json!([{"id": guid(self.w().seed, 98, 0), "authEventId": guid(self.w().seed, 97, 0),
                         "tenantId": TENANT_ID, "tenantType": "ORGANISATION", "tenantName": "Tillflow Demo Ltd",
                         "createdDateUtc": "2024-01-01T00:00:00.0000000", "updatedDateUtc": "2024-01-01T00:00:00.0000000"}]),
            );
        }
        let (kind, name) = match req.path.as_str() {
            "/api.xro/2.0/Invoices" => (Kind::Invoices, "Invoices"),
            "/api.xro/2.0/Contacts" => (Kind::Contacts, "Contacts"),
            "/api.xro/2.0/Payments" => (Kind::Payments, "Payments"),
            _ => {
                return problem(
                    404,
                    "Not Found",
                    "The resource you're looking for cannot be found",
                )
            }
        };
        if req.header("xero-tenant-id") != Some(TENANT_ID) {
            return problem(403, "Forbidden", "AuthenticationUnsuccessful");
        }
        let day = self.day.check(TENANT_ID, now);
        let minute = if day.allowed() {
            self.minute.check(TENANT_ID, now)
        } else {
            day
        };
        if !day.allowed() || !minute.allowed() {
            let (problem_name, d) = if day.allowed() {
                ("minute", minute)
            } else {
                ("day", day)
            };
            return Reply::json(429, "")
                .with_header("retry-after", d.retry_after_secs().to_string())
                .with_header("x-rate-limit-problem", problem_name)
                .with_header("x-minlimit-remaining", "0")
                .with_header("x-daylimit-remaining", day.remaining().to_string());
        }
        let Some(slot) = self.in_flight.enter(TENANT_ID) else {
            return Reply::json(429, "")
                .with_header("retry-after", "1")
                .with_header("x-rate-limit-problem", "concurrent");
        };
        self.list(kind, name, req)
            .with_header("x-minlimit-remaining", minute.remaining().to_string())
            .with_header("x-daylimit-remaining", day.remaining().to_string())
            .with_header("x-appminlimit-remaining", "9999")
            .holding(Arc::new(slot))
    }
}

fn problem(status: u16, title: &str, detail: &str) -> Reply {
    reply_json(
        status,
        &json!({"Type": null, "Title": title, "Status": status, "Detail": detail,
                "Instance": "00000000-0000-0000-0000-000000000000", "Extensions": {}}),
    )
}

fn validation(message: &str) -> Reply {
    reply_json(
        400,
        &json!({"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
                "Elements": [{"ValidationErrors": [{"Message": message}]}]}),
    )
}
