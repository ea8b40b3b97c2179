//! Unit tests of the v1 and hybrid back ends against fake cgroup trees.

use std::fs;

use oci_spec::runtime::LinuxResources;
use serde_json::json;

use crate::testutil::{w, Fake};
use crate::{create, from_paths, CgroupPaths, CgroupVersion, Error, FreezerState, Pid};

const ALL: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "hugetlb",
    "net_cls,net_prio",
    "name=systemd",
];

fn res(v: serde_json::Value) -> LinuxResources {
    serde_json::from_value(v).unwrap()
}

fn manager(f: &Fake) -> Box<dyn crate::CgroupManager> {
    create(&f.config(Some("/berth/c1"), "c1")).unwrap()
}

#[test]
fn resolves_paths_and_rebuilds_from_them() {
    let f = Fake::v1(ALL, Some("hugetlb"));
    let m = manager(&f);
    assert_eq!(m.version(), CgroupVersion::Hybrid);
    let p = m.paths();
    assert_eq!(p.v1["memory"], f.root.join("memory/berth/c1"));
    assert_eq!(p.v1["net_prio"], f.root.join("net_cls,net_prio/berth/c1"));
    assert_eq!(p.v1["name=systemd"], f.root.join("systemd/berth/c1"));
    assert_eq!(p.unified, Some(f.root.join("unified/berth/c1")));
    assert_eq!(m.path(), f.root.join("memory/berth/c1"));
    // Same inputs, same manager; persisted paths rebuild it too.
    let again = manager(&f);
    assert_eq!(again.paths(), m.paths());
    let json = serde_json::to_string(m.paths()).unwrap();
    let back: CgroupPaths = serde_json::from_str(&json).unwrap();
    assert_eq!(from_paths(back).paths(), m.paths());
    // Default: relative `<id>` below our own cgroup (here the root).
    let d = create(&f.config(None, "c2")).unwrap();
    assert_eq!(d.paths().v1["pids"], f.root.join("pids/c2"));
    let pure = Fake::v1(&["memory"], None);
    assert_eq!(manager(&pure).version(), CgroupVersion::V1);
}

#[test]
fn systemd_driver_is_a_clear_error() {
    let f = Fake::v1(ALL, None);
    let e = create(&f.config(Some("system.slice:berth:c1"), "c1")).unwrap_err();
    assert!(matches!(e, Error::SystemdDriverUnsupported(_)));
    assert!(e
        .to_string()
        .contains("systemd cgroup driver is not supported"));
    let cfg = f
        .config(Some("/x"), "c1")
        .with_driver(crate::CgroupDriver::Systemd);
    assert!(matches!(
        create(&cfg),
        Err(Error::SystemdDriverUnsupported(_))
    ));
}

#[test]
fn apply_creates_every_hierarchy_then_joins() {
    let f = Fake::v1(&["memory", "pids", "cpuset"], Some("hugetlb"));
    f.mk(
        "cpuset/berth",
        &[("cpuset.cpus", "0-3"), ("cpuset.mems", "0")],
    );
    // Pre-create the leaves with kernel files, as the kernel would.
    f.touch("memory/berth/c1", &["cgroup.procs"]);
    f.touch("pids/berth/c1", &["cgroup.procs"]);
    f.touch(
        "cpuset/berth/c1",
        &["cgroup.procs", "cpuset.cpus", "cpuset.mems"],
    );
    f.touch("unified/berth/c1", &["cgroup.procs"]);
    let m = manager(&f);
    m.apply(Pid::from_raw(42)).unwrap();
    assert_eq!(
        f.writes(),
        w(&[
            ("cpuset/berth/c1/cpuset.cpus", "0-3"),
            ("cpuset/berth/c1/cpuset.mems", "0"),
            ("cpuset/berth/c1/cgroup.procs", "42"),
            ("memory/berth/c1/cgroup.procs", "42"),
            ("pids/berth/c1/cgroup.procs", "42"),
            ("unified/berth/c1/cgroup.procs", "42"),
        ])
    );
    // Joining an existing cgroup (exec) is the same call.
    m.apply(Pid::from_raw(43)).unwrap();
    assert_eq!(f.read("pids/berth/c1/cgroup.procs"), "43");
}

