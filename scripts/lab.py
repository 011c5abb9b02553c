"""raftops.etcd lab: systemd "VM" images, a local etcd release mirror, and a lab cluster.

Sub-commands (all idempotent, all safe to re-run):

  engine   make sure a Docker engine answers (installs Debian's docker.io and
           starts dockerd when the machine is Debian and we are root)
  images   build the Debian 12 / 13 systemd images with debootstrap, cached by a
           content tag so a second run is instant; sshd runs in them (host keys
           made at first boot) and user `debian` logs in by key, sudo without
           password, as on cloud images
  mirror   build the etcd release mirror (upstream layout) from Debian packages
  prepare  engine + images + mirror
  up       prepare, start the lab containers + mirror, make an SSH key for
           this run and authorise it for `debian` on each host, run site.yml
           over SSH as debian (sudo), print the member list and endpoint health
  down     remove the lab containers and network
  clean-stale  remove every container/network this project's tests may have
           left behind (names are deterministic)

The Debian mirror is read from this machine's own apt configuration; no package
registry host name lives in this repository.
"""
from __future__ import annotations

import argparse
import glob
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

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("RAFTOPS_CACHE", Path.home() / ".cache" / "raftops-etcd"))
MIRROR_DIR = CACHE / "mirror"
IMAGE_REPO = "raftops-lab"
# Bump when the image recipe changes in a way the tag would not see.
IMAGE_RECIPE_VERSION = "3"
IMAGE_PACKAGES = [
    "systemd", "systemd-sysv", "dbus", "python3", "python3-apt", "iproute2", "procps",
    "sudo", "ca-certificates", "curl", "openssl", "chrony", "bind9-dnsutils", "openssh-server",
    # Off-site backups (etcd_backup_remote): the S3 client and the encryption the role
    # installs with apt; in the image so the scenarios need no package download.
    "age", "python3-boto3",
]
# The login user of cloud images: SSH keys only, passwordless sudo.
IMAGE_USER = "debian"
# ssh.service runs `sshd -t` first, which fails without host keys: this unit
# makes the missing ones before it, on the first boot of each container.
# Debian 13 has its own (sshd-keygen.service): this one runs after it and
# then finds every key there.
HOSTKEYS_UNIT = """\
[Unit]
Description=Generate this machine's SSH host keys
After=sshd-keygen.service
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A
RemainAfterExit=yes
"""
IMAGE_SUITES = {"bookworm": "debian12", "trixie": "debian13"}
# Suites whose etcd packages feed the mirror: bookworm 3.4.23, trixie 3.5.16, sid 3.5.x (newest)
MIRROR_SUITES = ["bookworm", "trixie", "sid"]
# Options every systemd container needs here. --privileged fails on these
# machines ("unable to apply caps": the sandbox that runs dockerd lacks
# CAP_SYS_RESOURCE), so the capabilities systemd needs are added one by one.
SYSTEMD_RUN_OPTS = [
    "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs", "/run", "--tmpfs", "/run/lock",
]
LAB_NETWORK = "raftops-lab"
LAB_SUBNET = "172.31.250.0/24"
LAB_PREFIX = "raftops-lab-"
# `make lab` reaches its hosts over SSH as debian with this key, made at each `up`
# (inventory/lab/group_vars/all.yml reads it from the same place).
LAB_KEY = CACHE / "lab" / "id_ed25519"
LAB_PUB = LAB_KEY.with_name(LAB_KEY.name + ".pub")
STALE_PREFIXES = ("raftops-",)


def log(msg: str) -> None:
    print(f"[lab] {msg}", file=sys.stderr, flush=True)


def die(msg: str) -> None:
    print(f"[lab] ERROR: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def run(cmd, check=True, capture=False, **kw):
    res = subprocess.run(cmd, check=False, text=True,
                         stdout=subprocess.PIPE if capture else None,
                         stderr=subprocess.PIPE if capture else None, **kw)
    if check and res.returncode != 0:
        detail = ((res.stdout or "")[-2000:] + (res.stderr or "")[-2000:]).strip() if capture else ""
        die(f"command failed ({res.returncode}): {' '.join(map(str, cmd))}\n{detail}")
    return res


# --------------------------------------------------------------------------- engine
def engine_answers() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, check=False).returncode == 0


