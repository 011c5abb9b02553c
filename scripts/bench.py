"""Benchmark site.yml and two day-2 playbooks on the lab, with a task profile.

    python3 scripts/bench.py [--runs N] [--phases P1,P2,...] [--top N] [--json FILE]
                             [--compare BEFORE.json] [--no-profile]
    python3 scripts/bench.py --results AFTER.json [--compare BEFORE.json]   # print only

Phases (issue #11), each measured once per run, medians over --runs:

  cold_new_ca          cold site.yml to a healthy 3-member TLS cluster with an
                       empty PKI directory: a new CA and every certificate
  cold_ca              cold site.yml, fresh hosts, the controller's CA and
                       certificates kept from the previous converge
  noop                 site.yml again on the converged cluster: changed=0
  rolling_restart      rolling_restart.yml on the 3 members (time per member)
  replace_node         replace_node.yml in place (-e etcd_replace_member=etcd-2)
                       after etcd-2's WAL is lost, as the day2 scenario does
  five, five_noop      cold site.yml on 5 members (CA present), and its re-run
  three_clusters, three_clusters_noop
                       cold site.yml on 3 clusters of 3 in one inventory
                       (groups below etcd_clusters, own names and ports), re-run

"Cold" means fresh hosts (the lab containers recreated and booted) and a warm
controller (archive cache, and the PKI unless the phase empties it). Before
cold_ca, five and three_clusters measure, a layout whose PKI directory was
never completed is converged once unmeasured ("seed"). Every measured
playbook runs with the ansible.posix.profile_tasks callback; the slowest
tasks of each phase (median over the runs) go to the JSON and the table.

Targets (issue #11): cold_ca <= 20 s, cold_new_ca <= 25 s, noop <= 5 s with
changed=0. Exits 1 when a no-op re-run changes anything, a cluster is not
healthy afterwards, or a playbook fails; prints the table either way.
Containers and the network are removed on exit, Ctrl-C and SIGTERM. State
(inventories, PKI, logs of every playbook) lives in ~/.cache/raftops-etcd/bench.
"""
from __future__ import annotations

import argparse
import configparser
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lab  # noqa: E402

ROOT = lab.ROOT
WORK = lab.CACHE / "bench"

COLD_CA_TARGET = 20.0
COLD_NEW_CA_TARGET = 25.0
NOOP_TARGET = 5.0

# name: (layout, target s or None, what is measured)
PHASES = {
    "cold_new_ca": ("three", COLD_NEW_CA_TARGET, "cold site.yml, new CA and certificates, 3 members"),
    "cold_ca": ("three", COLD_CA_TARGET, "cold site.yml, CA and certificates present, 3 members"),
    "noop": ("three", NOOP_TARGET, "site.yml re-run, changed=0, 3 members"),
    "rolling_restart": ("three", None, "rolling_restart, 3 members"),
    "replace_node": ("three", None, "replace_node in place, 1 member of 3"),
    "five": ("five", None, "cold site.yml, CA present, 5 members"),
    "five_noop": ("five", None, "site.yml re-run, changed=0, 5 members"),
    "three_clusters": ("three_clusters", None, "cold site.yml, CAs present, 3 clusters of 3"),
    "three_clusters_noop": ("three_clusters", None, "site.yml re-run, changed=0, 3 clusters of 3"),
}
NOOP_PHASES = ("noop", "five_noop", "three_clusters_noop")
# layout: the clusters it holds, (name, members) each; one cluster is group
# etcd, several are groups below etcd_clusters.
LAYOUTS = {
    "three": [("bench", 3)],
    "five": [("bench", 5)],
    "three_clusters": [("bench_a", 3), ("bench_b", 3), ("bench_c", 3)],
}
REPLACED = "etcd-2"
DEFAULT_ETCD_VERSION = "3.5.30"      # as inventory/lab/group_vars/all.yml
PROFILE_CALLBACK = "ansible.posix.profile_tasks"
BOOT_TIMEOUT = 90.0
EXEC_TIMEOUT = 60.0

