//! Unit tests of the cgroup v2 back end against a fake cgroup2 tree.

use std::fs;
use std::time::Duration;

use oci_spec::runtime::LinuxResources;
use serde_json::json;

use crate::testutil::{w, Fake};
use crate::{create, CgroupManager, CgroupVersion, DeviceKind, Error, FreezerState, Pid};

fn res(v: serde_json::Value) -> LinuxResources {
    serde_json::from_value(v).unwrap()
}

fn manager(f: &Fake) -> Box<dyn CgroupManager> {
    create(&f.config(Some("/berth/c1"), "c1")).unwrap()
}

const LEAF: &[&str] = &[
    "cgroup.procs",
    "cgroup.freeze",
    "cpu.weight",
    "cpu.max",
    "cpu.max.burst",
    "cpu.idle",
    "cpuset.cpus",
    "cpuset.mems",
    "memory.max",
    "memory.low",
    "memory.swap.max",
    "pids.max",
    "io.weight",
    "io.max",
    "hugetlb.2MB.max",
    "rdma.max",
    "memory.high",
];

#[test]
fn paths_follow_runc_fs2_rules() {
    let f = Fake::v2("cpu memory pids");
    let m = manager(&f);
    assert_eq!(m.version(), CgroupVersion::V2);
    assert_eq!(m.path(), f.root.join("berth/c1"));
    // Relative: below the *parent* of our own cgroup (/user.slice/me.scope).
    let rel = create(&f.config(Some("pods/c1"), "c1")).unwrap();
    assert_eq!(rel.path(), f.root.join("user.slice/pods/c1"));
    let def = create(&f.config(None, "c9")).unwrap();
    assert_eq!(def.path(), f.root.join("user.slice/c9"));
}

#[test]
fn apply_enables_controllers_down_the_tree() {
    let f = Fake::v2("cpu io memory pids");
    fs::write(f.root.join("cgroup.subtree_control"), "memory").unwrap();
    f.mk(
        "berth",
        &[
            ("cgroup.controllers", "cpu memory pids"),
            ("cgroup.subtree_control", ""),
        ],
    );
    f.touch("berth/c1", &["cgroup.procs"]);
    let m = manager(&f);
    m.apply(Pid::from_raw(99)).unwrap();
    assert_eq!(
        f.writes(),
        w(&[
            ("cgroup.subtree_control", "+cpu"),
            ("cgroup.subtree_control", "+io"),
            ("cgroup.subtree_control", "+pids"),
            ("berth/cgroup.subtree_control", "+cpu"),
            ("berth/cgroup.subtree_control", "+memory"),
            ("berth/cgroup.subtree_control", "+pids"),
            ("berth/c1/cgroup.procs", "99"),
        ])
    );
    // New directories are created on the way.
    let n = create(&f.config(Some("/x/y"), "y")).unwrap();
    assert!(
        n.apply(Pid::from_raw(1)).is_err(),
        "fake tree: no cgroup.procs"
    );
    assert!(f.exists("x/y"));
}

#[test]
fn set_converts_like_runc() {
    let f = Fake::v2("cpu io memory pids hugetlb rdma");
    f.touch("berth/c1", LEAF);
    let m = manager(&f);
    let r = res(json!({
        "pids": {"limit": -1},
        "memory": {"limit": 104857600, "swap": 314572800, "reservation": 52428800,
                   "swappiness": 10, "disableOOMKiller": true, "kernel": 1},
        "blockIO": {"weight": 500, "leafWeight": 10,
            "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
            "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2097152}],
            "throttleReadIOPSDevice": [{"major": 8, "minor": 16, "rate": 100}],
            "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 200}]},
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "burst": 10000,
                "idle": 0, "cpus": "0-1", "mems": "0"},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
        "rdma": {"mlx5_0": {"hcaHandles": 2, "hcaObjects": 2000}},
        "unified": {"memory.high": "90000000"},
        "devices": [{"allow": false, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]
    }));
    let out = m.set(&r).unwrap();
    assert_eq!(
        f.writes(),
        w(&[
            ("berth/c1/pids.max", "max"),
            ("berth/c1/memory.swap.max", "209715200"),
            ("berth/c1/memory.max", "104857600"),
            ("berth/c1/memory.low", "52428800"),
            ("berth/c1/io.weight", "4950"),
            ("berth/c1/io.max", "8:0 rbps=1048576"),
            ("berth/c1/io.max", "8:0 wbps=2097152"),
            ("berth/c1/io.max", "8:16 riops=100"),
            ("berth/c1/io.max", "8:16 wiops=200"),
            ("berth/c1/cpu.weight", "100"),
            ("berth/c1/cpu.max", "50000 100000"),
            ("berth/c1/cpu.max.burst", "10000"),
            ("berth/c1/cpu.idle", "0"),
            ("berth/c1/cpuset.cpus", "0-1"),
            ("berth/c1/cpuset.mems", "0"),
            ("berth/c1/hugetlb.2MB.max", "4194304"),
            ("berth/c1/rdma.max", "mlx5_0 hca_handle=2 hca_object=2000"),
            ("berth/c1/memory.high", "90000000"),
        ])
    );
    let rules = out.device_rules.clone().unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[1].kind, DeviceKind::Char);
    let prog = out.device_program().unwrap();
    assert!(prog.insns.len() > 8);
}

