"""Day-2 test driver: runs the collection's playbooks against a Molecule
scenario's containers the way an operator would, with the writer running.

Each step: start the bounded writer, run `ansible-playbook raftops.etcd.<name>`,
stop the writer, check that every acknowledged write reads back, then run the
playbook again and require changed=0. Results (acknowledged writes, lost,
longest unavailability) go to stdout and to a JSON report.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import faults

ROOT = Path(__file__).resolve().parents[2]
WRITER = Path(__file__).with_name("writer.py")
LAB_VARS = Path(__file__).with_name("vars") / "lab.yml"
# Runs inside a member (python3 and etcdctl are there): watches for one
# condition every 50 ms, prints what it saw as one JSON line and exits 0;
# exits 1 after the deadline (the last argument, seconds). Conditions:
#   member URL unstarted|learner|absent  the member with peer URL URL is added
#                                        with no name yet / a started learner /
#                                        gone from a member list that answered
#   file GLOB N                          more than N paths match GLOB
#   versions V                           `endpoint status --cluster` shows a
#                                        member on V and another on another
WATCH = r"""# raftops-watch
import glob, json, subprocess, sys, time
kind, args, deadline = sys.argv[1], sys.argv[2:-1], time.monotonic() + float(sys.argv[-1])


def etcdctl(*a):
    out = subprocess.run(["etcdctl", *a, "-w", "json"], capture_output=True, text=True).stdout
    try:
        return json.loads(out) if out.strip() else None
    except ValueError:
        return None


def seen():
    if kind == "member":
        url, want = args
        listed = etcdctl("member", "list")
        members = (listed or {}).get("members")
        if not members:
            return None
        mine = [m for m in members if m.get("peerURLs") == [url]]
        if want == "absent":
            return None if mine else {"absent": url, "members": [m.get("name") for m in members]}
        for m in mine:
            if (not m.get("name")) if want == "unstarted" else (bool(m.get("name")) and bool(m.get("isLearner"))):
                return m
        return None
    if kind == "file":
        found = sorted(glob.glob(args[0]))
        return {"files": found} if len(found) > int(args[1]) else None
    if kind == "versions":
        status = etcdctl("endpoint", "status", "--cluster") or []
        versions = {s["Endpoint"]: s["Status"]["version"] for s in status if s.get("Status")}
        if args[0] in versions.values() and any(v != args[0] for v in versions.values()):
            return {"versions": versions}
        return None
    raise SystemExit("unknown condition " + kind)


while time.monotonic() < deadline:
    found = seen()
    if found is not None:
        print(json.dumps(found), flush=True)
        sys.exit(0)
    time.sleep(0.05)