#[test]
fn apply_fills_an_empty_cpuset_parent_made_by_someone_else() {
    let f = Fake::v1(&["cpuset"], None);
    f.mk(
        "cpuset/berth",
        &[("cpuset.cpus", "0-3"), ("cpuset.mems", "0")],
    );
    // A parent made by hand (mkdir) and never set up: the kernel leaves it empty.
    f.mk(
        "cpuset/berth/p",
        &[("cpuset.cpus", ""), ("cpuset.mems", "")],
    );
    f.touch(
        "cpuset/berth/p/c1",
        &["cgroup.procs", "cpuset.cpus", "cpuset.mems"],
    );
    let m = create(&f.config(Some("/berth/p/c1"), "c1")).unwrap();
    m.apply(Pid::from_raw(42)).unwrap();
    assert_eq!(
        f.writes(),
        w(&[
            ("cpuset/berth/p/cpuset.cpus", "0-3"),
            ("cpuset/berth/p/cpuset.mems", "0"),
            ("cpuset/berth/p/c1/cpuset.cpus", "0-3"),
            ("cpuset/berth/p/c1/cpuset.mems", "0"),
            ("cpuset/berth/p/c1/cgroup.procs", "42"),
        ])
    );
}

#[test]
fn apply_creates_missing_directories() {
    let f = Fake::v1(&["memory", "pids"], None);
    let m = create(&f.config(Some("/a/b/c"), "c")).unwrap();
    // A fake tree has no kernel files in new directories, so joining fails,
    // but only after every directory was made; the error names the file.
    let e = m.apply(Pid::from_raw(7)).unwrap_err();
    assert!(e.to_string().contains("cgroup.procs"), "{e}");
    assert!(e.to_string().contains("\"7\""), "{e}");
    assert!(f.exists("memory/a/b/c") && f.exists("pids/a/b/c"));
}

#[test]
fn memory_limits_shrinking_and_growing() {
    let f = Fake::v1(&["memory"], None);
    let files = [
        "memory.memsw.limit_in_bytes",
        "memory.soft_limit_in_bytes",
        "memory.kmem.limit_in_bytes",
        "memory.swappiness",
        "memory.oom_control",
        "memory.use_hierarchy",
    ];
    let dir = f.touch("memory/berth/c1", &files);
    fs::write(dir.join("memory.limit_in_bytes"), "9223372036854771712").unwrap();
    let m = manager(&f);
    // kernelTCP is skipped: its file does not exist on this "kernel".
    let r = res(
        json!({"memory": {"limit": 100, "swap": 200, "reservation": 50,
        "kernel": 70, "kernelTCP": 80, "swappiness": 10, "disableOOMKiller": true,
        "useHierarchy": true}}),
    );
    m.set(&r).unwrap();
    assert_eq!(
        f.writes(),
        w(&[
            ("memory/berth/c1/memory.limit_in_bytes", "100"),
            ("memory/berth/c1/memory.memsw.limit_in_bytes", "200"),
            ("memory/berth/c1/memory.soft_limit_in_bytes", "50"),
            ("memory/berth/c1/memory.kmem.limit_in_bytes", "70"),
            ("memory/berth/c1/memory.swappiness", "10"),
            ("memory/berth/c1/memory.oom_control", "1"),
            ("memory/berth/c1/memory.use_hierarchy", "1"),
        ])
    );
    // Growing above the current limit: memory+swap has to go first.
    m.set(&res(json!({"memory": {"limit": 300, "swap": 600}})))
        .unwrap();
    assert_eq!(
        f.writes(),
        w(&[
            ("memory/berth/c1/memory.memsw.limit_in_bytes", "600"),
            ("memory/berth/c1/memory.limit_in_bytes", "300"),
        ])
    );
    // Unlimited memory without swap means unlimited swap as well.
    m.set(&res(json!({"memory": {"limit": -1}}))).unwrap();
    assert_eq!(
        f.writes(),
        w(&[
            ("memory/berth/c1/memory.memsw.limit_in_bytes", "-1"),
            ("memory/berth/c1/memory.limit_in_bytes", "-1"),
        ])
    );
    let e = m
        .set(&res(json!({"memory": {"swappiness": 101}})))
        .unwrap_err();
    assert!(matches!(e, Error::InvalidValue { .. }), "{e}");
    assert!(f.writes().is_empty());
}

