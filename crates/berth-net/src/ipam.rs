//! IPv4 address management for one subnet: the gateway takes the first host
//! address, containers get the lowest free one; allocations persist in a JSON
//! file written atomically, so they survive a daemon restart.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{io, Error, Result};

/// An IPv4 subnet such as 172.17.0.0/16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Subnet {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    fn mask(&self) -> u32 {
        u32::MAX << (32 - self.prefix)
    }
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        u32::from(a) & self.mask() == u32::from(self.network)
    }
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !self.mask())
    }
    /// The first host address, which the bridge (gateway) takes.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }
    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }
}

impl FromStr for Subnet {
    type Err = Error;
    fn from_str(s: &str) -> Result<Subnet> {
        let bad = || Error::BadSubnet(s.to_string());
        let (addr, len) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = len.parse().map_err(|_| bad())?;
        if !(8..=30).contains(&prefix) {
            return Err(bad());
        }
        let mask = u32::MAX << (32 - prefix);
        Ok(Subnet {
            network: Ipv4Addr::from(u32::from(addr) & mask),
            prefix,
        })
    }
}

impl TryFrom<String> for Subnet {
    type Error = Error;
    fn try_from(s: String) -> Result<Subnet> {
        s.parse()
    }
}

impl From<Subnet> for String {
    fn from(s: Subnet) -> String {
        s.to_string()
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Allocations {
    /// address -> owner (container id)
    used: BTreeMap<Ipv4Addr, String>,
}

/// Addresses of one subnet, persisted in `path`.
pub struct Ipam {
    subnet: Subnet,
    /// The address the bridge takes (never handed out).
    gateway: Ipv4Addr,
    /// Where automatic allocations come from (`--ip-range`); the whole subnet if none.
    range: Option<Subnet>,
    /// Addresses never handed out (`--aux-address`).
    reserved: Vec<Ipv4Addr>,
    path: PathBuf,
    alloc: Allocations,
}

impl Ipam {
    /// Open (or start) the allocation file of `subnet`.
    pub fn open(subnet: Subnet, path: &Path) -> Result<Ipam> {
        let alloc = match std::fs::read(path) {
            Ok(data) => serde_json::from_slice(&data).map_err(|e| Error::Io {
                context: format!("read {}", path.display()),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Allocations::default(),
            Err(e) => return Err(io(format!("read {}", path.display()))(e)),
        };
        Ok(Ipam {
            subnet,
            gateway: subnet.gateway(),
            range: None,
            reserved: Vec::new(),
            path: path.to_path_buf(),
            alloc,
        })
    }

    /// Like [`Ipam::open`], with a gateway other than the first address, automatic
    /// allocations limited to `range`, and `reserved` addresses never handed out.
    pub fn open_pool(
        subnet: Subnet,
        gateway: Ipv4Addr,
        range: Option<Subnet>,
        reserved: Vec<Ipv4Addr>,
        path: &Path,
    ) -> Result<Ipam> {
        let mut ipam = Ipam::open(subnet, path)?;
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

    pub fn subnet(&self) -> Subnet {
        self.subnet
    }

    fn usable(&self, a: Ipv4Addr) -> bool {
        self.subnet.contains(a)
            && a != self.subnet.network
            && a != self.subnet.broadcast()
            && a != self.gateway
            && !self.reserved.contains(&a)
    }

    /// Give `owner` an address: `want` if given and free, else the lowest free one.
    pub fn allocate(&mut self, owner: &str, want: Option<Ipv4Addr>) -> Result<Ipv4Addr> {
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
                let first = u32::from(pool.network);
                let last = u32::from(pool.broadcast());
                (first..=last)
                    .map(Ipv4Addr::from)
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

    pub fn allocated(&self) -> impl Iterator<Item = (&Ipv4Addr, &String)> {
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
}