#[test]
fn cpu_max_and_swap_edge_cases() {
    let f = Fake::v2("cpu memory");
    f.touch("berth/c1", LEAF);
    let m = manager(&f);
    m.set(&res(json!({"cpu": {"quota": -1}}))).unwrap();
    m.set(&res(json!({"cpu": {"period": 250000}}))).unwrap();
    m.set(&res(json!({"cpu": {"shares": 2}}))).unwrap();
    m.set(&res(json!({"memory": {"limit": 1000, "swap": 1000}})))
        .unwrap();
    m.set(&res(json!({"memory": {"limit": -1}}))).unwrap();
    assert_eq!(
        f.writes(),
        w(&[
            ("berth/c1/cpu.max", "max"),
            ("berth/c1/cpu.max", "max 250000"),
            ("berth/c1/cpu.weight", "1"),
            ("berth/c1/memory.swap.max", "0"),
            ("berth/c1/memory.max", "1000"),
            ("berth/c1/memory.swap.max", "max"),
            ("berth/c1/memory.max", "max"),
        ])
    );
    let e = m
        .set(&res(json!({"memory": {"limit": 1000, "swap": 500}})))
        .unwrap_err();
    assert!(matches!(e, Error::InvalidValue { .. }), "{e}");
    let e = m
        .set(&res(json!({"cpu": {"realtimeRuntime": 100}})))
        .unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    let e = m.set(&res(json!({"network": {"classID": 1}}))).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    assert!(f.writes().is_empty());
}

#[test]
fn io_prefers_bfq() {
    let f = Fake::v2("io");
    f.touch("berth/c1", &["io.bfq.weight", "io.weight"]);
    let m = manager(&f);
    let r = res(json!({"blockIO": {"weight": 500,
        "weightDevice": [{"major": 8, "minor": 0, "weight": 300}]}}));
    m.set(&r).unwrap();
    assert_eq!(
        f.writes(),
        w(&[
            ("berth/c1/io.bfq.weight", "500"),
            ("berth/c1/io.bfq.weight", "8:0 300"),
        ])
    );
}

#[test]
fn freeze_waits_for_the_kernel() {
    let f = Fake::v2("");
    let dir = f.mk(
        "berth/c1",
        &[
            ("cgroup.freeze", "0"),
            ("cgroup.events", "populated 1\nfrozen 0\n"),
        ],
    );
    let m = manager(&f);
    assert_eq!(m.state().unwrap(), FreezerState::Thawed);
    // Play the kernel: report frozen a little later.
    let d2 = dir.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        fs::write(d2.join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
    });
    m.freeze().unwrap();
    t.join().unwrap();
    assert_eq!(m.state().unwrap(), FreezerState::Frozen);
    fs::write(dir.join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
    m.thaw().unwrap();
    assert_eq!(m.state().unwrap(), FreezerState::Thawed);
    // Freeze requested but not complete yet.
    fs::write(dir.join("cgroup.freeze"), "1").unwrap();
    assert_eq!(m.state().unwrap(), FreezerState::Freezing);
    let no = Fake::v2("");
    no.touch("berth/c1", &["cgroup.procs"]);
    assert!(matches!(
        manager(&no).freeze(),
        Err(Error::Unsupported { .. })
    ));
}

