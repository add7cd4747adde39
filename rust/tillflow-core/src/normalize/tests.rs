use polars::prelude::*;
use serde_json::json;

use super::*;

fn norm(pk: &[&str]) -> Normalizer {
    Normalizer::new(
        "orders",
        pk.iter().map(|s| s.to_string()).collect(),
        &NormalizeOptions::default(),
    )
}

fn table<'a>(batch: &'a [(String, DataFrame)], name: &str) -> &'a DataFrame {
    &batch
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no table {name}"))
        .1
}

fn names(df: &DataFrame) -> Vec<String> {
    df.get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect()
}

#[test]
fn splits_orders_into_parent_and_children() {
    let mut n = norm(&["id"]);
    n.push(&json!({
        "id": 1, "total_price": "12.50", "created_at": "2024-01-01T10:00:00-05:00",
        "customer": {"id": 9, "email": "a@x.io"},
        "line_items": [{"product_id": 3, "quantity": 2, "price": "5.00"}, {"product_id": 4, "quantity": 1, "price": "2.50"}]
    }))
    .unwrap();
    n.push(&json!({"id": 2, "total_price": "1.00", "customer": null, "line_items": []}))
        .unwrap();
    let batch = n.flush().unwrap();
    assert_eq!(
        batch.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        vec!["orders", "orders__line_items"]
    );
    let orders = table(&batch, "orders");
    assert_eq!(orders.height(), 2);
    assert_eq!(
        names(orders),
        vec![
            "id",
            "total_price",
            "created_at",
            "customer__id",
            "customer__email",
            "_tf_id"
        ]
    );
    assert_eq!(
        orders.column("total_price").unwrap().dtype(),
        &DataType::Decimal(38, 2)
    );
    assert_eq!(
        orders.column("created_at").unwrap().dtype(),
        &DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
    );
    // 10:00 at -05:00 is 15:00 UTC.
    let t = orders.column("created_at").unwrap().to_physical_repr();
    assert_eq!(t.i64().unwrap().get(0), Some(1_704_121_200_000_000));
    let items = table(&batch, "orders__line_items");
    assert_eq!(items.height(), 2);
    assert_eq!(
        names(items),
        vec![
            "orders_id",
            "product_id",
            "quantity",
            "price",
            "_tf_parent_id",
            "_tf_idx",
            "_tf_id"
        ]
    );
    let order_id = orders.column("_tf_id").unwrap().u64().unwrap().get(0);
    assert!(order_id.is_some());
    let parents: Vec<_> = items
        .column("_tf_parent_id")
        .unwrap()
        .u64()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(parents, vec![order_id, order_id]);
    let idx: Vec<_> = items
        .column("_tf_idx")
        .unwrap()
        .i64()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(idx, vec![Some(0), Some(1)]);
    let keys: Vec<_> = items
        .column("orders_id")
        .unwrap()
        .i64()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(keys, vec![Some(1), Some(1)]);
}

#[test]
fn ids_are_deterministic_across_runs() {
    let rec = json!({"id": 77, "items": [{"a": 1}]});
    let run = || {
        let mut n = norm(&["id"]);
        n.push(&rec).unwrap();
        n.flush().unwrap()
    };
    let (a, b) = (run(), run());
    for t in ["orders", "orders__items"] {
        assert!(table(&a, t)
            .column("_tf_id")
            .unwrap()
            .equals(table(&b, t).column("_tf_id").unwrap()));
    }
    // Without a key the content decides.
    let mut n = norm(&[]);
    n.push(&json!({"x": 1})).unwrap();
    n.push(&json!({"x": 1})).unwrap();
    n.push(&json!({"x": 2})).unwrap();
    let batch = n.flush().unwrap();
    let ids: Vec<_> = table(&batch, "orders")
        .column("_tf_id")
        .unwrap()
        .u64()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(ids[0], ids[1]);
    assert_ne!(ids[0], ids[2]);
}

#[test]
fn schema_widens_across_batches_and_keeps_columns() {
    let mut n = norm(&["id"]);
    n.push(&json!({"id": 1, "qty": 1, "note": null})).unwrap();
    let first = n.flush().unwrap();
    assert_eq!(
        table(&first, "orders").column("qty").unwrap().dtype(),
        &DataType::Int64
    );
    // Only nulls so far: no column, no guessed type.
    assert!(table(&first, "orders").column("note").is_err());
    n.push(&json!({"id": 2, "qty": 1.5, "note": "hi"})).unwrap();
    let second = n.flush().unwrap();
    let o = table(&second, "orders");
    assert_eq!(o.column("qty").unwrap().dtype(), &DataType::Float64);
    assert_eq!(o.column("note").unwrap().dtype(), &DataType::String);
    n.push(&json!({"id": 3, "qty": 2})).unwrap();
    let third = n.flush().unwrap();
    // Never narrows back, and a column absent from this batch is still there.
    assert_eq!(
        table(&third, "orders").column("qty").unwrap().dtype(),
        &DataType::Float64
    );
    assert_eq!(
        table(&third, "orders").column("note").unwrap().null_count(),
        1
    );
}

