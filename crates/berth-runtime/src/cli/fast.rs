//! The command lines engines send on every container, read without clap.
//!
//! clap builds its whole command tree (every command, every flag, their
//! help) before it reads an argument: about 250 kB of heap and the parser's
//! code, some 90 page faults, on each `create`, `run`, `start`, `delete`.
//! The shapes containerd, conmon and berthd's shim send are few and plain,
//! so they are read here into the same [`Cli`] clap would give. Anything
//! else (help, `--flag=` forms of booleans, bundled short flags, values that
//! start with `-`, repeats, unknown flags, a missing or extra argument)
//! returns `None` and goes to clap, which also words the errors; the tests
//! hold the two readings equal.

use std::ffi::OsString;
use std::path::PathBuf;

use super::{Cli, Command, CreateArgs, ExecArgs};

/// The commands read here.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verb {
    Create,
    Run,
    Start,
    State,
    Delete,
    Kill,
    Exec,
}

/// Reads `args` (the program's name first) when it is one of the plain
/// shapes; `None` sends it to clap.
pub(super) fn parse(args: &[OsString]) -> Option<Cli> {
    let mut cli = Cli {
        root: None,
        log: None,
        log_format: "text".into(),
        debug: false,
        systemd_cgroup: false,
        rootless: None,
        version: false,
        command: None,
    };
    let mut seen_global: Vec<&'static str> = Vec::new();
    let mut verb = None;
    let mut create = CreateArgs {
        bundle: PathBuf::from("."),
        console_socket: None,
        pid_file: None,
        pidfd_socket: None,
        no_pivot: false,
        no_new_keyring: false,
        preserve_fds: 0,
        id: String::new(),
    };
    let mut seen_local: Vec<&'static str> = Vec::new();
    let (mut detach, mut keep, mut force, mut all) = (false, false, false, false);
    let mut exec = ExecArgs {
        console_socket: None,
        cwd: None,
        env: Vec::new(),
        tty: false,
        user: None,
        additional_gids: Vec::new(),
        process: None,
        detach: false,
        pid_file: None,
        pidfd_socket: None,
        process_label: None,
        apparmor: None,
        no_new_privs: false,
        cap: Vec::new(),
        preserve_fds: 0,
        cgroup: Vec::new(),
        ignore_paused: false,
        id: String::new(),
        command: Vec::new(),
    };
    let mut positionals: Vec<String> = Vec::new();

    let mut it = args.iter().skip(1);
    while let Some(arg) = it.next() {
        let arg = arg.to_str()?;
        if !arg.starts_with('-') {
            if verb.is_none() {
                verb = Some(match arg {
                    "create" => Verb::Create,
                    "run" => Verb::Run,
                    "start" => Verb::Start,
                    "state" => Verb::State,
                    "delete" => Verb::Delete,
                    "kill" => Verb::Kill,
                    "exec" => Verb::Exec,
                    _ => return None,
                });
            } else if verb == Some(Verb::Exec) && !positionals.is_empty() {
                // The command: this argument and every one after it.
                exec.command = command_from(std::iter::once(arg).chain(rest(&mut it)?))?;
                break;
            } else {
                if arg.is_empty() {
                    return None;
                }
                positionals.push(arg.to_string());
            }
            continue;
        }
        if arg == "--" && verb == Some(Verb::Exec) {
            if positionals.is_empty() {
                // `exec [flags] -- ID COMMAND...` (berthd's form, runc's too): the id, then
                // the command.
                let id = it.next()?.to_str()?;
                if id.is_empty() {
                    return None;
                }
                positionals.push(id.to_string());
            }
            exec.command = command_from(rest(&mut it)?)?;
            break;
        }
        // A flag between an exec's id and its command: clap's to read.
        if verb == Some(Verb::Exec) && !positionals.is_empty() {
            return None;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v)),
            Some(_) => return None,
            None => (arg, None),
        };
        // A flag that takes a value: the inline one or the next argument,
        // never empty and never one that looks like a flag.
        let mut value = || -> Option<String> {
            let v = match inline {
                Some(v) => v,
                None => it.next()?.to_str()?,
            };
            (!v.is_empty() && !v.starts_with('-')).then(|| v.to_string())
        };
        // The global flags, before or after the command.
        let global: Option<&'static str> = match name {
            "--root" => Some("root"),
            "--log" => Some("log"),
            "--log-format" => Some("log-format"),
            "--debug" => Some("debug"),
            "--systemd-cgroup" => Some("systemd-cgroup"),
            _ => None,
        };
        if let Some(g) = global {
            if seen_global.contains(&g) {
                return None;
            }
            seen_global.push(g);
            match g {
                "root" => cli.root = Some(PathBuf::from(value()?)),
                "log" => cli.log = Some(value()?),
                "log-format" => cli.log_format = value()?,
                "debug" if inline.is_none() => cli.debug = true,
                "systemd-cgroup" if inline.is_none() => cli.systemd_cgroup = true,
                _ => return None,
            }
            continue;
        }
        let v = verb?;
        let local: &'static str = match (v, name) {
            (Verb::Create | Verb::Run, "-b" | "--bundle") => "bundle",
            (Verb::Create | Verb::Run, "--console-socket") => "console-socket",
            (Verb::Create | Verb::Run, "--pid-file") => "pid-file",
            (Verb::Create | Verb::Run, "--pidfd-socket") => "pidfd-socket",
            (Verb::Create | Verb::Run, "--no-pivot") => "no-pivot",
            (Verb::Create | Verb::Run, "--no-new-keyring") => "no-new-keyring",
            (Verb::Create | Verb::Run, "--preserve-fds") => "preserve-fds",
            (Verb::Run, "-d" | "--detach") => "detach",
            (Verb::Run, "--keep") => "keep",
            (Verb::Delete, "-f" | "--force") => "force",
            (Verb::Kill, "-a" | "--all") => "all",
            (Verb::Exec, "--console-socket") => "exec-console-socket",
            (Verb::Exec, "--cwd") => "cwd",
            (Verb::Exec, "-e" | "--env") => "env",
            (Verb::Exec, "-t" | "--tty") => "tty",
            (Verb::Exec, "-u" | "--user") => "user",
            (Verb::Exec, "-p" | "--process") => "process",
            (Verb::Exec, "-d" | "--detach") => "exec-detach",
            (Verb::Exec, "--pid-file") => "exec-pid-file",
            (Verb::Exec, "--pidfd-socket") => "exec-pidfd-socket",
            (Verb::Exec, "--process-label") => "process-label",
            (Verb::Exec, "--apparmor") => "apparmor",
            (Verb::Exec, "--no-new-privs") => "no-new-privs",
            (Verb::Exec, "-c" | "--cap") => "cap",
            (Verb::Exec, "--preserve-fds") => "exec-preserve-fds",
            (Verb::Exec, "--cgroup") => "cgroup",
            (Verb::Exec, "--ignore-paused") => "ignore-paused",
            _ => return None,
        };
        let repeats = matches!(local, "env" | "cap" | "cgroup");
        if seen_local.contains(&local) && !repeats {
            return None;
        }
        seen_local.push(local);
        let flag = || inline.is_none().then_some(true);
        match local {
            "bundle" => create.bundle = PathBuf::from(value()?),
            "console-socket" => create.console_socket = Some(PathBuf::from(value()?)),
            "pid-file" => create.pid_file = Some(PathBuf::from(value()?)),
            "pidfd-socket" => create.pidfd_socket = Some(PathBuf::from(value()?)),
            "preserve-fds" => create.preserve_fds = value()?.parse().ok()?,
            "no-pivot" => create.no_pivot = flag()?,
            "no-new-keyring" => create.no_new_keyring = flag()?,
            "detach" => detach = flag()?,
            "keep" => keep = flag()?,
            "force" => force = flag()?,
            "all" => all = flag()?,
            "exec-console-socket" => exec.console_socket = Some(PathBuf::from(value()?)),
            "cwd" => exec.cwd = Some(value()?),
            "env" => exec.env.push(value()?),
            "tty" => exec.tty = flag()?,
            "user" => exec.user = Some(value()?),
            "process" => exec.process = Some(PathBuf::from(value()?)),
            "exec-detach" => exec.detach = flag()?,
            "exec-pid-file" => exec.pid_file = Some(PathBuf::from(value()?)),
            "exec-pidfd-socket" => exec.pidfd_socket = Some(PathBuf::from(value()?)),
            "process-label" => exec.process_label = Some(value()?),
            "apparmor" => exec.apparmor = Some(value()?),
            "no-new-privs" => exec.no_new_privs = flag()?,
            "cap" => exec.cap.push(value()?),
            "exec-preserve-fds" => exec.preserve_fds = value()?.parse().ok()?,
            "cgroup" => exec.cgroup.push(value()?),
            "ignore-paused" => exec.ignore_paused = flag()?,
            _ => return None,
        }
    }

    let mut pos = positionals.into_iter();
    let id = pos.next()?;
    cli.command = Some(match verb? {
        Verb::Create | Verb::Run => {
            create.id = id;
            match verb? {
                Verb::Create => Command::Create(create),
                _ => Command::Run {
                    create,
                    detach,
                    keep,
                },
            }
        }
        Verb::Start => Command::Start { id },
        Verb::State => Command::State { id },
        Verb::Delete => Command::Delete { force, id },
        Verb::Kill => Command::Kill {
            all,
            id,
            signal: pos.next().unwrap_or_else(|| "SIGTERM".into()),
        },
        Verb::Exec => {
            exec.id = id;
            Command::Exec(exec)
        }
    });
    if pos.next().is_some() {
        return None;
    }
    Some(cli)
}

