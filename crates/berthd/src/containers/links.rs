//! Docker's legacy links (`HostConfig.Links`, `docker run --link name:alias`) on the default bridge:
//! checked at create time, resolved at start into `/etc/hosts` lines (`<ip> <alias> <hostname>
//! <name>`) and the environment Docker gives a linking container (`ALIAS_NAME`, `ALIAS_PORT_*`,
//! `ALIAS_ENV_*`). A link names its child by id, so a rename of the child keeps it; a removed child
//! takes its links with it. `DELETE /containers/<parent>/<alias>?link=1` removes one.

use super::model::{Container, Status};
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};

/// One link of a container.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// The linked (child) container's id.
    pub child: String,
    /// The alias the parent knows it by.
    pub alias: String,
}

/// Parse `name[:alias]` (also the `/name:/parent/alias` form inspect shows).
fn parse_one(s: &str) -> ApiResult<(String, String)> {
    let (name, alias) = match s.split_once(':') {
        Some((n, a)) => (n, a),
        None => (s, s),
    };
    let name = name.trim_start_matches('/');
    let alias = alias.rsplit('/').next().unwrap_or("");
    if name.is_empty() || alias.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "invalid link format {s:?}: want name:alias"
        )));
    }
    Ok((name.to_string(), alias.to_string()))
}

/// Validate `HostConfig.Links` at create time: every child exists and is not on the host's network.
/// On a user-defined network Docker ignores them: the endpoint's `Links` (which the CLI and
/// Compose send beside them) are what the network's resolver answers.
pub fn parse(d: &Daemon, links: &[String], network_mode: &str) -> ApiResult<Vec<Link>> {
    if links.is_empty() {
        return Ok(vec![]);
    }
    match network_mode {
        "default" => {}
        "host" => {
            return Err(ApiError::BadRequest(
                "conflicting options: host type networking can't be used with links. This would result in undefined behavior".into(),
            ))
        }
        m if m.starts_with("container:") => {
            return Err(ApiError::BadRequest(
                "conflicting options: container type network can't be used with links. This would result in undefined behavior".into(),
            ))
        }
        "none" => {
            return Err(ApiError::BadRequest(format!(
                "conflicting options: links can only be used on the default bridge network, not with network mode {network_mode:?}"
            )))
        }
        _ => return Ok(vec![]),
    }
    let mut out: Vec<Link> = Vec::new();
    for s in links {
        let (name, alias) = parse_one(s)?;
        let child = d.containers.get(&name).map_err(|e| {
            ApiError::BadRequest(format!("could not get container for {name}: {e}"))
        })?;
        if child.spec.network_mode == "host" {
            return Err(ApiError::BadRequest(
                "conflicting options: host type networking can't be used with links. This would result in undefined behavior".into(),
            ));
        }
        out.retain(|l| l.alias != alias);
        out.push(Link {
            child: child.id,
            alias,
        });
    }
    Ok(out)
}

/// `HostConfig.Links` as inspect shows it: `/child:/parent/alias`.
pub fn inspect_form(d: &Daemon, c: &Container) -> Vec<String> {
    c.spec
        .links
        .iter()
        .filter_map(|l| d.containers.get(&l.child).ok().map(|ch| (ch, l)))
        .map(|(ch, l)| format!("/{}:/{}/{}", ch.name, c.name, l.alias))
        .collect()
}

/// The names a container is known by through links (`/parent/alias`), for the container list.
pub fn link_names(all: &[Container], child: &str) -> Vec<String> {
    all.iter()
        .flat_map(|p| {
            p.spec
                .links
                .iter()
                .filter(|l| l.child == child)
                .map(move |l| format!("/{}/{}", p.name, l.alias))
        })
        .collect()
}

