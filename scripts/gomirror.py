"""etcd 3.5/3.6/3.7 for the lab's release mirror, built from etcd's published Go modules.

    python3 scripts/gomirror.py        # build the newest patch of each minor, print wall times

Debian ships etcd 3.4/3.5 only (scripts/lab.py repacks those). For the newest
3.5, 3.6 and 3.7 this script builds etcd, etcdctl and etcdutl with the local Go
toolchain from the released modules (go.etcd.io/etcd/{server,etcdctl,etcdutl}/v3)
and packs them like an upstream release:

    MIRROR_DIR/v<ver>/etcd-v<ver>-linux-amd64.tar.gz
        etcd-v<ver>-linux-amd64/{etcd,etcdctl,etcdutl,README.md}
    MIRROR_DIR/v<ver>/SHA256SUMS

The only source kept here are the few lines of the throw-away main modules
below; `go mod tidy` resolves everything else from the Go module proxy that
this machine's Go configuration names. Which versions: the newest released
patch of each minor (`go list -m -versions`), or RAFTOPS_GO_ETCD_VERSIONS,
e.g. `3.5.x,3.6.16,3.7.3` (x: the newest patch). The version list is cached in
MIRROR_DIR/go-versions.json, so a warm run needs no network.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab import CACHE, MIRROR_DIR, _add_tar_file, die, log, run  # noqa: E402

SERVER_MODULE = "go.etcd.io/etcd/server/v3"
VERSIONS_ENV = "RAFTOPS_GO_ETCD_VERSIONS"
VERSIONS_CACHE = MIRROR_DIR / "go-versions.json"
VERSIONS_MAX_AGE = 7 * 24 * 3600
RELEASE = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")
# Own module and build caches under CACHE rather than the user's default ones:
# everything the lab downloads lives under one directory (one rm -rf resets it,
# so "cold" is measurable), the user's Go caches are neither filled with etcd's
# dependencies nor relied upon, and a warm rebuild is still fast.
GO_CACHE = CACHE / "go"
BINARIES = ("etcd", "etcdctl", "etcdutl")
# Older patches built as well: upgrade sources operators still run, one each
# below the patch etcd's next-minor upgrade guide requires, so the lab refuses
# them for real (3.7 needs 3.6.11: etcd.io/docs/v3.7/upgrades/upgrade_3_7).
OLD_PATCHES = ("3.6.10",)
VERSION_CHECK = {"etcd": (["--version"], "etcd Version: {}"),
                 "etcdctl": (["version"], "etcdctl version: {}"),
                 "etcdutl": (["version"], "etcdutl version: {}")}

# The released main.go files, reduced to what they do. etcd's root main.go is
# `etcdmain.Main(os.Args)`; etcdctl's is `ctlv3.MustStart()` (3.5 first unsets
# ETCDCTL_API, its v2 API is left out here). etcdutl's main package builds its
# cobra root in package main, which cannot be imported: it is built as it is
# published, through a `tool` line in go.mod.
MAIN_ETCD = """package main