RECAP = re.compile(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", re.M)
# profile_tasks' summary: "<name> ---...--- 12.34s" (name + " " padded with
# "-" to the width less 9, then " 12.34s" right-aligned in 9 with "-").
PROFILE_LINE = re.compile(r"^(?P<name>.+?) -* (?P<secs>\d+\.\d\d)s$")


class BenchError(Exception):
    pass


# --------------------------------------------------------------------------- pure helpers
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1, help="runs per phase; medians over them")
    ap.add_argument("--phases", default=",".join(PHASES),
                    help="comma-separated, any of: %s (default: all)" % ", ".join(PHASES))
    ap.add_argument("--top", type=int, default=10, help="slowest tasks kept per phase")
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--compare", help="an earlier results file: print a before/after table")
    ap.add_argument("--results", help="print the table of this results file; measure nothing")
    ap.add_argument("--no-profile", dest="profile", action="store_false",
                    help=f"run without the {PROFILE_CALLBACK} callback")
    ap.add_argument("--etcd-version", default=DEFAULT_ETCD_VERSION)
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds one playbook may take")
    a = ap.parse_args(argv)
    phases = [p.strip() for p in a.phases.split(",") if p.strip()]
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        ap.error(f"unknown phases {unknown}; known: {', '.join(PHASES)}")
    if not phases:
        ap.error("--phases names no phase")
    # Always the order of PHASES: each phase needs the state the earlier leave.
    a.phases = [p for p in PHASES if p in phases]
    if a.runs < 1 or a.top < 1 or a.timeout <= 0:
        ap.error("--runs and --top must be at least 1, --timeout positive")
    return a


def parse_recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP lines: {host: {ok, changed, unreachable, failed, ...}}."""
    recap = {}
    start = output.rfind("PLAY RECAP")
    if start < 0:
        return recap
    for host, counts in RECAP.findall(output[start:]):
        recap[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
    return recap


def changed_total(recap: dict[str, dict[str, int]]) -> int:
    return sum(c.get("changed", 0) for c in recap.values())


def recap_failures(recap: dict[str, dict[str, int]]) -> list[str]:
    return sorted(h for h, c in recap.items() if c.get("failed", 0) or c.get("unreachable", 0))


def parse_profile(output: str) -> dict[str, dict[str, float]]:
    """profile_tasks' TASKS RECAP: {task name: {s, count}}. A task name
    that shows several times (an included file once per include, the same
    name in two plays) is summed: where the time goes, by name."""
    start = output.rfind("TASKS RECAP")
    if start < 0:
        return {}
    lines = output[start:].splitlines()
    try:
        first = next(i for i, line in enumerate(lines) if line.startswith("=====")) + 1
    except StopIteration:
        return {}
    tasks: dict[str, dict[str, float]] = {}
    for line in lines[first:]:
        m = PROFILE_LINE.match(line.rstrip())
        if not m:
            break
        t = tasks.setdefault(m.group("name").strip(), {"s": 0.0, "count": 0})
        t["s"] = round(t["s"] + float(m.group("secs")), 2)
        t["count"] += 1
    return tasks


def median(values: list[float]) -> float:
    return round(statistics.median(values), 1) if values else 0.0


def top_tasks(profiles: list[dict[str, dict[str, float]]], top: int) -> list[dict]:
    """The `top` slowest tasks over several runs' profiles: the median of
    each task's seconds (0 in a run that did not show it)."""
    names = {n for p in profiles for n in p}
    rows = []
    for name in names:
        secs = [p[name]["s"] if name in p else 0.0 for p in profiles]
        counts = [p[name]["count"] for p in profiles if name in p]
        rows.append({"task": name, "median_s": round(statistics.median(secs), 2), "count": max(counts)})
    rows.sort(key=lambda r: (-r["median_s"], r["task"]))
    return rows[:top]


