//! The shim's command line (berthd is its only caller): `--name value` pairs and switches.

use anyhow::{anyhow, bail, Result};
use std::path::PathBuf;

/// Everything the shim needs to run one container.
#[derive(Debug, Default)]
pub struct Args {
    /// Container id (also the runtime's id).
    pub id: String,
    /// OCI bundle directory (holds config.json; the pid file is written here).
    pub bundle: PathBuf,
    /// runc-compatible runtime binary.
    pub runtime: PathBuf,
    /// The runtime's `--root`.
    pub runtime_root: PathBuf,
    /// The runtime's `--log` (json).
    pub runtime_log: PathBuf,
    /// json-file log of the container's output.
    pub log_path: PathBuf,
    /// The shim's unix socket.
    pub socket: PathBuf,
    /// Where the exit status is recorded.
    pub exit_file: PathBuf,
    /// Give the container a stdin pipe (OpenStdin).
    pub stdin: bool,
    /// Close the container's stdin when the first attached client closes its input (StdinOnce).
    pub stdin_once: bool,
    /// Give the container a terminal (the runtime sends its master over a console socket).
    pub tty: bool,
    /// Start the container at once (`<runtime> run --detach`, no separate `start`); its output is
    /// held (left in its pipes) until a client sends `start` or `wait` on the socket.
    pub start: bool,
    /// Where the shim's own stderr goes (berthd opens it for a shim it starts for one container; a
    /// standby shim, started before its container was known, opens it itself).
    pub shim_log: Option<PathBuf>,
    /// `none`: keep no log (attached clients still get the output).
    pub no_log: bool,
    /// Rotate the log when it reaches this many bytes (0: never).
    pub log_max_size: u64,
    /// Log files kept, the live one included (at least 1).
    pub log_max_file: u32,
    /// The `attrs` JSON object every log line carries (labels, env, tag), compact.
    pub log_attrs: Option<String>,
    /// A remote log driver (`--log-remote`, a [`berth_logdriver::Spec`] as JSON): every line goes
    /// to it too (after the json-file log, unless `--log-driver none`).
    pub log_remote: Option<berth_logdriver::Spec>,
    /// `mode=non-blocking`: at most this many bytes of lines wait for the log's writer thread.
    pub log_max_buffer: Option<u64>,
    /// The runtime is Berth's own berth-runtime, built with this shim (`--own-runtime`, which
    /// berthd gives for its default runtime): a container's delete runs in the shim's process
    /// instead of an exec of `<runtime> delete`.
    pub own_runtime: bool,
}

