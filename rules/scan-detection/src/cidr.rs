//! The allowlist of scanner sources: CIDR blocks (`10.0.5.0/24`, `2001:db8::/48`) or single
//! addresses, parsed and checked once in `init`.

use core::net::IpAddr;

/// One block of addresses: a network address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `2001:db8::/32` or a bare address (a /32 or /128). Surrounding
    /// blanks are ignored. The error says what is wrong, without the parameter name.
    pub(crate) fn parse(entry: &str) -> Result<Cidr, String> {
        let text = entry.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let net: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{entry}` is not a CIDR block: `{addr}` is not an IP address"))?;
        let max = max_prefix(net);
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| {
                format!("`{entry}` is not a CIDR block: the prefix length must be 0 to {max}")
            })?,
        };
        let masked = mask(net, prefix);
        if masked != net {
            return Err(format!(
                "`{entry}` has bits set past its /{prefix} prefix; write `{masked}/{prefix}`"
            ));
        }
        Ok(Cidr { net, prefix })
    }

    /// Whether `ip` is inside the block. IPv4 and IPv6 blocks never contain each other's
    /// addresses (callers pass canonical addresses: `::ffff:10.0.0.1` as `10.0.0.1`).
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(ip, self.prefix) == self.net
            }
            _ => false,
        }
    }
}

/// Parses every entry; the first bad one is the error.
pub(crate) fn parse_all(entries: &[String]) -> Result<Vec<Cidr>, String> {
    entries.iter().map(|e| Cidr::parse(e)).collect()
}

fn max_prefix(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// `ip` with every bit past `prefix` cleared.
fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & m).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn blocks_and_bare_addresses() {
        let net = Cidr::parse("10.0.5.0/24").expect("valid");
        assert!(net.contains(ip("10.0.5.7")));
        assert!(!net.contains(ip("10.0.6.7")));
        let one = Cidr::parse(" 192.0.2.9 ").expect("valid");
        assert!(one.contains(ip("192.0.2.9")));
        assert!(!one.contains(ip("192.0.2.10")));
        let all = Cidr::parse("0.0.0.0/0").expect("valid");
        assert!(all.contains(ip("203.0.113.1")));
        assert!(
            !all.contains(ip("2001:db8::1")),
            "a v4 block holds no v6 address"
        );
    }

    #[test]
    fn ipv6_blocks() {
        let net = Cidr::parse("2001:db8:aa::/48").expect("valid");
        assert!(net.contains(ip("2001:db8:aa:1::5")));
        assert!(!net.contains(ip("2001:db8:ab::5")));
        assert!(!net.contains(ip("10.0.0.1")));
        assert!(Cidr::parse("::/0").expect("valid").contains(ip("fe80::1")));
    }

    #[test]
    fn bad_entries_say_what_is_wrong() {
        let err = Cidr::parse("10.0.0.0/33").expect_err("prefix too long");
        assert!(
            err.contains("`10.0.0.0/33`") && err.contains("0 to 32"),
            "{err}"
        );
        let err = Cidr::parse("10.0.0/8").expect_err("not an address");
        assert!(err.contains("`10.0.0` is not an IP address"), "{err}");
        let err = Cidr::parse("10.1.0.0/8").expect_err("host bits");
        assert!(err.contains("write `10.0.0.0/8`"), "{err}");
        assert!(Cidr::parse("").is_err());
        assert!(Cidr::parse("10.0.0.0/").is_err());
        assert!(Cidr::parse("10.0.0.0/-1").is_err());
        assert!(Cidr::parse("scanner.corp.example").is_err());
        let err = parse_all(&["10.0.0.0/8".into(), "nope".into()]).expect_err("second is bad");
        assert!(err.contains("`nope`"), "{err}");
    }
}