#[test]
fn memory_check_before_update() {
    let f = Fake::v1(&["memory"], None);
    f.mk(
        "memory/berth/c1",
        &[
            ("memory.usage_in_bytes", "5000"),
            ("memory.limit_in_bytes", ""),
        ],
    );
    let m = manager(&f);
    let r = res(json!({"memory": {"limit": 4000, "checkBeforeUpdate": true}}));
    assert!(m.set(&r).is_err());
    assert!(f.writes().is_empty());
}

#[test]
fn cpu_and_cpuset() {
    let f = Fake::v1(&["cpu", "cpuset"], None);
    f.touch(
        "cpu/berth/c1",
        &[
            "cpu.shares",
            "cpu.cfs_period_us",
            "cpu.cfs_quota_us",
            "cpu.cfs_burst_us",
            "cpu.rt_period_us",
            "cpu.rt_runtime_us",
            "cpu.idle",
        ],
    );
    f.touch("cpuset/berth/c1", &["cpuset.cpus", "cpuset.mems"]);
    let m = manager(&f);
    let r = res(
        json!({"cpu": {"shares": 512, "quota": 50000, "period": 100000,
        "burst": 1000, "realtimePeriod": 1000000, "realtimeRuntime": 950000,
        "idle": 1, "cpus": "0-1", "mems": "0"}}),
    );
    m.set(&r).unwrap();
    assert_eq!(
        f.writes(),
        w(&[
            ("cpuset/berth/c1/cpuset.cpus", "0-1"),
            ("cpuset/berth/c1/cpuset.mems", "0"),
            ("cpu/berth/c1/cpu.shares", "512"),
            ("cpu/berth/c1/cpu.cfs_period_us", "100000"),
            ("cpu/berth/c1/cpu.cfs_quota_us", "50000"),
            ("cpu/berth/c1/cpu.cfs_burst_us", "1000"),
            ("cpu/berth/c1/cpu.rt_period_us", "1000000"),
            ("cpu/berth/c1/cpu.rt_runtime_us", "950000"),
            ("cpu/berth/c1/cpu.idle", "1"),
        ])
    );
}