import (
\t"os"

\t"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
"""
MAIN_ETCDCTL = """package main

import (
{imports}\t"go.etcd.io/etcd/etcdctl/v3/ctlv3"
)

func main() {{
{unset}\tctlv3.MustStart()
}}
"""


# --------------------------------------------------------------------------- go
def go_bin() -> str:
    found = shutil.which("go") or shutil.which("go", path="/usr/local/go/bin")
    if not found:
        die("no Go toolchain (go) found; install Go 1.26+ to build etcd 3.6/3.7")
    return str(found)


def go_env() -> dict[str, str]:
    return {**os.environ, "GOMODCACHE": str(GO_CACHE / "mod"), "GOCACHE": str(GO_CACHE / "build"),
            "GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": "amd64",
            # -modcacherw: the module cache stays removable with rm -rf.
            "GOFLAGS": "-buildvcs=false -modcacherw"}


def go(args: list[str], cwd: Path | str, check: bool = True) -> subprocess.CompletedProcess:
    return run([go_bin(), *args], check=check, capture=True, cwd=str(cwd), env=go_env())


# --------------------------------------------------------------------------- versions
def vkey(ver: str) -> tuple[int, int, int]:
    m = RELEASE.fullmatch(ver)
    if not m:
        die(f"not a release version: {ver}")
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)))


def minor_of(ver: str) -> str:
    return ".".join(ver.split(".")[:2])


def list_released() -> list[str] | None:
    """Released (no pre-release suffix) versions of etcd's server module, or None offline."""
    res = go(["list", "-m", "-versions", SERVER_MODULE], cwd=tempfile.gettempdir(), check=False)
    if res.returncode != 0:
        log(f"go list -m -versions {SERVER_MODULE} failed: {(res.stderr or '').strip()[-300:]}")
        return None
    return sorted((v[1:] for v in res.stdout.split()[1:] if RELEASE.fullmatch(v)), key=vkey)


def released_versions() -> list[str]:
    """The cached version list if younger than VERSIONS_MAX_AGE, else a fresh one (cache on failure)."""
    cached: dict = {}
    if VERSIONS_CACHE.exists():
        cached = json.loads(VERSIONS_CACHE.read_text())
        if time.time() - cached.get("checked_at", 0) < VERSIONS_MAX_AGE:
            return cached["released"]
    fresh = list_released()
    if fresh:
        MIRROR_DIR.mkdir(parents=True, exist_ok=True)
        VERSIONS_CACHE.write_text(json.dumps({"checked_at": int(time.time()), "module": SERVER_MODULE,
                                              "released": fresh}, indent=1) + "\n")
        return fresh
    if cached:
        log(f"using the cached version list {VERSIONS_CACHE}")
        return cached["released"]
    die(f"cannot list {SERVER_MODULE} versions and no {VERSIONS_CACHE} cached")
    return []


def requested(minors: tuple[str, ...]) -> dict[str, str]:
    """minor -> patch ("x" = newest) from RAFTOPS_GO_ETCD_VERSIONS, else every minor's newest."""
    spec = os.environ.get(VERSIONS_ENV, "").strip()
    if not spec:
        return {m: "x" for m in minors}
    wanted = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        m = re.fullmatch(r"(\d+\.\d+)\.(x|\d+)", item)
        if not m:
            die(f"{VERSIONS_ENV}: '{item}' is neither 3.N.x nor 3.N.P")
        wanted[m.group(1)] = m.group(2)
    return wanted


def newest_patches(minors: tuple[str, ...] = ("3.5", "3.6", "3.7")) -> dict[str, str]:
    """minor -> newest released patch version (RAFTOPS_GO_ETCD_VERSIONS overrides)."""
    wanted = requested(minors)
    released = released_versions() if "x" in wanted.values() else []
    out = {}
    for minor, patch in wanted.items():
        if patch != "x":
            out[minor] = f"{minor}.{patch}"
            continue
        found = [v for v in released if minor_of(v) == minor]
        if not found:
            die(f"no released {SERVER_MODULE} version for etcd {minor}")
        out[minor] = found[-1]
    return out


# --------------------------------------------------------------------------- build
def main_modules(ver: str) -> dict[str, tuple[str, str | None, str]]:
    """binary -> (go.mod requirement, main.go or None, package to build)."""
    v35 = vkey(ver) < (3, 6, 0)
    etcdctl = MAIN_ETCDCTL.format(imports='\t"os"\n\n' if v35 else "",
                                  unset='\tos.Unsetenv("ETCDCTL_API")\n' if v35 else "")
    return {
        "etcd": ("go.etcd.io/etcd/server/v3", MAIN_ETCD, "."),
        "etcdctl": ("go.etcd.io/etcd/etcdctl/v3", etcdctl, "."),
        "etcdutl": ("go.etcd.io/etcd/etcdutl/v3", None, "go.etcd.io/etcd/etcdutl/v3"),
    }


def build_binary(name: str, ver: str, work: Path, bindir: Path) -> None:
    module, main_go, pkg = main_modules(ver)[name]
    mod = work / name
    mod.mkdir()
    tool = f"tool {pkg}\n" if main_go is None else ""
    # go 1.24: the oldest that knows `tool`; tidy raises it to what etcd's modules need.
    (mod / "go.mod").write_text(f"module raftopsbuild/{name}\n\ngo 1.24\n\nrequire {module} v{ver}\n{tool}")
    if main_go is not None:
        (mod / "main.go").write_text(main_go)
    # -e: tidy also loads the tests of dependencies, where e.g. 3.5.35's graph has an
    # ambiguous cloud.google.com/go import that no binary here builds; a real
    # problem still fails the build below.
    go(["mod", "tidy", "-e"], cwd=mod)
    go(["build", "-trimpath", "-ldflags", "-s -w", "-o", str(bindir / name), pkg], cwd=mod)


def check_versions(ver: str, bindir: Path) -> None:
    if platform.machine() not in ("x86_64", "amd64"):
        log(f"not an amd64 host: version check of etcd {ver} skipped")
        return
    for name, (args, expect) in VERSION_CHECK.items():
        res = run([str(bindir / name), *args], check=False, capture=True)
        out = (res.stdout or "") + (res.stderr or "")
        if not re.search("^" + re.escape(expect.format(ver)) + "$", out, re.M):
            die(f"{name} {' '.join(args)} does not report {ver}:\n{res.stdout}{res.stderr}")


def pack(ver: str, bindir: Path, outdir: Path) -> None:
    """Upstream layout, deterministic bytes (mtime 0 in tar and gzip), and SHA256SUMS."""
    top = f"etcd-v{ver}-linux-amd64"
    tarname = f"{top}.tar.gz"
    goversion = go(["env", "GOVERSION"], cwd=bindir).stdout.strip()
    readme = (f"etcd {ver} built from etcd's Go modules (go.etcd.io/etcd/{{server,etcdctl,etcdutl}}/v3"
              f"@v{ver}) with {goversion} for tests; not an upstream release build.\n")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for b in BINARIES:
            _add_tar_file(tar, f"{top}/{b}", (bindir / b).read_bytes(), 0o755)
        _add_tar_file(tar, f"{top}/README.md", readme.encode(), 0o644)
    data = buf.getvalue()
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / tarname).write_bytes(data)
    (outdir / "SHA256SUMS").write_text(f"{hashlib.sha256(data).hexdigest()}  {tarname}\n")


