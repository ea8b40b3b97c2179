"""Stub Engine API servers for the benches: they answer the docker CLI at once, so timing the CLI
against them gives the client's own share of a command, which no engine can go under.

    python3 bench/stub.py build SOCKET      answers `docker build` once it has read the context
    python3 bench/stub.py run SOCKET [API]  answers `docker run --rm IMG CMD` (no TTY, no stdin)

See bench_build_stub and bench_run_stub in bench/lib.sh.
"""
import json
import re
import socket
import sys
import threading


def read_request(f):
    """One request from the connection's reader: (method, target), or None at its end. The body is
    read and dropped (chunked or with a length)."""
    line = f.readline()
    if not line:
        return None
    method, target, _ = line.decode().split(" ", 2)
    h = {}
    while True:
        x = f.readline().decode()
        if x in ("\r\n", ""):
            break
        k, v = x.split(":", 1)
        h[k.strip().lower()] = v.strip()
    if h.get("transfer-encoding") == "chunked":
        while True:
            n = int(f.readline().strip(), 16)
            f.read(n)
            f.readline()
            if n == 0:
                break
    elif "content-length" in h:
        f.read(int(h["content-length"]))
    return method, target


def build_server():
    """/build answered with an image ID once the context is read; _ping; anything else a version."""
    image = "sha256:" + "ab" * 32

    def serve(c):
        f = c.makefile("rb")
        while (req := read_request(f)) is not None:
            method, target = req
            if "/build" in target:
                body = ('{"aux":{"ID":"%s"}}\r\n{"stream":"%s\\n"}\r\n' % (image, image)).encode()
            elif "/_ping" in target:
                body = b"OK"
            else:
                body = b'{"ApiVersion":"1.41","MinAPIVersion":"1.12","Os":"linux","Arch":"amd64"}'
            head = "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\n"
            head += "Content-Length: %d\r\n\r\n" % len(body)
            c.sendall(head.encode() + (b"" if method == "HEAD" else body))

    return serve


def run_server(api):
    """_ping, version, create (201 and an ID), the attach (101, held open), the wait for removal
    (200 headers at once, the status once the start came and the attach was closed) and the start
    (204, then the attach closes as when the program exits). Anything else: 404 and a line on
    stderr."""
    lock = threading.Lock()
    boxes = {}  # container ID -> {"started": Event, "detached": Event}
    count = [0]

    def box(cid):
        with lock:
            return boxes.setdefault(
                cid, {"started": threading.Event(), "detached": threading.Event()})

    def answer(c, method, status, body=b"", ctype="application/json"):
        head = "HTTP/1.1 %s\r\nApi-Version: %s\r\nOstype: linux\r\nDocker-Experimental: false\r\n" % (
            status, api)
        if body or status.startswith("200"):
            head += "Content-Type: %s\r\nContent-Length: %d\r\n" % (ctype, len(body))
        c.sendall(head.encode() + b"\r\n" + (b"" if method == "HEAD" else body))

    def serve(c):
        f = c.makefile("rb")
        while (req := read_request(f)) is not None:
            method, target = req
            path = re.sub(r"^/v[0-9.]+", "", target.split("?")[0])
            m = re.fullmatch(r"/containers/([^/]+)/(attach|wait|start)", path)
            if path == "/_ping":
                answer(c, method, "200 OK", b"OK", "text/plain; charset=utf-8")
            elif path == "/version":
                v = {"ApiVersion": api, "MinAPIVersion": "1.24", "Os": "linux", "Arch": "amd64",
                     "Version": "stub"}
                answer(c, method, "200 OK", json.dumps(v).encode())
            elif path == "/containers/create" and method == "POST":
                with lock:
                    count[0] += 1
                    cid = "%064x" % count[0]
                box(cid)
                answer(c, method, "201 Created", json.dumps({"Id": cid, "Warnings": []}).encode())
            elif m and m.group(2) == "attach":
                b = box(m.group(1))
                c.sendall(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
                          b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
                b["started"].wait(60)
                c.shutdown(socket.SHUT_RDWR)
                f.close()
                c.close()
                b["detached"].set()
                return
            elif m and m.group(2) == "wait":
                b = box(m.group(1))
                c.sendall(("HTTP/1.1 200 OK\r\nApi-Version: %s\r\nContent-Type: application/json\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n" % api).encode())
                b["started"].wait(60)
                b["detached"].wait(5)
                body = b'{"Error":null,"StatusCode":0}\n'
                c.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
                with lock:
                    boxes.pop(m.group(1), None)
            elif m and m.group(2) == "start":
                answer(c, method, "204 No Content")
                box(m.group(1))["started"].set()
            else:
                print("bench_run_stub: no answer for %s %s" % (method, target), file=sys.stderr,
                      flush=True)
                answer(c, method, "404 Not Found", b'{"message":"not in the stub"}')

    return serve


def main():
    mode, path = sys.argv[1], sys.argv[2]
    serve = build_server() if mode == "build" else run_server(sys.argv[3] if len(sys.argv) > 3 else "1.47")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.listen(16)
    while True:
        threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()


if __name__ == "__main__":
    main()