def is_debian() -> bool:
    try:
        return "debian" in Path("/etc/os-release").read_text().lower()
    except OSError:
        return False


def ensure_engine() -> None:
    if engine_answers():
        return
    if not (is_debian() and os.geteuid() == 0):
        die("no Docker engine answers. Install and start one (Debian/Ubuntu: "
            "`apt-get install docker.io && dockerd &`), then re-run.")
    if not shutil.which("dockerd"):
        log("installing Debian's docker.io")
        run(["apt-get", "update", "-qq"])
        run(["apt-get", "install", "-y", "-qq", "docker.io"],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    CACHE.mkdir(parents=True, exist_ok=True)
    logf = open(CACHE / "dockerd.log", "ab")
    log("starting dockerd (log: %s)" % (CACHE / "dockerd.log"))
    subprocess.Popen(["dockerd"], stdout=logf, stderr=logf, start_new_session=True)
    for dummy in range(60):
        if engine_answers():
            return
        time.sleep(1)
    die("dockerd did not answer within 60 s; see %s" % (CACHE / "dockerd.log"))


# --------------------------------------------------------------------------- apt helpers
def apt_mirror_uri() -> str:
    """First Debian (non-security) URI from this machine's apt configuration."""
    uris = []
    for f in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for line in Path(f).read_text().splitlines():
            if line.strip().lower().startswith("uris:"):
                uris += line.split(":", 1)[1].split()
    for f in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        if os.path.exists(f):
            for line in Path(f).read_text().splitlines():
                m = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)", line)
                if m:
                    uris.append(m.group(1))
    uris = [u for u in uris if "security" not in u]
    if not uris:
        die("no Debian mirror found in /etc/apt (sources.list or sources.list.d/*.sources)")
    return uris[0].rstrip("/")


