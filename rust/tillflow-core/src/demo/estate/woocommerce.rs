//! WooCommerce REST API v3, as documented at:
//! - https://woocommerce.github.io/woocommerce-rest-api-docs/#authentication
//!   (Basic auth with the consumer key and secret, or `consumer_key` and
//!   `consumer_secret` as query parameters)
//! - https://woocommerce.github.io/woocommerce-rest-api-docs/#pagination
//!   (`page`, `per_page` ≤ 100 (default 10), `X-WP-Total`,
//!   `X-WP-TotalPages`, `Link` with rel next/prev)
//! - https://woocommerce.github.io/woocommerce-rest-api-docs/#list-all-orders
//!   (`modified_after`, `after`, `before` in the site's time unless
//!   `dates_are_gmt=true`, `orderby`, `order`), customers,
//!   products and `/orders/{id}/notes`
//! - https://woocommerce.github.io/woocommerce-rest-api-docs/#errors
//!   (`{"code", "message", "data": {"status"}}`)
//!
//! WooCommerce documents no request rate limit of its own. Dates without an
//! offset are the site's time (UTC-05:00); the `_gmt` twins are UTC.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};

use super::common::{basic, host, iso, json as reply_json, money, parse_time};
use super::data::{Gateway, World};
use super::{Counters, Ctx, Vendor};
use crate::demo::data::SHOP_OFFSET_SECS;
use crate::http_server::{Reply, Request};

pub const CONSUMER_KEY: &str = "ck_4f7e3a9b1c2d5e6f708192a3b4c5d6e7f8091a2b";
pub const CONSUMER_SECRET: &str = "cs_9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a291807";
pub const ORDER_ID_BASE: u64 = 1001;

use super::data::StoreRecords as Kind;

pub struct WooCommerce {
    ctx: Arc<Ctx>,
}

/// Site-local time without an offset, and UTC, as WooCommerce writes them.
fn local(secs: i64) -> String {
    iso(secs + SHOP_OFFSET_SECS)
        .trim_end_matches('Z')
        .to_string()
}

fn gmt(secs: i64) -> String {
    iso(secs).trim_end_matches('Z').to_string()
}

impl WooCommerce {
    pub fn new(ctx: Arc<Ctx>) -> Self {
        WooCommerce { ctx }
    }

    fn w(&self) -> &World {
        &self.ctx.world
    }

    fn record(&self, k: Kind, i: u64) -> Value {
        let w = self.w();
        let (created, modified) = self.w().store_times(k, i);
        let dates = json!({"date_created": local(created), "date_created_gmt": gmt(created),
                           "date_modified": local(modified), "date_modified_gmt": gmt(modified)});
        let mut v = match k {
            Kind::Orders => {
                let status = match w.order_status(i) {
                    "paid" => "completed",
                    "pending" => "pending",
                    _ => "refunded",
                };
                let (first, last, city, country) = match w.shop.customer_of(i) {
                    Some(c) => {
                        let (f, l) = w.name(c);
                        let (city, country) = w.shop.customer_city(c);
                        (f, l, city, country)
                    }
                    None => ("Guest", "Shopper", "", ""),
                };
                let items: Vec<Value> = w
                    .shop
                    .line_items(i)
                    .iter()
                    .enumerate()
                    .map(|(n, l)| {
                        json!({"id": i * 8 + n as u64 + 1, "name": w.shop.product(l.product).0,
                               "product_id": l.product + 1, "variation_id": 0, "quantity": l.quantity,
                               "sku": format!("SKU-{:03}-{}", l.product, l.variant),
                               "price": l.unit_cents as f64 / 100.0,
                               "subtotal": money(l.unit_cents * l.quantity), "total": money(l.unit_cents * l.quantity)})
                    })
                    .collect();
                let method = match w.gateway(i) {
                    Gateway::Stripe => "stripe",
                    Gateway::Paypal => "ppcp-gateway",
                    Gateway::Unpaid => "",
                };
                json!({"id": ORDER_ID_BASE + i, "parent_id": 0, "number": (ORDER_ID_BASE + i).to_string(),
                       "status": status, "currency": "USD", "total": money(w.order_total(i)),
                       "total_tax": "0.00", "customer_id": w.shop.customer_of(i).map_or(0, |c| c + 1),
                       "billing": {"first_name": first, "last_name": last, "email": w.shop.order_email(i),
                                   "city": city, "country": country},
                       "payment_method": method, "line_items": items,
                       "date_paid": if status == "pending" { Value::Null } else { json!(local(created)) },
                       "date_paid_gmt": if status == "pending" { Value::Null } else { json!(gmt(created)) }})
            }
            Kind::Customers => {
                let (first, last) = w.name(i);
                let (city, country) = w.shop.customer_city(i);
                json!({"id": i + 1, "email": w.email(i), "first_name": first, "last_name": last,
                       "role": "customer", "username": w.email(i).split('@').next().unwrap_or_default(),
                       "billing": {"first_name": first, "last_name": last, "email": w.email(i),
                                   "phone": w.phone(i), "city": city, "country": country},
                       "is_paying_customer": true})
            }
            Kind::Products => {
                let (title, _, kind, cents) = w.shop.product(i as usize);
                let slug: String = title
                    .to_lowercase()
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                    .collect();
                json!({"id": i + 1, "name": title, "slug": slug, "type": "simple", "status": "publish",
                       "sku": format!("SKU-{i:03}"), "price": money(cents - 5), "regular_price": money(cents - 5),
                       "categories": [{"id": 1, "name": kind}]})
            }
        };
        if let (Some(o), Some(d)) = (v.as_object_mut(), dates.as_object()) {
            o.extend(d.clone());
        }
        v
    }