def summarize(samples: dict[str, list[dict]], top: int) -> dict[str, dict]:
    """Per phase: samples, median, per-member median, target, met, top tasks."""
    out = {}
    for phase in PHASES:
        runs = samples.get(phase) or []
        if not runs:
            continue
        target = PHASES[phase][1]
        med = median([r["s"] for r in runs])
        changed = [r["changed"] for r in runs] if phase in NOOP_PHASES else []
        met = None if target is None else med <= target
        if changed:
            met = (met is not False) and not any(changed)
        phase_top = top_tasks([r["profile"] for r in runs if r.get("profile")], top)
        for row in phase_top:
            row["share_pct"] = round(100.0 * row["median_s"] / med, 1) if med else 0.0
        out[phase] = {
            "what": PHASES[phase][2],
            "samples_s": [r["s"] for r in runs],
            "median_s": med,
            "per_member_median_s": median([r["s"] / r["per"] for r in runs]),
            "members": runs[0]["members"],
            "target_s": target,
            "met": met,
            "changed": changed,
            "top_tasks": phase_top,
        }
    return out


def _met(row: dict) -> str:
    if row["met"] is None:
        return "-"
    text = "yes" if row["met"] else "NO"
    if any(row.get("changed") or []):
        text += f" (changed={max(row['changed'])})"
    return text