sys.exit(1)
"""
RECAP = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


class StepFailed(Exception):
    pass


class Lab:
    def __init__(self, scenario: str):
        self.scenario = scenario
        # scripts/test.py pins Molecule's state directory through this variable.
        if not os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY"):
            raise SystemExit("set MOLECULE_EPHEMERAL_DIRECTORY to the scenario's Molecule state directory "
                             "(scripts/test.py does)")
        self.ephemeral = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
        self.inventory = self.ephemeral / "inventory"
        # A scenario's own inventory/hosts.yml adds groups Molecule cannot express
        # (the same hosts in another order).
        self.extra_inventory = ROOT / "molecule" / scenario / "inventory" / "hosts.yml"
        if not self.inventory.is_dir():
            raise SystemExit(f"no Molecule inventory at {self.inventory}: run `molecule create -s {scenario}` first")
        self.pki = self.ephemeral / "pki"
        self.work = self.ephemeral / "day2"
        self.work.mkdir(exist_ok=True)
        self.report: list[dict] = []
        # One record per fault (faults.py): controller kills and cluster faults.
        self.faults = faults.FaultLog()
        self.step = ""
        self.last_output = ""
        # Extra vars every playbook gets; DAY2_EXTRA (JSON) resumes a partial run.
        self.extra: dict = json.loads(os.environ.get("DAY2_EXTRA", "{}"))
        self.ips = self._ips()

    # ------------------------------------------------------------ plumbing
    def _ips(self) -> dict[str, str]:
        names = subprocess.run(["docker", "ps", "-a", "--filter", f"name=raftops-{self.scenario}-",
                                "--format", "{{.Names}}"], capture_output=True, text=True, check=False).stdout.split()
        out = subprocess.run(["docker", "inspect", "-f",
                              "{{.Name}} {{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"] + names,
                             capture_output=True, text=True, check=False).stdout
        return {n.lstrip("/"): ip for n, ip in (line.split() for line in out.splitlines() if len(line.split()) == 2)}

    def env(self) -> dict:
        env = dict(os.environ)
        env.update(ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"), ANSIBLE_FORKS="20",
                   ANSIBLE_PIPELINING="True", ANSIBLE_GATHERING="explicit",
                   ANSIBLE_CALLBACK_RESULT_FORMAT="yaml", ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_NOCOLOR="1",
                   MOLECULE_EPHEMERAL_DIRECTORY=str(self.ephemeral))
        return env

    def command(self, name: str, extra: dict | None, tag: str = "") -> list[str]:
        """The ansible-playbook command line of raftops.etcd.<name> with the
        lab's inventories and variables and `extra` (written to a file named
        after the playbook and `tag`)."""
        ev_file = self.work / f"extra-{name}{tag}.json"
        ev_file.write_text(json.dumps(dict(self.extra, **(extra or {}))))
        inventories = [self.inventory] + ([self.extra_inventory] if self.extra_inventory.exists() else [])
        return [str(Path(sys.executable).with_name("ansible-playbook")),
                *[a for inv in inventories for a in ("-i", str(inv))], f"raftops.etcd.{name}",
                "-e", f"@{LAB_VARS}", "-e", f"@{ev_file}"]

    def playbook(self, name: str, extra: dict | None = None, expect_fail: str | None = None,
                 check: bool = False) -> dict[str, int]:
        """Run raftops.etcd.<name>; return {host: changed}. expect_fail: a regex the failure must show."""
        ev = dict(self.extra, **(extra or {}))
        cmd = self.command(name, extra)
        if check:
            cmd.append("--check")
        print(f"\n$ ansible-playbook raftops.etcd.{name} {json.dumps(ev)}{' --check' if check else ''}", flush=True)
        t0 = time.monotonic()
        proc = subprocess.run(cmd, cwd=ROOT, env=self.env(), capture_output=True, text=True, check=False)
        took = time.monotonic() - t0
        out = proc.stdout + proc.stderr
        self.last_output = out
        (self.work / f"{name}-{int(time.time())}.log").write_text(out)
        recap = {h: (int(c), int(u), int(f)) for h, c, u, f in RECAP.findall(out)}
        print(f"  rc={proc.returncode} {took:.0f}s recap={recap}", flush=True)
        if not check:
            self.faults.run(faults.run_outcome(name, proc.returncode, out, took,
                                               sum(c for h, (c, _u, _f) in recap.items() if h != "localhost")))
        if expect_fail:
            if proc.returncode == 0:
                raise StepFailed(f"{name} should have failed ({expect_fail}) but succeeded")
            if not re.search(expect_fail, out):
                print(out[-4000:])
                raise StepFailed(f"{name} failed, but without /{expect_fail}/")
            return {h: c for h, (c, _u, _f) in recap.items()}
        if proc.returncode != 0 or any(f for _c, _u, f in recap.values()):
            print(out[-12000:])
            self.journals()
            raise StepFailed(f"{name} failed (rc={proc.returncode})")
        return {h: c for h, (c, _u, _f) in recap.items()}

    def killed(self, name: str, extra: dict | None, host: str, watch: list[str], timeout: int = 600,
               env: dict | None = None) -> dict:
        """Run raftops.etcd.<name> as playbook() does, watch for the condition
        `watch` (see WATCH) inside `host`, and SIGKILL the playbook's whole
        process group (controller, forks, their docker exec clients) the
        moment it holds: a controller that dies there. Returns what the
        watcher saw. Fails when the playbook ends first or nothing is seen
        within `timeout` seconds (the watcher's own deadline is the same)."""
        cmd = self.command(name, extra, "-killed")
        log = self.work / f"{name}-killed-{int(time.time())}.log"
        print(f"\n$ ansible-playbook raftops.etcd.{name} {json.dumps(extra)}  (SIGKILL once {' '.join(watch)} on {host})"
              f"{' ' + json.dumps(env) if env else ''}", flush=True)
        t0 = time.monotonic()
        with open(log, "w") as out:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=dict(self.env(), **(env or {})), stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            watcher = subprocess.Popen(["docker", "exec", host, "sh", "-c",
                                        '[ -e /etc/profile.d/etcdctl.sh ] && . /etc/profile.d/etcdctl.sh; '
                                        'exec python3 -c "$0" "$@"', WATCH, *watch, str(timeout)],
                                       stdout=subprocess.PIPE, text=True)
            seen = ""
            deadline = time.monotonic() + timeout
            try:
                # Until the watcher reports, the playbook ends, or the time is up.
                while not seen and proc.poll() is None and time.monotonic() < deadline:
                    if select.select([watcher.stdout], [], [], 1)[0]:
                        seen = watcher.stdout.readline() or "-"
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                watcher.kill()
                watcher.wait(timeout=30)
                # Killing the docker exec client leaves the watcher running
                # in the container: end it there.
                self.sh(host, "pkill -f '[r]aftops-watch' || true", check=False)
                rc = proc.wait(timeout=60)
            seen = "" if seen == "-" else seen
        self.last_output = log.read_text()
        print(f"  rc={rc} {time.monotonic() - t0:.0f}s, killed at {seen.strip()}", flush=True)
        self.faults.begin(self.step, f"controller SIGKILLed once {' '.join(watch)} on {host}",
                          faults.run_outcome(name, rc, self.last_output, time.monotonic() - t0))
        self.report.append(dict(step=f"{name}_killed", watch=" ".join(watch), killed_after_s=round(time.monotonic() - t0)))
        expect(bool(seen) and rc == -signal.SIGKILL,
               f"{name} was not killed at {' '.join(watch)} (rc={rc}, seen={seen!r}); log {log}")
        return json.loads(seen)

    def faulted(self, name: str, extra: dict | None, fault: str, when: Callable[[], bool],
                inject: Callable[[], None], timeout: int = 300) -> dict:
        """Run raftops.etcd.<name> as playbook() does; poll `when()` (the
        cluster or process state, read from outside) until it holds, then
        `inject()` the fault once and let the playbook go on to its end.
        Bounded: fails when the playbook ends before `when` holds, or when it
        has not ended `timeout` seconds after it started (then it is killed).
        Returns rc, output and the seconds from the fault to the end."""
        cmd = self.command(name, extra, "-faulted")
        log = self.work / f"{name}-faulted-{int(time.time())}.log"
        print(f"\n$ ansible-playbook raftops.etcd.{name} {json.dumps(extra)}  ({fault})", flush=True)
        t0 = time.monotonic()
        deadline = t0 + timeout
        injected = None
        with open(log, "w") as out:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env(), stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            try:
                while proc.poll() is None and time.monotonic() < deadline:
                    if injected is None and when():
                        inject()
                        injected = time.monotonic()
                        print(f"  fault injected after {injected - t0:.0f}s: {fault}", flush=True)
                    time.sleep(0.25 if injected is None else 1)
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                rc = proc.wait(timeout=60)
        end = time.monotonic()
        self.last_output = log.read_text()
        first = faults.run_outcome(name, rc, self.last_output, end - t0)
        print(f"  rc={rc} {end - t0:.0f}s: {faults.describe(first)}", flush=True)
        expect(injected is not None, f"{name} ended (rc={rc}) before the fault point ({fault}); log {log}")
        expect(rc != -signal.SIGKILL, f"{name} did not end within {timeout}s after the fault ({fault}); log {log}")
        self.faults.begin(self.step, fault, first, seconds_fault_to_end=round(end - injected, 1))
        return dict(rc=rc, output=self.last_output, after_fault_s=end - injected, log=str(log))

    def fresh(self, host: str) -> None:
        """Replace a host with a new machine of the same name and addresses: the
        container is removed and run again from its image with the settings it
        had (networks and IPs, capabilities, mounts, command), so nothing of
        what it held is left."""
        info = json.loads(subprocess.run(["docker", "inspect", host], capture_output=True, text=True,
                                         check=True).stdout)[0]
        cfg, hc = info["Config"], info["HostConfig"]
        nets = {n: (v.get("IPAMConfig") or {}).get("IPv4Address") or v["IPAddress"]
                for n, v in info["NetworkSettings"]["Networks"].items()}
        first, *rest = nets.items()
        args = ["docker", "run", "-d", "--name", host, "--hostname", cfg["Hostname"],
                "--network", first[0], "--ip", first[1], "--cgroupns", hc.get("CgroupnsMode") or "private"]
        args += [a for c in hc.get("CapAdd") or [] for a in ("--cap-add", c)]
        args += [a for o in hc.get("SecurityOpt") or [] for a in ("--security-opt", o)]
        args += [a for b in hc.get("Binds") or [] for a in ("-v", b)]
        args += [a for t, o in (hc.get("Tmpfs") or {}).items() for a in ("--tmpfs", f"{t}:{o}" if o else t)]
        args += [a for e in cfg.get("Env") or [] for a in ("-e", e)]
        if cfg.get("Entrypoint"):
            args += ["--entrypoint", cfg["Entrypoint"][0]]
        args += [cfg["Image"]] + (cfg.get("Entrypoint") or [])[1:] + (cfg.get("Cmd") or [])
        subprocess.run(["docker", "rm", "-f", host], check=True, capture_output=True)
        subprocess.run(args, check=True, capture_output=True)
        for net, ip in rest:
            subprocess.run(["docker", "network", "connect", "--ip", ip, net, host], check=True, capture_output=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = subprocess.run(["docker", "exec", host, "systemctl", "is-system-running"], capture_output=True,
                                   text=True, check=False).stdout.strip()
            if state in ("running", "degraded"):
                return
            time.sleep(1)
        raise StepFailed(f"{host}: systemd did not come up in the new container ({state!r})")

    def networks(self, host: str) -> dict[str, str]:
        """{docker network: IPv4 address} of a container."""
        out = subprocess.run(["docker", "inspect", "-f", "{{json .NetworkSettings.Networks}}", host],
                             capture_output=True, text=True, check=True).stdout
        return {n: v.get("IPAddress", "") for n, v in json.loads(out).items()}

    def cut_off(self, host: str) -> dict[str, str]:
        """Disconnect a container from the scenario's own networks (the ones
        Molecule made for it); returns what reconnect() puts back."""
        nets = {n: ip for n, ip in self.networks(host).items() if n.startswith(f"raftops-{self.scenario}")}
        expect(bool(nets), f"{host} is on no network of scenario {self.scenario}: {self.networks(host)}")
        for net in nets:
            subprocess.run(["docker", "network", "disconnect", net, host], check=True, capture_output=True)
        return nets

    def reconnect(self, host: str, nets: dict[str, str]) -> None:
        """Connect a container again with the same addresses."""
        for net, ip in nets.items():
            subprocess.run(["docker", "network", "connect", "--ip", ip, net, host], check=True, capture_output=True)
        expect(self.networks(host).items() >= nets.items(), f"{host} did not get back {nets}: {self.networks(host)}")

    def healthy(self, host: str, timeout: int = 120) -> None:
        """Wait (bounded) until every member answers healthy, asked from `host`."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            last = self.sh(host, ". /etc/profile.d/etcdctl.sh; etcdctl endpoint health --cluster -w json 2>&1",
                           check=False)
            try:
                if all(e.get("health") for e in json.loads(last)):
                    return
            except (ValueError, AttributeError):
                pass
            time.sleep(1)
        raise StepFailed(f"the cluster is not healthy {timeout}s after the fault cleared: {last[-1000:]}")

    def settled(self, host: str, timeout: int = 200) -> None:
        """Wait (bounded) until no module of the killed run is left running on
        `host`: what the dead controller had in flight there ends on its own."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # A module runs as `python3 && sleep 0` (pipelining) or from an AnsiballZ file.
            if not self.sh(host, "pgrep -f '[A]nsiballZ|[p]ython3 && sleep 0' || true", check=False).strip():
                return
            time.sleep(0.5)
        raise StepFailed(f"{host}: modules of the killed run still run after {timeout}s")

    def journals(self) -> None:
        """Before the scenario is destroyed: every etcd host's journal of the
        etcd unit into the work directory, its last errors printed."""
        for host in sorted(h for h in self.ips if "-etcd-" in h):
            text = self.sh(host, "journalctl -u etcd --no-pager -o cat -n 400 2>&1", check=False)
            path = self.work / f"journal-{host}.log"
            path.write_text(text)
            bad = [line for line in text.splitlines()
                   if re.search(r'"level":"(error|fatal|panic)"|Failed|exited', line)]
            print(f"--- {host}: etcd journal in {path}; last errors:", flush=True)
            for line in bad[-8:]:
                print("    " + line[:400], flush=True)

    def idempotent(self, name: str, extra: dict | None = None) -> None:
        changed = self.playbook(name, extra)
        busy = {h: c for h, c in changed.items() if c and h != "localhost"}
        if busy:
            raise StepFailed(f"re-run of {name} on the converged cluster changed {busy}")
        print(f"  re-run of {name}: changed=0", flush=True)

    def predicts(self, name: str, extra: dict | None, changing: list[str], watched: list[str]) -> None:
        """--check must predict a change on each host of `changing` and leave
        every host of `watched` as it was (members, etcd process, files)."""
        before = self.fingerprint(watched)
        predicted = self.playbook(name, extra, check=True)
        quiet = [h for h in changing if not predicted.get(h)]
        expect(not quiet, f"{name} --check predicted no change on {quiet}: {predicted}")
        after = self.fingerprint(watched)
        diff = {k: (before[k], after.get(k)) for k in before if before[k] != after.get(k)}
        expect(not diff, f"{name} --check changed the hosts: {diff}")
        print(f"  {name} --check predicted {predicted} and changed nothing", flush=True)

    def fingerprint(self, hosts: list[str]) -> dict[str, str]:
        """What a check run must not touch: per host the etcd process, the
        files of the collection and the membership etcd reports."""
        script = ("systemctl show -p ExecMainStartTimestampMonotonic -p UnitFileState --value etcd; "
                  "find /etc/etcd /opt/etcd /var/backups/etcd /etc/systemd/system /usr/local/bin "
                  "-maxdepth 2 2>/dev/null | sort | xargs -r ls -ld --time-style=+%s 2>/dev/null | md5sum; "
                  # etcd itself writes below its data directory: names only.
                  "ls -d /var/lib/etcd*; "
                  "if [ -e /etc/profile.d/etcdctl.sh ] && systemctl -q is-active etcd; then "
                  ". /etc/profile.d/etcdctl.sh; etcdctl member list -w simple | sort; fi")
        return {h: self.sh(h, script, check=False) for h in hosts}

    def sh(self, host: str, script: str, check: bool = True) -> str:
        proc = subprocess.run(["docker", "exec", host, "sh", "-c", script], capture_output=True, text=True,
                              check=False)
        if check and proc.returncode != 0:
            raise StepFailed(f"{host}: {script}: {proc.stderr.strip()}")
        return proc.stdout

    def backup_now(self, host: str, check: bool = True) -> str:
        """Run the scheduled backup (etcd-backup.service) once on `host`. When it fails, the
        error carries the unit's journal, which says which step failed and why."""
        return self.sh(host, "systemctl start etcd-backup.service || { rc=$?; "
                             "journalctl -u etcd-backup.service --no-pager -o cat -n 40 >&2; exit $rc; }", check=check)

    def etcdctl(self, host: str, args: str) -> dict | list:
        return json.loads(self.sh(host, f". /etc/profile.d/etcdctl.sh; etcdctl {args} -w json"))

    def leader(self, host: str) -> str:
        status = self.etcdctl(host, "endpoint status")[0]["Status"]
        return next(n for n, m in self.members(host).items() if m["ID"] == status["leader"])

    def members(self, host: str) -> dict[str, dict]:
        data = self.etcdctl(host, "member list")
        return {m.get("name", ""): m for m in data.get("members", [])}

    # ------------------------------------------------------------ writer
    def writer_args(self, hosts: list[str]) -> list[str]:
        host0 = hosts[0]
        return [sys.executable, str(WRITER),
                "--endpoints", ",".join(f"https://{self.ips[h]}:2379" for h in hosts),
                "--cacert", str(self.pki / "ca.crt"),
                "--cert", str(self.pki / "members" / host0 / "root" / "admin.crt"),
                "--key", str(self.pki / "members" / host0 / "root" / "admin.key")]

    @contextmanager
    def writer(self, step: str, hosts: list[str], duration: int = 900):
        out = self.work / f"writer-{step}.json"
        stop = self.work / f"writer-{step}.stop"
        stop.unlink(missing_ok=True)
        base = self.writer_args(hosts)
        since = self.faults.mark()
        proc = subprocess.Popen(base + ["run", "--out", str(out), "--prefix", f"/raftops-test/{step}/",
                                        "--tag", step, "--duration", str(duration), "--stop-file", str(stop)])
        time.sleep(2)
        t0 = time.monotonic()
        try:
            yield
        finally:
            time.sleep(2)
            stop.touch()
            proc.wait(timeout=duration + 30)
        res = subprocess.run(base + ["verify", "--out", str(out)], capture_output=True, text=True, check=False)
        print(f"  writer {step}: {res.stdout.strip()} {res.stderr.strip()}", flush=True)
        summary = json.loads(res.stdout.strip().splitlines()[-1]) if res.stdout.strip() else {}
        self.report.append(dict(step=step, operation_s=round(time.monotonic() - t0), **summary))
        self.faults.writer(since, summary)
        if res.returncode != 0:
            raise StepFailed(f"writer {step}: {res.stderr.strip()}")

    def dump(self, hosts: list[str], prefix: str = "/raftops-test/") -> dict[str, str]:
        out = self.work / "dump.json"
        subprocess.run(self.writer_args(hosts) + ["dump", "--out", str(out), "--prefix", prefix], check=True)
        return json.loads(out.read_text())

    def churn(self, hosts: list[str], count: int, size: int, until_nospace: bool = False) -> dict:
        res = subprocess.run(self.writer_args(hosts) + ["churn", "--prefix", "/raftops-churn/", "--count", str(count),
                                                        "--size", str(size)] + (["--until-nospace"] if until_nospace else []),
                             capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise StepFailed(f"churn: {res.stdout.strip()} {res.stderr.strip()[-2000:]}")
        return json.loads(res.stdout.strip().splitlines()[-1])

    # ------------------------------------------------------------ steps
    def steps(self, steps: list, only: list[str] | None = None) -> int:
        """Run `steps` (functions taking the Lab) in order; `only`: the names
        of those to run (all when empty). An unknown name is refused, so a
        misspelled step cannot pass by running nothing."""
        known = [f.__name__ for f in steps]
        unknown = sorted(set(only or []) - set(known))
        if unknown:
            raise SystemExit(f"unknown step(s) {unknown}; the steps of {self.scenario}: {', '.join(known)}")
        steps = [f for f in steps if not only or f.__name__ in only]
        t0 = time.monotonic()
        try:
            for func in steps:
                print(f"\n=== {self.scenario}: {func.__name__}", flush=True)
                s0 = time.monotonic()
                self.step = func.__name__
                try:
                    func(self)
                finally:
                    self.faults.close()
                print(f"=== {func.__name__}: passed in {time.monotonic() - s0:.0f}s", flush=True)
        finally:
            report = dict(scenario=self.scenario, seconds=round(time.monotonic() - t0), steps=self.report)
            path = Path.home() / ".cache" / "raftops-etcd" / "reports" / f"{self.scenario}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(report, indent=1))
            print("\n=== writer report")
            for r in self.report:
                print(f"  {r}")
            if self.faults.records:
                where = faults.write(self.scenario, self.faults.records)
                print(f"\n=== faults ({where})\n{faults.table(self.faults.records)}", flush=True)
        return 0


def expect(cond: bool, msg: str) -> None:
    if not cond:
        raise StepFailed(msg)
