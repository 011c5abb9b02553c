"""raftops.etcd test pipeline: one command from a fresh machine to a verdict.

    python3 scripts/test.py            # full tier (what CI runs)
    python3 scripts/test.py quick      # lint + unit + the default scenario
    python3 scripts/test.py lint|sanity|unit|build|molecule [scenario ...]
    python3 scripts/test.py setup      # only the virtualenv, engine, images, mirror

Sets itself up: a virtualenv in .venv with the pinned tool chain
(requirements-dev.txt), a Docker engine (scripts/lab.py engine), the lab images
and the etcd test mirror. The first failure stops the run. At the end it prints
one table (step, wall time, passed/failed/not run), writes it as JSON to
~/.cache/raftops-etcd/reports/pipeline.json (also on failure and Ctrl-C/SIGTERM)
and closes with the line `N passed, M failed`; the exit code is non-zero unless
every step passed.

Scenarios run side by side in RAFTOPS_LANES lanes (default 2; 1 runs them one
after the other in this process, as before). Each scenario has its own
containers, docker network and subnet, ephemeral directory and PKI, so lanes
share nothing but the engine and the CPUs. A lane's output goes to
~/.cache/raftops-etcd/reports/logs/<scenario>.log; the runner prints a line when
a scenario starts and ends, and the log's tail when one fails. The first
failure stops the run: lanes still running get SIGTERM, which destroys their
scenario's containers and network, as Ctrl-C does (RAFTOPS_KEEP_GOING=1 lets the
scenarios already running finish; no new one starts).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
REQS = ROOT / "requirements-dev.txt"
# Full tier, in order. `default` doubles as the quick tier's scenario.
SCENARIOS = ["default", "debian13", "modules", "dns", "discovery", "clusters", "day2", "upgrade", "backup_s3"]
QUICK_SCENARIOS = ["default"]
CACHE = Path(os.environ.get("RAFTOPS_CACHE", Path.home() / ".cache" / "raftops-etcd"))
REPORT = CACHE / "reports" / "pipeline.json"
LOGS = CACHE / "reports" / "logs"
# Longest first, so that the lanes end close together (seconds of the clean-clone
# run in two lanes).
EXPECTED = {"day2": 3220, "upgrade": 2011, "backup_s3": 1058, "default": 600, "discovery": 530,
            "modules": 480, "clusters": 476, "debian13": 450, "dns": 368}
# (step, seconds, "passed" | "failed" | "not run"), in plan order.
RESULTS: list[tuple[str, float, str]] = []
FAILED_SCENARIOS: list[dict] = []


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
    result = "failed"
    try:
        func(*args)
        result = "passed"
    finally:
        if name not in {n for n, _t, _r in RESULTS}:  # scenarios_side_by_side records its own rows
            RESULTS.append((name, time.time() - t0, result))


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
    tarball = CACHE / "mirror" / f"v{default}" / f"etcd-v{default}-linux-amd64.tar.gz"
    if not tarball.exists():
        raise SystemExit(f"the test mirror does not serve the role's default etcd_version {default} ({tarball})")
    print(f"mirror serves the role's default etcd_version {default}")
    # rclone `serve s3` (built once, niced, cached) and Debian's age: the
    # backup_s3 scenario's S3 server and the loopback unit tests of the
    # off-site backups, which are skipped without them.
    sh([sys.executable, ROOT / "scripts" / "s3server.py", "build"])
    sh([sys.executable, ROOT / "scripts" / "s3server.py", "age"])


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
        # --offline: the dependencies must be met by the collections the
        # ansible package bundles, so a range that excludes them fails here.
        sh([BIN / "ansible-galaxy", "collection", "install", "--offline", "--force", "-p", coll, tarball])
        env = dict(tool_env(), ANSIBLE_COLLECTIONS_PATH=str(coll))
        env.pop("ANSIBLE_CONFIG")
        check_dependencies(manifest_dependencies(tarball), env, Path(tmp))
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


# How shipped content names a plugin of each kind by FQCN: task keys
# (`community.crypto.x509_certificate:`), Jinja filters (`| f`, map('f')),
# tests (`is t`, `is not t`, select('t'), selectattr('a', 't')) and lookups.
FQCN = r"([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*)"
_Q = "['\"]"
USES = {
    "module": [rf"^[ \t]*(?:-[ \t]+)?{FQCN}:", rf"\b(?:local_)?action:[ \t]*{FQCN}\b"],
    "filter": [rf"\|[ \t]*{FQCN}\b", rf"\bmap\([ \t]*{_Q}{FQCN}{_Q}"],
    "test": [rf"\bis[ \t]+(?:not[ \t]+)?{FQCN}\b", rf"\b(?:select|reject)\([ \t]*{_Q}{FQCN}{_Q}",
             rf"\b(?:selectattr|rejectattr)\([ \t]*{_Q}[^'\"]*{_Q}[ \t]*,[ \t]*{_Q}{FQCN}{_Q}"],
    "lookup": [rf"\b(?:lookup|query|q)\([ \t]*{_Q}{FQCN}{_Q}"],
}
SHIPPED = ["site.yml", "roles", "playbooks", "plugins"]
OWN = {"ansible.builtin", "raftops.etcd"}


def used_fqcns() -> dict[tuple[str, str], set[str]]:
    """{(kind, fqcn): files} for every plugin the shipped content names by FQCN."""
    files = [f for top in SHIPPED for f in ([ROOT / top] if (ROOT / top).is_file() else (ROOT / top).rglob("*"))
             if f.suffix in (".yml", ".yaml", ".j2", ".py")]
    uses: dict[tuple[str, str], set[str]] = {}
    for f in files:
        text = f.read_text()
        for kind, patterns in USES.items():
            for fq in (m.group(1) for pat in patterns for m in re.finditer(pat, text, re.M)):
                uses.setdefault((kind, fq), set()).add(str(f.relative_to(ROOT)))
    return uses


def manifest_dependencies(tarball: Path) -> dict[str, str]:
    import tarfile
    with tarfile.open(tarball) as t:
        return json.load(t.extractfile("MANIFEST.json"))["collection_info"]["dependencies"] or {}


def check_dependencies(declared: dict[str, str], env: dict, cwd: Path) -> None:
    """Every FQCN the shipped content uses is ansible.builtin, raftops.etcd or
    a declared dependency; every declared dependency is used; every used name
    exists (ansible-doc lists it, run against the installed tarball)."""
    uses = used_fqcns()
    allowed = OWN | set(declared)
    problems = [f"undeclared collection: {fq} ({kind} in {', '.join(sorted(files))})"
                for (kind, fq), files in sorted(uses.items()) if collection(fq) not in allowed]
    used = {collection(fq) for _kind, fq in uses}
    problems += [f"declared dependency not used (stale): {c}" for c in sorted(set(declared) - used)]
    for kind, coll in sorted({(kind, collection(fq)) for kind, fq in uses}):
        if coll not in allowed:
            continue  # reported above
        res = subprocess.run([str(BIN / "ansible-doc"), "-t", kind, "-l", coll, "-j"], cwd=cwd, env=env,
                             capture_output=True, text=True, check=False)
        if res.returncode != 0:
            problems.append(f"ansible-doc -t {kind} -l {coll} failed: {res.stderr.strip()[-300:]}")
            continue
        known = json.loads(res.stdout)
        problems += [f"no such {kind}: {fq} (in {', '.join(sorted(files))})"
                     for (k, fq), files in sorted(uses.items())
                     if k == kind and collection(fq) == coll and fq not in known]
    if problems:
        raise SystemExit("collection dependencies do not match the content:\n  " + "\n  ".join(problems))
    print(f"{len(uses)} plugin names resolve; declared dependencies {declared or '{}'} are all used "
          "and nothing else is needed")


def collection(fqcn: str) -> str:
    return fqcn.rsplit(".", 1)[0]


EE_FILES = ["execution-environment.yml", "requirements.yml", "requirements.txt", "bindep.txt"]


def execution_environment() -> None:
    """ansible-builder writes the EE build context (Containerfile, requirements,
    the collection tarball); requirements.yml names galaxy.yml's dependencies.
    Building the image (`ansible-builder build`) is not run here: it pulls the
    base image from a container registry and collections from Galaxy, neither
    of which this machine can reach."""
    with tempfile.TemporaryDirectory(prefix="raftops-ee-") as tmp:
        stage = Path(tmp)
        for name in EE_FILES:
            shutil.copy2(ROOT / name, stage / name)
        # The EE file takes the tarball from beside itself (additional_build_files).
        sh([BIN / "ansible-galaxy", "collection", "build", "--output-path", stage])
        tarball = next(stage.glob("raftops-etcd-*.tar.gz"))
        declared = manifest_dependencies(tarball)
        reqs = subprocess.run([str(BIN / "python"), "-c", "import json, sys, yaml; "
                               "print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", stage / "requirements.yml"],
                              capture_output=True, text=True, check=True)
        listed = {c["name"]: c.get("version", "*") for c in json.loads(reqs.stdout).get("collections") or []}
        if listed != declared:
            raise SystemExit(f"requirements.yml lists {listed}, galaxy.yml dependencies are {declared}")
        context = stage / "context"
        sh([BIN / "ansible-builder", "create", "--file", stage / "execution-environment.yml",
            "--context", context, "--output-filename", "Containerfile"], cwd=stage)
        want = ["Containerfile", "_build/requirements.yml", "_build/requirements.txt", "_build/bindep.txt",
                f"_build/collections/{tarball.name}"]
        missing = [w for w in want if not (context / w).is_file()]
        if missing:
            raise SystemExit(f"ansible-builder create did not write {missing} in {context}")
        print(f"EE build context written: {', '.join(want)}")


def unit() -> None:
    # A skipped test proves nothing: the set-up caches what the tests need
    # (etcd mirror, rclone, age), so any skip fails the step.
    res = sh([BIN / "python", "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "tests/unit"], capture=True)
    skipped = re.search(r"(\d+) skipped", res.stdout)
    if skipped:
        raise SystemExit(f"FAILED: {skipped.group(1)} unit test(s) skipped (see SKIPPED above)")


CHANGED = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)", re.M)


def ephemeral(name: str) -> Path:
    """Molecule's per-scenario state directory (inventory, our PKI), pinned
    through MOLECULE_EPHEMERAL_DIRECTORY so that the day-2 driver finds it."""
    key = hashlib.sha256(str(ROOT).encode()).hexdigest()[:10]
    return Path.home() / ".cache" / "raftops-etcd" / "molecule" / key / name


def day2_kept(name: str) -> Path:
    """Where a failed scenario's day-2 files are copied (see scenario())."""
    return LOGS / f"{name}-day2"