#[test]
fn pids_blkio_network_devices() {
    let f = Fake::v1(ALL, None);
    f.touch("pids/berth/c1", &["pids.max"]);
    f.touch(
        "blkio/berth/c1",
        &[
            "blkio.weight",
            "blkio.weight_device",
            "blkio.leaf_weight",
            "blkio.leaf_weight_device",
            "blkio.throttle.read_bps_device",
            "blkio.throttle.write_bps_device",
            "blkio.throttle.read_iops_device",
            "blkio.throttle.write_iops_device",
        ],
    );
    f.touch(
        "net_cls,net_prio/berth/c1",
        &["net_cls.classid", "net_prio.ifpriomap"],
    );
    f.touch("devices/berth/c1", &["devices.allow", "devices.deny"]);
    let m = manager(&f);
    let r = res(json!({
        "pids": {"limit": 100},
        "blockIO": {"weight": 500, "leafWeight": 300,
            "weightDevice": [{"major": 8, "minor": 0, "weight": 600, "leafWeight": 200},
                             {"major": 8, "minor": 16, "weight": 700}],
            "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
            "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2097152}],
            "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}],
            "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 200}]},
        "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
        "devices": [{"allow": false, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 136, "access": "rw"}]
    }));
    let out = m.set(&r).unwrap();
    assert_eq!(out.device_rules, None, "v1 enforces devices itself");
    let b = "blkio/berth/c1/blkio";
    assert_eq!(
        f.writes(),
        w(&[
            ("devices/berth/c1/devices.deny", "a *:* rwm"),
            ("devices/berth/c1/devices.allow", "c 1:3 rwm"),
            ("devices/berth/c1/devices.allow", "c 136:* rw"),
            ("pids/berth/c1/pids.max", "100"),
            (&format!("{b}.weight"), "500"),
            (&format!("{b}.leaf_weight"), "300"),
            (&format!("{b}.weight_device"), "8:0 600"),
            (&format!("{b}.leaf_weight_device"), "8:0 200"),
            (&format!("{b}.weight_device"), "8:16 700"),
            (&format!("{b}.throttle.read_bps_device"), "8:0 1048576"),
            (&format!("{b}.throttle.write_bps_device"), "8:0 2097152"),
            (&format!("{b}.throttle.read_iops_device"), "8:0 100"),
            (&format!("{b}.throttle.write_iops_device"), "8:0 200"),
            ("net_cls,net_prio/berth/c1/net_cls.classid", "1048577"),
            ("net_cls,net_prio/berth/c1/net_prio.ifpriomap", "eth0 5"),
        ])
    );
    m.set(&res(json!({"pids": {"limit": -1}}))).unwrap();
    m.set(&res(json!({"pids": {"limit": 0}}))).unwrap();
    assert_eq!(f.writes(), w(&[("pids/berth/c1/pids.max", "max")]));
}

#[test]
fn blkio_uses_bfq_files_when_cfq_is_absent() {
    let f = Fake::v1(&["blkio"], None);
    f.touch(
        "blkio/berth/c1",
        &["blkio.bfq.weight", "blkio.bfq.weight_device"],
    );
    let m = manager(&f);
    let r = res(json!({"blockIO": {"weight": 100,
        "weightDevice": [{"major": 8, "minor": 0, "weight": 200}]}}));
    m.set(&r).unwrap();
    assert_eq!(
        f.writes(),
        w(&[
            ("blkio/berth/c1/blkio.bfq.weight", "100"),
            ("blkio/berth/c1/blkio.bfq.weight_device", "8:0 200"),
        ])
    );
}

#[test]
fn hugetlb_v1_and_hybrid_fallback() {
    let f = Fake::v1(&["hugetlb"], None);
    f.touch(
        "hugetlb/berth/c1",
        &[
            "hugetlb.2MB.limit_in_bytes",
            "hugetlb.2MB.rsvd.limit_in_bytes",
        ],
    );
    let m = manager(&f);
    let r = res(json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}));
    m.set(&r).unwrap();
    assert_eq!(
        f.writes(),
        w(&[
            ("hugetlb/berth/c1/hugetlb.2MB.limit_in_bytes", "4194304"),
            (
                "hugetlb/berth/c1/hugetlb.2MB.rsvd.limit_in_bytes",
                "4194304"
            ),
        ])
    );
    let bad = res(json!({"hugepageLimits": [{"pageSize": "../x", "limit": 1}]}));
    assert!(matches!(m.set(&bad), Err(Error::InvalidValue { .. })));

    // Hybrid where hugetlb is only bound to cgroup2 (like this machine).
    let h = Fake::v1(&["memory"], Some("hugetlb"));
    h.touch("unified/berth/c1", &["hugetlb.2MB.max"]);
    let m = manager(&h);
    m.set(&r).unwrap();
    assert_eq!(
        h.writes(),
        w(&[
            ("unified/cgroup.subtree_control", "+hugetlb"),
            ("unified/berth/c1/hugetlb.2MB.max", "4194304"),
        ])
    );
    let none = Fake::v1(&["memory"], None);
    let e = manager(&none).set(&r).unwrap_err();
    assert!(matches!(e, Error::ControllerMissing { .. }), "{e}");
}

#[test]
fn unified_keys_need_a_cgroup2_mount() {
    let r = res(json!({"unified": {"memory.high": "1000"}}));
    let pure = Fake::v1(&["memory"], None);
    let e = manager(&pure).set(&r).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }));
    assert_eq!(
        e.to_string(),
        "linux.resources.unified is not supported on cgroup v1"
    );
    let h = Fake::v1(&["memory"], Some("memory"));
    h.touch("unified/berth/c1", &["memory.high"]);
    manager(&h).set(&r).unwrap();
    assert_eq!(
        h.writes(),
        w(&[
            ("unified/cgroup.subtree_control", "+memory"),
            ("unified/berth/c1/memory.high", "1000"),
        ])
    );
    let missing = res(json!({"unified": {"io.max": "8:0 rbps=1"}}));
    let e = manager(&h).set(&missing).unwrap_err();
    assert!(matches!(e, Error::UnifiedControllerMissing { .. }), "{e}");
    // runc's words lead: its callers grep "invalid configuration".
    assert!(e.to_string().starts_with("invalid configuration: "), "{e}");
}

#[test]
fn missing_controller_is_reported() {
    let f = Fake::v1(&["memory"], None);
    let e = manager(&f)
        .set(&res(json!({"pids": {"limit": 5}})))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "controller pids is not available (needed for pids)"
    );
}

