//! The ipvlan driver: each container gets an ipvlan link (sharing the
//! parent's MAC address) on the network's parent interface (`-o parent=IF`,
//! `-o ipvlan_mode=l2|l3|l3s`, l2 by default, `-o ipvlan_flag=bridge|private|vepa`,
//! bridge by default). Parents as for macvlan ([`crate::vlan`]); the container
//! side is [`crate::sublink`]. A kernel without ipvlan gets a clear error.

use std::collections::BTreeMap;

use crate::model::ModelError;
use crate::netlink::Sublink;

/// `-o ipvlan_mode=`.
pub const OPT_MODE: &str = "ipvlan_mode";
/// `-o ipvlan_flag=`.
pub const OPT_FLAG: &str = "ipvlan_flag";

/// The link of an ipvlan network with `options`.
pub fn link(options: &BTreeMap<String, String>) -> Result<Sublink, ModelError> {
    let mode = match options.get(OPT_MODE).map(String::as_str) {
        None | Some("") | Some("l2") => 0,
        Some("l3") => 1,
        Some("l3s") => 2,
        Some(other) => {
            return Err(ModelError::Invalid(format!(
            "requested ipvlan mode '{other}' is not valid, 'l2' mode is the ipvlan driver default"
        )))
        }
    };
    let flags = match options.get(OPT_FLAG).map(String::as_str) {
        None | Some("") | Some("bridge") => 0,
        Some("private") => 1,
        Some("vepa") => 2,
        Some(other) => {
            return Err(ModelError::Invalid(format!(
            "requested ipvlan flag '{other}' is not valid, 'bridge' is the ipvlan driver default"
        )))
        }
    };
    Ok(Sublink::Ipvlan { mode, flags })
}

/// Whether ipvlan's l3 modes route without a gateway (no default route through the pool's gateway:
/// the kernel sends everything out of the parent).
pub fn routes_by_device(link: Sublink) -> bool {
    matches!(link, Sublink::Ipvlan { mode: 1 | 2, .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn modes_and_flags() {
        assert_eq!(
            link(&BTreeMap::new()).unwrap(),
            Sublink::Ipvlan { mode: 0, flags: 0 }
        );
        assert_eq!(
            link(&opts(&[(OPT_MODE, "l3s"), (OPT_FLAG, "vepa")])).unwrap(),
            Sublink::Ipvlan { mode: 2, flags: 2 }
        );
        assert_eq!(
            link(&opts(&[(OPT_MODE, "l3"), (OPT_FLAG, "private")])).unwrap(),
            Sublink::Ipvlan { mode: 1, flags: 1 }
        );
        assert!(link(&opts(&[(OPT_MODE, "l4")])).is_err());
        assert!(link(&opts(&[(OPT_FLAG, "loud")])).is_err());
        assert!(routes_by_device(link(&opts(&[(OPT_MODE, "l3")])).unwrap()));
        assert!(!routes_by_device(link(&BTreeMap::new()).unwrap()));
    }
}
