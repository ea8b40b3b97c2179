//! IPv6 address management: the one allocator of [`crate::ipam`] for IPv6
//! (`--ipv6 --subnet fd00:1::/64`): the gateway takes `::1`, containers get the
//! lowest free host address from `::2` on (as Docker hands them out since
//! 25.0, not derived from the MAC); leases persist in a JSON file beside the
//! IPv4 ones. Without an explicit subnet a network gets a random unique local
//! /64 (fdXX:XXXX:XXXX::/64, RFC 4193), as Docker 27 does.

use std::net::Ipv6Addr;

use crate::ipam::{Allocator, Cidr};

/// An IPv6 subnet such as fd00:1::/64 (prefix 16-124).
pub type Subnet6 = Cidr<Ipv6Addr>;

/// The IPv6 allocator.
pub type Ipam6 = Allocator<Ipv6Addr>;

impl Cidr<Ipv6Addr> {
    /// A random unique local /64 (fd00::/8 plus 40 random bits, subnet 0).
    pub fn random_ula() -> Subnet6 {
        let mut b = [0u8; 5];
        if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
            use std::io::Read;
            let _ = f.read_exact(&mut b);
        }
        let mut o = [0u8; 16];
        o[0] = 0xfd;
        o[1..6].copy_from_slice(&b);
        Subnet6 {
            network: Ipv6Addr::from(o),
            prefix: 64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn subnets_parse_and_normalise() {
        let s: Subnet6 = "fd00:1:2:3::9/64".parse().unwrap();
        assert_eq!(s.to_string(), "fd00:1:2:3::/64");
        assert_eq!(s.gateway().to_string(), "fd00:1:2:3::1");
        assert!(s.contains("fd00:1:2:3:ffff::1".parse().unwrap()));
        assert!(!s.contains("fd00:1:2:4::1".parse().unwrap()));
        assert!(s.overlaps(&"fd00:1:2::/48".parse().unwrap()));
        for bad in ["fd00::", "fd00::/8", "fd00::/127", "10.0.0.0/24", "x/64"] {
            assert!(bad.parse::<Subnet6>().is_err(), "{bad}");
        }
        let u = Subnet6::random_ula();
        assert_eq!((u.network.octets()[0], u.prefix), (0xfd, 64));
    }

    #[test]
    fn leases_are_lowest_free_and_persist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.ipam6.json");
        let s: Subnet6 = "fd00:9::/120".parse().unwrap();
        let mut ipam = Ipam6::open(s, &path).unwrap();
        assert_eq!(ipam.allocate("a", None).unwrap().to_string(), "fd00:9::2");
        assert_eq!(ipam.allocate("b", None).unwrap().to_string(), "fd00:9::3");
        assert_eq!(ipam.allocate("a", None).unwrap().to_string(), "fd00:9::2");
        ipam.release("a").unwrap();
        let mut again = Ipam6::open(s, &path).unwrap();
        assert_eq!(again.allocate("c", None).unwrap().to_string(), "fd00:9::2");
        assert!(matches!(
            again.allocate("d", Some("fd00:9::3".parse().unwrap())),
            Err(Error::InUse(_))
        ));
        assert!(again
            .allocate("d", Some("fd00:9::1".parse().unwrap()))
            .is_err());
        assert_eq!(
            again
                .allocate("d", Some("fd00:9::77".parse().unwrap()))
                .unwrap()
                .to_string(),
            "fd00:9::77"
        );
        again.destroy().unwrap();
        assert!(!path.exists());
        // With an ip-range, automatic addresses come from there.
        let s: Subnet6 = "2001:389::/64".parse().unwrap();
        let r: Subnet6 = "2001:389::1:0/112".parse().unwrap();
        let mut ranged = Ipam6::open_pool(
            s,
            "2001:389::ffff".parse().unwrap(),
            Some(r),
            Vec::new(),
            &path,
        )
        .unwrap();
        assert_eq!(
            ranged.allocate("a", None).unwrap().to_string(),
            "2001:389::1:1"
        );
    }
}