def table(summary: dict[str, dict], top: int | None = None) -> str:
    """phase | members | runs | median s | per member s | target s | met, then each phase's slowest tasks."""
    head = ("phase", "members", "runs", "median s", "per member s", "target s", "met")
    rows = [head] + [(p, str(r["members"]), str(len(r["samples_s"])), f"{r['median_s']:.1f}",
                      f"{r['per_member_median_s']:.1f}",
                      "-" if r["target_s"] is None else f"{r['target_s']:.0f}", _met(r))
                     for p, r in summary.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for phase, r in summary.items():
        tasks = r["top_tasks"][:top] if top else r["top_tasks"]
        if not tasks:
            continue
        lines.append("")
        lines.append(f"{phase}: slowest tasks (median s over the runs, share of the phase)")
        for t in tasks:
            times = f" x{t['count']}" if t["count"] > 1 else ""
            lines.append(f"  {t['median_s']:7.2f}s {t['share_pct']:5.1f}%  {t['task']}{times}")
    return "\n".join(lines)


def compare_table(before: dict[str, dict], after: dict[str, dict]) -> str:
    """phase | before s | after s | change | target | met (after): the table the issue asks for."""
    head = ("phase", "before s", "after s", "change", "target s", "met")
    rows = [head]
    for phase in PHASES:
        b, a = before.get(phase), after.get(phase)
        if not (b or a):
            continue
        bs = f"{b['median_s']:.1f}" if b else "-"
        as_ = f"{a['median_s']:.1f}" if a else "-"
        change = f"{100.0 * (a['median_s'] - b['median_s']) / b['median_s']:+.0f}%" if a and b and b["median_s"] else "-"
        target = (a or b)["target_s"]
        rows.append((phase, bs, as_, change, "-" if target is None else f"{target:.0f}", _met(a) if a else "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def host_names(layout: str) -> list[str]:
    return [f"etcd-{i}" for i in range(1, sum(n for _c, n in LAYOUTS[layout]) + 1)]


def inventory(layout: str, etcd_version: str, subnet: str = lab.LAB_SUBNET) -> dict:
    """The inventory of a layout on the containers lab.lab_containers makes:
    etcd-N is container raftops-lab-etcd-N at <subnet>.(10+N), the mirror at
    <subnet>.5:8080. The lab's own settings (inventory/lab/group_vars/all.yml),
    with the time source written out per host: etcd-1 serves the others."""
    base = subnet.rsplit(".", 1)[0]
    hosts = {}
    for i, name in enumerate(host_names(layout), start=1):
        hosts[name] = {"ansible_host": f"{lab.LAB_PREFIX}{name}", "etcd_address": f"{base}.{10 + i}",
                       "chrony_servers": [] if i == 1 else [f"{base}.11"],
                       "chrony_local_stratum": 8 if i == 1 else 0}
    common = {"ansible_connection": "community.docker.docker", "ansible_python_interpreter": "/usr/bin/python3",
              "etcd_version": etcd_version, "etcd_archive_base_url": f"http://{base}.5:8080",
              "chrony_control_clock": False, "chrony_pools": [], "chrony_allow": [subnet]}
    clusters = LAYOUTS[layout]
    names = list(hosts)
    if len(clusters) == 1:
        return {"all": {"vars": dict(common, etcd_cluster_name=clusters[0][0])},
                "etcd": {"hosts": hosts}}
    children = {}
    for k, (name, size) in enumerate(clusters):
        group = f"etcd_{name}"
        mine, names = names[:size], names[size:]
        children[group] = {
            "hosts": {h: hosts[h] for h in mine},
            "vars": {"etcd_cluster_group": group, "etcd_cluster_name": name,
                     "etcd_client_port": 2379 + 10 * k, "etcd_peer_port": 2380 + 10 * k,
                     "etcd_listen_metrics_urls": [f"http://127.0.0.1:{2381 + 10 * k}"]},
        }
    return {"all": {"vars": common}, "etcd_clusters": {"children": children}}


def first_members(inv: dict) -> list[tuple[str, int]]:
    """(container of the first member, members) of each cluster of an inventory."""
    groups = [inv["etcd"]] if "etcd" in inv else list(inv["etcd_clusters"]["children"].values())
    return [(next(iter(g["hosts"].values()))["ansible_host"], len(g["hosts"])) for g in groups]


def playbook_env(base: dict[str, str], profile: bool) -> dict[str, str]:
    env = dict(base, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_NOCOWS="1")
    if profile:
        enabled = [c for c in base.get("ANSIBLE_CALLBACKS_ENABLED", "").split(",") if c.strip()]
        if PROFILE_CALLBACK not in enabled:
            enabled.append(PROFILE_CALLBACK)
        env.update(ANSIBLE_CALLBACKS_ENABLED=",".join(enabled), PROFILE_TASKS_TASK_OUTPUT_LIMIT="all",
                   PROFILE_TASKS_SORT_ORDER="descending")
    return env


def pipelining_on(cfg_text: str) -> bool:
    cfg = configparser.ConfigParser()
    cfg.read_string(cfg_text)
    return any(cfg.getboolean(s, "pipelining", fallback=False) for s in ("connection", "ssh_connection"))


def health_problems(text: str, expected: int) -> list[str]:
    """`etcdctl endpoint health --cluster -w json`: every member healthy over TLS."""
    try:
        entries = json.loads(text)
    except ValueError:
        return [f"unreadable endpoint health: {text.strip()[:200]!r}"]
    problems = [f"{e.get('endpoint')}: {e.get('error') or 'unhealthy'}" for e in entries if not e.get("health")]
    problems += [f"{e.get('endpoint')}: not TLS" for e in entries if not str(e.get("endpoint", "")).startswith("https://")]
    if len(entries) != expected:
        problems.append(f"{len(entries)} endpoints, {expected} expected")
    return problems


def members_by_name(text: str) -> dict[str, dict]:
    """`etcdctl member list -w json`: {name: member}; an unstarted member has no name ("")."""
    return {m.get("name", ""): m for m in json.loads(text).get("members", [])}


def replace_problems(before: dict[str, dict], after: dict[str, dict], name: str) -> list[str]:
    problems = []
    if name not in after:
        problems.append(f"{name} is not a member after replace_node")
    elif before.get(name, {}).get("ID") == after[name].get("ID"):
        problems.append(f"{name} kept its member ID {after[name].get('ID')}: it was not replaced")
    if sorted(after) != sorted(before):
        problems.append(f"members {sorted(after)} after, {sorted(before)} before")
    problems += [f"{n or '(unstarted)'} is a learner" for n, m in after.items() if m.get("isLearner")]
    return problems


def parse_unit(text: str) -> dict[str, str]:
    """`systemctl show -p ExecMainPID -p ExecMainStartTimestamp etcd`."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def not_restarted(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]) -> list[str]:
    """Hosts whose etcd does not run now, or runs the same process since the same time as before."""
    def running(unit):
        return unit.get("ExecMainPID", "0") not in ("", "0")
    return sorted(h for h in before if not running(after.get(h, {})) or before[h] == after.get(h))


# --------------------------------------------------------------------------- the lab
_CHILD: subprocess.Popen | None = None


def _interrupted(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def stop_child() -> None:
    """Kill the running ansible-playbook and everything it started (its own session)."""
    global _CHILD
    proc, _CHILD = _CHILD, None
    if proc is not None and proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass


def ansible_playbook() -> str:
    venv = ROOT / ".venv" / "bin" / "ansible-playbook"
    return str(venv) if venv.exists() else (shutil.which("ansible-playbook") or "ansible-playbook")


def sh(container: str, script: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["docker", "exec", container, "sh", "-c", script], capture_output=True, text=True,
                              check=False, timeout=EXEC_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        raise BenchError(f"{container}: `{script}` took over {EXEC_TIMEOUT:.0f}s") from e


def wait_booted(containers: list[str]) -> None:
    """Until systemd in each container has finished booting (running or degraded), at most BOOT_TIMEOUT."""
    deadline = time.monotonic() + BOOT_TIMEOUT
    for c in containers:
        while True:
            state = sh(c, "systemctl is-system-running 2>/dev/null || true").stdout.strip()
            if state in ("running", "degraded"):
                break
            if time.monotonic() > deadline:
                raise BenchError(f"{c} did not finish booting within {BOOT_TIMEOUT:.0f}s (state {state!r})")
            time.sleep(0.5)


class Bench:
    def __init__(self, a: argparse.Namespace):
        self.a = a
        self.samples: dict[str, list[dict]] = {}
        self.seeds: list[dict] = []
        self.problems: list[str] = []
        self.logs = WORK / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.image = ""
        self.run_no = 0

    # layouts ------------------------------------------------------------------
    def inv_dir(self, layout: str) -> Path:
        return WORK / layout

    def pki(self, layout: str) -> Path:
        return self.inv_dir(layout) / ".pki"

    def seeded(self, layout: str) -> bool:
        return (self.inv_dir(layout) / ".seeded").exists() and self.pki(layout).is_dir()

    def write_inventory(self, layout: str) -> dict:
        inv = inventory(layout, self.a.etcd_version)
        d = self.inv_dir(layout)
        d.mkdir(parents=True, exist_ok=True)
        # JSON is YAML: the yaml inventory plugin reads hosts.json.
        (d / "hosts.json").write_text(json.dumps(inv, indent=2) + "\n")
        return inv

    def fresh_hosts(self, layout: str) -> dict:
        inv = self.write_inventory(layout)
        names = host_names(layout)
        lab.lab_containers(len(names), self.image)
        wait_booted([f"{lab.LAB_PREFIX}{n}" for n in names])
        return inv

    # playbooks ----------------------------------------------------------------
    def playbook(self, label: str, layout: str, name: str = "site", extra: dict | None = None) -> tuple[float, str]:
        """Run one playbook on a layout's inventory; (wall s, output). Fails the bench when it fails."""
        global _CHILD
        target = str(ROOT / "site.yml") if name == "site" else f"raftops.etcd.{name}"
        cmd = [ansible_playbook(), "-i", str(self.inv_dir(layout) / "hosts.json"), target]
        for k, v in (extra or {}).items():
            cmd += ["-e", f"{k}={v}"]
        log = self.logs / f"{label}-run{self.run_no}.log"
        print(f"[bench] run {self.run_no}: {label}: ansible-playbook {' '.join(cmd[3:])}", flush=True)
        with open(log, "w") as out:
            t0 = time.monotonic()
            _CHILD = subprocess.Popen(cmd, cwd=ROOT, env=playbook_env(dict(os.environ), self.a.profile),
                                      stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                rc = _CHILD.wait(timeout=self.a.timeout)
            except subprocess.TimeoutExpired as e:
                stop_child()
                raise BenchError(f"{label}: {name} took over {self.a.timeout:.0f}s; log {log}") from e
            took = time.monotonic() - t0
            _CHILD = None
        output = log.read_text()
        failed = recap_failures(parse_recap(output))
        if rc != 0 or failed:
            tail = "\n".join(output.splitlines()[-25:])
            raise BenchError(f"{label}: {name} failed (rc={rc}, failed hosts {failed}); log {log}\n{tail}")
        print(f"[bench]   {took:.1f}s changed={changed_total(parse_recap(output))}", flush=True)
        return took, output

    def record(self, phase: str, took: float, output: str, per: int) -> dict:
        members = sum(n for _c, n in LAYOUTS[PHASES[phase][0]])
        sample = {"run": self.run_no, "s": round(took, 1), "per": per, "members": members,
                  "changed": changed_total(parse_recap(output)),
                  "profile": parse_profile(output) if self.a.profile else {}}
        self.samples.setdefault(phase, []).append(sample)
        if phase in NOOP_PHASES and sample["changed"]:
            self.problems.append(f"run {self.run_no}: {phase} changed={sample['changed']}")
        return sample

    def converge(self, phase: str, layout: str, measured: bool = True) -> None:
        """A cold site.yml on fresh hosts, then the clusters must be healthy over TLS."""
        inv = self.fresh_hosts(layout)
        took, output = self.playbook(phase if measured else f"{phase}-seed", layout)
        self.healthy(inv, phase)
        (self.inv_dir(layout) / ".seeded").touch()
        if measured:
            self.record(phase, took, output, per=len(host_names(layout)))
        else:
            self.seeds.append({"run": self.run_no, "for": phase, "s": round(took, 1)})

    def healthy(self, inv: dict, phase: str) -> None:
        for container, members in first_members(inv):
            res = sh(container, ". /etc/profile.d/etcdctl.sh; etcdctl endpoint health --cluster -w json")
            problems = health_problems(res.stdout or res.stderr, members)
            if problems:
                raise BenchError(f"{phase}: the cluster of {container} is not healthy: {'; '.join(problems)}")

    # phases -------------------------------------------------------------------
    def run_base(self, phases: list[str]) -> None:
        layout = "three"
        if "cold_new_ca" in phases:
            shutil.rmtree(self.pki(layout), ignore_errors=True)
            (self.inv_dir(layout) / ".seeded").unlink(missing_ok=True)
            self.converge("cold_new_ca", layout)
        if "cold_ca" in phases:
            if not self.seeded(layout):
                self.converge("cold_ca", layout, measured=False)
            self.converge("cold_ca", layout)
        elif "cold_new_ca" not in phases:
            self.converge("setup", layout, measured=False)
        if "noop" in phases:
            self.record("noop", *self.playbook("noop", layout), per=len(host_names(layout)))
        inv = inventory(layout, self.a.etcd_version)
        containers = {h: v["ansible_host"] for h, v in inv["etcd"]["hosts"].items()}
        if "rolling_restart" in phases:
            before = {h: parse_unit(sh(c, "systemctl show -p ExecMainPID -p ExecMainStartTimestamp etcd").stdout)
                      for h, c in containers.items()}
            took, output = self.playbook("rolling_restart", layout, "rolling_restart")
            after = {h: parse_unit(sh(c, "systemctl show -p ExecMainPID -p ExecMainStartTimestamp etcd").stdout)
                     for h, c in containers.items()}
            missed = not_restarted(before, after)
            if missed:
                raise BenchError(f"rolling_restart: etcd was not restarted on {missed}")
            self.healthy(inv, "rolling_restart")
            self.record("rolling_restart", took, output, per=len(containers))
        if "replace_node" in phases:
            first = containers["etcd-1"]
            members = ". /etc/profile.d/etcdctl.sh; etcdctl member list -w json"
            before = members_by_name(sh(first, members).stdout)
            # The member's disk fails, as in molecule/day2's replace_in_place:
            # replace_node rebuilds only a failed member (or with etcd_force).
            res = sh(containers[REPLACED], "systemctl stop etcd && rm -rf /var/lib/etcd/member/wal")
            if res.returncode:
                raise BenchError(f"replace_node: could not fail {REPLACED}: {res.stderr.strip()}")
            took, output = self.playbook("replace_node", layout, "replace_node", {"etcd_replace_member": REPLACED})
            problems = replace_problems(before, members_by_name(sh(first, members).stdout), REPLACED)
            if problems:
                raise BenchError(f"replace_node: {'; '.join(problems)}")
            self.healthy(inv, "replace_node")
            self.record("replace_node", took, output, per=1)

    def run_growth(self, phase: str, phases: list[str]) -> None:
        layout = PHASES[phase][0]
        if phase in phases:
            if not self.seeded(layout):
                self.converge(phase, layout, measured=False)
            self.converge(phase, layout)
        else:
            self.converge(f"{phase}_setup", layout, measured=False)
        noop = f"{phase}_noop"
        if noop in phases:
            self.record(noop, *self.playbook(noop, layout), per=len(host_names(layout)))

    def run(self) -> None:
        phases = self.a.phases
        for self.run_no in range(1, self.a.runs + 1):
            if any(PHASES[p][0] == "three" for p in phases):
                self.run_base(phases)
            for growth in ("five", "three_clusters"):
                if growth in phases or f"{growth}_noop" in phases:
                    self.run_growth(growth, phases)

    def results(self, error: str | None) -> dict:
        return {
            "settings": {"runs": self.a.runs, "phases": self.a.phases, "etcd_version": self.a.etcd_version,
                         "profile": self.a.profile, "top": self.a.top,
                         "pipelining": pipelining_on((ROOT / "ansible.cfg").read_text())},
            "phases": summarize(self.samples, self.a.top),
            "samples": self.samples,
            "seeds": self.seeds,
            "problems": self.problems + ([error] if error else []),
        }


def report(results: dict, compare: str | None, top: int) -> None:
    print()
    print(table(results["phases"], top))
    if compare:
        print()
        print("before/after (medians):")
        print(compare_table(json.loads(Path(compare).read_text())["phases"], results["phases"]))
    for p in results.get("problems") or []:
        print(f"PROBLEM: {p}")


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.results:
        results = json.loads(Path(a.results).read_text())
        report(results, a.compare, a.top)
        return 1 if results.get("problems") else 0
    if not pipelining_on((ROOT / "ansible.cfg").read_text()):
        print("[bench] warning: ansible.cfg has pipelining off; the timings will not compare", flush=True)
    signal.signal(signal.SIGTERM, _interrupted)
    bench = Bench(a)
    error = None
    try:
        lab.ensure_engine()
        bench.image = lab.build_image("bookworm")
        lab.build_mirror()
        bench.run()
    except BenchError as e:
        error = str(e)
    except KeyboardInterrupt:
        error = "interrupted"
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_child()
        lab.lab_down()
    results = bench.results(error)
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2) + "\n")
    report(results, a.compare, a.top)
    return 1 if results["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