fn env_key(alias: &str) -> String {
    alias
        .to_ascii_uppercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The environment of one link, as Docker makes it.
fn link_env(parent: &str, alias: &str, child: &Container, ip: &str) -> Vec<String> {
    let a = env_key(alias);
    let mut env = vec![format!("{a}_NAME=/{parent}/{alias}")];
    let mut ports: Vec<(u16, String)> = child.config["ExposedPorts"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.keys())
        .filter_map(|k| {
            let (p, proto) = k.split_once('/').unwrap_or((k, "tcp"));
            Some((p.parse().ok()?, proto.to_string()))
        })
        .collect();
    ports.sort();
    if let Some((p, proto)) = ports.first() {
        env.push(format!("{a}_PORT={proto}://{ip}:{p}"));
    }
    for (p, proto) in &ports {
        let k = format!("{a}_PORT_{p}_{}", proto.to_ascii_uppercase());
        env.push(format!("{k}={proto}://{ip}:{p}"));
        env.push(format!("{k}_ADDR={ip}"));
        env.push(format!("{k}_PORT={p}"));
        env.push(format!("{k}_PROTO={proto}"));
    }
    for e in child.config["Env"].as_array().into_iter().flatten() {
        let Some((k, v)) = e.as_str().and_then(|e| e.split_once('=')) else {
            continue;
        };
        if k != "HOME" && k != "PATH" {
            env.push(format!("{a}_ENV_{k}={v}"));
        }
    }
    env
}

/// What a container's links add when it starts.
#[derive(Debug, Default)]
pub struct Resolved {
    /// `ALIAS_*` variables.
    pub env: Vec<String>,
    /// /etc/hosts entries: (names, address).
    pub hosts: Vec<(String, String)>,
}

/// At start: the environment and the /etc/hosts entries of the links. A child removed since is
/// skipped; one not running is an error, as in Docker.
pub fn resolve(d: &Daemon, c: &Container) -> ApiResult<Resolved> {
    let mut env = Vec::new();
    let mut hosts = Vec::new();
    for l in &c.spec.links {
        let Ok(child) = d.containers.get(&l.child) else {
            continue;
        };
        if child.state.status != Status::Running {
            return Err(ApiError::BadRequest(format!(
                "Cannot link to a non running container: /{} AS /{}/{}",
                child.name, c.name, l.alias
            )));
        }
        let ip = child
            .state
            .network
            .as_ref()
            .map(|a| a.endpoint.address.to_string())
            .unwrap_or_default();
        env.extend(link_env(&c.name, &l.alias, &child, &ip));
        if !ip.is_empty() {
            hosts.push((host_names(&l.alias, &child), ip));
        }
    }
    Ok(Resolved { env, hosts })
}

/// The names of a link's /etc/hosts entry: the alias, the child's hostname and its name.
fn host_names(alias: &str, child: &Container) -> String {
    let mut names = format!("{alias} {}", child.spec.hostname);
    if alias != child.name {
        names.push(' ');
        names.push_str(&child.name);
    }
    names
}

/// Point the `hosts` text's entry for `names` at `ip` (appended if missing).
fn set_entry(hosts: &str, names: &str, ip: &str) -> String {
    let mut found = false;
    let mut out = String::new();
    for line in hosts.lines() {
        match line.split_once('\t') {
            Some((_, n)) if n == names => {
                found = true;
                out.push_str(&format!("{ip}\t{names}\n"));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    if !found {
        out.push_str(&format!("{ip}\t{names}\n"));
    }
    out
}

/// A linked container got a new address (it started again): the running containers linking to it
/// see the new one in their /etc/hosts, as Docker updates them. (Their environment keeps the
/// address of their own start, as in Docker.)
pub fn refresh_parents(d: &Daemon, child: &Container, ip: &str) {
    for p in d.containers.all() {
        if p.state.status != Status::Running {
            continue;
        }
        for l in p.spec.links.iter().filter(|l| l.child == child.id) {
            let path = super::shim::Paths::new(d, &p.id, &p.runtime)
                .dir
                .join("hosts");
            let names = host_names(&l.alias, child);
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            // In place: the file is bind-mounted into the parent by its inode.
            if let Err(e) = std::fs::write(&path, set_entry(&text, &names, ip)) {
                crate::log!(2, "updating the link {} of {}: {e}", l.alias, p.id);
            }
        }
    }
}

/// `DELETE /containers/<parent>/<alias>?link=1`.
pub async fn remove(d: &Daemon, name: &str) -> ApiResult<()> {
    let full = name.trim_start_matches('/');
    let Some((parent, alias)) = full.rsplit_once('/') else {
        return Err(ApiError::Conflict(
            "Conflict, cannot remove the default link name of the container".into(),
        ));
    };
    let p = d
        .containers
        .get(parent)
        .map_err(|_| ApiError::NotFound(format!("No such container: {name}")))?;
    let lock = d.containers.op_lock(&p.id)?;
    let _g = lock.lock().await;
    if !p.spec.links.iter().any(|l| l.alias == alias) {
        return Err(ApiError::NotFound(format!("No such container: {name}")));
    }
    let c = d
        .containers
        .modify(&p.id, |c| c.spec.links.retain(|l| l.alias != alias))?;
    super::lifecycle::persist(d, &c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_forms() {
        assert_eq!(parse_one("db:data").unwrap(), ("db".into(), "data".into()));
        assert_eq!(parse_one("db").unwrap(), ("db".into(), "db".into()));
        assert_eq!(
            parse_one("/db:/web/data").unwrap(),
            ("db".into(), "data".into())
        );
        assert!(parse_one(":x").is_err());
        assert_eq!(env_key("my-link.1"), "MY_LINK_1");
    }

    #[test]
    fn hosts_entries_follow_the_child() {
        let h = "127.0.0.1\tlocalhost\n10.0.0.2\tdata abc db\n10.0.0.3\tweb\n";
        assert_eq!(
            set_entry(h, "data abc db", "10.0.0.9"),
            "127.0.0.1\tlocalhost\n10.0.0.9\tdata abc db\n10.0.0.3\tweb\n"
        );
        assert!(set_entry("", "x y", "10.0.0.1").ends_with("10.0.0.1\tx y\n"));
    }
}
