//! `update` (and `container update`): new resource limits or restart policy for containers, with
//! run's flags for them, sent as docker CLI 28 sends them (every field of the API's Resources, in
//! its order, zeros included).

use anyhow::{anyhow, bail, Result};
use clap::Args;

use super::createbody::{flag, opt};
use super::optparse as p;
use super::ordered::Json;
use super::runopts::Limits;
use crate::client::{q, Body, Client};

#[derive(Args, Debug)]
pub struct UpdateArgs {
    #[command(flatten)]
    limits: Limits,
    /// Kernel memory limit (deprecated)
    #[arg(long = "kernel-memory", hide = true)]
    kernel_memory: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

impl UpdateArgs {
    /// Whether any flag was given (docker refuses an update without one).
    fn any_flag(&self) -> bool {
        let l = &self.limits;
        [
            &l.restart,
            &l.memory,
            &l.memory_swap,
            &l.memory_reservation,
            &l.cpus,
            &l.cpu_shares,
            &l.cpu_period,
            &l.cpu_quota,
            &l.cpuset_cpus,
            &l.cpuset_mems,
            &l.pids_limit,
            &l.blkio_weight,
            &l.cpu_rt_period,
            &l.cpu_rt_runtime,
            &self.kernel_memory,
        ]
        .iter()
        .any(|f| f.is_some())
    }