#[test]
fn scalar_arrays_nested_arrays_and_deep_objects() {
    let mut n = norm(&["id"]);
    n.push(
        &json!({"id": 1, "tags": ["a", "b"], "grid": [[1, 2], [3]], "a": {"b": {"c": {"d": 4}}}}),
    )
    .unwrap();
    let batch = n.flush().unwrap();
    let tags = table(&batch, "orders__tags");
    assert_eq!(
        tags.column("value")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        vec![Some("a"), Some("b")]
    );
    assert_eq!(table(&batch, "orders__grid").height(), 2);
    let inner = table(&batch, "orders__grid__value");
    assert_eq!(inner.height(), 3);
    assert_eq!(
        inner.column("orders_id").unwrap().i64().unwrap().get(2),
        Some(1)
    );
    assert!(table(&batch, "orders").column("a__b__c__d").is_ok());
}

#[test]
fn depth_limit_keeps_json_text() {
    let opts = NormalizeOptions {
        max_depth: 2,
        ..Default::default()
    };
    let mut n = Normalizer::new("t", vec![], &opts);
    n.push(&json!({"a": {"b": {"c": 1}}, "l": [{"m": [1]}]}))
        .unwrap();
    let batch = n.flush().unwrap();
    let t = table(&batch, "t");
    assert_eq!(
        t.column("a__b").unwrap().str().unwrap().get(0),
        Some("{\"c\":1}")
    );
    assert_eq!(
        table(&batch, "t__l")
            .column("m")
            .unwrap()
            .str()
            .unwrap()
            .get(0),
        Some("[1]")
    );
}

#[test]
fn depth_limit_applies_to_arrays_of_arrays() {
    let opts = NormalizeOptions {
        max_depth: 2,
        ..Default::default()
    };
    let mut n = Normalizer::new("t", vec![], &opts);
    // Four levels of arrays: as with objects, one level below the root
    // becomes a table and the rest stays JSON text.
    n.push(&json!({"l": [[[[1, 2]]]]})).unwrap();
    let batch = n.flush().unwrap();
    let names: Vec<&str> = batch.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, vec!["t", "t__l"]);
    assert_eq!(
        table(&batch, "t__l")
            .column("value")
            .unwrap()
            .str()
            .unwrap()
            .get(0),
        Some("[[[1,2]]]")
    );
}

#[test]
fn hostile_and_unicode_names() {
    let mut n = norm(&[]);
    n.push(&json!({"select": 1, "we\"ird name": "x", "prix_€": "9.99", "Email": "a", "email": "b", "_tf_id": "mine", "": 5}))
        .unwrap();
    let batch = n.flush().unwrap();
    let t = table(&batch, "orders");
    assert_eq!(
        names(t),
        vec![
            "select",
            "we\"ird name",
            "prix_€",
            "Email",
            "email_2",
            "_tf_id_2",
            "_empty",
            "_tf_id"
        ]
    );
    assert_eq!(
        t.column("prix_€").unwrap().dtype(),
        &DataType::Decimal(38, 2)
    );
}