/// The arguments left, as text; `None` for one that is not UTF-8.
fn rest<'a>(it: &mut impl Iterator<Item = &'a OsString>) -> Option<Vec<&'a str>> {
    it.map(|a| a.to_str()).collect()
}

/// An exec's command as clap takes it; `None` (clap's to read) for an
/// empty argument or a second `--`.
fn command_from<'a>(args: impl IntoIterator<Item = &'a str>) -> Option<Vec<String>> {
    args.into_iter()
        .map(|a| (!a.is_empty() && a != "--").then(|| a.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::FromArgMatches;

    fn argv(line: &str) -> Vec<OsString> {
        std::iter::once("berth-runtime")
            .chain(line.split(' ').filter(|s| !s.is_empty()))
            .map(OsString::from)
            .collect()
    }

    /// clap's reading, as `main` would get it (or its error's kind).
    fn by_clap(args: &[OsString]) -> String {
        match super::super::command("berth-runtime")
            .try_get_matches_from(args)
            .and_then(|m| Cli::from_arg_matches(&m))
        {
            Ok(cli) => format!("{cli:?}"),
            Err(e) => format!("error {:?}", e.kind()),
        }
    }

    #[test]
    fn the_lines_engines_send_are_read_as_clap_reads_them() {
        let lines = [
            // containerd's runc shim
            "--root /run/containerd/runc/moby --log /run/x/log.json --log-format json create --bundle /run/x/b --pid-file /run/x/init.pid c1",
            "--root /run/containerd/runc/moby --log /run/x/log.json --log-format json create --bundle /run/x/b --pid-file /run/x/init.pid --console-socket /tmp/pty.sock c1",
            "--root /run/containerd/runc/moby --log /run/x/log.json --log-format json start c1",
            "--root /run/containerd/runc/moby --log /run/x/log.json --log-format json delete --force c1",
            "--root /run/containerd/runc/moby --log /run/x/log.json --log-format json kill c1 9",
            "--root /run/containerd/runc/moby --log /run/x/log.json --log-format json kill --all c1 15",
            "--root /r --log /l --log-format json state c1",
            // berthd's shim
            "--root /r --log /l --log-format json run --detach --bundle /b --pid-file /b/init.pid c1",
            "--root /r --log /l --log-format json run --detach --bundle /b --pid-file /b/init.pid --console-socket /b/s.console c1",
            "--root /r --log /proc/self/fd/2 --log-format json delete --force c1",
            // conmon (podman)
            "--systemd-cgroup --root /run/runc create --bundle /b --pid-file /p --no-pivot c1",
            "--root /run/runc create --bundle /b --pid-file /p --no-new-keyring --preserve-fds 2 c1",
            // by hand, and runc's own tests
            "run -b /b c1",
            "--root /r run -b /b bench",
            "run --bundle=/b --keep c1",
            "--debug run -d -b /b c1",
            "create c1",
            "create c1 --root /r",
            "start c1 --debug",
            "delete -f c1",
            "delete c1",
            "kill c1",
            "kill c1 KILL",
            "kill -a c1 SIGUSR1",
            "--log-format=json --root=/r state c1",
            "run --pidfd-socket /s --pid-file /p c1",
            // exec: containerd, berthd (docker exec, health checks), by hand
            "--root /r --log /l --log-format json exec --process /p.json --detach --pid-file /p.pid c1",
            "--root /r --log /l --log-format json exec --process /p.json --detach --pid-file /p.pid --console-socket /s c1",
            "--root /r exec --process /x.json c1",
            "--root /r exec --cwd /tmp -e A=1 -e B=2 -c CAP_SYS_ADMIN -c CAP_NET_ADMIN c1 -- sh -c true",
            "--root /r exec --tty --console-socket /s -e TERM=xterm c1 -- sh",
            "--root /r exec --pid-file /run/h.pid c1 -- /bin/sh -c exit 1",
            "--root /r exec --pid-file /run/h.pid -- c1 /bin/sh -c exit 1",
            "--root /r exec --cwd /tmp -e A=1 -- c1 sh",
            "--root /r exec --tty --console-socket /s -- c1 sh -c --cwd",
            "exec -- c1",
            "exec c1 ls -l /",
            "exec c1 sh -c --cwd",
            "exec c1 sh --root /x",
            "exec -t -u 1000:1000 --no-new-privs --ignore-paused c1 id",
            "exec --cgroup a --cgroup b:c --preserve-fds 2 c1 true",
            "exec --apparmor p --process-label l --pidfd-socket /s c1 true",
            "exec c1",
            "exec c1 --",
            "exec --user c1 true",
        ];
        for line in lines {
            let args = argv(line);
            let fast = parse(&args).unwrap_or_else(|| panic!("not read without clap: {line}"));
            assert_eq!(format!("{fast:?}"), by_clap(&args), "{line}");
        }
    }

    #[test]
    fn everything_else_goes_to_clap() {
        let lines = [
            "",
            "--version",
            "-v",
            "--help",
            "run --help",
            "help run",
            "list",
            "ls -q",
            "spec",
            "--rootless spec",
            "run",
            "run -b",
            "run -b /b",
            "run -b -x c1",
            "run -db /b c1",
            "run -b/b c1",
            "run -b=/b c1",
            "run --detach=true -b /b c1",
            "--debug=1 run c1",
            "run --root /a --root /b c1",
            "run -b /a --bundle /b c1",
            "run --unknown c1",
            "run c1 c2",
            "start c1 c2",
            "kill c1 9 extra",
            "kill c1 -9",
            "delete --all c1",
            "run --preserve-fds x c1",
            "run --preserve-fds -1 c1",
            "create -- c1",
            "exec --",
            "exec -- c1 --",
            "exec c1 -t true",
            "exec c1 --root /x true",
            "exec c1 --debug true",
            "exec c1 true -- x",
            "exec c1 -- a -- b",
            "exec -g 10 c1 true",
            "exec -e c1",
            "exec -td c1 true",
            "frobnicate c1",
        ];
        for line in lines {
            let args = argv(line);
            if let Some(fast) = parse(&args) {
                panic!(
                    "read without clap: {line:?} -> {fast:?} (clap: {})",
                    by_clap(&args)
                );
            }
        }
        // An empty value or id, and an argument that is not UTF-8: clap's.
        for empty in [["run", "-b", "", "c1"], ["run", "-b", "/b", ""]] {
            let args: Vec<OsString> = std::iter::once("berth-runtime")
                .chain(empty)
                .map(OsString::from)
                .collect();
            assert!(parse(&args).is_none(), "{empty:?}");
        }
        use std::os::unix::ffi::OsStringExt;
        let args = vec![
            OsString::from("berth-runtime"),
            OsString::from("start"),
            OsString::from_vec(vec![0xff, 0xfe]),
        ];
        assert!(parse(&args).is_none());
    }
}
