//! The macvlan driver: each container gets a macvlan link (a MAC address of
//! its own) on the network's parent interface (`-o parent=IF`, `-o
//! macvlan_mode=bridge|private|vepa|passthru`, bridge by default). The parent
//! may be an 802.1q sub-interface made on demand ([`crate::vlan`]); without
//! one the network is internal over a dummy parent. The container side is
//! [`crate::sublink`].

use std::collections::BTreeMap;

use crate::model::ModelError;
use crate::netlink::Sublink;

/// `-o macvlan_mode=`.
pub const OPT_MODE: &str = "macvlan_mode";

/// The link of a macvlan network with `options`.
pub fn link(options: &BTreeMap<String, String>) -> Result<Sublink, ModelError> {
    let mode = match options.get(OPT_MODE).map(String::as_str) {
        None | Some("") | Some("bridge") => 4,
        Some("private") => 1,
        Some("vepa") => 2,
        Some("passthru") => 8,
        Some(other) => {
            return Err(ModelError::Invalid(format!(
                "requested macvlan mode '{other}' is not valid, 'bridge' mode is the macvlan driver default"
            )))
        }
    };
    Ok(Sublink::Macvlan { mode })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(mode: &str) -> BTreeMap<String, String> {
        [(OPT_MODE.to_string(), mode.to_string())].into()
    }

    #[test]
    fn modes() {
        assert_eq!(
            link(&BTreeMap::new()).unwrap(),
            Sublink::Macvlan { mode: 4 }
        );
        for (m, v) in [("bridge", 4), ("private", 1), ("vepa", 2), ("passthru", 8)] {
            assert_eq!(link(&opts(m)).unwrap(), Sublink::Macvlan { mode: v });
        }
        assert!(link(&opts("l2")).is_err());
    }
}
