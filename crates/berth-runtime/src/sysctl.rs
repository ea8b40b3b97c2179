//! Which sysctls a container may set: only those the kernel keeps per
//! namespace (ipc, uts, net), as Docker allows. Others would change the host.

/// Whether `key` (dotted form) is isolated by a namespace.
pub fn is_namespaced(key: &str) -> bool {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    IPC.contains(&key)
        || key.starts_with("fs.mqueue.")
        || key.starts_with("net.")
        || key == "kernel.domainname"
        || key == "kernel.hostname"
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_wide_sysctls_are_refused() {
        assert!(super::is_namespaced("net.ipv4.ip_forward"));
        assert!(super::is_namespaced("kernel.shmmax"));
        assert!(!super::is_namespaced("kernel.panic"));
        assert!(!super::is_namespaced("vm.overcommit_memory"));
    }
}