    fn list(&self, k: Kind, req: &Request) -> Reply {
        let per_page = match req.param("per_page").map(str::parse::<u64>) {
            None => 10,
            Some(Ok(n)) if (1..=100).contains(&n) => n,
            Some(_) => {
                return invalid_param(
                    "per_page",
                    "per_page must be between 1 (inclusive) and 100 (inclusive)",
                )
            }
        };
        let page = match req.param("page").map(str::parse::<u64>) {
            None => 1,
            Some(Ok(n)) if n >= 1 => n,
            Some(_) => return invalid_param("page", "page must be greater than or equal to 1"),
        };
        // A date without an offset is the site's time unless dates_are_gmt.
        let gmt = matches!(req.param("dates_are_gmt"), Some("true" | "1"));
        let time = |name: &str| -> Result<Option<i64>, Reply> {
            match req.param(name) {
                None => Ok(None),
                Some(v) => parse_time(v)
                    .map(|t| {
                        Some(if gmt || has_offset(v) {
                            t
                        } else {
                            t - SHOP_OFFSET_SECS
                        })
                    })
                    .ok_or_else(|| {
                        invalid_param(name, &format!("Invalid date: {name} must be ISO8601"))
                    }),
            }
        };
        let (modified_after, modified_before, after, before) = match (
            time("modified_after"),
            time("modified_before"),
            time("after"),
            time("before"),
        ) {
            (Ok(a), Ok(b), Ok(c), Ok(d)) => (a, b, c, d),
            (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => return e,
        };
        let mut hits: Vec<u64> = (0..self.w().store_len(k))
            .filter(|&i| {
                let (c, m) = self.w().store_times(k, i);
                modified_after.is_none_or(|t| m > t)
                    && modified_before.is_none_or(|t| m < t)
                    && after.is_none_or(|t| c > t)
                    && before.is_none_or(|t| c < t)
            })
            .collect();
        let orderby =
            req.param("orderby")
                .unwrap_or(if k == Kind::Customers { "name" } else { "date" });
        match orderby {
            "date" | "id" | "include" | "name" | "title" | "registered_date" => {}
            "modified" => hits.sort_by_key(|&i| (self.w().store_times(k, i).1, i)),
            other => {
                return invalid_param(
                    "orderby",
                    &format!("orderby is not one of date, id, modified: {other}"),
                )
            }
        }
        let default_order = if k == Kind::Customers { "asc" } else { "desc" };
        match req.param("order").unwrap_or(default_order) {
            "desc" => hits.reverse(),
            "asc" => {}
            other => {
                return invalid_param("order", &format!("order is not one of asc, desc: {other}"))
            }
        }
        let total = hits.len() as u64;
        let pages = total.div_ceil(per_page);
        let records: Vec<Value> = hits
            .iter()
            .skip(((page - 1) * per_page) as usize)
            .take(per_page as usize)
            .map(|&i| self.record(k, i))
            .collect();
        let base = format!("http://{}{}", host(req), req.path);
        let others: String = req
            .query
            .iter()
            .filter(|(k, _)| k != "page" && k != "consumer_key" && k != "consumer_secret")
            .map(|(k, v)| {
                format!(
                    "&{}={}",
                    url::form_urlencoded::byte_serialize(k.as_bytes()).collect::<String>(),
                    url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                )
            })
            .collect();
        let mut links = Vec::new();
        if page > 1 && page - 1 <= pages {
            links.push(format!("<{base}?page={}{others}>; rel=\"prev\"", page - 1));
        }
        if page < pages {
            links.push(format!("<{base}?page={}{others}>; rel=\"next\"", page + 1));
        }
        let mut reply = reply_json(200, &Value::Array(records))
            .with_header("x-wp-total", total.to_string())
            .with_header("x-wp-totalpages", pages.to_string());
        if !links.is_empty() {
            reply = reply.with_header("link", links.join(", "));
        }
        reply
    }

    fn notes(&self, id: &str) -> Reply {
        let w = self.w();
        let i = match id.parse::<u64>() {
            Ok(n) if n >= ORDER_ID_BASE && n - ORDER_ID_BASE < w.orders() => n - ORDER_ID_BASE,
            _ => {
                return reply_json(
                    404,
                    &json!({"code": "woocommerce_rest_shop_order_invalid_id", "message": "Invalid ID.",
                            "data": {"status": 404}}),
                )
            }
        };
        let (created, modified) = self.w().store_times(Kind::Orders, i);
        let mut notes = vec![
            json!({"id": i * 4 + 1, "author": "WooCommerce", "date_created": local(created),
                                    "date_created_gmt": gmt(created), "customer_note": false, "added_by_user": false,
                                    "note": "Order status changed from Pending payment to Processing."}),
        ];
        match w.order_status(i) {
            "paid" => notes.push(json!({"id": i * 4 + 2, "author": "WooCommerce", "date_created": local(modified),
                                        "date_created_gmt": gmt(modified), "customer_note": false,
                                        "added_by_user": false,
                                        "note": "Order status changed from Processing to Completed."})),
            "refunded" => notes.push(json!({"id": i * 4 + 2, "author": "shop-manager", "date_created": local(modified),
                                            "date_created_gmt": gmt(modified), "customer_note": false,
                                            "added_by_user": true,
                                            "note": format!("Refunded ${} - customer request.", money(w.order_total(i)))})),
            _ => {}
        }
        notes.reverse(); // newest first, as WooCommerce lists them
        reply_json(200, &Value::Array(notes))
    }
}

impl Vendor for WooCommerce {
    fn name(&self) -> &'static str {
        "woocommerce"
    }