def scenario(name: str) -> None:
    """create, converge, idempotence, check (changed=0), verify; always destroy."""
    mol = [BIN / "molecule"]
    env = dict(tool_env(), MOLECULE_EPHEMERAL_DIRECTORY=str(ephemeral(name)))
    t0 = time.time()
    steps = ROOT / "molecule" / name / "day2_steps.py"
    # An earlier run's copy would be taken for this run's.
    shutil.rmtree(day2_kept(name), ignore_errors=True)
    try:
        # No `molecule syntax`: lint's syntax-check rule already runs
        # ansible-playbook --syntax-check on every playbook of the scenarios
        # (molecule/resources/converge.yml and each side_effect.yml), once.
        for step in ("destroy", "create", "prepare", "converge", "idempotence"):
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
            # Again, without the tests marked first_verify (they do not depend
            # on the cluster's state: default's bad-input runs, 16 site.yml runs).
            sh(mol + ["verify", "-s", name], env=dict(env, RAFTOPS_VERIFY="again"))
        if steps.exists():
            # The day-2 playbooks as operators run them, with the writer.
            sh([BIN / "python", steps], env=env)
    except BaseException:
        # Molecule's own output is in this run's stdout; the day-2 driver
        # (day2_steps.py) keeps its playbook logs, journals and writer files in
        # the ephemeral directory, which `molecule destroy` empties: they are
        # copied next to the lane logs first.
        kept = None
        if steps.exists() and (ephemeral(name) / "day2").is_dir():
            kept = day2_kept(name)
            shutil.copytree(ephemeral(name) / "day2", kept,
                            ignore=shutil.ignore_patterns("*.key", "*.agekey", "*.tar"), dirs_exist_ok=True)
        FAILED_SCENARIOS.append({
            "scenario": name,
            "ephemeral_dir": str(ephemeral(name)),
            "day2_logs": str(kept) if kept else None,
        })
        raise
    finally:
        subprocess.run([str(BIN / "molecule"), "destroy", "-s", name], cwd=ROOT,
                       env=env, check=False)
        print(f"scenario {name}: {time.time() - t0:.0f}s", flush=True)


