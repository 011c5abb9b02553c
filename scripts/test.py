"""raftops.etcd test pipeline: one command from a fresh machine to a verdict.

    python3 scripts/test.py            # full tier (what CI runs)
    python3 scripts/test.py quick      # lint + unit + the default scenario
    python3 scripts/test.py lint|sanity|unit|build|molecule [scenario ...]
    python3 scripts/test.py setup      # only the virtualenv, engine, images, mirror

Sets itself up: a virtualenv in .venv with the pinned tool chain
(requirements-dev.txt), a Docker engine (scripts/lab.py engine), the lab images
and the etcd test mirror. Every step's wall time is printed at the end; the
first failure stops the run with a non-zero exit.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
REQS = ROOT / "requirements-dev.txt"
# Full tier, in order. `default` doubles as the quick tier's scenario.
SCENARIOS = ["default", "debian13", "modules", "dns", "discovery", "day2", "upgrade"]
QUICK_SCENARIOS = ["default"]
TIMES: list[tuple[str, float]] = []


def log(msg: str) -> None:
    print(f"\n=== {msg}", flush=True)


def sh(cmd: list[str], cwd: Path = ROOT, env: dict | None = None, capture: bool = False):
    print("+ " + " ".join(str(c) for c in cmd), flush=True)
    res = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env or tool_env(), text=True,
                         capture_output=capture, check=False)
    if capture:
        sys.stdout.write(res.stdout)
        sys.stderr.write(res.stderr)
    if res.returncode != 0:
        raise SystemExit(f"FAILED ({res.returncode}): {' '.join(str(c) for c in cmd)}")
    return res


def tool_env() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}:{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV)
    env.setdefault("ANSIBLE_NOCOLOR", "1")
    env.setdefault("NO_COLOR", "1")
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    return env


def timed(name: str, func, *args) -> None:
    log(name)
    t0 = time.time()
    try:
        func(*args)
    finally:
        TIMES.append((name, time.time() - t0))


# --------------------------------------------------------------------------- set-up
def setup_venv() -> None:
    stamp = VENV / ".requirements.sha256"
    want = hashlib.sha256(REQS.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == want and (BIN / "molecule").exists():
        print("venv up to date")
        return
    if not VENV.exists():
        sh([sys.executable, "-m", "venv", VENV], env=dict(os.environ))
    sh([BIN / "pip", "install", "-q", "--upgrade", "pip"])
    sh([BIN / "pip", "install", "-q", "-r", REQS])
    stamp.write_text(want)


def setup_lab() -> None:
    sh([sys.executable, ROOT / "scripts" / "lab.py", "prepare"])
    sh([sys.executable, ROOT / "scripts" / "lab.py", "clean-stale"])
    # The default scenario runs the role's default etcd_version: the mirror
    # must serve that release, or the scenario would test something else.
    default = re.search(r'^etcd_version:\s*"?([0-9.]+)"?', (ROOT / "roles" / "etcd" / "defaults" / "main.yml")
                        .read_text(), re.M).group(1)
    cache = Path(os.environ.get("RAFTOPS_CACHE", Path.home() / ".cache" / "raftops-etcd"))
    tarball = cache / "mirror" / f"v{default}" / f"etcd-v{default}-linux-amd64.tar.gz"
    if not tarball.exists():
        raise SystemExit(f"the test mirror does not serve the role's default etcd_version {default} ({tarball})")
    print(f"mirror serves the role's default etcd_version {default}")


# --------------------------------------------------------------------------- steps
def lint() -> None:
    sh([BIN / "yamllint", "-s", "."])
    sh([BIN / "ansible-lint", "--nocolor"])


def sanity() -> None:
    """ansible-test sanity on a copy laid out as ansible_collections/raftops/etcd."""
    shim = ROOT / "tests" / "sanity" / "get_pip_shim.py"
    cache = Path.home() / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    # ansible-test downloads a pip bootstrap script from a host this machine
    # cannot reach; the shim does the same with ensurepip.
    for ver in ("24.2", "24.0", "25.0.1", "25.1.1"):
        shutil.copy(shim, cache / f"get_pip_{ver.replace('.', '_')}.py")
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    with tempfile.TemporaryDirectory(prefix="raftops-sanity-") as tmp:
        dest = Path(tmp) / "ansible_collections" / "raftops" / "etcd"
        for f in files:
            if f.startswith(("collections/", ".venv/")) or not (ROOT / f).is_file():
                continue
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dest / f)
        subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
        subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
        sh([BIN / "ansible-test", "sanity", "--python", "3.11", "--local", "--color", "no"],
           cwd=dest)


def build() -> None:
    """ansible-galaxy collection build; the tarball installs and works on its own."""
    import tarfile
    with tempfile.TemporaryDirectory(prefix="raftops-build-") as tmp:
        sh([BIN / "ansible-galaxy", "collection", "build", "--output-path", tmp])
        tarball = next(Path(tmp).glob("raftops-etcd-*.tar.gz"))
        with tarfile.open(tarball) as t:
            names = t.getnames()
        leaked = [n for n in names if n.endswith(".key") or ".pki" in n or n.startswith(("molecule", "tests"))]
        if leaked:
            raise SystemExit(f"the collection tarball ships files it must not: {leaked[:5]}")
        coll = Path(tmp) / "collections"
        sh([BIN / "ansible-galaxy", "collection", "install", "--force", "-p", coll, tarball])
        env = dict(tool_env(), ANSIBLE_COLLECTIONS_PATH=str(coll))
        env.pop("ANSIBLE_CONFIG")
        for module in ("etcd_member", "etcd_cluster_info", "etcd_snapshot"):
            out = sh([BIN / "ansible-doc", "-t", "module", f"raftops.etcd.{module}"], cwd=Path(tmp),
                     env=env, capture=True).stdout
            if "raftops.etcd." + module not in out:
                raise SystemExit(f"ansible-doc raftops.etcd.{module} did not render")
        for role in ("etcd", "chrony", "dnsmasq", "discovery"):
            sh([BIN / "ansible-doc", "-t", "role", f"raftops.etcd.{role}"], cwd=Path(tmp), env=env,
               capture=True)
        play = Path(tmp) / "site.yml"
        play.write_text("- name: Site\n  ansible.builtin.import_playbook: raftops.etcd.site\n")
        sh([BIN / "ansible-playbook", "-i", "localhost,", play, "--syntax-check"], cwd=Path(tmp), env=env)


def unit() -> None:
    sh([BIN / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit"])


CHANGED = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)", re.M)


def ephemeral(name: str) -> Path:
    """Molecule's per-scenario state directory (inventory, our PKI), pinned
    through MOLECULE_EPHEMERAL_DIRECTORY so that the day-2 driver finds it."""
    key = hashlib.sha256(str(ROOT).encode()).hexdigest()[:10]
    return Path.home() / ".cache" / "raftops-etcd" / "molecule" / key / name


def scenario(name: str) -> None:
    """create, converge, idempotence, check (changed=0), verify; always destroy."""
    mol = [BIN / "molecule"]
    env = dict(tool_env(), MOLECULE_EPHEMERAL_DIRECTORY=str(ephemeral(name)))
    t0 = time.time()
    try:
        for step in ("destroy", "syntax", "create", "prepare", "converge", "idempotence"):
            if step == "prepare" and not (ROOT / "molecule" / name / "prepare.yml").exists():
                continue
            sh(mol + [step, "-s", name], env=env)
        res = sh(mol + ["check", "-s", name], env=env, capture=True)
        counts = [(h, int(n)) for h, n in CHANGED.findall(res.stdout + res.stderr)
                  if h != "localhost"]
        if not counts or any(n for _h, n in counts):
            raise SystemExit(f"check mode after converge predicts changes in {name}: {counts}")
        sh(mol + ["verify", "-s", name], env=env)
        if (ROOT / "molecule" / name / "side_effect.yml").exists():
            sh(mol + ["side-effect", "-s", name], env=env)
            sh(mol + ["verify", "-s", name], env=env)
        steps = ROOT / "molecule" / name / "day2_steps.py"
        if steps.exists():
            # The day-2 playbooks as operators run them, with the writer.
            sh([BIN / "python", steps], env=env)
    finally:
        subprocess.run([str(BIN / "molecule"), "destroy", "-s", name], cwd=ROOT,
                       env=env, check=False)
        print(f"scenario {name}: {time.time() - t0:.0f}s", flush=True)


def molecule(names: list[str]) -> None:
    for name in names:
        timed(f"molecule {name}", scenario, name)


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "all"
    rest = argv[1:]
    t0 = time.time()
    try:
        timed("set-up: virtualenv", setup_venv)
        if what in ("all", "quick", "molecule", "setup"):
            timed("set-up: docker engine, lab images, etcd mirror", setup_lab)
        if what in ("all", "quick", "lint"):
            timed("lint", lint)
        if what in ("all", "sanity"):
            timed("ansible-test sanity", sanity)
        if what in ("all", "quick", "unit"):
            timed("unit tests", unit)
        if what in ("all", "build"):
            timed("collection build and install", build)
        if what == "all":
            molecule(SCENARIOS)
        elif what == "quick":
            molecule(QUICK_SCENARIOS)
        elif what == "molecule":
            molecule(rest or SCENARIOS)
    finally:
        print("\n=== wall times")
        for name, took in TIMES:
            print(f"{took:7.0f}s  {name}")
        print(f"{time.time() - t0:7.0f}s  total")
    print("\nALL PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
