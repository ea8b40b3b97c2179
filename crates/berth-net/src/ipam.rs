//! Address management for one subnet, for either address family: the gateway
//! takes the first host address (unless another is given), containers get the
//! lowest free one (or the one asked for); allocations persist in a JSON file
//! written atomically, so they survive a daemon restart. One allocator,
//! generic over the family ([`Family`]): IPv4 ([`Subnet`], [`Ipam`]) and IPv6
//! ([`crate::ipam6`]'s `Subnet6`, `Ipam6`: from `::2` on, as Docker hands
//! them out since 25.0, not derived from the MAC). The lease file is
//! `{"used": {"ADDRESS": "OWNER", ...}}` for both.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{io, Error, Result};

/// What the allocator needs of an address family.
pub trait Family:
    Copy + Ord + fmt::Display + FromStr + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// Address length in bits.
    const BITS: u32;
    /// The prefix lengths a network may have.
    const PREFIXES: RangeInclusive<u8>;
    /// The last address of a subnet is its broadcast address, never a host's (IPv4).
    const BROADCAST: bool;
    /// Automatic addresses skip the first address of the pool they come from (IPv6: the
    /// subnet-router anycast address of an `--ip-range`).
    const SKIP_POOL_START: bool;
    fn to_bits(self) -> u128;
    fn from_bits(bits: u128) -> Self;
}

impl Family for Ipv4Addr {
    const BITS: u32 = 32;
    const PREFIXES: RangeInclusive<u8> = 8..=30;
    const BROADCAST: bool = true;
    const SKIP_POOL_START: bool = false;
    fn to_bits(self) -> u128 {
        u32::from(self).into()
    }
    fn from_bits(bits: u128) -> Self {
        Ipv4Addr::from(bits as u32)
    }
}

impl Family for Ipv6Addr {
    const BITS: u32 = 128;
    const PREFIXES: RangeInclusive<u8> = 16..=124;
    const BROADCAST: bool = false;
    const SKIP_POOL_START: bool = true;
    fn to_bits(self) -> u128 {
        u128::from(self)
    }
    fn from_bits(bits: u128) -> Self {
        Ipv6Addr::from(bits)
    }
}

/// A subnet of family `A`, such as 172.17.0.0/16 or fd00:1::/64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[serde(bound = "A: Family")]
pub struct Cidr<A> {
    pub network: A,
    pub prefix: u8,
}

/// An IPv4 subnet such as 172.17.0.0/16 (prefix 8-30).
pub type Subnet = Cidr<Ipv4Addr>;

/// Every bit of an address of family `A` set.
fn ones<A: Family>() -> u128 {
    u128::MAX >> (128 - A::BITS)
}

impl<A: Family> Cidr<A> {
    fn mask(&self) -> u128 {
        (u128::MAX << (A::BITS - u32::from(self.prefix))) & ones::<A>()
    }
    pub fn contains(&self, a: A) -> bool {
        a.to_bits() & self.mask() == self.network.to_bits()
    }
    /// The last address of the subnet (IPv4's broadcast address).
    pub fn broadcast(&self) -> A {
        A::from_bits(self.network.to_bits() | (!self.mask() & ones::<A>()))
    }
    /// The first host address, which the bridge (gateway) takes.
    pub fn gateway(&self) -> A {
        A::from_bits(self.network.to_bits() + 1)
    }
    pub fn overlaps(&self, other: &Cidr<A>) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }
}

impl<A: Family> FromStr for Cidr<A> {
    type Err = Error;
    fn from_str(s: &str) -> Result<Cidr<A>> {
        let bad = || Error::BadSubnet(s.to_string());
        let (addr, len) = s.split_once('/').ok_or_else(bad)?;
        let addr: A = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = len.parse().map_err(|_| bad())?;
        if !A::PREFIXES.contains(&prefix) {
            return Err(bad());
        }
        let mut c = Cidr {
            network: addr,
            prefix,
        };
        c.network = A::from_bits(addr.to_bits() & c.mask());
        Ok(c)
    }
}