def lanes() -> int:
    raw = os.environ.get("RAFTOPS_LANES", "2")
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"RAFTOPS_LANES={raw!r}: give the number of scenarios to run side by side (1 or more)")
    return int(raw)


CHILDREN: dict[str, subprocess.Popen] = {}


def scenarios_side_by_side(names: list[str], width: int) -> None:
    """Run the scenarios in `width` lanes, each one a child process
    (`test.py _scenario NAME`) writing to its own log; longest first. Records
    one RESULTS row per scenario as it ends; the first failure stops the rest."""
    LOGS.mkdir(parents=True, exist_ok=True)
    queue = sorted(names, key=lambda n: -EXPECTED.get(n, 600))
    started: dict[str, float] = {}
    failed = ""
    print(f"scenarios in {width} lanes: {', '.join(queue)}; logs in {LOGS}", flush=True)
    try:
        while queue or CHILDREN:
            while queue and not failed and len(CHILDREN) < width:
                name = queue.pop(0)
                out = open(LOGS / f"{name}.log", "w")
                CHILDREN[name] = subprocess.Popen(
                    [sys.executable, __file__, "_scenario", name], cwd=ROOT, stdout=out,
                    stderr=subprocess.STDOUT, env=tool_env(), start_new_session=True)
                out.close()
                started[name] = time.time()
                print(f"[{time.strftime('%H:%M:%S')}] start molecule {name}", flush=True)
            if failed and queue:
                queue.clear()
            for name, proc in list(CHILDREN.items()):
                if proc.poll() is None:
                    continue
                del CHILDREN[name]
                took = time.time() - started[name]
                ok = proc.returncode == 0
                result = "passed" if ok else ("stopped" if failed and proc.returncode == 130 else "failed")
                RESULTS.append((f"molecule {name}", took, result))
                print(f"[{time.strftime('%H:%M:%S')}] molecule {name}: {result} in {took:.0f}s "
                      f"(log {LOGS / f'{name}.log'})", flush=True)
                if not ok and not failed:
                    failed = name
                    # The lane's own record dies with it: the copy it made is found here.
                    FAILED_SCENARIOS.append({"scenario": name, "log": str(LOGS / f"{name}.log"),
                                             "ephemeral_dir": str(ephemeral(name)),
                                             "day2_logs": str(day2_kept(name)) if day2_kept(name).is_dir() else None})
                    tail = (LOGS / f"{name}.log").read_text(errors="replace").splitlines()[-120:]
                    print(f"--- last lines of {name}'s log\n" + "\n".join(tail) + "\n---", flush=True)
                    if os.environ.get("RAFTOPS_KEEP_GOING") != "1":
                        stop_children()
            time.sleep(2)
    except BaseException:
        stop_children()
        for name in list(CHILDREN):
            RESULTS.append((f"molecule {name}", time.time() - started[name], "stopped"))
            CHILDREN.pop(name)
        raise
    if failed:
        raise SystemExit(f"molecule {failed} failed: {LOGS / f'{failed}.log'}")