#[test]
fn freezer_states() {
    let f = Fake::v1(&["freezer"], None);
    f.mk("freezer/berth/c1", &[("freezer.state", "THAWED")]);
    let m = manager(&f);
    assert_eq!(m.state().unwrap(), FreezerState::Thawed);
    m.freeze().unwrap();
    assert_eq!(m.state().unwrap(), FreezerState::Frozen);
    m.thaw().unwrap();
    assert_eq!(m.state().unwrap(), FreezerState::Thawed);
    assert_eq!(
        f.writes(),
        w(&[
            ("freezer/berth/c1/freezer.state", "FROZEN"),
            ("freezer/berth/c1/freezer.state", "THAWED"),
        ])
    );
}

#[test]
fn pids_are_collected_recursively() {
    let f = Fake::v1(&["pids", "memory"], None);
    f.mk("pids/berth/c1", &[("cgroup.procs", "10\n11\n")]);
    f.mk("pids/berth/c1/sub", &[("cgroup.procs", "12\n")]);
    f.mk("pids/berth/c1/sub/deeper", &[("cgroup.procs", "13\n11\n")]);
    let got: Vec<i32> = manager(&f)
        .pids()
        .unwrap()
        .iter()
        .map(|p| p.as_raw())
        .collect();
    assert_eq!(got, vec![10, 11, 12, 13]);
}

#[test]
fn stats_and_oom_counter() {
    let f = Fake::v1(
        &["cpu", "cpuacct", "memory", "pids", "blkio", "hugetlb"],
        None,
    );
    f.mk(
        "cpuacct/berth/c1",
        &[
            ("cpuacct.usage", "3000"),
            ("cpuacct.usage_percpu", "1000 2000 \n"),
            ("cpuacct.stat", "user 2\nsystem 1\n"),
        ],
    );
    f.mk(
        "cpu/berth/c1",
        &[(
            "cpu.stat",
            "nr_periods 10\nnr_throttled 2\nthrottled_time 500\n",
        )],
    );
    f.mk(
        "memory/berth/c1",
        &[
            ("memory.usage_in_bytes", "4096"),
            ("memory.max_usage_in_bytes", "8192"),
            ("memory.limit_in_bytes", "1048576"),
            ("memory.failcnt", "1"),
            ("memory.memsw.usage_in_bytes", "5000"),
            ("memory.stat", "cache 123\nrss 456\n"),
            (
                "memory.oom_control",
                "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
            ),
        ],
    );
    f.mk(
        "pids/berth/c1",
        &[("pids.current", "4"), ("pids.max", "max")],
    );
    f.mk(
        "blkio/berth/c1",
        &[(
            "blkio.throttle.io_service_bytes_recursive",
            "8:0 Read 100\n8:0 Write 200\nTotal 300\n",
        )],
    );
    f.mk(
        "hugetlb/berth/c1",
        &[
            ("hugetlb.2MB.limit_in_bytes", "0"),
            ("hugetlb.2MB.usage_in_bytes", "2097152"),
            ("hugetlb.2MB.failcnt", "2"),
        ],
    );
    let m = manager(&f);
    let s = m.stats().unwrap();
    let tick = 1_000_000_000 / 100;
    assert_eq!(s.cpu.usage.total, 3000);
    assert_eq!(s.cpu.usage.percpu, vec![1000, 2000]);
    assert_eq!((s.cpu.usage.user, s.cpu.usage.kernel), (2 * tick, tick));
    assert_eq!(s.cpu.throttling.throttled_periods, 2);
    assert_eq!(s.memory.usage.usage, 4096);
    assert_eq!(s.memory.usage.limit, 1048576);
    assert_eq!(s.memory.usage.failcnt, 1);
    assert_eq!(s.memory.swap.usage, 5000);
    assert_eq!(s.memory.cache, 123);
    assert_eq!(s.memory.raw["rss"], 456);
    assert_eq!((s.pids.current, s.pids.limit), (4, 0));
    assert_eq!(s.blkio.io_service_bytes_recursive.len(), 2);
    assert_eq!(s.blkio.io_service_bytes_recursive[1].op, "Write");
    assert_eq!(s.hugetlb["2MB"].usage, 2097152);
    assert_eq!(s.hugetlb["2MB"].failcnt, 2);
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(v["pids"], json!({"current": 4}));
    assert_eq!(v["cpu"]["throttling"]["throttledPeriods"], 2);
    assert_eq!(m.oom_kill_count().unwrap(), 3);
}

