//! Detached mount trees the runtime makes for init. Plain bind mounts of a
//! container with a user namespace: the runtime (host root) opens their
//! sources, which the namespace's root may not reach (runc passes them the
//! same way). Idmapped bind mounts (the `idmap`/`ridmap` mount options, or a mount's
//! own uidMappings/gidMappings): the runtime, which is privileged over the
//! host's file systems, clones each source tree detached and idmaps it
//! through a user namespace made for the purpose; init then attaches the
//! tree inside the container; the trees travel over the sync socket. Files owned by host root show as owned by the
//! container's root, and what the container writes lands as host root.

use std::os::fd::{AsFd, OwnedFd};

use berth_sys::Forked;
use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxIdMapping, Mount, Spec};

use crate::error::{Context, Error, Result};
use crate::mounts::parse_options;

/// A user namespace with the given mappings, held open by its descriptor.
pub fn userns_with_maps(uids: &[LinuxIdMapping], gids: &[LinuxIdMapping]) -> Result<OwnedFd> {
    let (ready_r, ready_w) = nix::unistd::pipe().ctx("pipe")?;
    let (done_r, done_w) = nix::unistd::pipe().ctx("pipe")?;
    match berth_sys::fork().ctx("fork a user namespace holder")? {
        Forked::Child => {
            drop(ready_r);
            drop(done_w);
            let ok = nix::sched::unshare(CloneFlags::CLONE_NEWUSER).is_ok();
            let _ = nix::unistd::write(&ready_w, if ok { b"1" } else { b"0" });
            let mut b = [0u8; 1];
            let _ = nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&done_r), &mut b);
            berth_sys::exit_now(0)
        }
        Forked::Parent(pid) => {
            drop(ready_w);
            drop(done_r);
            let result = (|| {
                let mut b = [0u8; 1];
                nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&ready_r), &mut b)
                    .ctx("wait for the user namespace")?;
                if b[0] != b'1' {
                    return Err(Error::Init(
                        "unshare a user namespace for an idmapped mount".into(),
                    ));
                }
                let fmt = |maps: &[LinuxIdMapping]| {
                    maps.iter()
                        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
                        .collect::<String>()
                };
                std::fs::write(format!("/proc/{pid}/uid_map"), fmt(uids))
                    .ctx("write the idmapped mount's uid_map")?;
                std::fs::write(format!("/proc/{pid}/gid_map"), fmt(gids))
                    .ctx("write the idmapped mount's gid_map")?;
                crate::mounts::open_fd(
                    std::path::Path::new(&format!("/proc/{pid}/ns/user")),
                    nix::fcntl::OFlag::empty(),
                )
                .ctx("open the idmapped mount's user namespace")
            })();
            drop(done_w);
            let _ = nix::sys::wait::waitpid(pid, None);
            result
        }
    }
}

/// Whether a mount asks to be idmapped, and recursively so.
fn wants_idmap(m: &Mount) -> Option<bool> {
    let opts = parse_options(m.options().as_deref().unwrap_or(&[]));
    let explicit = m.uid_mappings().is_some() || m.gid_mappings().is_some();
    (opts.idmap || explicit).then_some(opts.idmap_recursive || opts.recursive)
}

/// Whether the container gets a user namespace of its own.
fn new_user_ns(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter().any(|n| {
                n.typ() == oci_spec::runtime::LinuxNamespaceType::User && n.path().is_none()
            })
        })
}

/// A plain bind mount of a container with its own user namespace, and
/// whether recursive: a runtime running as host root opens its source, as
/// runc does, since the namespace's root may not be able to reach it (a
/// rootless runtime owns what it binds, and may not clone mounts).
fn plain_bind(spec: &Spec, m: &Mount, runtime_is_root: bool) -> Option<bool> {
    let opts = parse_options(m.options().as_deref().unwrap_or(&[]));
    let bind = opts.bind || m.typ().as_deref() == Some("bind");
    (runtime_is_root && bind && new_user_ns(spec)).then_some(opts.recursive)
}

/// The indices of the spec's mounts that init gets as detached trees:
/// idmapped ones, and plain binds of a container with a user namespace.
pub fn indices(spec: &Spec, runtime_is_root: bool) -> Vec<usize> {
    spec.mounts()
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, m)| {
            (wants_idmap(m).is_some() || plain_bind(spec, m, runtime_is_root).is_some())
                .then_some(i)
        })
        .collect()
}

/// The detached, idmapped trees for the spec's mounts, by mount index.
/// Made after the container's mount namespace exists: the kernel attaches a
/// detached tree only into a mount namespace older than the tree.
pub fn prepare(
    spec: &Spec,
    bundle: &std::path::Path,
    runtime_is_root: bool,
) -> Result<Vec<Option<OwnedFd>>> {
    let mounts = spec.mounts().clone().unwrap_or_default();
    let mut out: Vec<Option<OwnedFd>> = Vec::with_capacity(mounts.len());
    let linux = spec.linux().as_ref();
    for (i, m) in mounts.iter().enumerate() {
        let Some(recursive) = wants_idmap(m) else {
            match plain_bind(spec, m, runtime_is_root) {
                Some(recursive) => {
                    let source = m.source().as_ref().ok_or_else(|| {
                        Error::Config(format!("mounts[{i}]: a bind mount needs a source"))
                    })?;
                    let source = if source.is_absolute() {
                        source.clone()
                    } else {
                        bundle.join(source)
                    };
                    let tree = berth_sys::mount_api::bind_tree(&source, recursive)
                        .with_ctx(|| format!("mounts[{i}]: bind source {}", source.display()))?;
                    out.push(Some(tree));
                }
                None => out.push(None),
            }
            continue;
        };
        let pick = |own: Option<&Vec<LinuxIdMapping>>, container: Option<&Vec<LinuxIdMapping>>| {
            own.or(container).filter(|v| !v.is_empty()).cloned()
        };
        let uids = pick(
            m.uid_mappings().as_ref(),
            linux.and_then(|l| l.uid_mappings().as_ref()),
        );
        let gids = pick(
            m.gid_mappings().as_ref(),
            linux.and_then(|l| l.gid_mappings().as_ref()),
        );
        let (Some(uids), Some(gids)) = (uids, gids) else {
            return Err(Error::Config(format!(
                "mounts[{i}]: an idmapped mount needs uidMappings and gidMappings (its own or the container's)"
            )));
        };
        let source = m.source().as_ref().ok_or_else(|| {
            Error::Config(format!("mounts[{i}]: an idmapped mount needs a source"))
        })?;
        let source = if source.is_absolute() {
            source.clone()
        } else {
            bundle.join(source)
        };
        let userns = userns_with_maps(&uids, &gids)?;
        let tree = berth_sys::mount_api::idmapped_tree(&source, recursive, userns.as_fd())
            .with_ctx(|| format!("mounts[{i}]: idmap {}", source.display()))?;
        out.push(Some(tree));
    }
    Ok(out)
}
