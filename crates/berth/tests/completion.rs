//! `berth completion bash|zsh|fish` and `berth man DIR`: what a package installs so that the shell
//! completes berth's verbs and flags and `man berth-run` works. No daemon needed.

use std::process::Command;

fn berth(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .env_remove("DOCKER_HOST")
        .env_remove("BERTH_HOST")
        .output()
        .expect("run berth")
}

#[test]
fn completion_scripts_know_the_verbs_and_flags() {
    for (shell, marker) in [
        ("bash", "complete -F _berth"),
        ("zsh", "#compdef berth"),
        ("fish", "complete -c berth"),
    ] {
        let o = berth(&["completion", shell]);
        assert!(o.status.success(), "{shell}: {o:?}");
        let script = String::from_utf8_lossy(&o.stdout);
        assert!(script.contains(marker), "{shell} script lacks {marker:?}");
        for word in ["run", "images", "pull", "detach"] {
            assert!(script.contains(word), "{shell} script lacks {word}");
        }
    }
    let o = berth(&["completion", "powershell"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("bash"), "{o:?}");
}

#[test]
fn man_pages_for_berth_and_each_verb() {
    let dir = tempfile::tempdir().unwrap();
    let o = berth(&["man", dir.path().to_str().unwrap()]);
    assert!(o.status.success(), "{o:?}");
    let top = std::fs::read_to_string(dir.path().join("berth.1")).unwrap();
    assert!(
        top.starts_with(".ie") || top.contains(".TH berth 1"),
        "{top}"
    );
    let run = std::fs::read_to_string(dir.path().join("berth-run.1")).unwrap();
    assert!(run.contains(".TH berth-run 1"), "{run}");
    assert!(run.contains("detach"), "{run}");
    // A directory that cannot be made is a clear error, not a panic.
    let o = berth(&["man", "/proc/no/such/dir"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/proc/no/such/dir"));
}