#[test]
fn destroy_removes_leaf_first_and_collects_errors() {
    let f = Fake::v1(&["memory", "pids"], Some("hugetlb"));
    f.touch("memory/berth/c1/sub/deeper", &["cgroup.procs"]);
    f.touch("pids/berth/c1", &["cgroup.procs"]);
    f.touch("unified/berth/c1", &["cgroup.procs"]);
    // A symlink makes one directory impossible to rmdir on the fake tree.
    std::os::unix::fs::symlink("/nowhere", f.root.join("memory/berth/c1/sub/link")).unwrap();
    let m = manager(&f);
    assert!(m.exists());
    let e = m.destroy().unwrap_err();
    let Error::Remove(list) = &e else {
        panic!("{e}")
    };
    assert_eq!(list.len(), 2, "{e}"); // sub and, because of it, c1
    assert!(!f.exists("memory/berth/c1/sub/deeper"));
    assert!(
        !f.exists("pids/berth/c1"),
        "other hierarchies still removed"
    );
    assert!(!f.exists("unified/berth/c1"));
    assert!(f.exists("pids/berth"), "parents are left alone");
    fs::remove_file(f.root.join("memory/berth/c1/sub/link")).unwrap();
    m.destroy().unwrap();
    assert!(!m.exists());
    m.destroy().unwrap();
}

#[test]
fn no_freezer_means_thawed_and_missing_cgroup_has_no_stats() {
    let f = Fake::v1(&["memory"], None);
    let m = manager(&f);
    assert_eq!(m.state().unwrap(), FreezerState::Thawed);
    assert!(matches!(m.freeze(), Err(Error::ControllerMissing { .. })));
    let e = m.stats().unwrap_err();
    assert!(e.to_string().contains("memory/berth/c1"), "{e}");
}

#[test]
fn add_process_only_joins_existing_cgroups() {
    let f = Fake::v1(&["memory", "pids"], None);
    let m = manager(&f);
    let e = m.add_process(Pid::from_raw(5)).unwrap_err();
    assert!(e.to_string().contains("memory/berth/c1"), "{e}");
    assert!(!f.exists("memory/berth/c1"), "nothing created");
    f.touch("memory/berth/c1", &["cgroup.procs"]);
    f.touch("pids/berth/c1", &["cgroup.procs"]);
    m.add_process(Pid::from_raw(5)).unwrap();
    assert_eq!(
        f.writes(),
        w(&[
            ("memory/berth/c1/cgroup.procs", "5"),
            ("pids/berth/c1/cgroup.procs", "5"),
        ])
    );
}

#[test]
fn invalid_specs_write_nothing() {
    let f = Fake::v1(ALL, None);
    f.touch("cpuset/berth/c1", &["cpuset.cpus", "cpuset.mems"]);
    f.touch("devices/berth/c1", &["devices.allow", "devices.deny"]);
    let m = manager(&f);
    for bad in [
        json!({"cpu": {"cpus": "0"}, "hugepageLimits": [{"pageSize": "huge", "limit": 1}]}),
        json!({"cpu": {"cpus": "0"}, "memory": {"swappiness": 200}}),
        json!({"cpu": {"cpus": "0"}, "devices": [{"allow": true, "access": "xa"}]}),
        json!({"cpu": {"cpus": "0"}, "unified": {"memory.max": "1"}}),
    ] {
        assert!(m.set(&res(bad.clone())).is_err(), "{bad}");
        assert!(f.writes().is_empty(), "{bad}");
    }
}

#[test]
fn a_memory_limit_below_the_usage_is_reported_as_runc_does() {
    let f = Fake::v1(&["memory"], None);
    let dir = f.mk(
        "memory/c",
        &[
            ("memory.usage_in_bytes", "30392320\n"),
            ("memory.max_usage_in_bytes", "30973952\n"),
        ],
    );
    let write_err = |errno: nix::errno::Errno| Error::Write {
        path: dir.join("memory.limit_in_bytes"),
        value: "10485760".into(),
        source: std::io::Error::from_raw_os_error(errno as i32),
    };
    let e = crate::v1::below_usage(&dir, 10485760, write_err(nix::errno::Errno::EBUSY));
    assert_eq!(
        e.to_string(),
        "unable to set memory limit to 10485760 (current usage: 30392320, peak usage: 30973952)"
    );
    let e = crate::v1::below_usage(&dir, 10485760, write_err(nix::errno::Errno::EINVAL));
    assert!(e.to_string().starts_with("writing \"10485760\""), "{e}");
}
