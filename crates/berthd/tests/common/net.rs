//! A test daemon with its own default bridge and firewall chains (or nft table), for the network tests:
//! everything it may leave on the host is removed when it drops.

use super::Berthd;
use std::process::Command;

/// The test's daemon, plus everything it may leave on the host, removed whatever happens.
pub struct Net {
    pub d: Berthd,
    pub bridge: String,
    pub chain: String,
    /// Third octet unique to this test process and test.
    pub x: u32,
}

impl Net {
    pub fn start(salt: u32) -> Net {
        Net::start_with(salt, |_| Vec::new())
    }

    /// [`Net::start`] with more daemon flags, made from the test's third octet.
    pub fn start_with(salt: u32, extra: impl Fn(u32) -> Vec<String>) -> Net {
        let tag = std::process::id() % 1000;
        let x = (tag * 2 + salt) % 250 + 2;
        let bridge = format!("btn{tag}{salt}");
        let bip = format!("10.218.{x}.1/24");
        let mut args = vec!["--bridge".to_string(), bridge.clone(), "--bip".into(), bip];
        args.extend(extra(x));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let d = Berthd::start_with(&args);
        d.import_busybox("bb:1");
        Net {
            chain: d.firewall_prefix.clone(),
            d,
            bridge,
            x,
        }
    }

    /// The Linux bridges of this daemon's user networks.
    pub fn user_bridges(&self) -> Vec<String> {
        let o = self.d.docker(&[
            "network",
            "ls",
            "-q",
            "--no-trunc",
            "--filter",
            "type=custom",
        ]);
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .map(|id| format!("br-{}", &id[..12]))
            .collect()
    }

    /// Run a shell line in a throw-away container on `net`: (success, output).
    pub fn sh(&self, net: &str, line: &str) -> (bool, String) {
        let o = self
            .d
            .docker(&["run", "--rm", "--network", net, "bb:1", "sh", "-c", line]);
        let out = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        (o.status.success(), out)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        let bridges = self.user_bridges();
        if self.d.child.is_some() {
            let ids = self.d.docker(&["ps", "-aq"]);
            for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                let _ = self.d.docker(&["rm", "-f", id]);
            }
            let _ = self.d.docker(&["network", "prune", "-f"]);
        }
        for b in bridges.iter().chain([&self.bridge]) {
            let _ = Command::new("ip").args(["link", "del", b]).output();
        }
        super::purge_firewall(&self.chain);
    }
}

pub fn host(cmd: &str, args: &[&str]) -> String {
    let o = Command::new(cmd).args(args).output().expect(cmd);
    String::from_utf8_lossy(&o.stdout).into_owned()
}
