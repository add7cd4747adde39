//! Deterministic row ids: the same record gets the same `_tf_id` on every
//! load, so a reload matches instead of duplicating.

use super::json::Json;
use xxhash_rust::xxh3::Xxh3;

const SEP: &[u8] = b"\x1f";

/// Root row keyed by its primary key values.
pub fn root_id_from_key(table: &str, key: &[&Json<'_>]) -> u128 {
    let mut h = Xxh3::new();
    h.update(table.as_bytes());
    for v in key {
        h.update(SEP);
        match v {
            // Strings hash by content so `"7"` and `7` stay distinct.
            Json::Str(s) => {
                h.update(b"s");
                h.update(s.as_bytes());
            }
            other => {
                h.update(b"j");
                h.update(other.to_string().as_bytes());
            }
        }
    }
    h.digest128()
}

/// Root row without a key: its content is its identity.
pub fn root_id_from_content(table: &str, record: &Json<'_>) -> u128 {
    let mut h = Xxh3::new();
    h.update(table.as_bytes());
    h.update(SEP);
    h.update(record.to_string().as_bytes());
    h.digest128()
}

/// Child row: its parent, the field it came from and its position.
pub fn child_id(parent: u128, field: &str, idx: usize) -> u128 {
    let mut h = Xxh3::new();
    h.update(&parent.to_le_bytes());
    h.update(field.as_bytes());
    h.update(SEP);
    h.update(&(idx as u64).to_le_bytes());
    h.digest128()
}

/// 32 lowercase hex digits.
pub fn render(id: u128, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..32).rev() {
        out.push(HEX[((id >> (i * 4)) & 0xf) as usize] as char);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let (seven, text) = (Json::Int(7), Json::Str("7".into()));
        let a = root_id_from_key("orders", &[&seven]);
        assert_eq!(a, root_id_from_key("orders", &[&Json::Int(7)]));
        assert_ne!(a, root_id_from_key("orders", &[&text]));
        assert_ne!(a, root_id_from_key("customers", &[&seven]));
        assert_ne!(child_id(a, "line_items", 0), child_id(a, "line_items", 1));
        let mut s = String::new();
        render(0xabc, &mut s);
        assert_eq!(s, "00000000000000000000000000000abc");
    }
}