def stop_children(grace: int = 300) -> None:
    """SIGTERM every running scenario (its `finally` destroys its containers and
    network) and wait for them, bounded; SIGKILL what is left."""
    for proc in CHILDREN.values():
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.time() + grace
    for proc in CHILDREN.values():
        try:
            proc.wait(timeout=max(1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def plan(what: str, rest: list[str]) -> list[tuple[str, object, tuple]]:
    """The steps `what` runs, in order: (name, function, arguments)."""
    steps: list[tuple[str, object, tuple]] = [("set-up: virtualenv", setup_venv, ())]
    if what in ("all", "quick", "molecule", "setup"):
        steps.append(("set-up: docker engine, lab images, etcd mirror", setup_lab, ()))
    if what in ("all", "quick", "lint"):
        steps.append(("lint", lint, ()))
    if what in ("all", "sanity"):
        steps.append(("ansible-test sanity", sanity, ()))
    if what in ("all", "quick", "unit"):
        steps.append(("unit tests", unit, ()))
    if what in ("all", "build"):
        steps.append(("collection build and install", build, ()))
        steps.append(("execution environment build context", execution_environment, ()))
    names = {"all": SCENARIOS, "quick": QUICK_SCENARIOS, "molecule": rest or SCENARIOS}.get(what, [])
    if len(names) > 1 and lanes() > 1:
        # One plan entry per scenario for the report; the first one runs them all.
        steps.append((f"molecule {names[0]}", scenarios_side_by_side, (names, lanes())))
        steps += [(f"molecule {name}", None, ()) for name in names[1:]]
    else:
        steps += [(f"molecule {name}", scenario, (name,)) for name in names]
    return steps


def interrupted(signum, _frame) -> None:
    """SIGTERM takes Ctrl-C's path: the running scenario's `finally` destroys it."""
    raise KeyboardInterrupt(f"signal {signum}")


def report(what: str, steps: list, total: float) -> tuple[int, int]:
    """Print the table and write it as JSON; returns (passed, failed)."""
    # Plan order; a step without a result did not run (the first failure stops the run).
    done = {name: (took, result) for name, took, result in RESULTS}
    rows = [(name, *done.get(name, (None, "not run"))) for name, _f, _a in steps]
    width = max(len(name) for name, _t, _r in rows)
    print("\n=== summary")
    print(f"{'step':<{width}}  {'time':>7}  result")
    for name, took, result in rows:
        print(f"{name:<{width}}  {'-' if took is None else f'{took:.0f}s':>7}  {result}")
    print(f"{'total':<{width}}  {total:6.0f}s")
    passed = sum(r == "passed" for _n, _t, r in rows)
    failed = sum(r == "failed" for _n, _t, r in rows)
    data = {
        "command": what,
        "steps": [{"step": n, "seconds": None if t is None else round(t, 1), "result": r} for n, t, r in rows],
        "total": round(total, 1),
        "passed": passed,
        "failed": failed,
        "not_run": len(rows) - passed - failed,
        "failed_scenarios": FAILED_SCENARIOS,
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    tmp = REPORT.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(REPORT)
    print(f"report: {REPORT}")
    return passed, failed


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "all"
    if what == "_scenario":  # one lane of scenarios_side_by_side
        signal.signal(signal.SIGTERM, interrupted)
        try:
            scenario(argv[1])
        except KeyboardInterrupt:
            return 130
        except SystemExit as exc:
            print(exc.code, file=sys.stderr, flush=True)
            return 1
        return 0
    if what not in ("all", "quick", "lint", "sanity", "unit", "build", "molecule", "setup"):
        print(__doc__, file=sys.stderr)
        return 2
    steps = plan(what, argv[1:])
    signal.signal(signal.SIGTERM, interrupted)
    t0 = time.time()
    code = 0
    try:
        for name, func, args in steps:
            if func is not None:  # None: run by scenarios_side_by_side
                timed(name, func, *args)
    except KeyboardInterrupt as exc:
        print(f"\nINTERRUPTED ({exc or 'Ctrl-C'})", file=sys.stderr, flush=True)
        code = 130
    except SystemExit as exc:
        print(exc.code if isinstance(exc.code, str) else f"exit {exc.code}", file=sys.stderr, flush=True)
        code = 1
    except Exception:  # a bug in this script: still report
        traceback.print_exc()
        code = 1
    finally:
        sys.stderr.flush()
        passed, failed = report(what, steps, time.time() - t0)
        if code == 0 and failed == 0:
            print("\nALL PASSED")
        print(f"{passed} passed, {failed} failed", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
