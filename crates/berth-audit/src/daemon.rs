//! Section 2: the daemon's configuration. What `GET /info` shows is read there (so those checks
//! work against a remote engine); the rest comes from the daemon process's flags and config file
//! and is skipped, with the reason, when the daemon is not on this machine.

use serde_json::Value;

use crate::settings::{Kind, Settings};
use crate::{Ctx, Verdict};

pub(crate) fn check(ctx: &Ctx, id: &str) -> Verdict {
    let info = &ctx.info;
    let local = ctx.daemon.as_ref().map(|(_, s)| s);
    let need = |f: &dyn Fn(&Settings) -> Verdict| match local {
        Ok(s) => f(s),
        Err(why) => Verdict::skipped(format!("needs the daemon's flags: {why}")),
    };
    let sec_opts: Vec<&str> = info["SecurityOptions"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let has_opt = |name: &str| {
        sec_opts
            .iter()
            .any(|o| o.split(',').any(|kv| kv == format!("name={name}")))
    };
    match id {
        "2.1" => {
            if has_opt("rootless") {
                Verdict::pass_because("the daemon runs rootless")
            } else {
                match &ctx.daemon {
                    Ok((p, _)) => Verdict::info(
                        format!("the daemon (pid {}) runs as uid {}", p.pid, p.uid),
                        Vec::new(),
                    ),
                    Err(_) => {
                        Verdict::info("the daemon does not report running rootless", Vec::new())
                    }
                }
            }
        }
        "2.2" => icc(ctx),
        "2.3" => {
            if info["Debug"] == true {
                return Verdict::fail("the daemon logs at debug level", Vec::new());
            }
            need(&|s| {
                let level = s.string("log-level", Some('l'), "log-level");
                let debug = s.boolean("debug", Some('D'), "debug") == Some(true);
                match level.as_deref() {
                    _ if debug => Verdict::fail("the daemon logs at debug level", Vec::new()),
                    None | Some("info") => Verdict::pass(),
                    Some(l) => Verdict::fail(format!("log level is {l}, not info"), Vec::new()),
                }
            })
        }
        "2.4" => need(&|s| {
            if s.boolean("iptables", None, "iptables") == Some(false) {
                Verdict::fail("the daemon runs with --iptables=false", Vec::new())
            } else {
                Verdict::pass()
            }
        }),
        "2.5" => insecure_registries(info),
        "2.6" => match info["Driver"].as_str() {
            Some("aufs") => Verdict::fail("the storage driver is aufs", Vec::new()),
            d => Verdict::pass_because(format!("storage driver {}", d.unwrap_or("unknown"))),
        },
        "2.7" => tls(ctx),
        "2.8" => need(&|s| {
            let set = s.list("default-ulimit", None, "default-ulimits");
            if set.is_empty() {
                Verdict::info("no default ulimit is set", Vec::new())
            } else {
                Verdict::pass_because(format!("default ulimits: {}", set.join(", ")))
            }
        }),
        "2.9" if has_opt("userns") => Verdict::pass(),
        "2.9" => Verdict::fail(
            "user namespace remapping is off (no --userns-remap)",
            Vec::new(),
        ),
        "2.10" => need(
            &|s| match s.string("cgroup-parent", None, "cgroup-parent") {
                Some(p) => Verdict::info(format!("cgroup parent {p}: confirm it"), Vec::new()),
                None => Verdict::pass_because("the default cgroup parent"),
            },
        ),
        "2.11" => {
            if info["Driver"].as_str() != Some("devicemapper") {
                return Verdict::pass_because("the storage driver is not devicemapper");
            }
            need(&|s| {
                let opts = s.list("storage-opt", None, "storage-opts");
                match opts.iter().find(|o| o.starts_with("dm.basesize")) {
                    Some(o) => Verdict::info(format!("{o}: confirm it is needed"), Vec::new()),
                    None => Verdict::pass(),
                }
            })
        }
        "2.12" => {
            let plugins: Vec<&str> = info["Plugins"]["Authorization"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if plugins.is_empty() {
                Verdict::fail("no authorization plugin", Vec::new())
            } else {
                Verdict::pass_because(format!("authorization: {}", plugins.join(", ")))
            }
        }
        "2.13" => match info["LoggingDriver"].as_str().unwrap_or("json-file") {
            d @ ("json-file" | "local" | "none") => Verdict::fail(
                format!("logging driver {d} keeps logs on this host only"),
                Vec::new(),
            ),
            d => Verdict::pass_because(format!("logging driver {d}")),
        },
        "2.14" => need(&|s| {
            if s.boolean("no-new-privileges", None, "no-new-privileges") == Some(true) {
                Verdict::pass()
            } else {
                Verdict::fail(
                    "containers may gain new privileges by default (no --no-new-privileges)",
                    Vec::new(),
                )
            }
        }),
        "2.15" if info["LiveRestoreEnabled"] == true => Verdict::pass(),
        "2.15" => Verdict::fail("live restore is off", Vec::new()),
        "2.16" => {
            need(&|s| {
                match s.kind {
            Kind::Berthd => Verdict::fail(
                "berthd relays published ports through a userland proxy (it cannot be turned off)",
                Vec::new(),
            ),
            _ if s.boolean("userland-proxy", None, "userland-proxy") == Some(false) => Verdict::pass(),
            _ => Verdict::fail("the userland proxy is on (no --userland-proxy=false)", Vec::new()),
        }
            })
        }
        "2.17" => {
            let custom = local
                .ok()
                .and_then(|s| s.string("seccomp-profile", None, "seccomp-profile"));
            match custom {
                Some(p) => Verdict::pass_because(format!("daemon-wide seccomp profile {p}")),
                None => {
                    let profile = sec_opts
                        .iter()
                        .find(|o| o.contains("name=seccomp"))
                        .map(|o| o.to_string())
                        .unwrap_or_else(|| "no seccomp".into());
                    Verdict::info(format!("the engine reports {profile}"), Vec::new())
                }
            }
        }
        "2.18" if info["ExperimentalBuild"] == true => {
            Verdict::fail("experimental features are on", Vec::new())
        }
        "2.18" => Verdict::pass(),
        _ => Verdict::skipped("not applicable"),
    }
}

/// 2.2: the default bridge network lets its containers talk unless `enable_icc` is false.
fn icc(ctx: &Ctx) -> Verdict {
    let nets = match ctx.engine.networks() {
        Ok(n) => n,
        Err(e) => return Verdict::skipped(format!("cannot list the networks: {e}")),
    };
    let bridge = nets
        .iter()
        .find(|n| n["Name"] == "bridge" && n["Driver"] == "bridge");
    match bridge {
        None => Verdict::pass_because("there is no default bridge network"),
        Some(n) if n["Options"]["com.docker.network.bridge.enable_icc"] == "false" => {
            Verdict::pass()
        }
        Some(_) => Verdict::fail(
            "containers on the default bridge can reach each other (icc is on)",
            vec!["bridge".into()],
        ),
    }
}

fn insecure_registries(info: &Value) -> Verdict {
    let rc = &info["RegistryConfig"];
    let mut items: Vec<String> = rc["InsecureRegistryCIDRs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|c| *c != "127.0.0.0/8" && *c != "::1/128")
        .map(str::to_string)
        .collect();
    if let Some(idx) = rc["IndexConfigs"].as_object() {
        items.extend(
            idx.iter()
                .filter(|(_, v)| v["Secure"] == false)
                .map(|(k, _)| k.clone()),
        );
    }
    Verdict::unless_any(crate::sorted(items), "insecure registries are configured")
}

fn tls(ctx: &Ctx) -> Verdict {
    match &ctx.daemon {
        Ok((_, s)) => {
            let tcp: Vec<String> = s
                .hosts()
                .into_iter()
                .filter(|h| h.starts_with("tcp://"))
                .collect();
            if tcp.is_empty() {
                return Verdict::pass_because("the daemon listens on unix sockets only");
            }
            let verify = s.boolean("tlsverify", None, "tlsverify") == Some(true);
            if verify {
                Verdict::pass_because("TCP sockets require client certificates")
            } else {
                Verdict::fail("TCP sockets without --tlsverify", tcp)
            }
        }
        Err(why) => {
            if ctx.client.host.starts_with("tcp://") {
                Verdict::fail(
                    "the engine answers plain TCP without TLS",
                    vec![ctx.client.host.clone()],
                )
            } else {
                Verdict::skipped(format!("needs the daemon's flags: {why}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::fake::{FakeEngine, FakeHost};
    use crate::{audit, ClientSettings, DaemonProcess, Finding, Outcome};
    use serde_json::json;

    fn run(exe: &str, args: &[&str], e: &FakeEngine) -> Vec<Finding> {
        let h = FakeHost {
            daemon: Some(DaemonProcess {
                pid: 42,
                exe: exe.into(),
                args: args.iter().map(|s| s.to_string()).collect(),
                uid: 0,
                unit: None,
            }),
            ..FakeHost::default()
        };
        audit(e, &h, &ClientSettings::default()).unwrap()
    }

    fn result(f: &[Finding], id: &str) -> Outcome {
        f.iter().find(|x| x.id == id).unwrap().result
    }

    #[test]
    fn dockerd_defaults_fail_what_the_benchmark_asks_to_change() {
        let mut e = FakeEngine::new();
        e.networks
            .push(json!({"Name": "bridge", "Driver": "bridge", "Options": {}}));
        let f = run("/usr/sbin/dockerd", &[], &e);
        for (id, want) in [
            ("2.2", Outcome::Fail),
            ("2.3", Outcome::Pass),
            ("2.4", Outcome::Pass),
            ("2.5", Outcome::Pass),
            ("2.7", Outcome::Pass),
            ("2.9", Outcome::Fail),
            ("2.12", Outcome::Fail),
            ("2.13", Outcome::Fail),
            ("2.14", Outcome::Fail),
            ("2.15", Outcome::Fail),
            ("2.16", Outcome::Fail),
            ("2.18", Outcome::Pass),
        ] {
            assert_eq!(result(&f, id), want, "{id}");
        }
    }

    #[test]
    fn hardening_flags_make_the_checks_pass() {
        let mut e = FakeEngine::new();
        e.networks.push(json!({"Name": "bridge", "Driver": "bridge",
            "Options": {"com.docker.network.bridge.enable_icc": "false"}}));
        e.info["LiveRestoreEnabled"] = json!(true);
        e.info["SecurityOptions"] = json!(["name=seccomp,profile=builtin", "name=userns"]);
        let f = run(
            "/usr/sbin/dockerd",
            &[
                "--icc=false",
                "--no-new-privileges",
                "--userland-proxy=false",
                "-H",
                "tcp://0.0.0.0:2376",
                "--tlsverify",
            ],
            &e,
        );
        for id in ["2.2", "2.7", "2.9", "2.14", "2.15", "2.16"] {
            assert_eq!(result(&f, id), Outcome::Pass, "{id}");
        }
        let f = run(
            "/usr/sbin/dockerd",
            &[
                "-H",
                "tcp://0.0.0.0:2375",
                "-l",
                "debug",
                "--iptables=false",
            ],
            &e,
        );
        for id in ["2.3", "2.4", "2.7"] {
            assert_eq!(result(&f, id), Outcome::Fail, "{id}");
        }
        e.info["RegistryConfig"]["InsecureRegistryCIDRs"] = json!(["127.0.0.0/8", "10.0.0.0/8"]);
        let f = run("/usr/sbin/dockerd", &[], &e);
        assert_eq!(
            f.iter().find(|x| x.id == "2.5").unwrap().items,
            ["10.0.0.0/8"]
        );
    }

    #[test]
    fn remote_engines_skip_what_needs_the_flags() {
        let e = FakeEngine::new();
        let f = audit(&e, &FakeHost::default(), &ClientSettings::default()).unwrap();
        let x = f.iter().find(|x| x.id == "2.14").unwrap();
        assert_eq!(x.result, Outcome::Skipped);
        assert!(
            x.reason.as_deref().unwrap().contains("no daemon here"),
            "{x:?}"
        );
        assert_eq!(result(&f, "2.15"), Outcome::Fail);
        let tcp = ClientSettings {
            host: "tcp://10.0.0.1:2375".into(),
            ..ClientSettings::default()
        };
        let f = audit(&e, &FakeHost::default(), &tcp).unwrap();
        assert_eq!(result(&f, "2.7"), Outcome::Fail);
    }

    #[test]
    fn berthd_has_a_userland_proxy_always() {
        let f = run(
            "/usr/bin/berthd",
            &["--userland-proxy=false"],
            &FakeEngine::new(),
        );
        assert_eq!(result(&f, "2.16"), Outcome::Fail);
    }
}
