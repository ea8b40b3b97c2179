//! IPv6 address management for one subnet (`--ipv6 --subnet fd00:1::/64`):
//! the gateway takes `::1`, containers get the lowest free host address from
//! `::2` on (as Docker hands them out since 25.0, not derived from the MAC);
//! leases persist in a JSON file beside the IPv4 ones, written atomically.
//! Without an explicit subnet a network gets a random unique local /64
//! (fdXX:XXXX:XXXX::/64, RFC 4193), as Docker 27 does.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{io, Error, Result};

/// An IPv6 subnet such as fd00:1::/64 (prefix 16-124).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Subnet6 {
    pub network: Ipv6Addr,
    pub prefix: u8,
}

impl Subnet6 {
    fn mask(&self) -> u128 {
        u128::MAX << (128 - self.prefix)
    }
    pub fn contains(&self, a: Ipv6Addr) -> bool {
        u128::from(a) & self.mask() == u128::from(self.network)
    }
    /// `::1` of the subnet, which the bridge (gateway) takes.
    pub fn gateway(&self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.network) + 1)
    }
    pub fn overlaps(&self, other: &Subnet6) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }
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

impl FromStr for Subnet6 {
    type Err = Error;
    fn from_str(s: &str) -> Result<Subnet6> {
        let bad = || Error::BadSubnet(s.to_string());
        let (addr, len) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv6Addr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = len.parse().map_err(|_| bad())?;
        if !(16..=124).contains(&prefix) {
            return Err(bad());
        }
        let mask = u128::MAX << (128 - prefix);
        Ok(Subnet6 {
            network: Ipv6Addr::from(u128::from(addr) & mask),
            prefix,
        })
    }
}

impl TryFrom<String> for Subnet6 {
    type Error = Error;
    fn try_from(s: String) -> Result<Subnet6> {
        s.parse()
    }
}

impl From<Subnet6> for String {
    fn from(s: Subnet6) -> String {
        s.to_string()
    }
}

impl fmt::Display for Subnet6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Leases {
    /// address -> owner (container id)
    used: BTreeMap<Ipv6Addr, String>,
}

/// The IPv6 addresses of one subnet, persisted in `path`.
pub struct Ipam6 {
    subnet: Subnet6,
    gateway: Ipv6Addr,
    /// Where automatic addresses come from (`--ip-range`); the whole subnet if none.
    range: Option<Subnet6>,
    path: PathBuf,
    leases: Leases,
}

impl Ipam6 {
    /// Open (or start) the lease file of `subnet`, whose bridge holds `gateway`.
    pub fn open(subnet: Subnet6, gateway: Ipv6Addr, path: &Path) -> Result<Ipam6> {
        let leases = match std::fs::read(path) {
            Ok(data) => serde_json::from_slice(&data).map_err(|e| Error::Io {
                context: format!("read {}", path.display()),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Leases::default(),
            Err(e) => return Err(io(format!("read {}", path.display()))(e)),
        };
        Ok(Ipam6 {
            subnet,
            gateway,
            range: None,
            path: path.to_path_buf(),
            leases,
        })
    }

    /// Limit automatic addresses to `range` (within the subnet).
    pub fn with_range(mut self, range: Option<Subnet6>) -> Ipam6 {
        self.range = range;
        self
    }

    pub fn subnet(&self) -> Subnet6 {
        self.subnet
    }

    fn usable(&self, a: Ipv6Addr) -> bool {
        // The subnet-router anycast address (host part 0) is never a host's.
        self.subnet.contains(a) && a != self.subnet.network && a != self.gateway
    }

    /// Give `owner` an address: `want` if given and free, else the lowest free one.
    pub fn allocate(&mut self, owner: &str, want: Option<Ipv6Addr>) -> Result<Ipv6Addr> {
        if let Some((a, _)) = self.leases.used.iter().find(|(_, o)| *o == owner) {
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
                if self.leases.used.contains_key(&a) {
                    return Err(Error::InUse(a.to_string()));
                }
                a
            }
            None => {
                let pool = self.range.unwrap_or(self.subnet);
                let first = u128::from(pool.network);
                let hosts = (!pool.mask()).min(u128::from(u32::MAX));
                (1..=hosts)
                    .map(|i| Ipv6Addr::from(first + i))
                    .find(|a| self.usable(*a) && !self.leases.used.contains_key(a))
                    .ok_or_else(|| Error::Exhausted {
                        subnet: self.subnet.to_string(),
                    })?
            }
        };
        self.leases.used.insert(addr, owner.to_string());
        self.save()?;
        Ok(addr)
    }

    /// Free whatever `owner` holds.
    pub fn release(&mut self, owner: &str) -> Result<()> {
        let before = self.leases.used.len();
        self.leases.used.retain(|_, o| o != owner);
        if self.leases.used.len() != before {
            self.save()?;
        }
        Ok(())
    }

    /// Who holds what.
    pub fn allocated(&self) -> impl Iterator<Item = (&Ipv6Addr, &String)> {
        self.leases.used.iter()
    }

    /// Forget every lease and delete the file (the network is gone).
    pub fn destroy(&mut self) -> Result<()> {
        self.leases.used.clear();
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(format!("remove {}", self.path.display()))(e)),
        }
    }

    fn save(&self) -> Result<()> {
        let data = serde_json::to_vec(&self.leases).expect("leases serialize");
        let tmp = self.path.with_extension("tmp6");
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
        let mut ipam = Ipam6::open(s, s.gateway(), &path).unwrap();
        assert_eq!(ipam.allocate("a", None).unwrap().to_string(), "fd00:9::2");
        assert_eq!(ipam.allocate("b", None).unwrap().to_string(), "fd00:9::3");
        assert_eq!(ipam.allocate("a", None).unwrap().to_string(), "fd00:9::2");
        ipam.release("a").unwrap();
        let mut again = Ipam6::open(s, s.gateway(), &path).unwrap();
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
        let mut ranged = Ipam6::open(s, "2001:389::ffff".parse().unwrap(), &path)
            .unwrap()
            .with_range(Some(r));
        assert_eq!(
            ranged.allocate("a", None).unwrap().to_string(),
            "2001:389::1:1"
        );
    }
}
