//! The parent interface of a macvlan or ipvlan network, as Docker picks it:
//! `-o parent=eth0` uses an existing link; `-o parent=eth0.42` uses the 802.1q
//! sub-interface, making it on `eth0` with VLAN id 42 if missing (and removing
//! it with the last network that uses it); no parent (or `--internal`) makes a
//! dummy link `dm-<id[:12]>`, so containers reach each other and nothing else.
//! A kernel without dummy links gets a veth pair whose peer goes nowhere.

use crate::error::{Error, Result};
use crate::model::ModelError;
use crate::netlink::{self, Netlink, Sublink};

/// `-o parent=`.
pub const OPT_PARENT: &str = "parent";

/// Where a network's links hang.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parent {
    /// A link the user made.
    Existing(String),
    /// `base.id`: an 802.1q sub-interface of `base`.
    Vlan { name: String, base: String, id: u16 },
    /// The network's own dummy link.
    Dummy(String),
}

impl Parent {
    /// The link's name.
    pub fn name(&self) -> &str {
        match self {
            Parent::Existing(n) | Parent::Dummy(n) | Parent::Vlan { name: n, .. } => n,
        }
    }
}

/// The parent of network `id` from its `parent` option and `--internal`.
pub fn plan(
    parent: Option<&str>,
    internal: bool,
    id: &str,
) -> std::result::Result<Parent, ModelError> {
    let parent = parent.filter(|p| !p.is_empty());
    let Some(p) = parent.filter(|_| !internal) else {
        return Ok(Parent::Dummy(format!("dm-{}", &id[..12.min(id.len())])));
    };
    if p.len() > 15 || p.contains('/') || p.chars().any(char::is_whitespace) {
        return Err(ModelError::Invalid(format!(
            "invalid parent interface name {p:?}"
        )));
    }
    match p.rsplit_once('.') {
        None => Ok(Parent::Existing(p.to_string())),
        Some((base, id)) => {
            let vid = id.parse::<u16>().ok().filter(|v| (1..=4094).contains(v));
            match vid {
                Some(v) if !base.is_empty() => Ok(Parent::Vlan {
                    name: p.to_string(),
                    base: base.to_string(),
                    id: v,
                }),
                _ => Err(ModelError::Invalid(format!(
                    "invalid subinterface vlan name {p}, example formatting is eth0.10"
                ))),
            }
        }
    }
}

/// Make sure the parent exists, making a VLAN or dummy parent if missing; says whether it
/// made one (then it is ours to remove with the last network on it).
pub fn ensure(parent: &Parent) -> Result<bool> {
    if netlink::index(parent.name()).is_ok() {
        return Ok(false);
    }
    let mut nl = Netlink::open()?;
    match parent {
        Parent::Existing(name) => return Err(crate::sublink::no_parent(name)),
        Parent::Vlan { name, base, id } => {
            let base_idx = netlink::index(base).map_err(|_| crate::sublink::no_parent(base))?;
            nl.create_sublink(name, base_idx, Sublink::Vlan { id: *id })?;
        }
        Parent::Dummy(name) => match nl.create_dummy(name) {
            Err(Error::Unsupported(_)) => {
                let peer = format!("dp-{}", &name[3..]);
                nl.create_veth(name, &peer, 1500, None)?;
                if let Ok(p) = netlink::index(&peer) {
                    nl.set_link(p, true, None, None, None)?;
                }
            }
            other => other?,
        },
    }
    let up = netlink::index(parent.name()).and_then(|idx| nl.set_link(idx, true, None, None, None));
    if let Err(e) = up {
        let _ = remove(parent.name());
        return Err(e);
    }
    Ok(true)
}

/// Delete a parent link berthd made (gone already is fine).
pub fn remove(name: &str) -> Result<()> {
    match netlink::index(name) {
        Ok(idx) => Netlink::open()?.delete_link(idx),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents() {
        let id = "0123456789abcdef0123";
        assert_eq!(
            plan(Some("eth0"), false, id).unwrap(),
            Parent::Existing("eth0".into())
        );
        assert_eq!(
            plan(Some("eth0.42"), false, id).unwrap(),
            Parent::Vlan {
                name: "eth0.42".into(),
                base: "eth0".into(),
                id: 42
            }
        );
        assert_eq!(
            plan(None, false, id).unwrap(),
            Parent::Dummy("dm-0123456789ab".into())
        );
        assert_eq!(
            plan(Some("eth0"), true, id).unwrap(),
            Parent::Dummy("dm-0123456789ab".into())
        );
        for bad in [
            "eth0.0",
            "eth0.4095",
            "eth0.x",
            ".5",
            "a/b",
            "averyverylongname0",
        ] {
            assert!(plan(Some(bad), false, id).is_err(), "{bad}");
        }
    }
}
