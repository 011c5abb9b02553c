"""A real S3-compatible server for the lab and the tests: `rclone serve s3`.

    python3 scripts/s3server.py build            # once; cached by version
    python3 scripts/s3server.py age              # Debian's age for the controller-side tests
    python3 scripts/s3server.py path             # the cached binary (build first)
    python3 scripts/s3server.py start --addr 127.0.0.1:9000 --dir /tmp/s3 --state /tmp/s3.json
    python3 scripts/s3server.py stop --state /tmp/s3.json

Why rclone built here: no S3 server is packaged for Debian 12 (MinIO,
SeaweedFS, Garage are not in Debian); Debian's rclone (1.60 in bookworm, and
the 1.75 of sid) is built without `serve s3`, which rclone has since 1.65.
So rclone is built from its published Go module with the local toolchain, the
way scripts/gomirror.py builds etcd: a throw-away main module that links only
the local backend and the `serve s3` command (not rclone's 70 backends), so
the build is a fraction of rclone's own. The binary is static (CGO off): it
runs on the controller and, mounted read-only, in the lab's Debian containers.

The build is niced (nice 19, GOMAXPROCS=1, one package at a time): this
machine's two cores also run the lab. The module proxy is the one this
machine's Go configuration names; no registry host lives in this repository.

Credentials never reach the command line (the process list): the server reads
them from RCLONE_AUTH_KEY in its environment, the client from the state file
(mode 0600) that `start` writes.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab import CACHE, _apt_env, apt_mirror_uri, die, log, run  # noqa: E402

RCLONE_MODULE = "github.com/rclone/rclone"
# >= 1.65 has `serve s3`; pinned so the lab is reproducible (bump on purpose).
RCLONE_VERSION = os.environ.get("RAFTOPS_RCLONE_VERSION", "v1.76.0")
S3_CACHE = CACHE / "s3server"
GO_CACHE = CACHE / "go"
MAIN_GO = """package main

import (
\t_ "github.com/rclone/rclone/backend/local"
\t"github.com/rclone/rclone/cmd"
\t_ "github.com/rclone/rclone/cmd/serve/s3"
)