#[test]
fn bad_records_are_named() {
    let mut n = norm(&["id"]);
    let e = n.push(&json!({"name": "no id"})).unwrap_err().to_string();
    assert!(e.contains("primary key \"id\""), "{e}");
    let e = n.push(&json!([1, 2])).unwrap_err().to_string();
    assert!(e.contains("must be a JSON object"), "{e}");
    // A key that looks flattened and a nested field share one column.
    let e = n
        .push(&json!({"id": 1, "a__b": 1, "a": {"b": 2}}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("same column \"a__b\""), "{e}");
    // The failed record left nothing behind.
    assert_eq!(table(&n.flush().unwrap(), "orders").height(), 0);
    n.push(&json!({"id": 2, "a__b": 1})).unwrap();
    n.push(&json!({"id": 3, "a": {"b": 2}})).unwrap();
    let batch = n.flush().unwrap();
    let v: Vec<_> = table(&batch, "orders")
        .column("a__b")
        .unwrap()
        .i64()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(v, vec![Some(1), Some(2)]);
}

#[test]
fn empty_batch_and_nulls() {
    let mut n = norm(&["id"]);
    let batch = n.flush().unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!(table(&batch, "orders").height(), 0);
    n.push(&json!({"id": 1, "x": null, "customer": null}))
        .unwrap();
    n.push(&json!({"id": 2, "customer": {"id": 5}})).unwrap();
    n.push(&json!({"id": 3, "x": true})).unwrap();
    let batch = n.flush().unwrap();
    let x: Vec<_> = table(&batch, "orders")
        .column("x")
        .unwrap()
        .bool()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(x, vec![None, None, Some(true)]);
    let o = table(&batch, "orders");
    assert!(o.column("customer").is_err());
    assert_eq!(
        o.column("customer__id").unwrap().i64().unwrap().get(1),
        Some(5)
    );
}

#[test]
fn float_mode_and_string_mode() {
    for (mode, dtype) in [
        (NumericStrings::Float, DataType::Float64),
        (NumericStrings::String, DataType::String),
    ] {
        let opts = NormalizeOptions {
            numeric_strings: mode,
            ..Default::default()
        };
        let mut n = Normalizer::new("t", vec![], &opts);
        n.push(&json!({"p": "1.25"})).unwrap();
        let batch = n.flush().unwrap();
        assert_eq!(table(&batch, "t").column("p").unwrap().dtype(), &dtype);
    }
}

#[test]
fn compound_primary_key() {
    let mut n = Normalizer::new(
        "t",
        vec!["shop".into(), "id".into()],
        &NormalizeOptions::default(),
    );
    n.push(&json!({"shop": "a", "id": 1, "kids": [{"v": 1}]}))
        .unwrap();
    n.push(&json!({"shop": "b", "id": 1, "kids": [{"v": 2}]}))
        .unwrap();
    let batch = n.flush().unwrap();
    let ids: Vec<_> = table(&batch, "t")
        .column("_tf_id")
        .unwrap()
        .u64()
        .unwrap()
        .iter()
        .collect();
    assert_ne!(ids[0], ids[1]);
    let kids = table(&batch, "t__kids");
    assert_eq!(names(kids)[..2], ["t_shop".to_string(), "t_id".to_string()]);
}

fn push_text(n: &mut Normalizer, text: &str) -> std::result::Result<(), Refused> {
    n.push_or_refuse(&Json::parse(text.as_bytes()).unwrap())
}

fn text_of(df: &DataFrame, col: &str) -> Vec<Option<String>> {
    let c = df.column(col).unwrap().cast(&DataType::String).unwrap();
    c.str()
        .unwrap()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

#[test]
fn big_integers_stay_exact_as_decimals_then_text() {
    let mut n = norm(&["id"]);
    push_text(
        &mut n,
        r#"{"id": 1, "x": 18446744073709551617, "y": 123456789012345678901234567890, "z": 1}"#,
    )
    .unwrap();
    push_text(&mut n, r#"{"id": 2, "x": -123456789012345678901234567890, "y": 99999999999999999999999999999999999999, "z": 5}"#).unwrap();
    let batch = n.flush().unwrap();
    let t = table(&batch, "orders");
    assert_eq!(t.column("x").unwrap().dtype(), &DataType::Decimal(38, 0));
    assert_eq!(t.column("y").unwrap().dtype(), &DataType::Decimal(38, 0));
    assert_eq!(t.column("z").unwrap().dtype(), &DataType::Int64);
    assert_eq!(
        text_of(t, "x"),
        [
            Some("18446744073709551617".into()),
            Some("-123456789012345678901234567890".into())
        ]
    );
    assert_eq!(
        text_of(t, "y"),
        [
            Some("123456789012345678901234567890".into()),
            Some("99999999999999999999999999999999999999".into())
        ]
    );
    // Next page: an int joins the decimal column, a 39-digit value turns
    // its column into text, and a float widens a decimal column to float.
    push_text(&mut n, r#"{"id": 3, "x": 7, "y": 1234567890123456789012345678901234567890, "z": 123456789012345678901234567890}"#).unwrap();
    push_text(&mut n, r#"{"id": 4, "z": 2.5}"#).unwrap();
    let batch = n.flush().unwrap();
    let t = table(&batch, "orders");
    assert_eq!(t.column("x").unwrap().dtype(), &DataType::Decimal(38, 0));
    assert_eq!(text_of(t, "x")[0].as_deref(), Some("7"));
    assert_eq!(t.column("y").unwrap().dtype(), &DataType::String);
    assert_eq!(
        text_of(t, "y")[0].as_deref(),
        Some("1234567890123456789012345678901234567890")
    );
    assert_eq!(t.column("z").unwrap().dtype(), &DataType::Float64);
}

#[test]
fn a_number_no_column_holds_refuses_its_record_only() {
    let mut n = norm(&["id"]);
    push_text(&mut n, r#"{"id": 1, "x": 5, "items": [{"p": 1}]}"#).unwrap();
    for bad in [
        r#"{"id": 2, "x": 1e400, "items": [{"p": 2}]}"#,
        r#"{"id": 3, "x": 1, "items": [{"p": -1e400}]}"#,
        r#"{"id": 4, "tags": [1, 1E999]}"#,
        r#"{"id": 1e400}"#,
    ] {
        let Err(Refused::Unfit(why)) = push_text(&mut n, bad) else {
            panic!("{bad} was not refused")
        };
        assert!(
            why.contains("holds the number") && why.contains("e"),
            "{why}"
        );
    }
    let Err(Refused::Unfit(why)) = push_text(&mut n, r#"{"id": 5, "x": -1e400}"#) else {
        panic!()
    };
    assert_eq!(
        why,
        "field \"x\" of table orders holds the number -1e400, beyond the range of every column \
         type (a double reaches about 1.8e308)"
    );
    push_text(&mut n, r#"{"id": 6, "x": 6}"#).unwrap();
    // push_json reports the same as a schema error.
    let e = n
        .push_json(&Json::parse(br#"{"id": 7, "x": 1e400}"#).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"x\" of table orders holds the number 1e400"),
        "{e}"
    );
    let batch = n.flush().unwrap();
    // Nothing of a refused record was kept: no half rows, no child rows.
    assert_eq!(
        text_of(table(&batch, "orders"), "id"),
        [Some("1".into()), Some("6".into())]
    );
    assert_eq!(table(&batch, "orders__items").height(), 1);
    assert!(batch.iter().all(|(name, _)| name != "orders__tags"));
    // Past max_depth the number is part of JSON text, which holds it exactly.
    let opts = NormalizeOptions {
        max_depth: 1,
        ..Default::default()
    };
    let mut n = Normalizer::new("t", vec![], &opts);
    push_text(&mut n, r#"{"a": {"b": 1e400}}"#).unwrap();
    let batch = n.flush().unwrap();
    assert_eq!(
        text_of(table(&batch, "t"), "a")[0].as_deref(),
        Some("{\"b\":1e400}")
    );
}

#[test]
fn nul_in_names_becomes_underscore_and_clashes_are_suffixed() {
    let mut n = norm(&[]);
    push_text(
        &mut n,
        r#"{"a\u0000b": 1, "a_b": 2, "l\u0000": [{"x\u0000": 1}], "l_": [3], "Items": [1], "items": [2]}"#,
    )
    .unwrap();
    let batch = n.flush().unwrap();
    let t = table(&batch, "orders");
    assert_eq!(names(t), ["a_b", "a_b_2", "_tf_id"]);
    let tables: Vec<&str> = batch.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        tables,
        [
            "orders",
            "orders__l_",
            "orders__l__2",
            "orders__Items",
            "orders__items_2"
        ]
    );
    assert_eq!(names(table(&batch, "orders__l_"))[0], "x_");
    // Every name crosses the Arrow C interface.
    for (name, df) in &batch {
        assert!(!name.contains('\0'));
        assert!(df.get_column_names().iter().all(|c| !c.contains('\0')));
    }
    // A root named with a NUL too.
    let n = Normalizer::new("or\0ders", vec![], &NormalizeOptions::default());
    assert_eq!(n.root(), "or_ders");
}

#[test]
fn nesting_of_any_depth_loads_as_text_past_max_depth() {
    for depth in [200, 5000] {
        let text = format!(
            "{{\"id\": 1, \"deep\": {}7{}}}",
            "{\"a\": ".repeat(depth),
            "}".repeat(depth)
        );
        let mut n = norm(&["id"]);
        push_text(&mut n, &text).unwrap();
        let batch = n.flush().unwrap();
        let t = table(&batch, "orders");
        let path = format!("deep{}", "__a".repeat(9));
        let kept = text_of(t, &path)[0].clone().unwrap();
        assert_eq!(
            kept,
            format!("{}7{}", "{\"a\":".repeat(depth - 9), "}".repeat(depth - 9))
        );
    }
}
