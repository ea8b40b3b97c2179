//! The files a networked container gets: /etc/hosts, /etc/hostname and
//! /etc/resolv.conf, written into a per-container directory and bind-mounted
//! by the engine.

use std::net::Ipv4Addr;

/// /etc/hosts: loopback names, the container's own address and name, extra hosts.
pub fn hosts(hostname: &str, address: Option<Ipv4Addr>, extra: &[(String, String)]) -> String {
    let mut out = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for (name, ip) in extra {
        out.push_str(&format!("{ip}\t{name}\n"));
    }
    if let Some(a) = address {
        out.push_str(&format!("{a}\t{hostname}\n"));
    }
    out
}

/// /etc/resolv.conf from the host's: nameservers on loopback (a local
/// resolver such as systemd-resolved) are unreachable from the container's
/// network namespace, so they are replaced by public resolvers, as Docker
/// does; `dns` and `search` given by the user win.
pub fn resolv_conf(
    host_resolv: &str,
    dns: &[String],
    search: &[String],
    options: &[String],
) -> String {
    let mut servers: Vec<String> = dns.to_vec();
    let mut searches: Vec<String> = search.to_vec();
    let mut opts: Vec<String> = options.to_vec();
    for line in host_resolv.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") if dns.is_empty() => {
                if let Some(ns) = words.next() {
                    let local = ns.starts_with("127.") || ns == "::1";
                    if !local {
                        servers.push(ns.to_string());
                    }
                }
            }
            Some("search") | Some("domain") if search.is_empty() => {
                searches.extend(words.map(str::to_string));
            }
            Some("options") if options.is_empty() => opts.extend(words.map(str::to_string)),
            _ => {}
        }
    }
    if servers.is_empty() {
        servers = vec!["8.8.8.8".into(), "8.8.4.4".into()];
    }
    let mut out = String::new();
    for s in &servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !searches.is_empty() {
        out.push_str(&format!("search {}\n", searches.join(" ")));
    }
    if !opts.is_empty() {
        out.push_str(&format!("options {}\n", opts.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lists_the_container() {
        let h = hosts(
            "web",
            Some(Ipv4Addr::new(172, 17, 0, 2)),
            &[("db".into(), "10.0.0.5".into())],
        );
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.contains("10.0.0.5\tdb\n"));
        assert!(h.ends_with("172.17.0.2\tweb\n"));
    }

    #[test]
    fn resolv_conf_drops_loopback_resolvers() {
        let host = "nameserver 127.0.0.53\nsearch example.com\noptions edns0\n";
        assert_eq!(
            resolv_conf(host, &[], &[], &[]),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch example.com\noptions edns0\n"
        );
        let host = "nameserver 10.1.1.1\nnameserver 127.0.0.1\n";
        assert_eq!(resolv_conf(host, &[], &[], &[]), "nameserver 10.1.1.1\n");
        assert_eq!(
            resolv_conf(host, &["1.1.1.1".into()], &["corp".into()], &[]),
            "nameserver 1.1.1.1\nsearch corp\n"
        );
    }
}