func main() { cmd.Main() }
"""


def binary(version: str = RCLONE_VERSION) -> Path:
    return S3_CACHE / f"rclone-{version}" / "rclone"


def go_env() -> dict[str, str]:
    return {**os.environ, "GOMODCACHE": str(GO_CACHE / "mod"), "GOCACHE": str(GO_CACHE / "build"),
            "GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": "amd64",
            "GOMAXPROCS": "1", "GOFLAGS": "-buildvcs=false -modcacherw -p=1"}


def go(args: list[str], cwd: str) -> None:
    gobin = shutil.which("go") or shutil.which("go", path="/usr/local/go/bin")
    if not gobin:
        die("no Go toolchain (go) found; install Go to build rclone")
    res = subprocess.run(["nice", "-n", "19", gobin, *args], cwd=cwd, env=go_env(), text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    if res.returncode != 0:
        die(f"go {' '.join(args)} failed ({res.returncode}):\n{res.stdout[-3000:]}")


def link_current(version: str) -> None:
    """s3server/current -> rclone-<version>: what the backup_s3 scenario mounts into its S3 container."""
    current = S3_CACHE / "current"
    if current.is_symlink() or current.exists():
        current.unlink()
    current.symlink_to(binary(version).parent.name)


def build(version: str = RCLONE_VERSION) -> Path:
    out = binary(version)
    if out.exists():
        log(f"rclone {version} cached: {out}")
        link_current(version)
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="rclone-build-", dir=str(S3_CACHE)) as tmp:
        Path(tmp, "main.go").write_text(MAIN_GO)
        Path(tmp, "go.mod").write_text(f"module raftops.invalid/s3server\n\ngo 1.26\n\n"
                                       f"require {RCLONE_MODULE} {version}\n")
        log(f"building rclone {version} (serve s3 + local backend; niced, one core)")
        go(["mod", "tidy"], tmp)
        part = out.with_suffix(".part")
        go(["build", "-trimpath", "-ldflags=-s -w -X github.com/rclone/rclone/fs.Version=" + version,
            "-o", str(part), "."], tmp)
        part.rename(out)
    took = time.time() - t0
    link_current(version)
    (out.parent / "build.json").write_text(json.dumps({"version": version, "seconds": round(took)}) + "\n")
    log(f"rclone {version} built in {took:.0f}s: {out}")
    return out


def age(suite: str = "bookworm") -> Path:
    """`age` and `age-keygen` of Debian's package (what the hosts install), unpacked
    into the cache for tests on this machine; nothing is installed system-wide."""
    found = sorted(S3_CACHE.glob("age-*/usr/bin/age"))
    if found:
        return found[-1].parent
    with tempfile.TemporaryDirectory(prefix="apt-age-", dir=str(CACHE)) as t:
        tmp = Path(t)
        opts = _apt_env(tmp, suite, apt_mirror_uri())
        run(["apt-get", *opts, "update", "-qq"], capture=True)
        run(["apt-get", *opts, "download", "age"], capture=True, cwd=t)
        deb = next(tmp.glob("age_*.deb"))
        ver = deb.name.split("_")[1]
        dest = S3_CACHE / f"age-{ver}"
        run(["dpkg-deb", "-x", str(deb), str(dest)])
    log(f"age {ver} unpacked into {dest}")
    return dest / "usr" / "bin"


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def start(addr: str, directory: str, state: str, version: str = RCLONE_VERSION,
          access_key: str | None = None, secret_key: str | None = None, timeout: float = 30,
          cert: str | None = None, key: str | None = None) -> dict:
    """Start `rclone serve s3` on addr ('host:port', port 0 = any free one) serving directory.

    Each top-level directory of `directory` is a bucket. Returns (and writes to
    `state`, mode 0600) the endpoint, credentials, pid and log path. With cert
    and key (PEM files) it serves HTTPS.
    """
    exe = binary(version)
    if not exe.exists():
        die(f"{exe} is missing: run `python3 scripts/s3server.py build` first")
    host, _sep, port = addr.rpartition(":")
    port = int(port) or _free_port(host)
    Path(directory).mkdir(parents=True, exist_ok=True)
    access_key = access_key or "raftops" + secrets.token_hex(4)
    secret_key = secret_key or secrets.token_urlsafe(24)
    logfile = Path(state).with_suffix(".log")
    # A list flag's variable is read as CSV: one quoted field is one "id,secret" pair.
    env = {**os.environ, "RCLONE_AUTH_KEY": f'"{access_key},{secret_key}"', "RCLONE_CONFIG": "/dev/null"}
    with open(logfile, "ab") as logf:
        tls = ["--cert", cert, "--key", key] if cert and key else []
        proc = subprocess.Popen([str(exe), "serve", "s3", "--addr", f"{host}:{port}", *tls, directory],
                                env=env, stdout=logf, stderr=logf, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    deadline = time.time() + timeout
    while not _answers(host, port):
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            die(f"rclone serve s3 did not listen on {host}:{port}; see {logfile}")
        time.sleep(0.2)
    info = {"endpoint": f"{'https' if tls else 'http'}://{host}:{port}", "access_key": access_key, "secret_key": secret_key,
            "pid": proc.pid, "log": str(logfile), "dir": directory, "version": version}
    fd = os.open(state, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f)
    return info


def stop(state: str) -> None:
    try:
        info = json.loads(Path(state).read_text())
    except (OSError, ValueError):
        return
    try:
        os.kill(info["pid"], signal.SIGTERM)
        for dummy in range(50):
            os.kill(info["pid"], 0)
            time.sleep(0.1)
        os.kill(info["pid"], signal.SIGKILL)
    except ProcessLookupError:
        pass
    Path(state).unlink(missing_ok=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build")
    sub.add_parser("path")
    sub.add_parser("age")
    st = sub.add_parser("start")
    st.add_argument("--addr", default="127.0.0.1:0")
    st.add_argument("--dir", required=True)
    st.add_argument("--state", required=True)
    sp = sub.add_parser("stop")
    sp.add_argument("--state", required=True)
    args = ap.parse_args()
    if args.cmd == "build":
        print(build())
    elif args.cmd == "age":
        print(age())
    elif args.cmd == "path":
        if not binary().exists():
            die(f"{binary()} is missing: run `python3 scripts/s3server.py build` first")
        print(binary())
    elif args.cmd == "start":
        info = start(args.addr, args.dir, args.state)
        print(json.dumps({k: v for k, v in info.items() if k != "secret_key"}))
    else:
        stop(args.state)


if __name__ == "__main__":
    main()
