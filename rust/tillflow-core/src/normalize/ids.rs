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
            Json::Int(i) => {
                h.update(b"i");
                h.update(&i.to_le_bytes());
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

/// Characters in a rendered id: 72 bits of the hash in URL-safe base64.
/// Twelve bytes is what DuckDB and Arrow string views store inline, so ids
/// cost no heap; collisions stay below one in a million up to 10^8 rows.
pub const ID_LEN: usize = 12;

/// The id as `ID_LEN` URL-safe base64 characters.
pub fn render(id: u128, out: &mut String) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for i in 0..ID_LEN {
        out.push(ALPHABET[((id >> (122 - 6 * i)) & 63) as usize] as char);
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
        render(u128::MAX, &mut s);
        assert_eq!(s, "____________");
        s.clear();
        render(1u128 << 122, &mut s);
        assert_eq!(s, "BAAAAAAAAAAA");
    }
}
