//! version and info.

use anyhow::Result;

use crate::client::Client;

pub fn version(c: &Client) -> Result<i32> {
    let v = c.get("/version")?;
    println!("Client:\n Version:    {}\n", env!("CARGO_PKG_VERSION"));
    println!("Server:");
    for (label, key) in [
        ("Version", "Version"),
        ("API version", "ApiVersion"),
        ("Min API version", "MinAPIVersion"),
        ("Go version", "GoVersion"),
        ("OS/Arch", "Os"),
        ("Kernel", "KernelVersion"),
    ] {
        let val = if key == "Os" {
            format!(
                "{}/{}",
                v["Os"].as_str().unwrap_or(""),
                v["Arch"].as_str().unwrap_or("")
            )
        } else {
            v[key].as_str().unwrap_or("").to_string()
        };
        if !val.is_empty() && val != "/" {
            println!(
                " {label}:{}{val}",
                " ".repeat(16usize.saturating_sub(label.len()))
            );
        }
    }
    Ok(0)
}

pub fn info(c: &Client) -> Result<i32> {
    let i = c.get("/info")?;
    let n = |k: &str| i[k].as_i64().unwrap_or(0);
    println!("Containers: {}", n("Containers"));
    println!(
        " Running: {}\n Paused: {}\n Stopped: {}",
        n("ContainersRunning"),
        n("ContainersPaused"),
        n("ContainersStopped")
    );
    println!("Images: {}", n("Images"));
    for (label, key) in [
        ("Server Version", "ServerVersion"),
        ("Storage Driver", "Driver"),
        ("Cgroup Driver", "CgroupDriver"),
        ("Cgroup Version", "CgroupVersion"),
        ("Default Runtime", "DefaultRuntime"),
        ("Kernel Version", "KernelVersion"),
        ("Operating System", "OperatingSystem"),
        ("Docker Root Dir", "DockerRootDir"),
        ("Name", "Name"),
    ] {
        if let Some(v) = i[key].as_str() {
            println!("{label}: {v}");
        }
    }
    if let Some(rt) = i["Runtimes"].as_object() {
        println!(
            "Runtimes: {}",
            rt.keys().cloned().collect::<Vec<_>>().join(" ")
        );
    }
    println!(
        "CPUs: {}\nTotal Memory: {}",
        n("NCPU"),
        crate::streams::human(n("MemTotal") as u64)
    );
    Ok(0)
}
