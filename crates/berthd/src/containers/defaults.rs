//! The daemon's defaults for containers (dockerd's `log-driver`/`log-opts`, `dns`/`dns-opts`/
//! `dns-search` and `default-ulimits`): a container that sets its own keeps it.
//! The log configuration is filled in at create time (inspect shows it, as dockerd's does); DNS
//! and ulimits at start, so they follow the daemon's configuration, as dockerd applies them.

use super::hostextra::{HostExtra, Ulimit, ULIMITS};
use super::logconfig::LogConfigRequest;
use crate::config::Flags;
use std::collections::BTreeMap;

/// The defaults in effect.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    pub log_driver: String,
    pub log_opts: BTreeMap<String, String>,
    pub dns: Vec<String>,
    pub dns_options: Vec<String>,
    pub dns_search: Vec<String>,
    pub ulimits: Vec<Ulimit>,
}

fn ulimit(s: &str) -> Result<Ulimit, String> {
    let bad = || format!("--default-ulimit {s:?}: want name=soft[:hard]");
    let (name, limits) = s.split_once('=').ok_or_else(bad)?;
    let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
    let (soft, hard) = (
        soft.parse::<i64>().map_err(|_| bad())?,
        hard.parse::<i64>().map_err(|_| bad())?,
    );
    if !ULIMITS.contains(&name) {
        return Err(format!("--default-ulimit: invalid ulimit type: {name}"));
    }
    if soft > hard {
        return Err(format!(
            "--default-ulimit {name}: soft limit {soft} is above the hard limit {hard}"
        ));
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

impl Defaults {
    /// The defaults the flags give, checked as a container's own settings would be.
    pub fn from_flags(f: &Flags) -> Result<Defaults, String> {
        let mut log_opts = BTreeMap::new();
        for o in &f.log_opts {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| format!("--log-opt {o:?}: want key=value"))?;
            log_opts.insert(k.to_string(), v.to_string());
        }
        super::logconfig::parse(Some(LogConfigRequest {
            kind: Some(f.log_driver.clone()),
            config: Some(log_opts.clone()),
        }))
        .map_err(|e| format!("log-driver {}: {e}", f.log_driver))?;
        if let Some(d) = f
            .dns
            .iter()
            .find(|d| d.parse::<std::net::IpAddr>().is_err())
        {
            return Err(format!("--dns {d}: not an IP address"));
        }
        Ok(Defaults {
            log_driver: f.log_driver.clone(),
            log_opts,
            dns: f.dns.clone(),
            dns_options: f.dns_opts.clone(),
            dns_search: f.dns_search.clone(),
            ulimits: f
                .default_ulimits
                .iter()
                .map(|u| ulimit(u))
                .collect::<Result<_, _>>()?,
        })
    }

    /// A container's log configuration with the daemon's filled in, as dockerd merges them: no
    /// driver means the daemon's; with the daemon's driver, its options the container lacks.
    pub fn log_config(&self, req: Option<LogConfigRequest>) -> LogConfigRequest {
        let mut r = req.unwrap_or_default();
        if r.kind.as_deref().unwrap_or("").is_empty() {
            r.kind = Some(self.log_driver.clone());
        }
        let mut config = r.config.take().unwrap_or_default();
        if r.kind.as_deref() == Some(self.log_driver.as_str()) {
            for (k, v) in &self.log_opts {
                config.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        r.config = Some(config);
        r
    }

    /// DNS settings and ulimits for a starting container: the daemon's where it sets none.
    pub fn apply_at_start(&self, x: &mut HostExtra) {
        if x.dns.is_empty() {
            x.dns = self.dns.clone();
        }
        if x.dns_options.is_empty() {
            x.dns_options = self.dns_options.clone();
        }
        if x.dns_search.is_empty() {
            x.dns_search = self.dns_search.clone();
        }
        for u in &self.ulimits {
            if !x.ulimits.iter().any(|have| have.name == u.name) {
                x.ulimits.push(u.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn defaults(args: &[&str]) -> Result<Defaults, String> {
        Defaults::from_flags(
            &Flags::try_parse_from(std::iter::once("berthd").chain(args.iter().copied())).unwrap(),
        )
    }

    #[test]
    fn log_options_merge_as_dockerd_does() {
        let d = defaults(&["--log-opt=max-size=1m", "--log-opt=max-file=3"]).unwrap();
        let r = d.log_config(None);
        assert_eq!(r.kind.as_deref(), Some("json-file"));
        assert_eq!(r.config.unwrap()["max-size"], "1m");
        let own = LogConfigRequest {
            kind: Some("json-file".into()),
            config: Some([("max-size".to_string(), "5m".to_string())].into()),
        };
        let c = d.log_config(Some(own)).config.unwrap();
        assert_eq!(
            (c["max-size"].as_str(), c["max-file"].as_str()),
            ("5m", "3")
        );
        let none = LogConfigRequest {
            kind: Some("none".into()),
            config: None,
        };
        assert!(d.log_config(Some(none)).config.unwrap().is_empty());
    }

    #[test]
    fn bad_defaults_are_refused() {
        assert!(defaults(&["--log-driver=awslogs"]).is_err());
        assert!(defaults(&["--log-opt=max-size=huge"]).is_err());
        assert!(defaults(&["--log-opt=tag={{.Foo}}"]).is_err());
        assert!(defaults(&["--log-opt=labels-regex=("]).is_err());
        assert!(defaults(&["--log-driver=local", "--log-opt=env=E"]).is_err());
        let d = defaults(&["--log-opt=labels=a", "--log-opt=tag={{.Name}}"]).unwrap();
        assert_eq!(d.log_opts["tag"], "{{.Name}}");
        assert!(defaults(&["--dns=not-an-ip"]).is_err());
        assert!(defaults(&["--default-ulimit=nofile=10:5"]).is_err());
        assert!(defaults(&["--default-ulimit=bogus=1"]).is_err());
        let d = defaults(&[
            "--default-ulimit=nofile=100:200",
            "--default-ulimit=nproc=50",
        ])
        .unwrap();
        assert_eq!((d.ulimits[0].soft, d.ulimits[0].hard), (100, 200));
        assert_eq!((d.ulimits[1].soft, d.ulimits[1].hard), (50, 50));
    }
}