impl<A: Family> TryFrom<String> for Cidr<A> {
    type Error = Error;
    fn try_from(s: String) -> Result<Cidr<A>> {
        s.parse()
    }
}

impl<A: Family> From<Cidr<A>> for String {
    fn from(s: Cidr<A>) -> String {
        s.to_string()
    }
}

impl<A: Family> fmt::Display for Cidr<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(bound = "A: Family")]
struct Allocations<A> {
    /// address -> owner (container id)
    used: BTreeMap<A, String>,
}

impl<A> Default for Allocations<A> {
    fn default() -> Self {
        Allocations {
            used: BTreeMap::new(),
        }
    }
}

/// Addresses of one subnet of family `A`, persisted in `path`.
pub struct Allocator<A> {
    subnet: Cidr<A>,
    /// The address the bridge takes (never handed out).
    gateway: A,
    /// Where automatic allocations come from (`--ip-range`); the whole subnet if none.
    range: Option<Cidr<A>>,
    /// Addresses never handed out (`--aux-address`).
    reserved: Vec<A>,
    path: PathBuf,
    alloc: Allocations<A>,
}

/// The IPv4 allocator.
pub type Ipam = Allocator<Ipv4Addr>;

impl<A: Family> Allocator<A> {
    /// Open (or start) the allocation file of `subnet`, whose gateway is its first address.
    pub fn open(subnet: Cidr<A>, path: &Path) -> Result<Allocator<A>> {
        let alloc = match std::fs::read(path) {
            Ok(data) => serde_json::from_slice(&data).map_err(|e| Error::Io {
                context: format!("read {}", path.display()),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Allocations::default(),
            Err(e) => return Err(io(format!("read {}", path.display()))(e)),
        };
        Ok(Allocator {
            subnet,
            gateway: subnet.gateway(),
            range: None,
            reserved: Vec::new(),
            path: path.to_path_buf(),
            alloc,
        })
    }

    /// Like [`Allocator::open`], with a gateway other than the first address, automatic
    /// allocations limited to `range`, and `reserved` addresses never handed out.
    pub fn open_pool(
        subnet: Cidr<A>,
        gateway: A,
        range: Option<Cidr<A>>,
        reserved: Vec<A>,
        path: &Path,
    ) -> Result<Allocator<A>> {
        let mut ipam = Allocator::open(subnet, path)?;
        ipam.gateway = gateway;
        ipam.range = range;
        ipam.reserved = reserved;
        Ok(ipam)
    }

    /// Forget every allocation and delete the file (the network is gone).
    pub fn destroy(&mut self) -> Result<()> {
        self.alloc.used.clear();
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(format!("remove {}", self.path.display()))(e)),
        }
    }

    pub fn subnet(&self) -> Cidr<A> {
        self.subnet
    }

    fn usable(&self, a: A) -> bool {
        self.subnet.contains(a)
            && a != self.subnet.network
            && !(A::BROADCAST && a == self.subnet.broadcast())
            && a != self.gateway
            && !self.reserved.contains(&a)
    }

    /// Give `owner` an address: `want` if given and free, else the lowest free one.
    pub fn allocate(&mut self, owner: &str, want: Option<A>) -> Result<A> {
        if let Some((a, _)) = self.alloc.used.iter().find(|(_, o)| *o == owner) {
            return Ok(*a);
        }
        let addr = match want {
            Some(a) => {
                if !self.usable(a) {
                    return Err(Error::NotInSubnet {
                        addr: a.to_string(),
                        subnet: self.subnet.to_string(),
                    });
                }
                if self.alloc.used.contains_key(&a) {
                    return Err(Error::InUse(a.to_string()));
                }
                a
            }
            None => {
                let pool = self.range.unwrap_or(self.subnet);
                let first = pool.network.to_bits();
                let start = u128::from(A::SKIP_POOL_START);
                // At most 2^32 candidates (an IPv6 /64 is never searched to its end).
                let hosts = (!pool.mask() & ones::<A>()).min(u128::from(u32::MAX));
                (start..=hosts)
                    .map(|i| A::from_bits(first + i))
                    .find(|a| self.usable(*a) && !self.alloc.used.contains_key(a))
                    .ok_or_else(|| Error::Exhausted {
                        subnet: self.subnet.to_string(),
                    })?
            }
        };
        self.alloc.used.insert(addr, owner.to_string());
        self.save()?;
        Ok(addr)
    }