def build_go_version(ver: str) -> str:
    """Build (or find cached) MIRROR_DIR/v<ver>/etcd-v<ver>-linux-amd64.tar.gz + SHA256SUMS."""
    outdir = MIRROR_DIR / f"v{ver}"
    if (outdir / f"etcd-v{ver}-linux-amd64.tar.gz").exists() and (outdir / "SHA256SUMS").exists():
        log(f"mirror v{ver} (Go modules) cached")
        return ver
    GO_CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"go-etcd-{ver}-", dir=str(CACHE)) as t:
        work, bindir = Path(t), Path(t) / "bin"
        for name in BINARIES:
            log(f"building {name} {ver} from Go modules")
            build_binary(name, ver, work, bindir)
        check_versions(ver, bindir)
        pack(ver, bindir, outdir)
    log(f"mirror v{ver} built from Go modules")
    return ver


def _read_index() -> dict:
    path = MIRROR_DIR / "versions.json"
    return json.loads(path.read_text()) if path.exists() else {}


def build_go_mirror_timed() -> list[tuple[str, float]]:
    """Build every newest patch not already covered by Debian, and OLD_PATCHES; (version, seconds) each.

    The go-<minor> keys are merged into MIRROR_DIR/versions.json (lab.py's Debian keys stay).
    """
    MIRROR_DIR.mkdir(parents=True, exist_ok=True)
    index = _read_index()
    debian = [v for k, v in index.items() if not k.startswith("go-") and isinstance(v, str)]
    done = []
    for minor, ver in newest_patches().items():
        if any(minor_of(d) == minor and vkey(d) >= vkey(ver) for d in debian):
            log(f"etcd {ver}: Debian's mirror has it or newer, not built from Go")
            index.pop(f"go-{minor}", None)
            continue
        t0 = time.time()
        index[f"go-{minor}"] = build_go_version(ver)
        done.append((ver, time.time() - t0))
    for ver in OLD_PATCHES:
        t0 = time.time()
        index[f"go-old-{minor_of(ver)}"] = build_go_version(ver)
        done.append((ver, time.time() - t0))
    (MIRROR_DIR / "versions.json").write_text(json.dumps(index, indent=2) + "\n")
    return done


def build_go_mirror() -> list[str]:
    """Build the newest 3.5/3.6/3.7 from Go modules; the versions, recorded as go-<minor>."""
    return [ver for ver, _took in build_go_mirror_timed()]


if __name__ == "__main__":
    start = time.time()
    for version, took in build_go_mirror_timed():
        print(f"etcd {version}: {took:.1f}s")
    print(f"total: {time.time() - start:.1f}s")
