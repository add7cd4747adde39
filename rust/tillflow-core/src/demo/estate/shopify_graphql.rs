//! Shopify's GraphQL Admin API, as documented at:
//! - https://shopify.dev/docs/api/admin-graphql (POST
//!   `/admin/api/<version>/graphql.json`, `X-Shopify-Access-Token`)
//! - https://shopify.dev/docs/api/usage/pagination-graphql (connections with
//!   `first`/`after`/`last`/`before`, `nodes`, `edges { cursor node }`,
//!   `pageInfo { hasNextPage endCursor hasPreviousPage startCursor }`, 250
//!   per page at most)
//! - https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits
//!   (calculated query cost in `extensions.cost` with `throttleStatus`;
//!   leaky bucket of 2,000 points restoring 100 a second on the standard
//!   plan; 1,000 points at most per query; `THROTTLED` in a 200)
//! - https://shopify.dev/docs/api/usage/search-syntax (`query:
//!   "updated_at:>'2024-01-01T00:00:00Z'"`)
//!
//! This is no full GraphQL server: it finds the root connection field
//! (`orders`, `customers` or `products`), its arguments (literals or
//! `$variables`) and answers with a fixed node shape per type, whatever the
//! selection asks: every field of [`order_node`], [`customer_node`] and
//! [`product_node`]. `nodes` and `edges` are both filled when the query
//! names them. A query with no such root field gets GraphQL errors in a 200,
//! as Shopify answers.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use super::common::{body_json, iso, json as reply_json, money};
use super::data::World;
use super::limits::LeakyBucket;
use super::shopify_query::{graphql_error, parse, parse_search, Parsed, Root};
use super::{Counters, Ctx, Vendor};
use crate::demo::data::{
    CUSTOMER_ID_BASE, LINE_ITEM_ID_BASE, ORDER_ID_BASE, PRODUCT_ID_BASE, VARIANT_ID_BASE,
};
use crate::http_server::{Reply, Request};

pub const ACCESS_TOKEN: &str = "shpat_estate_0f8e7d6c5b4a39281706f5e4d3c2b1a0";
pub const API_VERSION: &str = "2024-07";
pub const SHOP: &str = "tillflow-demo.myshopify.com";
pub const BUCKET: f64 = 2000.0;
pub const RESTORE_PER_SEC: f64 = 100.0;
pub const MAX_QUERY_COST: u64 = 1000;
const MAX_PAGE: u64 = 250;

pub struct ShopifyGraphql {
    ctx: Arc<Ctx>,
    bucket: LeakyBucket,
    /// Orders and money spent per customer, counted once.
    spent: OnceLock<Vec<(u64, i64)>>,
}

impl ShopifyGraphql {
    pub fn new(ctx: Arc<Ctx>) -> Self {
        ShopifyGraphql {
            bucket: LeakyBucket::new(BUCKET, RESTORE_PER_SEC, ctx.config.limits),
            ctx,
            spent: OnceLock::new(),
        }
    }

    fn w(&self) -> &World {
        &self.ctx.world
    }

    fn spent(&self, c: u64) -> (u64, i64) {
        let v = self.spent.get_or_init(|| {
            let w = self.w();
            let mut v = vec![(0u64, 0i64); w.customers() as usize];
            for i in 0..w.orders() {
                if let Some(c) = w.shop.customer_of(i) {
                    v[c as usize].0 += 1;
                    v[c as usize].1 += w.store_revenue(i);
                }
            }
            v
        });
        v.get(c as usize).copied().unwrap_or((0, 0))
    }

    fn node(&self, root: Root, i: u64) -> Value {
        match root {
            Root::Orders => self.order_node(i),
            Root::Customers => self.customer_node(i),
            Root::Products => self.product_node(i),
        }
    }

    /// The fixed order shape.
    pub fn order_node(&self, i: u64) -> Value {
        let w = self.w();
        let (created, updated) = self.w().store_times(Root::Orders, i);
        let total = w.order_total(i);
        let items: Vec<Value> = w
            .shop
            .line_items(i)
            .iter()
            .enumerate()
            .map(|(k, l)| {
                let (title, _, _, _) = w.shop.product(l.product);
                json!({"id": gid("LineItem", LINE_ITEM_ID_BASE + i as i64 * 8 + k as i64),
                       "title": title, "quantity": l.quantity,
                       "sku": format!("SKU-{:03}-{}", l.product, l.variant),
                       "variant": {"id": gid("ProductVariant", VARIANT_ID_BASE + l.product as i64 * 4 + l.variant as i64)},
                       "originalUnitPriceSet": price_set(l.unit_cents)})
            })
            .collect();
        json!({
            "id": gid("Order", ORDER_ID_BASE + i as i64),
            "name": format!("#{}", 1001 + i),
            "email": w.shop.order_email(i),
            "createdAt": iso(created),
            "updatedAt": iso(updated),
            "displayFinancialStatus": w.order_status(i).to_uppercase(),
            "currencyCode": "USD",
            "totalPriceSet": price_set(total),
            "subtotalPriceSet": price_set(total),
            "customer": w.shop.customer_of(i).map(|c| json!({
                "id": gid("Customer", CUSTOMER_ID_BASE + c as i64), "email": w.email(c)})),
            "lineItems": {"nodes": items.clone(),
                          "edges": items.into_iter().map(|n| json!({"node": n})).collect::<Vec<_>>()}
        })
    }