#[test]
fn stats_pids_oom_destroy() {
    let f = Fake::v2("cpu memory pids io hugetlb");
    f.mk(
        "berth/c1",
        &[
            ("cgroup.procs", "5\n"),
            (
                "cpu.stat",
                "usage_usec 30\nuser_usec 20\nsystem_usec 10\nnr_periods 4\nnr_throttled 1\nthrottled_usec 7\n",
            ),
            ("cpuset.cpus.effective", "0-1"),
            ("memory.current", "4096"),
            ("memory.max", "max"),
            ("memory.peak", "8192"),
            ("memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n"),
            ("memory.swap.current", "100"),
            ("memory.swap.max", "1000"),
            ("memory.stat", "anon 1\nfile 77\n"),
            ("pids.current", "2"),
            ("pids.max", "64"),
            ("io.stat", "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n"),
            ("hugetlb.2MB.current", "0"),
            ("hugetlb.2MB.events", "max 4\n"),
        ],
    );
    f.mk("berth/c1/inner", &[("cgroup.procs", "6\n7\n")]);
    let m = manager(&f);
    let s = m.stats().unwrap();
    assert_eq!(s.cpu.usage.total, 30_000);
    assert_eq!((s.cpu.usage.user, s.cpu.usage.kernel), (20_000, 10_000));
    assert_eq!(s.cpu.throttling.throttled_time, 7_000);
    assert_eq!(s.cpuset.cpus, vec![0, 1]);
    assert_eq!(s.memory.usage.limit, u64::MAX);
    assert_eq!((s.memory.usage.max, s.memory.usage.failcnt), (8192, 3));
    assert_eq!(s.memory.swap.usage, 4196);
    assert_eq!(s.memory.cache, 77);
    assert_eq!((s.pids.current, s.pids.limit), (2, 64));
    assert_eq!(s.blkio.io_service_bytes_recursive.len(), 3);
    assert_eq!(s.blkio.io_serviced_recursive[1].value, 2);
    assert_eq!(s.hugetlb["2MB"].failcnt, 4);
    assert_eq!(m.oom_kill_count().unwrap(), 2);
    let pids: Vec<i32> = m.pids().unwrap().iter().map(|p| p.as_raw()).collect();
    assert_eq!(pids, vec![5, 6, 7]);
    m.destroy().unwrap();
    assert!(!m.exists());
    assert!(f.exists("berth"));
}

#[test]
fn pids_stats_without_the_pids_controller() {
    let f = Fake::v2("hugetlb");
    f.mk("berth/c1", &[("cgroup.procs", "3\n4\n")]);
    let s = manager(&f).stats().unwrap();
    assert_eq!((s.pids.current, s.pids.limit), (2, 0));
    assert_eq!(s.memory.usage.limit, u64::MAX);
}

#[test]
fn invalid_v2_specs_write_nothing() {
    let f = Fake::v2("cpu memory");
    f.touch("berth/c1", LEAF);
    let m = manager(&f);
    for bad in [
        json!({"pids": {"limit": 5}, "memory": {"swap": 100}}),
        json!({"pids": {"limit": 5}, "cpu": {"realtimePeriod": 1000}}),
        json!({"pids": {"limit": 5}, "network": {"priorities": [{"name": "lo", "priority": 1}]}}),
        json!({"pids": {"limit": 5}, "unified": {"../x": "1"}}),
        json!({"pids": {"limit": 5}, "unified": {"cgroup.procs": "1"}}),
    ] {
        assert!(m.set(&res(bad.clone())).is_err(), "{bad}");
        assert!(f.writes().is_empty(), "{bad}");
    }
}

/// `docker update --memory-reservation` / `--blkio-weight` / `--cpuset-mems` alone: each reaches
/// its file and nothing else is written.
#[test]
fn an_update_of_one_limit_writes_only_its_file() {
    let f = Fake::v2("cpuset cpu io memory pids");
    f.touch("berth/c1", LEAF);
    let m = manager(&f);
    m.set(&res(json!({"memory": {"reservation": 50331648}})))
        .unwrap();
    assert_eq!(f.writes(), w(&[("berth/c1/memory.low", "50331648")]));
    m.set(&res(json!({"blockIO": {"weight": 300}}))).unwrap();
    assert_eq!(f.writes(), w(&[("berth/c1/io.weight", "2930")]));
    m.set(&res(json!({"cpu": {"mems": "0"}}))).unwrap();
    assert_eq!(f.writes(), w(&[("berth/c1/cpuset.mems", "0")]));
}