    fn credentials(&self, _base_url: &str) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("consumer_key", CONSUMER_KEY.to_string()),
            ("consumer_secret", CONSUMER_SECRET.to_string()),
        ])
    }

    fn handle(&self, req: &Request, _counters: &Counters) -> Reply {
        let creds = basic(req).or_else(|| {
            Some((
                req.param("consumer_key")?.to_string(),
                req.param("consumer_secret")?.to_string(),
            ))
        });
        match creds {
            None => {
                return reply_json(
                    401,
                    &json!({"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.",
                            "data": {"status": 401}}),
                )
            }
            Some((key, _)) if key != CONSUMER_KEY => {
                return reply_json(
                    401,
                    &json!({"code": "woocommerce_rest_authentication_error", "message": "Consumer key is invalid.",
                            "data": {"status": 401}}),
                )
            }
            Some((_, secret)) if secret != CONSUMER_SECRET => {
                return reply_json(
                    401,
                    &json!({"code": "woocommerce_rest_authentication_error", "message": "Consumer secret is invalid.",
                            "data": {"status": 401}}),
                )
            }
            Some(_) => {}
        }
        let no_route = || {
            reply_json(
                404,
                &json!({"code": "rest_no_route", "message": "No route was found matching the URL and request method.",
                        "data": {"status": 404}}),
            )
        };
        if req.method != "GET" {
            return no_route();
        }
        let Some(rest) = req.path.strip_prefix("/wp-json/wc/v3/") else {
            return no_route();
        };
        let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        match parts.as_slice() {
            ["orders"] => self.list(Kind::Orders, req),
            ["customers"] => self.list(Kind::Customers, req),
            ["products"] => self.list(Kind::Products, req),
            ["orders", id, "notes"] => self.notes(id),
            _ => no_route(),
        }
    }
}

/// Whether an ISO 8601 date-time carries `Z` or an offset.
fn has_offset(v: &str) -> bool {
    let time = v.get(11..).unwrap_or("");
    time.ends_with(['Z', 'z']) || time.contains(['+', '-'])
}

fn invalid_param(name: &str, message: &str) -> Reply {
    reply_json(
        400,
        &json!({"code": "rest_invalid_param", "message": format!("Invalid parameter(s): {name}"),
                "data": {"status": 400, "params": {name: message}}}),
    )
}