    /// Free whatever `owner` holds.
    pub fn release(&mut self, owner: &str) -> Result<()> {
        let before = self.alloc.used.len();
        self.alloc.used.retain(|_, o| o != owner);
        if self.alloc.used.len() != before {
            self.save()?;
        }
        Ok(())
    }

    /// Who holds what.
    pub fn allocated(&self) -> impl Iterator<Item = (&A, &String)> {
        self.alloc.used.iter()
    }

    fn save(&self) -> Result<()> {
        let data = serde_json::to_vec(&self.alloc).expect("allocations serialize");
        let tmp = self.path.with_extension("tmp");
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
        }
        std::fs::write(&tmp, data).map_err(io(format!("write {}", tmp.display())))?;
        std::fs::rename(&tmp, &self.path).map_err(io(format!("rename to {}", self.path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_and_normalise() {
        let s: Subnet = "172.17.5.9/16".parse().unwrap();
        assert_eq!(s.to_string(), "172.17.0.0/16");
        assert_eq!(s.gateway(), Ipv4Addr::new(172, 17, 0, 1));
        assert_eq!(s.broadcast(), Ipv4Addr::new(172, 17, 255, 255));
        assert!(s.contains(Ipv4Addr::new(172, 17, 200, 1)));
        assert!(!s.contains(Ipv4Addr::new(172, 18, 0, 1)));
        for bad in ["172.17.0.0", "1.2.3/8", "10.0.0.0/31", "x/16"] {
            assert!(bad.parse::<Subnet>().is_err(), "{bad}");
        }
        assert!(s.overlaps(&"172.17.3.0/24".parse().unwrap()));
    }

    #[test]
    fn allocation_is_lowest_free_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ipam.json");
        let subnet: Subnet = "10.9.0.0/29".parse().unwrap();
        let mut ipam = Ipam::open(subnet, &path).unwrap();
        assert_eq!(
            ipam.allocate("a", None).unwrap(),
            Ipv4Addr::new(10, 9, 0, 2)
        );
        assert_eq!(
            ipam.allocate("b", None).unwrap(),
            Ipv4Addr::new(10, 9, 0, 3)
        );
        assert_eq!(
            ipam.allocate("a", None).unwrap(),
            Ipv4Addr::new(10, 9, 0, 2),
            "same owner, same address"
        );
        ipam.release("a").unwrap();
        let mut again = Ipam::open(subnet, &path).unwrap();
        assert_eq!(
            again.allocate("c", None).unwrap(),
            Ipv4Addr::new(10, 9, 0, 2)
        );
        assert!(matches!(
            again.allocate("d", Some(Ipv4Addr::new(10, 9, 0, 3))),
            Err(Error::InUse(_))
        ));
        assert!(
            again
                .allocate("d", Some(Ipv4Addr::new(10, 9, 0, 1)))
                .is_err(),
            "gateway is reserved"
        );
        // .4, .5, .6 left; then the pool is exhausted.
        for owner in ["e", "f", "g"] {
            again.allocate(owner, None).unwrap();
        }
        assert!(matches!(
            again.allocate("h", None),
            Err(Error::Exhausted { .. })
        ));
    }

    #[test]
    fn lease_files_of_either_family_written_before_still_load() {
        // The files as the separate IPv4 and IPv6 allocators wrote them.
        let dir = tempfile::tempdir().unwrap();
        let v4 = dir.path().join("n.ipam.json");
        std::fs::write(&v4, r#"{"used":{"10.9.0.2":"a","10.9.0.4":"b"}}"#).unwrap();
        let mut ipam = Ipam::open("10.9.0.0/24".parse().unwrap(), &v4).unwrap();
        let held: Vec<(String, String)> = ipam
            .allocated()
            .map(|(a, o)| (a.to_string(), o.clone()))
            .collect();
        assert_eq!(
            held,
            [
                ("10.9.0.2".into(), "a".into()),
                ("10.9.0.4".into(), "b".into())
            ]
        );
        assert_eq!(
            ipam.allocate("c", None).unwrap(),
            Ipv4Addr::new(10, 9, 0, 3)
        );
        assert_eq!(
            std::fs::read_to_string(&v4).unwrap(),
            r#"{"used":{"10.9.0.2":"a","10.9.0.3":"c","10.9.0.4":"b"}}"#,
            "written back in the same format"
        );
        let v6 = dir.path().join("n.ipam6.json");
        std::fs::write(&v6, r#"{"used":{"fd00:9::2":"a"}}"#).unwrap();
        let s6: crate::ipam6::Subnet6 = "fd00:9::/64".parse().unwrap();
        let mut ipam6 = crate::ipam6::Ipam6::open(s6, &v6).unwrap();
        assert_eq!(ipam6.allocate("a", None).unwrap().to_string(), "fd00:9::2");
        assert_eq!(ipam6.allocate("b", None).unwrap().to_string(), "fd00:9::3");
        assert_eq!(
            std::fs::read_to_string(&v6).unwrap(),
            r#"{"used":{"fd00:9::2":"a","fd00:9::3":"b"}}"#
        );
        // A file that is not a lease file is an error, not an empty pool.
        std::fs::write(&v4, "{").unwrap();
        assert!(Ipam::open("10.9.0.0/24".parse().unwrap(), &v4).is_err());
    }

    #[test]
    fn ranges_and_reserved_addresses_per_family() {
        let dir = tempfile::tempdir().unwrap();
        // IPv4: the range's first address is a host's; the subnet's broadcast never is.
        let s: Subnet = "10.9.0.0/24".parse().unwrap();
        let r: Subnet = "10.9.0.128/25".parse().unwrap();
        let aux = vec![Ipv4Addr::new(10, 9, 0, 129)];
        let path = dir.path().join("r.ipam.json");
        let mut ipam = Ipam::open_pool(s, Ipv4Addr::new(10, 9, 0, 1), Some(r), aux, &path).unwrap();
        assert_eq!(
            ipam.allocate("a", None).unwrap(),
            Ipv4Addr::new(10, 9, 0, 128)
        );
        assert_eq!(
            ipam.allocate("b", None).unwrap(),
            Ipv4Addr::new(10, 9, 0, 130)
        );
        assert!(ipam
            .allocate("c", Some(Ipv4Addr::new(10, 9, 0, 255)))
            .is_err());
        assert!(ipam
            .allocate("c", Some(Ipv4Addr::new(10, 9, 0, 129)))
            .is_err());
        assert_eq!(s.broadcast(), Ipv4Addr::new(10, 9, 0, 255));
        // IPv6: no broadcast, so the last address is a host's.
        let s6: crate::ipam6::Subnet6 = "fd00:9::/120".parse().unwrap();
        let path = dir.path().join("r.ipam6.json");
        let mut ipam6 = crate::ipam6::Ipam6::open(s6, &path).unwrap();
        assert_eq!(
            ipam6
                .allocate("a", Some("fd00:9::ff".parse().unwrap()))
                .unwrap()
                .to_string(),
            "fd00:9::ff"
        );
    }
}