    /// The fixed customer shape.
    pub fn customer_node(&self, c: u64) -> Value {
        let w = self.w();
        let (created, updated) = self.w().store_times(Root::Customers, c);
        let (first, last) = w.name(c);
        let (city, country) = w.shop.customer_city(c);
        let (orders, spent) = self.spent(c);
        json!({
            "id": gid("Customer", CUSTOMER_ID_BASE + c as i64),
            "email": w.email(c), "firstName": first, "lastName": last, "phone": w.phone(c),
            "createdAt": iso(created), "updatedAt": iso(updated),
            "numberOfOrders": orders.to_string(),
            "amountSpent": {"amount": money(spent), "currencyCode": "USD"},
            "defaultAddress": {"city": city, "countryCodeV2": country}
        })
    }

    /// The fixed product shape.
    pub fn product_node(&self, p: u64) -> Value {
        let w = self.w();
        let (created, updated) = self.w().store_times(Root::Products, p);
        let (title, vendor, kind, cents) = w.shop.product(p as usize);
        let variants: Vec<Value> = (0..3i64)
            .map(|v| {
                json!({"id": gid("ProductVariant", VARIANT_ID_BASE + p as i64 * 4 + v),
                       "title": (["Small", "Medium", "Large"][v as usize]),
                       "sku": format!("SKU-{p:03}-{v}"), "price": money(cents + v * 200 - 5)})
            })
            .collect();
        json!({
            "id": gid("Product", PRODUCT_ID_BASE + p as i64), "title": title, "vendor": vendor,
            "productType": kind, "status": "ACTIVE", "createdAt": iso(created), "updatedAt": iso(updated),
            "variants": {"nodes": variants.clone(),
                         "edges": variants.into_iter().map(|n| json!({"node": n})).collect::<Vec<_>>()}
        })
    }

    fn execute(&self, parsed: &Parsed, token: &str) -> Reply {
        let arg_u64 = |name: &str| -> Result<Option<u64>, Reply> {
            match parsed.args.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => match v.as_u64() {
                    Some(n) if n <= MAX_PAGE => Ok(Some(n)),
                    _ => Err(graphql_error(
                        &format!("The {name} argument must be an integer between 0 and {MAX_PAGE}"),
                        "argumentLiteralsIncompatible",
                    )),
                },
            }
        };
        let (first, last) = match (arg_u64("first"), arg_u64("last")) {
            (Ok(f), Ok(l)) => (f, l),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        let size = match (first, last) {
            (Some(n), None) | (None, Some(n)) => n,
            _ => {
                return graphql_error(
                    "you must provide one of first or last",
                    "argumentLiteralsIncompatible",
                )
            }
        };
        let per_node: u64 = 1 + parsed.nested.iter().map(|n| 2 + n).sum::<u64>();
        let requested = 2 + size * per_node;
        if requested > MAX_QUERY_COST {
            return reply_json(
                200,
                &json!({"errors": [{"message": format!(
                    "Query cost is {requested}, which exceeds the single query max cost limit ({MAX_QUERY_COST}).\n\n\
                     See https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\n\
                     cost of a query is calculated.\n\nTo query larger amounts of data with fewer limits, bulk \
                     operations should be used instead.\nSee https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api \
                     for usage details.\n"),
                    "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": MAX_QUERY_COST}}]}),
            );
        }
        let now = self.ctx.clock.now_ms();
        let available = match self.bucket.take(token, requested as f64, now) {
            Ok(left) => left,
            Err(available) => {
                return reply_json(
                    200,
                    &json!({"errors": [{"message": "Throttled",
                                        "extensions": {"code": "THROTTLED",
                                                       "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                            "extensions": {"cost": {"requestedQueryCost": requested, "actualQueryCost": null,
                                                    "throttleStatus": throttle(available)}}}),
                )
            }
        };
        // The records, in the order asked, past the cursor.
        let filter = match parsed
            .args
            .get("query")
            .and_then(Value::as_str)
            .map(parse_search)
        {
            None => Vec::new(),
            Some(Ok(f)) => f,
            Some(Err(e)) => return graphql_error(&e, "argumentLiteralsIncompatible"),
        };
        let sort = parsed
            .args
            .get("sortKey")
            .and_then(Value::as_str)
            .unwrap_or("ID");
        let reverse = parsed
            .args
            .get("reverse")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let key = |i: u64| -> i64 {
            let (c, u) = self.w().store_times(parsed.root, i);
            match sort {
                "UPDATED_AT" => u,
                "CREATED_AT" | "PROCESSED_AT" => c,
                _ => i as i64,
            }
        };
        let mut items: Vec<(i64, u64)> = (0..self.w().store_len(parsed.root))
            .filter(|&i| {
                let (c, u) = self.w().store_times(parsed.root, i);
                filter.iter().all(|f| f.keeps(c, u))
            })
            .map(|i| (key(i), i))
            .collect();
        items.sort_unstable();
        if reverse {
            items.reverse();
        }
        let pos_after = |c: &str| -> Option<usize> {
            let k = decode_cursor(c)?;
            items.iter().position(|&e| e == k)
        };
        let (from, to) = if let Some(f) = first {
            let from = match parsed.args.get("after").and_then(Value::as_str) {
                None => 0,
                Some(c) => match pos_after(c) {
                    Some(p) => p + 1,
                    None => {
                        return graphql_error(
                            &format!("Invalid cursor for current pagination sort: {c}"),
                            "invalidCursor",
                        )
                    }
                },
            };
            (from, (from + f as usize).min(items.len()))
        } else {
            let to = match parsed.args.get("before").and_then(Value::as_str) {
                None => items.len(),
                Some(c) => match pos_after(c) {
                    Some(p) => p,
                    None => {
                        return graphql_error(
                            &format!("Invalid cursor for current pagination sort: {c}"),
                            "invalidCursor",
                        )
                    }
                },
            };
            (to.saturating_sub(size as usize), to)
        };
        let page = &items[from..to];
        let nodes: Vec<Value> = page
            .iter()
            .map(|&(_, i)| self.node(parsed.root, i))
            .collect();
        let cursors: Vec<String> = page.iter().map(|&e| encode_cursor(e)).collect();
        let mut conn = json!({"pageInfo": {
            "hasNextPage": to < items.len(), "hasPreviousPage": from > 0,
            "startCursor": cursors.first(), "endCursor": cursors.last()}});
        if parsed.wants_nodes || !parsed.wants_edges {
            conn["nodes"] = json!(nodes);
        }
        if parsed.wants_edges {
            conn["edges"] = json!(nodes
                .iter()
                .zip(&cursors)
                .map(|(n, c)| json!({"cursor": c, "node": n}))
                .collect::<Vec<_>>());
        }
        let actual = 2 + page.len() as u64 * per_node;
        let left = self.bucket.refund(token, (requested - actual) as f64, now);
        let _ = available;
        let name = match parsed.root {
            Root::Orders => "orders",
            Root::Customers => "customers",
            Root::Products => "products",
        };
        reply_json(
            200,
            &json!({"data": {name: conn},
                    "extensions": {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual,
                                            "throttleStatus": throttle(left)}}}),
        )
    }
}

