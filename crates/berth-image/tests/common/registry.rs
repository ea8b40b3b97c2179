//! A private `docker-registry` on 127.0.0.1 (random port, own config and storage), optionally with htpasswd
//! basic auth or token auth served by a tiny in-test token server, plus a proxy that can cut a response off.

use super::run;
use base64::Engine as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const USER: &str = "berth";
pub const PASS: &str = "s3cret-pass";

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub enum Auth {
    None,
    Basic,
    /// Token auth; the registry is also served over TLS with a test CA.
    TokenTls,
}

pub struct Registry {
    child: Child,
    pub host: String,
    pub storage: PathBuf,
    /// PEM of the CA that signed the TLS certificate (TokenTls only).
    pub ca_pem: Option<Vec<u8>>,
    _token: Option<TokenServer>,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        // Only the registry process this test started, by its PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A self-signed certificate (used as the test CA and as the token signer).
fn openssl_cert(dir: &Path, name: &str, cn: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{name}.key"));
    let cert = dir.join(format!("{name}.pem"));
    let mut c = Command::new("openssl");
    c.args([
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
    ])
    .arg(format!("/CN={cn}"));
    c.arg("-keyout").arg(&key).arg("-out").arg(&cert);
    run(c.stderr(Stdio::null()));
    (key, cert)
}

/// A server certificate for 127.0.0.1 signed by the test CA.
fn leaf_cert(dir: &Path, cakey: &Path, cacert: &Path) -> (PathBuf, PathBuf) {
    let key = dir.join("tls.key");
    let csr = dir.join("tls.csr");
    let cert = dir.join("tls.pem");
    let ext = dir.join("tls.ext");
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .stderr(Stdio::null()));
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-set_serial", "2", "-in"])
        .arg(&csr)
        .arg("-CA")
        .arg(cacert)
        .arg("-CAkey")
        .arg(cakey)
        .arg("-extfile")
        .arg(&ext)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null()));
    (key, cert)
}