    /// The body of `POST /containers/NAME/update`, byte for byte as docker's.
    fn body(&self) -> Result<String> {
        let l = &self.limits;
        let int = |name: &str, v: &Option<String>| -> Result<i64> {
            Ok(opt(name, v, p::go_int)?.unwrap_or(0))
        };
        let size = |name: &str, v: &Option<String>| -> Result<i64> {
            Ok(opt(name, v, p::ram_in_bytes)?.unwrap_or(0))
        };
        let num = |n: i64| Json::Num(n.into());
        let text = |v: &Option<String>| Json::Str(v.clone().unwrap_or_default());
        let cpu_shares = int("-c, --cpu-shares", &l.cpu_shares)?;
        let memory = size("-m, --memory", &l.memory)?;
        let nano_cpus = opt("--cpus", &l.cpus, p::nano_cpus)?.unwrap_or(0);
        let blkio = opt("--blkio-weight", &l.blkio_weight, |v| p::go_uint(v, 16))?.unwrap_or(0);
        let kernel = size("--kernel-memory", &self.kernel_memory)?;
        let swap = match l.memory_swap.as_deref() {
            Some("-1") => -1,
            Some(v) => flag("--memory-swap", v, p::ram_in_bytes)?,
            None => 0,
        };
        let pids = int("--pids-limit", &l.pids_limit)?;
        let restart = match l.restart.as_deref() {
            Some(r) if !r.is_empty() => p::restart_policy(r).map_err(|e| anyhow!(e))?,
            _ => serde_json::json!({}),
        };
        let mut fields = vec![
            ("CpuShares", num(cpu_shares)),
            ("Memory", num(memory)),
            ("NanoCpus", num(nano_cpus)),
            ("CgroupParent", Json::Str(String::new())),
            ("BlkioWeight", Json::Num(blkio.into())),
            ("BlkioWeightDevice", Json::Null),
            ("BlkioDeviceReadBps", Json::Null),
            ("BlkioDeviceWriteBps", Json::Null),
            ("BlkioDeviceReadIOps", Json::Null),
            ("BlkioDeviceWriteIOps", Json::Null),
            ("CpuPeriod", num(int("--cpu-period", &l.cpu_period)?)),
            ("CpuQuota", num(int("--cpu-quota", &l.cpu_quota)?)),
            (
                "CpuRealtimePeriod",
                num(int("--cpu-rt-period", &l.cpu_rt_period)?),
            ),
            (
                "CpuRealtimeRuntime",
                num(int("--cpu-rt-runtime", &l.cpu_rt_runtime)?),
            ),
            ("CpusetCpus", text(&l.cpuset_cpus)),
            ("CpusetMems", text(&l.cpuset_mems)),
            ("Devices", Json::Null),
            ("DeviceCgroupRules", Json::Null),
            ("DeviceRequests", Json::Null),
        ];
        if kernel != 0 {
            fields.push(("KernelMemory", num(kernel)));
        }
        fields.extend([
            (
                "MemoryReservation",
                num(size("--memory-reservation", &l.memory_reservation)?),
            ),
            ("MemorySwap", num(swap)),
            ("MemorySwappiness", Json::Null),
            ("OomKillDisable", Json::Null),
            ("PidsLimit", if pids == 0 { Json::Null } else { num(pids) }),
            ("Ulimits", Json::Null),
            ("CpuCount", num(0)),
            ("CpuPercent", num(0)),
            ("IOMaximumIOps", num(0)),
            ("IOMaximumBandwidth", num(0)),
            (
                "RestartPolicy",
                Json::Obj(vec![
                    (
                        "Name".into(),
                        Json::Str(restart["Name"].as_str().unwrap_or("").into()),
                    ),
                    (
                        "MaximumRetryCount".into(),
                        num(restart["MaximumRetryCount"].as_i64().unwrap_or(0)),
                    ),
                ]),
            ),
        ]);
        let obj = Json::Obj(
            fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        );
        Ok(obj.compact())
    }
}

/// `update [OPTIONS] CONTAINER...`: each name on stdout once updated, then the daemon's
/// warnings (stdout too, as docker prints them), then the errors; 1 if any failed.
pub fn update(c: &Client, a: &UpdateArgs) -> Result<i32> {
    if !a.any_flag() {
        bail!("you must provide one or more flags when using this command");
    }
    // A value docker's flag parser refuses: its message, and its exit code for bad flags.
    let body = match a.body() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e:#}");
            return Ok(125);
        }
    };
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    for n in &a.containers {
        let r = c
            .request(
                "POST",
                &format!("/containers/{}/update", q(n)),
                &[],
                Body::JsonText(body.clone()),
            )
            .and_then(|r| r.ok())
            .and_then(|r| r.json());
        match r {
            Ok(v) => {
                println!("{n}");
                warnings.extend(super::strings(&v["Warnings"]));
            }
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    if !warnings.is_empty() {
        println!("{}", warnings.join("\n"));
    }
    if errors.is_empty() {
        Ok(0)
    } else {
        eprintln!("{}", errors.join("\n"));
        Ok(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        a: UpdateArgs,
    }

    fn body(args: &[&str]) -> Result<String> {
        let cli = Cli::try_parse_from(std::iter::once("update").chain(args.iter().copied()))?;
        cli.a.body()
    }

    /// What docker CLI 28.2.2 sent for the same flags (recorded through a socket proxy).
    #[test]
    fn bodies_match_docker_cli_28() {
        const HEAD: &str = r#""CgroupParent":"","BlkioWeight":"#;
        let mid = r#","BlkioWeightDevice":null,"BlkioDeviceReadBps":null,"BlkioDeviceWriteBps":null,"BlkioDeviceReadIOps":null,"BlkioDeviceWriteIOps":null,"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":null,"DeviceCgroupRules":null,"DeviceRequests":null,"#;
        let tail = r#""MemorySwappiness":null,"OomKillDisable":null,"#;
        let end = r#""Ulimits":null,"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"RestartPolicy":"#;
        let docker = |front: &str, blkio: u32, mem: &str, pids: &str, restart: &str| {
            format!("{{{front},{HEAD}{blkio}{mid}{mem},{tail}\"PidsLimit\":{pids},{end}{restart}}}")
        };
        let none = r#"{"Name":"","MaximumRetryCount":0}"#;
        assert_eq!(
            body(&["-m", "64m", "--memory-swap", "128m", "u1"]).unwrap(),
            docker(
                r#""CpuShares":0,"Memory":67108864,"NanoCpus":0"#,
                0,
                r#""MemoryReservation":0,"MemorySwap":134217728"#,
                "null",
                none
            )
        );
        assert_eq!(
            body(&[
                "--cpus",
                "0.5",
                "--restart",
                "on-failure:3",
                "--pids-limit",
                "40",
                "-c",
                "512",
                "u1"
            ])
            .unwrap(),
            docker(
                r#""CpuShares":512,"Memory":0,"NanoCpus":500000000"#,
                0,
                r#""MemoryReservation":0,"MemorySwap":0"#,
                "40",
                r#"{"Name":"on-failure","MaximumRetryCount":3}"#
            )
        );
        assert_eq!(
            body(&["--kernel-memory", "10m", "u1"]).unwrap(),
            docker(
                r#""CpuShares":0,"Memory":0,"NanoCpus":0"#,
                0,
                r#""KernelMemory":10485760,"MemoryReservation":0,"MemorySwap":0"#,
                "null",
                none
            )
        );
        assert_eq!(
            body(&["--blkio-weight", "300", "u1", "nosuch"]).unwrap(),
            docker(
                r#""CpuShares":0,"Memory":0,"NanoCpus":0"#,
                300,
                r#""MemoryReservation":0,"MemorySwap":0"#,
                "null",
                none
            )
        );
    }

    #[test]
    fn refusals_read_like_docker() {
        assert_eq!(
            body(&["-m", "lots", "u1"]).unwrap_err().to_string(),
            "invalid argument \"lots\" for \"-m, --memory\" flag: invalid size: 'lots'"
        );
        assert!(body(&["--restart", ":3", "u1"])
            .unwrap_err()
            .to_string()
            .contains("no policy provided before colon"));
        let cli = Cli::try_parse_from(["update", "u1"]).unwrap();
        assert!(!cli.a.any_flag());
    }
}
