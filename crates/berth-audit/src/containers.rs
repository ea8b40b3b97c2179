//! Section 5 (the running containers) and section 6 (sprawl): what the Engine API's inspect of
//! each running container shows, so these work against any engine, local or remote.

use serde_json::Value;

use crate::{container_name, image_name, sorted, Ctx, Verdict};

/// The capabilities Docker gives every container: adding one of them adds nothing (5.4).
const DEFAULT_CAPS: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Host directories a container should not mount writable (docker-bench's list).
const SENSITIVE: &[&str] = &[
    "/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr",
];

pub(crate) fn check(ctx: &Ctx, id: &str) -> Verdict {
    match id {
        "5.1" => swarm(&ctx.info),
        "6.1" => image_sprawl(ctx),
        "6.2" => container_sprawl(&ctx.info),
        _ => match &ctx.containers {
            Err(e) => Verdict::skipped(format!("cannot list the containers: {e}")),
            Ok(cs) if cs.is_empty() => Verdict::skipped("no running containers"),
            Ok(cs) => per_container(ctx, id, cs),
        },
    }
}

fn swarm(info: &Value) -> Verdict {
    match info["Swarm"]["LocalNodeState"]
        .as_str()
        .unwrap_or("inactive")
    {
        "inactive" | "" => Verdict::pass_because("swarm mode is not enabled"),
        s => Verdict::info(
            format!("swarm mode is {s}: make sure it is needed"),
            Vec::new(),
        ),
    }
}

fn image_sprawl(ctx: &Ctx) -> Verdict {
    let Ok(images) = &ctx.images else {
        return Verdict::skipped("cannot list the images");
    };
    let used: Vec<&str> = ctx
        .containers
        .as_ref()
        .map(|cs| cs.iter().filter_map(|c| c["Image"].as_str()).collect())
        .unwrap_or_default();
    let unused = sorted(
        images
            .iter()
            .filter(|i| !used.contains(&i["Id"].as_str().unwrap_or("")))
            .map(image_name)
            .collect(),
    );
    Verdict::info(
        format!(
            "{} images, {} not used by a running container",
            images.len(),
            unused.len()
        ),
        unused,
    )
}

fn container_sprawl(info: &Value) -> Verdict {
    let n = |k: &str| info[k].as_i64().unwrap_or(0);
    Verdict::info(
        format!(
            "{} containers, {} running",
            n("Containers"),
            n("ContainersRunning")
        ),
        Vec::new(),
    )
}

fn security_opts(c: &Value) -> Vec<String> {
    c["HostConfig"]["SecurityOpt"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn host_mode(c: &Value, key: &str) -> bool {
    c["HostConfig"][key].as_str() == Some("host")
}

fn engine_has(ctx: &Ctx, option: &str) -> bool {
    ctx.info["SecurityOptions"].as_array().is_some_and(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .any(|s| s.split(',').any(|kv| kv == format!("name={option}")))
    })
}

/// The host ports a container publishes: (host ip, host port, container port).
fn published(c: &Value) -> Vec<(String, u32, String)> {
    let mut out = Vec::new();
    if let Some(ports) = c["NetworkSettings"]["Ports"].as_object() {
        for (cport, binds) in ports {
            for b in binds.as_array().into_iter().flatten() {
                let port = b["HostPort"]
                    .as_str()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                let ip = b["HostIp"].as_str().unwrap_or("").to_string();
                out.push((ip, port, cport.clone()));
            }
        }
    }
    out
}

/// Each container's finding, if it has one (`Some(detail)`; an empty detail names the container
/// alone).
fn each(cs: &[Value], mut f: impl FnMut(&Value) -> Option<String>) -> Vec<String> {
    sorted(
        cs.iter()
            .filter_map(|c| {
                f(c).map(|d| {
                    let n = container_name(c);
                    if d.is_empty() {
                        n
                    } else {
                        format!("{n}: {d}")
                    }
                })
            })
            .collect(),
    )
}

fn per_container(ctx: &Ctx, id: &str, cs: &[Value]) -> Verdict {
    let hc = |c: &Value, k: &str| c["HostConfig"][k].clone();
    match id {
        "5.2" if !engine_has(ctx, "apparmor") => {
            Verdict::skipped("the engine has no AppArmor (not in its SecurityOptions)")
        }
        "5.2" => Verdict::unless_any(
            each(cs, |c| {
                matches!(
                    c["AppArmorProfile"].as_str().unwrap_or(""),
                    "" | "unconfined"
                )
                .then(String::new)
            }),
            "containers without an AppArmor profile",
        ),
        "5.3" if !engine_has(ctx, "selinux") => {
            Verdict::skipped("the engine has no SELinux (not in its SecurityOptions)")
        }
        "5.3" => Verdict::unless_any(
            each(cs, |c| {
                (!security_opts(c).iter().any(|o| o.starts_with("label"))).then(String::new)
            }),
            "containers without SELinux options",
        ),
        "5.4" => Verdict::unless_any(
            each(cs, |c| {
                let add: Vec<String> = hc(c, "CapAdd")
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x.as_str())
                    .map(|x| x.to_ascii_uppercase())
                    .map(|x| x.strip_prefix("CAP_").map(str::to_string).unwrap_or(x))
                    .filter(|x| !DEFAULT_CAPS.contains(&x.as_str()))
                    .collect();
                (!add.is_empty()).then(|| format!("adds {}", add.join(", ")))
            }),
            "containers with added capabilities",
        ),
        "5.5" => Verdict::unless_any(
            each(cs, |c| (hc(c, "Privileged") == true).then(String::new)),
            "privileged containers",
        ),
        "5.6" => Verdict::unless_any(
            each(cs, |c| {
                let bad: Vec<String> = c["Mounts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|m| m["RW"] != false)
                    .filter_map(|m| m["Source"].as_str())
                    .filter(|s| {
                        let t = s.trim_end_matches('/');
                        SENSITIVE.contains(&if t.is_empty() { "/" } else { t })
                    })
                    .map(str::to_string)
                    .collect();
                (!bad.is_empty()).then(|| bad.join(", "))
            }),
            "containers that mount sensitive host directories writable",
        ),
        "5.7" => sshd(ctx, cs),
        "5.8" => Verdict::unless_any(
            each(cs, |c| {
                let low: Vec<String> = published(c)
                    .into_iter()
                    .filter(|(_, p, _)| *p > 0 && *p < 1024)
                    .map(|(_, p, cp)| format!("{p}->{cp}"))
                    .collect();
                (!low.is_empty()).then(|| low.join(", "))
            }),
            "containers publishing privileged host ports",
        ),
        "5.9" => {
            let items = each(cs, |c| {
                let p: Vec<String> = published(c)
                    .into_iter()
                    .map(|(ip, p, cp)| format!("{ip}:{p}->{cp}"))
                    .collect();
                (!p.is_empty()).then(|| p.join(", "))
            });
            Verdict::note_any("review the published ports", items)
        }
        "5.10" => Verdict::unless_any(
            each(cs, |c| host_mode(c, "NetworkMode").then(String::new)),
            "containers sharing the host's network namespace",
        ),
        "5.11" => Verdict::unless_any(
            each(cs, |c| {
                (hc(c, "Memory").as_i64().unwrap_or(0) <= 0).then(String::new)
            }),
            "containers without a memory limit",
        ),
        "5.12" => Verdict::unless_any(
            each(cs, |c| {
                matches!(hc(c, "CpuShares").as_i64().unwrap_or(0), 0 | 1024).then(String::new)
            }),
            "containers without a CPU share set",
        ),
        "5.13" => Verdict::unless_any(
            each(cs, |c| (hc(c, "ReadonlyRootfs") != true).then(String::new)),
            "containers with a writable root file system",
        ),
        "5.14" => Verdict::unless_any(
            each(cs, |c| {
                let any: Vec<String> = published(c)
                    .into_iter()
                    .filter(|(ip, _, _)| matches!(ip.as_str(), "" | "0.0.0.0" | "::"))
                    .map(|(_, p, cp)| format!("{p}->{cp}"))
                    .collect();
                (!any.is_empty()).then(|| format!("all interfaces: {}", any.join(", ")))
            }),
            "containers with ports bound to every host interface",
        ),
        "5.15" => Verdict::unless_any(
            each(cs, |c| {
                let p = &c["HostConfig"]["RestartPolicy"];
                let retries = p["MaximumRetryCount"].as_i64().unwrap_or(0);
                match p["Name"].as_str().unwrap_or("") {
                    "always" => Some("always".to_string()),
                    "on-failure" if retries > 5 => Some(format!("on-failure:{retries}")),
                    _ => None,
                }
            }),
            "containers restarted without a bound of 5",
        ),
        "5.16" => Verdict::unless_any(
            each(cs, |c| host_mode(c, "PidMode").then(String::new)),
            "containers sharing the host's process namespace",
        ),
        "5.17" => Verdict::unless_any(
            each(cs, |c| host_mode(c, "IpcMode").then(String::new)),
            "containers sharing the host's IPC namespace",
        ),
        "5.18" => Verdict::note_any(
            "review the host devices given to containers",
            each(cs, |c| {
                let d: Vec<String> = hc(c, "Devices")
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|d| d["PathOnHost"].as_str().map(str::to_string))
                    .collect();
                (!d.is_empty()).then(|| d.join(", "))
            }),
        ),
        "5.19" => Verdict::note_any(
            "containers using the daemon's default ulimits",
            each(cs, |c| {
                hc(c, "Ulimits")
                    .as_array()
                    .is_none_or(|a| a.is_empty())
                    .then(String::new)
            }),
        ),
        "5.20" => Verdict::unless_any(
            each(cs, |c| {
                let shared: Vec<String> = c["Mounts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|m| matches!(m["Propagation"].as_str(), Some("shared" | "rshared")))
                    .filter_map(|m| m["Destination"].as_str().map(str::to_string))
                    .collect();
                (!shared.is_empty()).then(|| shared.join(", "))
            }),
            "containers with shared mount propagation",
        ),
        "5.21" => Verdict::unless_any(
            each(cs, |c| host_mode(c, "UTSMode").then(String::new)),
            "containers sharing the host's UTS namespace",
        ),
        "5.22" => Verdict::unless_any(
            each(cs, |c| {
                security_opts(c)
                    .iter()
                    .any(|o| o.replace('=', ":") == "seccomp:unconfined")
                    .then(String::new)
            }),
            "containers with seccomp disabled",
        ),
        "5.23" => execs(ctx, cs, true),
        "5.24" => execs(ctx, cs, false),
        "5.25" => Verdict::unless_any(
            each(cs, |c| {
                hc(c, "CgroupParent")
                    .as_str()
                    .filter(|p| !p.is_empty())
                    .map(|p| format!("cgroup parent {p}"))
            }),
            "containers outside the default cgroup parent: confirm them",
        ),
        "5.26" => Verdict::unless_any(
            each(cs, |c| {
                (!security_opts(c).iter().any(|o| {
                    let o = o.replace('=', ":");
                    o == "no-new-privileges" || o == "no-new-privileges:true"
                }))
                .then(String::new)
            }),
            "containers that may gain new privileges (no no-new-privileges)",
        ),
        "5.27" => Verdict::unless_any(
            each(cs, |c| {
                c["State"]["Health"]["Status"]
                    .as_str()
                    .is_none_or(str::is_empty)
                    .then(String::new)
            }),
            "containers without a health check",
        ),
        "5.28" => Verdict::info(
            "pull images before running them so the latest version is used",
            Vec::new(),
        ),
        "5.29" => Verdict::unless_any(
            each(cs, |c| {
                (hc(c, "PidsLimit").as_i64().unwrap_or(0) <= 0).then(String::new)
            }),
            "containers without a PIDs limit",
        ),
        "5.30" => Verdict::note_any(
            "containers on the default bridge network",
            each(cs, |c| {
                c["NetworkSettings"]["Networks"]
                    .get("bridge")
                    .is_some()
                    .then(String::new)
            }),
        ),
        "5.31" => Verdict::unless_any(
            each(cs, |c| host_mode(c, "UsernsMode").then(String::new)),
            "containers sharing the host's user namespace",
        ),
        "5.32" => Verdict::unless_any(
            each(cs, |c| {
                let socks: Vec<String> = c["Mounts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m["Source"].as_str())
                    .filter(|s| is_engine_socket(ctx, s))
                    .map(str::to_string)
                    .collect();
                (!socks.is_empty()).then(|| socks.join(", "))
            }),
            "containers with the engine's socket mounted",
        ),
        _ => Verdict::skipped("not applicable"),
    }
}

/// A path that is (most likely) an engine's API socket.
fn is_engine_socket(ctx: &Ctx, path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or("");
    let ours = ctx.client.host.strip_prefix("unix://") == Some(path)
        || ctx.daemon.as_ref().is_ok_and(|(_, s)| {
            s.hosts()
                .iter()
                .any(|h| h.strip_prefix("unix://") == Some(path))
        });
    ours || matches!(name, "docker.sock" | "berth.sock" | "containerd.sock")
}

fn sshd(ctx: &Ctx, cs: &[Value]) -> Verdict {
    let mut unknown = Vec::new();
    let items = each(cs, |c| {
        let id = c["Id"].as_str().unwrap_or("");
        match ctx.engine.top(id) {
            Err(e) => {
                unknown.push(format!("{}: {e}", container_name(c)));
                None
            }
            Ok(t) => {
                let col = t["Titles"]
                    .as_array()
                    .and_then(|a| {
                        a.iter()
                            .position(|x| matches!(x.as_str(), Some("CMD" | "COMMAND")))
                    })
                    .unwrap_or(usize::MAX);
                t["Processes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| {
                        p.get(col)
                            .or_else(|| p.as_array().and_then(|a| a.last()))
                            .and_then(Value::as_str)
                    })
                    .any(|cmd| {
                        let prog = cmd.split_whitespace().next().unwrap_or("");
                        prog.rsplit('/').next() == Some("sshd")
                    })
                    .then(String::new)
            }
        }
    });
    if !items.is_empty() {
        return Verdict::fail("containers running sshd", items);
    }
    if !unknown.is_empty() {
        return Verdict::info("could not list the processes of some containers", unknown);
    }
    Verdict::pass()
}

/// 5.23 (privileged execs) and 5.24 (execs as root), from the execs the engine still knows.
fn execs(ctx: &Ctx, cs: &[Value], privileged: bool) -> Verdict {
    let items = each(cs, |c| {
        let ids: Vec<&str> = c["ExecIDs"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let hits = ids
            .iter()
            .filter_map(|id| ctx.engine.exec(id).ok())
            .filter(|e| {
                let pc = &e["ProcessConfig"];
                if privileged {
                    pc["privileged"] == true
                } else {
                    let user = pc["user"].as_str().unwrap_or("");
                    let user = if user.is_empty() {
                        c["Config"]["User"].as_str().unwrap_or("")
                    } else {
                        user
                    };
                    runs_as_root(user)
                }
            })
            .count();
        (hits > 0).then(|| format!("{hits} exec(s)"))
    });
    if privileged {
        Verdict::unless_any(items, "containers with privileged execs")
    } else {
        Verdict::note_any("containers with execs run as root", items)
    }
}

/// A `Config.User` that means root: empty (the image's default, root unless the image says so
/// in Config.User, which inspect shows), `root` or uid 0, with any group.
pub(crate) fn runs_as_root(user: &str) -> bool {
    let u = user.split(':').next().unwrap_or("");
    matches!(u, "" | "root" | "0")
}

#[cfg(test)]
mod tests {
    use crate::fake::{FakeEngine, FakeHost};
    use crate::{audit, ClientSettings, Finding, Outcome};
    use serde_json::json;

    fn run(e: &FakeEngine) -> Vec<Finding> {
        audit(e, &FakeHost::default(), &ClientSettings::default()).unwrap()
    }

    fn find<'a>(f: &'a [Finding], id: &str) -> &'a Finding {
        f.iter().find(|x| x.id == id).unwrap()
    }

    #[test]
    fn a_well_configured_container_passes_every_automated_check() {
        let mut e = FakeEngine::new();
        e.container(
            "good",
            json!({"Mounts": [{"Source": "/srv/data", "Destination": "/data", "RW": true},
                              {"Source": "/etcetera", "Destination": "/e", "RW": true},
                              {"Source": "/etc", "Destination": "/host-etc", "RW": false}],
                   "HostConfig": {"CapAdd": ["NET_BIND_SERVICE", "cap_chown"]}}),
        );
        let f = run(&e);
        for x in f.iter().filter(|x| x.id.starts_with("5.")) {
            assert_ne!(x.result, Outcome::Fail, "{x:?}");
        }
        assert_eq!(find(&f, "4.1").result, Outcome::Pass);
    }

    #[test]
    fn each_bad_setting_fails_its_check_naming_the_container() {
        let cases = [
            (
                "5.4",
                json!({"HostConfig": {"CapAdd": ["CHOWN", "cap_net_admin"]}}),
            ),
            ("5.5", json!({"HostConfig": {"Privileged": true}})),
            (
                "5.6",
                json!({"Mounts": [{"Source": "/", "Destination": "/host"}]}),
            ),
            (
                "5.6",
                json!({"Mounts": [{"Source": "/etc", "Destination": "/h"}]}),
            ),
            (
                "5.8",
                json!({"NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "80"}]}}}),
            ),
            ("5.10", json!({"HostConfig": {"NetworkMode": "host"}})),
            ("5.11", json!({"HostConfig": {"Memory": 0}})),
            ("5.12", json!({"HostConfig": {"CpuShares": 0}})),
            ("5.13", json!({"HostConfig": {"ReadonlyRootfs": false}})),
            (
                "5.14",
                json!({"NetworkSettings": {"Ports": {"8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}}}),
            ),
            (
                "5.15",
                json!({"HostConfig": {"RestartPolicy": {"Name": "always"}}}),
            ),
            ("5.16", json!({"HostConfig": {"PidMode": "host"}})),
            ("5.17", json!({"HostConfig": {"IpcMode": "host"}})),
            (
                "5.20",
                json!({"Mounts": [{"Source": "/x", "Destination": "/y", "Propagation": "rshared"}]}),
            ),
            ("5.21", json!({"HostConfig": {"UTSMode": "host"}})),
            (
                "5.22",
                json!({"HostConfig": {"SecurityOpt": ["no-new-privileges", "seccomp=unconfined"]}}),
            ),
            ("5.25", json!({"HostConfig": {"CgroupParent": "/custom"}})),
            ("5.26", json!({"HostConfig": {"SecurityOpt": []}})),
            ("5.27", json!({"State": {"Health": null}})),
            ("5.29", json!({"HostConfig": {"PidsLimit": null}})),
            ("5.31", json!({"HostConfig": {"UsernsMode": "host"}})),
            (
                "5.32",
                json!({"Mounts": [{"Source": "/run/berth/berth.sock", "Destination": "/s"}]}),
            ),
            ("4.1", json!({"Config": {"User": "root:root"}})),
        ];
        for (id, patch) in cases {
            let mut e = FakeEngine::new();
            e.container("good", json!({}));
            e.container("bad", patch);
            let f = run(&e);
            let x = find(&f, id);
            assert_eq!(x.result, Outcome::Fail, "{id}: {x:?}");
            assert!(
                x.items.len() == 1 && x.items[0].starts_with("bad"),
                "{id}: {x:?}"
            );
        }
    }

    #[test]
    fn sshd_and_privileged_execs_are_found() {
        let mut e = FakeEngine::new();
        e.container("ssh", json!({"ExecIDs": ["e1", "e2"]}));
        e.top.insert(
            "ssh-id".into(),
            json!({"Titles": ["UID", "PID", "CMD"], "Processes": [["root", "1", "/usr/sbin/sshd -D"]]}),
        );
        e.execs.insert(
            "e1".into(),
            json!({"ProcessConfig": {"privileged": true, "user": "1000"}}),
        );
        e.execs.insert(
            "e2".into(),
            json!({"ProcessConfig": {"privileged": false, "user": "root"}}),
        );
        let f = run(&e);
        assert_eq!(find(&f, "5.7").items, ["ssh"]);
        assert_eq!(find(&f, "5.23").result, Outcome::Fail);
        assert_eq!(find(&f, "5.23").items, ["ssh: 1 exec(s)"]);
        assert_eq!(find(&f, "5.24").result, Outcome::Info);
        assert_eq!(find(&f, "5.24").items, ["ssh: 1 exec(s)"]);
    }

    #[test]
    fn without_running_containers_section_5_is_skipped_with_the_reason() {
        let f = run(&FakeEngine::new());
        let x = find(&f, "5.5");
        assert_eq!(x.result, Outcome::Skipped);
        assert_eq!(x.reason.as_deref(), Some("no running containers"));
        assert_eq!(find(&f, "5.1").result, Outcome::Pass);
    }

    #[test]
    fn apparmor_is_checked_only_where_the_engine_has_it() {
        let mut e = FakeEngine::new();
        e.container("c", json!({}));
        assert_eq!(find(&run(&e), "5.2").result, Outcome::Skipped);
        e.info["SecurityOptions"] = json!(["name=apparmor", "name=seccomp,profile=builtin"]);
        let f = run(&e);
        assert_eq!(find(&f, "5.2").result, Outcome::Fail);
        assert_eq!(find(&f, "5.2").items, ["c"]);
    }
}