impl Vendor for ShopifyGraphql {
    fn name(&self) -> &'static str {
        "shopify"
    }

    fn credentials(&self, _base_url: &str) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("access_token", ACCESS_TOKEN.to_string()),
            ("api_version", API_VERSION.to_string()),
            ("shop", SHOP.to_string()),
        ])
    }

    fn handle(&self, req: &Request, counters: &Counters) -> Reply {
        let version_ok = req
            .path
            .strip_prefix("/admin/api/")
            .and_then(|r| r.strip_suffix("/graphql.json"))
            .is_some_and(|v| (v.len() == 7 && v.as_bytes()[4] == b'-') || v == "unstable");
        if !version_ok {
            return reply_json(404, &json!({"errors": "Not Found"}));
        }
        if req.header("x-shopify-access-token") != Some(ACCESS_TOKEN) {
            return reply_json(
                401,
                &json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}),
            );
        }
        if req.method != "POST" {
            return reply_json(405, &json!({"errors": "Method Not Allowed: use POST"}));
        }
        let is_graphql = req
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/graphql"));
        let (query, variables) = if is_graphql {
            (String::from_utf8_lossy(&req.body).to_string(), Value::Null)
        } else {
            match body_json(req) {
                Ok(b) => (
                    b.get("query")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    b.get("variables").cloned().unwrap_or(Value::Null),
                ),
                Err(e) => return reply_json(400, &json!({"errors": e})),
            }
        };
        if query.trim().is_empty() {
            return reply_json(
                200,
                &json!({"errors": [{"message": "No query string was present"}]}),
            );
        }
        let parsed = match parse(&query, &variables) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let reply = self.execute(&parsed, ACCESS_TOKEN);
        if let Reply::Respond { body, .. } = &reply {
            if body.windows(11).any(|w| w == b"\"THROTTLED\"") {
                counters
                    .throttled
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        reply
    }
}

fn gid(kind: &str, id: i64) -> String {
    format!("gid://shopify/{kind}/{id}")
}

fn price_set(cents: i64) -> Value {
    json!({"shopMoney": {"amount": money(cents), "currencyCode": "USD"}})
}

fn throttle(available: f64) -> Value {
    json!({"maximumAvailable": BUCKET, "currentlyAvailable": available.floor() as i64, "restoreRate": RESTORE_PER_SEC})
}

fn encode_cursor((k, i): (i64, u64)) -> String {
    STANDARD.encode(json!({"last_id": i, "last_value": k}).to_string())
}

fn decode_cursor(c: &str) -> Option<(i64, u64)> {
    let v: Value = serde_json::from_slice(&STANDARD.decode(c).ok()?).ok()?;
    Some((v.get("last_value")?.as_i64()?, v.get("last_id")?.as_u64()?))
}