impl Args {
    /// Parse the arguments (without the program name).
    pub fn parse(mut it: impl Iterator<Item = String>) -> Result<Args> {
        let mut a = Args {
            log_max_file: 1,
            ..Args::default()
        };
        while let Some(flag) = it.next() {
            match flag.as_str() {
                "--stdin" => a.stdin = true,
                "--stdin-once" => a.stdin_once = true,
                "--tty" => a.tty = true,
                "--start" => a.start = true,
                "--own-runtime" => a.own_runtime = true,
                _ => {
                    let v = it.next().ok_or_else(|| anyhow!("{flag} needs a value"))?;
                    match flag.as_str() {
                        "--id" => a.id = v,
                        "--bundle" => a.bundle = v.into(),
                        "--runtime" => a.runtime = v.into(),
                        "--runtime-root" => a.runtime_root = v.into(),
                        "--runtime-log" => a.runtime_log = v.into(),
                        "--log-path" => a.log_path = v.into(),
                        "--socket" => a.socket = v.into(),
                        "--exit-file" => a.exit_file = v.into(),
                        "--shim-log" => a.shim_log = Some(v.into()),
                        "--log-driver" => match v.as_str() {
                            "json-file" => a.no_log = false,
                            "none" => a.no_log = true,
                            _ => bail!("unknown log driver {v:?}"),
                        },
                        "--log-max-size" => {
                            a.log_max_size = v.parse().map_err(|_| anyhow!("bad {flag} {v:?}"))?
                        }
                        "--log-max-file" => {
                            a.log_max_file = v.parse().map_err(|_| anyhow!("bad {flag} {v:?}"))?
                        }
                        "--log-remote" => {
                            a.log_remote = Some(
                                serde_json::from_str(&v).map_err(|e| anyhow!("bad {flag}: {e}"))?,
                            )
                        }
                        "--log-max-buffer" => {
                            a.log_max_buffer =
                                Some(v.parse().map_err(|_| anyhow!("bad {flag} {v:?}"))?)
                        }
                        "--log-attrs" => {
                            // An object of strings, written again compact: the log stays JSON lines.
                            let m: std::collections::BTreeMap<String, String> =
                                serde_json::from_str(&v).map_err(|e| anyhow!("bad {flag}: {e}"))?;
                            a.log_attrs = (!m.is_empty())
                                .then(|| serde_json::to_string(&m))
                                .transpose()?;
                        }
                        _ => bail!("unknown flag {flag}"),
                    }
                }
            }
        }
        for (name, empty) in [
            ("--id", a.id.is_empty()),
            ("--bundle", a.bundle.as_os_str().is_empty()),
            ("--runtime", a.runtime.as_os_str().is_empty()),
            ("--runtime-root", a.runtime_root.as_os_str().is_empty()),
            ("--runtime-log", a.runtime_log.as_os_str().is_empty()),
            ("--log-path", a.log_path.as_os_str().is_empty()),
            ("--socket", a.socket.as_os_str().is_empty()),
            ("--exit-file", a.exit_file.as_os_str().is_empty()),
        ] {
            if empty {
                bail!("{name} is required");
            }
        }
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_requires() {
        let v: Vec<String> =
            "--id c --bundle /b --runtime /r --runtime-root /rr --runtime-log /rl \
                              --log-path /l --socket /s --exit-file /e --stdin"
                .split_whitespace()
                .map(String::from)
                .collect();
        let a = Args::parse(v.into_iter()).unwrap();
        assert_eq!(a.id, "c");
        assert!(a.stdin && !a.stdin_once && !a.start && !a.own_runtime);
        assert_eq!((a.no_log, a.log_max_size, a.log_max_file), (false, 0, 1));
        let v = "--id c --bundle /b --runtime /r --runtime-root /rr --runtime-log /rl \
                 --log-path /l --socket /s --exit-file /e --log-max-size 1000 --log-max-file 3 \
                 --own-runtime";
        let a = Args::parse(v.split_whitespace().map(String::from)).unwrap();
        assert_eq!((a.log_max_size, a.log_max_file), (1000, 3));
        assert!(a.own_runtime && a.log_attrs.is_none() && a.log_max_buffer.is_none());
        let with = |attrs: &str| {
            let mut v: Vec<String> = "--id c --bundle /b --runtime /r --runtime-root /rr \
                 --runtime-log /rl --log-path /l --socket /s --exit-file /e --log-attrs"
                .split_whitespace()
                .map(String::from)
                .collect();
            v.push(attrs.into());
            Args::parse(v.into_iter())
        };
        let a = with("{ \"tag\": \"web\",\n \"a\":\"1\" }").unwrap();
        assert_eq!(a.log_attrs.as_deref(), Some(r#"{"a":"1","tag":"web"}"#));
        assert!(with("{}").unwrap().log_attrs.is_none());
        let v = "--id c --bundle /b --runtime /r --runtime-root /rr --runtime-log /rl \
                 --log-path /l --socket /s --exit-file /e --log-max-buffer 4096";
        let a = Args::parse(v.split_whitespace().map(String::from)).unwrap();
        assert_eq!(a.log_max_buffer, Some(4096));
        assert!(with("[1]").is_err() && with("{\"a\":1}").is_err());
        assert!(Args::parse(["--id".to_string(), "c".into()].into_iter()).is_err());
    }
}