def ensure_host_tools(*tools: str) -> None:
    missing = [t for t in tools if not shutil.which(t)]
    if not missing:
        return
    pkgs = {"debootstrap": "debootstrap", "dpkg-deb": "dpkg", "apt-get": "apt"}
    if not (is_debian() and os.geteuid() == 0):
        die(f"missing tools {missing}; install them (Debian packages: "
            f"{[pkgs.get(t, t) for t in missing]})")
    run(["apt-get", "install", "-y", "-qq"] + [pkgs.get(t, t) for t in missing],
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


# --------------------------------------------------------------------------- images
def image_tag(suite: str) -> str:
    h = hashlib.sha256(json.dumps([IMAGE_RECIPE_VERSION, suite, IMAGE_PACKAGES, IMAGE_USER,
                                   HOSTKEYS_UNIT]).encode())
    return f"{IMAGE_REPO}:{IMAGE_SUITES[suite]}-{h.hexdigest()[:12]}"


def image_exists(ref: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", ref], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, check=False).returncode == 0


def build_image(suite: str) -> str:
    tag = image_tag(suite)
    alias = f"{IMAGE_REPO}:{IMAGE_SUITES[suite]}"
    if image_exists(tag):
        run(["docker", "tag", tag, alias])
        log(f"image {tag} cached")
        return alias
    ensure_host_tools("debootstrap")
    mirror = apt_mirror_uri()
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix=f"rootfs-{suite}-", dir=str(CACHE)) as rootfs:
        log(f"debootstrap {suite} (this takes about a minute)")
        run(["debootstrap", "--variant=minbase", "--include=" + ",".join(IMAGE_PACKAGES),
             suite, rootfs, mirror], capture=True)
        # Lab VM tidy-up: no apt caches, a machine-id generated at first boot,
        # and the same mirror the host uses so roles can apt install.
        sources = Path(rootfs, "etc/apt/sources.list")
        sources.write_text(f"deb {mirror} {suite} main\n")
        Path(rootfs, "etc/machine-id").write_text("")
        for p in glob.glob(os.path.join(rootfs, "var/cache/apt/archives/*.deb")):
            os.unlink(p)
        # Units that make no sense in a container slow boot down.
        for unit in ["systemd-timesyncd.service", "getty@tty1.service"]:
            for link in glob.glob(os.path.join(rootfs, "etc/systemd/system/*/", unit)):
                os.unlink(link)
        ssh_login(rootfs)
        tar = subprocess.Popen(["tar", "--numeric-owner", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        run(["docker", "import", "-c", 'CMD ["/lib/systemd/systemd"]', "-", tag],
            stdin=tar.stdout, capture=True)
        tar.wait()
    run(["docker", "tag", tag, alias])
    log(f"image {tag} built in {time.time() - t0:.0f}s")
    return alias


def ssh_login(rootfs: str) -> None:
    """sshd enabled, host keys made at first boot (no two containers share
    them), and the cloud images' login user: key only, passwordless sudo."""
    for key in glob.glob(os.path.join(rootfs, "etc/ssh/ssh_host_*")):
        os.unlink(key)
    systemd = Path(rootfs, "etc/systemd/system")
    (systemd / "ssh-hostkeys.service").write_text(HOSTKEYS_UNIT)
    for wants, unit, target in [
        ("multi-user.target.wants", "ssh.service", "/lib/systemd/system/ssh.service"),
        ("ssh.service.wants", "ssh-hostkeys.service", "/etc/systemd/system/ssh-hostkeys.service"),
    ]:
        (systemd / wants).mkdir(exist_ok=True)
        link = systemd / wants / unit
        if not link.is_symlink():
            link.symlink_to(target)
    # A container has no CAP_AUDIT_CONTROL: a required pam_loginuid refuses every login.
    pam = Path(rootfs, "etc/pam.d/sshd")
    pam.write_text(re.sub(r"^session\s+required\s+pam_loginuid\.so", "session optional pam_loginuid.so",
                          pam.read_text(), flags=re.M))
    # "*": no password can match, and unlike "!" sshd does not take it for a locked account.
    run(["chroot", rootfs, "useradd", "--create-home", "--home-dir", f"/home/{IMAGE_USER}",
         "--shell", "/bin/bash", "--password", "*", IMAGE_USER], capture=True)
    sudoers = Path(rootfs, "etc/sudoers.d", f"90-{IMAGE_USER}")
    sudoers.write_text(f"{IMAGE_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n")
    sudoers.chmod(0o440)


# --------------------------------------------------------------------------- mirror
def _apt_env(tmp: Path, suite: str, mirror: str) -> list[str]:
    (tmp / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (tmp / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    src = tmp / "sources.list"
    src.write_text(f"deb {mirror} {suite} main\n")
    return ["-o", f"Dir::Etc::SourceList={src}", "-o", "Dir::Etc::SourceParts=/dev/null",
            "-o", f"Dir::State::Lists={tmp / 'lists'}", "-o", f"Dir::Cache={tmp / 'cache'}",
            "-o", "APT::Get::List-Cleanup=0", "-o", "Debug::NoLocking=1",
            "-o", "APT::Architecture=amd64"]


def _add_tar_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = 0
    info.uname = info.gname = "root"
    tar.addfile(info, io.BytesIO(data))


def build_mirror_suite(suite: str, mirror: str) -> str | None:
    with tempfile.TemporaryDirectory(prefix=f"apt-{suite}-", dir=str(CACHE)) as t:
        tmp = Path(t)
        opts = _apt_env(tmp, suite, mirror)
        run(["apt-get", *opts, "update", "-qq"], capture=True)
        pol = run(["apt-cache", *opts, "show", "etcd-server"], capture=True).stdout
        m = re.search(r"^Version:\s*(\S+)", pol, re.M)
        if not m:
            die(f"no etcd-server package in {suite}")
        debver = m.group(1)
        ver = re.match(r"(?:\d+:)?(\d+\.\d+\.\d+)", debver).group(1)
        outdir = MIRROR_DIR / f"v{ver}"
        tarname = f"etcd-v{ver}-linux-amd64.tar.gz"
        if (outdir / tarname).exists() and (outdir / "SHA256SUMS").exists():
            log(f"mirror v{ver} ({suite}) cached")
            return ver
        dl = tmp / "dl"
        dl.mkdir()
        run(["apt-get", *opts, "download", f"etcd-server={debver}", f"etcd-client={debver}"],
            capture=True, cwd=dl)
        ex = tmp / "x"
        for deb in dl.glob("*.deb"):
            run(["dpkg-deb", "-x", str(deb), str(ex)])
        outdir.mkdir(parents=True, exist_ok=True)
        top = f"etcd-v{ver}-linux-amd64"
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
            for b in ("etcd", "etcdctl", "etcdutl"):
                p = ex / "usr" / "bin" / b
                if p.exists():
                    _add_tar_file(tar, f"{top}/{b}", p.read_bytes(), 0o755)
            _add_tar_file(tar, f"{top}/README.md",
                          f"etcd {ver} repacked from Debian {debver} ({suite}) for tests\n".encode(),
                          0o644)
        data = buf.getvalue()
        (outdir / tarname).write_bytes(data)
        (outdir / "SHA256SUMS").write_text(f"{hashlib.sha256(data).hexdigest()}  {tarname}\n")
        log(f"mirror v{ver} built from Debian {debver} ({suite})")
        return ver


def build_mirror() -> list[str]:
    ensure_host_tools("apt-get", "dpkg-deb")
    MIRROR_DIR.mkdir(parents=True, exist_ok=True)
    mirror = apt_mirror_uri()
    versions = [build_mirror_suite(s, mirror) for s in MIRROR_SUITES]
    (MIRROR_DIR / "versions.json").write_text(json.dumps(
        dict(zip(MIRROR_SUITES, versions)), indent=2) + "\n")
    import gomirror  # lazy: gomirror imports this module
    return versions + gomirror.build_go_mirror()


# --------------------------------------------------------------------------- lab
def clean_stale() -> None:
    out = run(["docker", "ps", "-a", "--format", "{{.Names}}"], capture=True).stdout.split()
    names = [n for n in out if n.startswith(STALE_PREFIXES)]
    if names:
        run(["docker", "rm", "-f", "-v", *names], capture=True)
    nets = run(["docker", "network", "ls", "--format", "{{.Name}}"], capture=True).stdout.split()
    for n in nets:
        if n.startswith(STALE_PREFIXES):
            run(["docker", "network", "rm", n], capture=True, check=False)


def lab_down() -> None:
    out = run(["docker", "ps", "-a", "--format", "{{.Names}}"], capture=True).stdout.split()
    names = [n for n in out if n.startswith(LAB_PREFIX)]
    if names:
        run(["docker", "rm", "-f", "-v", *names], capture=True)
    run(["docker", "network", "rm", LAB_NETWORK], capture=True, check=False)
    log("lab removed")


def lab_containers(members: int, image: str) -> None:
    lab_down()
    run(["docker", "network", "create", "--subnet", LAB_SUBNET, LAB_NETWORK], capture=True)
    base = LAB_SUBNET.rsplit(".", 1)[0]
    run(["docker", "run", "-d", "--name", f"{LAB_PREFIX}mirror", "--hostname", "mirror",
         "--network", LAB_NETWORK, "--ip", f"{base}.5", "-v", f"{MIRROR_DIR}:/srv/mirror:ro",
         image, "python3", "-m", "http.server", "8080", "--directory", "/srv/mirror"],
        capture=True)
    for i in range(1, members + 1):
        run(["docker", "run", "-d", "--name", f"{LAB_PREFIX}etcd-{i}", "--hostname", f"etcd-{i}",
             "--network", LAB_NETWORK, "--ip", f"{base}.{10 + i}", *SYSTEMD_RUN_OPTS, image],
            capture=True)


def lab_key() -> Path:
    """A key made for this `up` (ed25519, no passphrase): inventory/lab logs in with it."""
    LAB_KEY.parent.mkdir(parents=True, exist_ok=True)
    for path in (LAB_KEY, LAB_PUB):
        path.unlink(missing_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "raftops-lab", "-f", str(LAB_KEY)], capture=True)
    return LAB_KEY


def authorise_ssh(members: int) -> None:
    """Install this run's public key for user `debian` on each lab host (through
    the docker connection, as root), then wait until `debian` logs in over SSH
    and sudo makes root: the way cloud images are reached."""
    pub = LAB_PUB.read_text()
    base = LAB_SUBNET.rsplit(".", 1)[0]
    for i in range(1, members + 1):
        run(["docker", "exec", "-i", f"{LAB_PREFIX}etcd-{i}", "sh", "-c",
             "install -d -m 0700 -o debian -g debian /home/debian/.ssh && "
             "cat > /home/debian/.ssh/authorized_keys && "
             "chown debian:debian /home/debian/.ssh/authorized_keys && chmod 0600 /home/debian/.ssh/authorized_keys"],
            input=pub, capture=True)
    for i in range(1, members + 1):
        cmd = ["ssh", "-i", str(LAB_KEY), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
               "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR",
               f"debian@{base}.{10 + i}", "sudo", "-n", "id", "-un"]
        deadline = time.time() + 90
        while True:
            res = run(cmd, check=False, capture=True)
            if res.returncode == 0 and res.stdout.strip() == "root":
                break
            if time.time() > deadline:
                die(f"debian@{base}.{10 + i}: no SSH login with sudo after 90 s: {(res.stderr or res.stdout).strip()}")
            time.sleep(1)
    log(f"{members} hosts answer over SSH as debian (key {LAB_KEY}), sudo makes root")


def converge(extra: list[str] | None = None, capture: bool = False) -> tuple[float, str]:
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    t0 = time.time()
    res = run(["ansible-playbook", "-i", str(ROOT / "inventory" / "lab"), str(ROOT / "site.yml")]
              + (extra or []), env=env, cwd=ROOT, capture=capture)
    return time.time() - t0, (res.stdout or "")


def show_cluster() -> None:
    show = (". /etc/profile.d/etcdctl.sh; etcdctl member list -w table; "
            "etcdctl endpoint health --cluster -w table")
    run(["docker", "exec", f"{LAB_PREFIX}etcd-1", "bash", "-c", show])


def lab_up(members: int, image: str) -> None:
    lab_containers(members, image)
    lab_key()
    authorise_ssh(members)
    took = converge()[0]
    log(f"site.yml converged in {took:.1f}s")
    show_cluster()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("command", choices=["engine", "images", "mirror", "prepare", "up", "down",
                                        "clean-stale", "image-name"])
    ap.add_argument("--suite", default="bookworm", choices=sorted(IMAGE_SUITES))
    ap.add_argument("--members", type=int, default=int(os.environ.get("RAFTOPS_LAB_MEMBERS", 3)))
    a = ap.parse_args()
    if platform.machine() not in ("x86_64", "amd64"):
        log("warning: the test mirror is built for amd64 only")
    CACHE.mkdir(parents=True, exist_ok=True)
    if a.command == "image-name":
        print(f"{IMAGE_REPO}:{IMAGE_SUITES[a.suite]}")
        return
    ensure_engine()
    if a.command == "engine":
        return
    if a.command == "clean-stale":
        clean_stale()
        return
    if a.command == "down":
        lab_down()
        return
    if a.command in ("images", "prepare", "up"):
        for s in IMAGE_SUITES:
            build_image(s)
    if a.command in ("mirror", "prepare", "up"):
        print(json.dumps(build_mirror()))
    if a.command == "up":
        lab_up(a.members, build_image(a.suite))


if __name__ == "__main__":
    main()