impl Registry {
    /// Start a registry, or print why not and return None.
    pub fn start(test: &str, auth: Auth) -> Option<Registry> {
        let mut tools = vec!["docker-registry"];
        match auth {
            Auth::Basic => tools.push("htpasswd"),
            Auth::TokenTls => tools.push("openssl"),
            Auth::None => {}
        }
        let bins = super::need(test, &tools)?;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let storage = dir.path().join("storage");
        let mut auth_yaml = String::new();
        let mut tls_yaml = String::new();
        let mut token = None;
        let mut ca_pem = None;
        match auth {
            Auth::None => {}
            Auth::Basic => {
                let out = run(Command::new(&bins[1]).args(["-Bbn", USER, PASS]));
                let f = dir.path().join("htpasswd");
                std::fs::write(&f, out.stdout).unwrap();
                auth_yaml = format!(
                    "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                    f.display()
                );
            }
            Auth::TokenTls => {
                let (skey, scert) = openssl_cert(dir.path(), "signer", "berth-token-signer");
                let (cakey, cacert) = openssl_cert(dir.path(), "ca", "berth-test-ca");
                let (tkey, tcert) = leaf_cert(dir.path(), &cakey, &cacert);
                let ts = TokenServer::start(&skey, &scert);
                auth_yaml = format!(
                    "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: berth-test-registry\n    issuer: berth-test-issuer\n    rootcertbundle: {}\n",
                    ts.port,
                    scert.display()
                );
                tls_yaml = format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    tcert.display(),
                    tkey.display()
                );
                ca_pem = Some(std::fs::read(&cacert).unwrap());
                token = Some(ts);
            }
        }
        let cfg = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: berth-test-secret\n{tls_yaml}{auth_yaml}",
            storage.display()
        );
        let cfgp = dir.path().join("config.yml");
        std::fs::write(&cfgp, cfg).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new(&bins[0])
            .arg("serve")
            .arg(&cfgp)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let host = format!("127.0.0.1:{port}");
        let reg = Registry {
            child,
            host: host.clone(),
            storage,
            ca_pem,
            _token: token,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(&host).is_err() {
            if Instant::now() > deadline {
                panic!(
                    "registry did not start: {}",
                    std::fs::read_to_string(reg._dir.path().join("registry.log"))
                        .unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(reg)
    }

    /// Path of a blob's data file in the registry's storage.
    pub fn blob_file(&self, hex: &str) -> PathBuf {
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

/// A token server for the registry's `auth: token` (RS256 JWTs with an x5c chain, signed by openssl).
pub struct TokenServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn b64url(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl TokenServer {
    fn start(key: &Path, cert: &Path) -> TokenServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let der = run(Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(cert))
        .stdout;
        let x5c = base64::engine::general_purpose::STANDARD.encode(der);
        let key = key.to_path_buf();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in l.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut c) = conn else { continue };
                let _ = Self::serve(&mut c, &key, &x5c);
            }
        });
        TokenServer {
            port,
            stop,
            thread: Some(thread),
        }
    }

    fn serve(c: &mut TcpStream, key: &Path, x5c: &str) -> std::io::Result<()> {
        let mut r = BufReader::new(c.try_clone()?);
        let mut line = String::new();
        r.read_line(&mut line)?;
        let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut authorized = None;
        loop {
            let mut h = String::new();
            r.read_line(&mut h)?;
            if h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("authorization") {
                    let want =
                        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASS}"));
                    authorized = Some(v.trim() == format!("Basic {want}"));
                }
            }
        }
        if authorized == Some(false) {
            return c.write_all(
                b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
        let query = target.split_once('?').map(|x| x.1).unwrap_or("");
        let mut access = Vec::new();
        for kv in query.split('&') {
            if let Some(v) = kv.strip_prefix("scope=") {
                let v = unescape(v);
                let parts: Vec<&str> = v.splitn(3, ':').collect();
                if parts.len() == 3 {
                    // Anonymous users may only pull.
                    let actions: Vec<&str> = parts[2]
                        .split(',')
                        .filter(|a| authorized == Some(true) || *a == "pull")
                        .collect();
                    access.push(
                        serde_json::json!({"type": parts[0], "name": parts[1], "actions": actions}),
                    );
                }
            }
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5c": [x5c]});
        let claims = serde_json::json!({"iss": "berth-test-issuer", "sub": if authorized == Some(true) { USER } else { "" },
            "aud": "berth-test-registry", "exp": now + 600, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", access.len()), "access": access});
        let signing_input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let mut p = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        p.stdin
            .take()
            .unwrap()
            .write_all(signing_input.as_bytes())?;
        let sig = p.wait_with_output()?.stdout;
        let token = format!("{signing_input}.{}", b64url(&sig));
        let body = serde_json::json!({"token": token, "access_token": token, "expires_in": 600})
            .to_string();
        c.write_all(format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes())
    }
}

/// An HTTP proxy (one request per connection) in front of a registry that logs requests and can cut the
/// body of the first response whose path contains a marker after some bytes.
pub struct CutProxy {
    pub host: String,
    pub log: Arc<Mutex<Vec<String>>>,
    pub cut: Arc<Mutex<Option<(String, usize)>>>,
    stop: Arc<AtomicBool>,
    port: u16,
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn read_head(r: &mut impl BufRead) -> std::io::Result<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l)? == 0 {
            break;
        }
        if l == "\r\n" || l == "\n" {
            break;
        }
        lines.push(l.trim_end().to_string());
    }
    Ok(lines)
}

impl CutProxy {
    pub fn start(upstream: &str) -> CutProxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let cut: Arc<Mutex<Option<(String, usize)>>> = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (log2, cut2, stop2, up) =
            (log.clone(), cut.clone(), stop.clone(), upstream.to_string());
        std::thread::spawn(move || {
            for conn in l.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(c) = conn else { continue };
                let (log3, cut3, up2) = (log2.clone(), cut2.clone(), up.clone());
                std::thread::spawn(move || {
                    let _ = Self::handle(c, &up2, &log3, &cut3);
                });
            }
        });
        CutProxy {
            host: format!("127.0.0.1:{port}"),
            log,
            cut,
            stop,
            port,
        }
    }

    fn handle(
        c: TcpStream,
        upstream: &str,
        log: &Mutex<Vec<String>>,
        cut: &Mutex<Option<(String, usize)>>,
    ) -> std::io::Result<()> {
        let mut cr = BufReader::new(c.try_clone()?);
        let head = read_head(&mut cr)?;
        if head.is_empty() {
            return Ok(());
        }
        let range = head
            .iter()
            .find(|h| h.to_ascii_lowercase().starts_with("range:"))
            .cloned()
            .unwrap_or_default();
        log.lock().unwrap().push(format!("{} {}", head[0], range));
        let clen: usize = head
            .iter()
            .find_map(|h| {
                h.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap_or(0))
            })
            .unwrap_or(0);
        let mut body = vec![0u8; clen];
        cr.read_exact(&mut body)?;
        let mut u = TcpStream::connect(upstream)?;
        let mut req = String::new();
        for h in &head {
            if !h.to_ascii_lowercase().starts_with("connection:") {
                req.push_str(h);
                req.push_str("\r\n");
            }
        }
        req.push_str("Connection: close\r\n\r\n");
        u.write_all(req.as_bytes())?;
        u.write_all(&body)?;
        let mut ur = BufReader::new(u);
        let rhead = read_head(&mut ur)?;
        let mut out = c;
        let mut resp = String::new();
        for h in &rhead {
            if !h.to_ascii_lowercase().starts_with("connection:") {
                resp.push_str(h);
                resp.push_str("\r\n");
            }
        }
        resp.push_str("Connection: close\r\n\r\n");
        out.write_all(resp.as_bytes())?;
        let limit = {
            let mut g = cut.lock().unwrap();
            match g.as_ref() {
                Some((marker, n))
                    if head[0].contains(marker.as_str()) && head[0].starts_with("GET") =>
                {
                    let n = *n;
                    *g = None;
                    Some(n)
                }
                _ => None,
            }
        };
        match limit {
            Some(n) => {
                let mut buf = vec![0u8; n];
                ur.read_exact(&mut buf)?;
                out.write_all(&buf)?;
                out.flush()?;
                out.shutdown(std::net::Shutdown::Both)?;
            }
            None => {
                std::io::copy(&mut ur, &mut out)?;
            }
        }
        Ok(())
    }

    /// Logged request lines containing `marker`.
    pub fn requests(&self, marker: &str) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(marker))
            .cloned()
            .collect()
    }
}
