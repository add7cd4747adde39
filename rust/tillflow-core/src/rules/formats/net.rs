//! IP networks in CIDR notation, and membership of an address in them.

use std::net::IpAddr;

/// A network as its first address and mask, as integers of the family's
/// width (an IPv4 network in the low 32 bits).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Network {
    v4: bool,
    base: u128,
    mask: u128,
}

/// An address as an integer of its family's width, and whether it is IPv4.
fn bits(address: IpAddr) -> (u128, bool) {
    match address {
        IpAddr::V4(a) => (u32::from(a).into(), true),
        IpAddr::V6(a) => (a.into(), false),
    }
}

pub(super) fn networks(texts: &[String]) -> Result<Vec<Network>, (&'static str, String)> {
    if texts.is_empty() {
        return Err(("networks", "at least one CIDR network".into()));
    }
    texts
        .iter()
        .map(|text| {
            parse_network(text)
                .map_err(|why| ("networks", format!("{text:?} is not a CIDR network: {why}")))
        })
        .collect()
}

fn parse_network(text: &str) -> Result<Network, String> {
    let Some((address, prefix)) = text.split_once('/') else {
        return Err("no /prefix length (write 192.0.2.1/32 for one address)".into());
    };
    let address: IpAddr = address
        .parse()
        .map_err(|_| format!("{address:?} is not an IPv4 or IPv6 address"))?;
    let width = if address.is_ipv4() { 32 } else { 128 };
    let canonical = prefix.bytes().all(|b| b.is_ascii_digit())
        && !prefix.is_empty()
        && (prefix == "0" || !prefix.starts_with('0'));
    let prefix = match prefix.parse::<u32>() {
        Ok(p) if canonical && p <= width => p,
        _ => return Err(format!("the prefix length must be 0 to {width}")),
    };
    let (bits, v4) = bits(address);
    let mask = match u128::MAX.checked_shl(width - prefix) {
        Some(mask) => mask & (u128::MAX >> (128 - width)),
        None => 0,
    };
    if bits & !mask != 0 {
        let first = match address {
            IpAddr::V4(_) => IpAddr::from(((bits & mask) as u32).to_be_bytes()),
            IpAddr::V6(_) => IpAddr::from((bits & mask).to_be_bytes()),
        };
        return Err(format!(
            "host bits are set (the network is {first}/{prefix})"
        ));
    }
    Ok(Network {
        v4,
        base: bits,
        mask,
    })
}

pub(super) fn in_networks(value: &str, networks: &[Network]) -> bool {
    let Ok(address) = value.parse::<IpAddr>() else {
        return false;
    };
    let (bits, v4) = bits(address);
    networks
        .iter()
        .any(|network| network.v4 == v4 && bits & network.mask == network.base)
}
