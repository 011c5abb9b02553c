"""Per-fault report of the day-2 driver (#12): pure Python, no docker.

One record per fault a step injects (a SIGKILLed controller, an etcd process
killed or a member cut off in the middle of an operation): what the first run
did, every playbook run after it until the next fault or the end of the step
(the re-run first), and the writer's acknowledged writes and longest window of
failed writes during the step. Written as JSON to
<cache>/reports/faults.json (cache: RAFTOPS_CACHE or ~/.cache/raftops-etcd),
one entry per scenario, and printed as a table.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from pathlib import Path

TASK = re.compile(r"^TASK \[(.+?)\]", re.M)
FAILED = re.compile(r"^(?:fatal|failed): \[([^\]]+)\]", re.M)
MSG = re.compile(r"^\s*msg:\s*(.*)$")


def report_path() -> Path:
    cache = Path(os.environ.get("RAFTOPS_CACHE", Path.home() / ".cache" / "raftops-etcd"))
    return cache / "reports" / "faults.json"


def run_outcome(playbook: str, rc: int, output: str, seconds: float, changed: int | None = None) -> dict:
    """What one ansible-playbook run did: completed, failed (the failed task,
    the host and the start of its message) or killed (the task it was in)."""
    tasks = TASK.findall(output)
    out = dict(playbook=playbook, rc=rc, seconds=round(seconds, 1), changed=changed)
    if rc < 0:
        out.update(outcome="killed", task=tasks[-1] if tasks else None)
        return out
    failed = list(FAILED.finditer(output))
    if rc == 0 and not failed:
        out.update(outcome="completed")
        return out
    out["outcome"] = "failed"
    if failed:
        last = failed[-1]
        out["host"] = last.group(1)
        before = TASK.findall(output[:last.start()])
        out["task"] = before[-1] if before else None
        out["message"] = message_after(output[last.end():])
    return out


def message_after(text: str, limit: int = 400) -> str | None:
    """The `msg:` of a failed task's result (yaml callback format), its
    continuation lines joined, cut to `limit` characters."""
    lines = text.splitlines()
    for i, line in enumerate(lines[:80]):
        m = MSG.match(line)
        if not m:
            continue
        indent = len(line) - len(line.lstrip())
        parts = [m.group(1).strip().lstrip(">|-").strip()]
        for more in lines[i + 1:]:
            if not more.strip() or len(more) - len(more.lstrip()) <= indent:
                break
            parts.append(more.strip())
        msg = " ".join(p for p in parts if p).strip("'\"")
        return msg if len(msg) <= limit else msg[:limit - 3] + "..."
    return None


class FaultLog:
    """The records of one scenario. begin() opens a record (and closes the
    previous one); run() adds each playbook run to the open record; writer()
    gives the writer's summary to the records begun since `since`; close()
    ends the step."""

    def __init__(self) -> None:
        self.records: list[dict] = []
        self.open: dict | None = None

    def begin(self, step: str, fault: str, first: dict, **facts) -> dict:
        self.close()
        self.open = dict(step=step, fault=fault, first_run=first, runs_after=[], acked=None, lost=None,
                         longest_unavailable_s=None, **facts)
        self.records.append(self.open)
        return self.open

    def run(self, outcome: dict) -> None:
        if self.open is not None:
            self.open["runs_after"].append(outcome)

    def mark(self) -> int:
        return len(self.records)

    def writer(self, since: int, summary: dict) -> None:
        for rec in self.records[since:]:
            rec.update(acked=summary.get("acked"), lost=summary.get("lost"),
                       longest_unavailable_s=summary.get("longest_unavailable_s"))

    def close(self) -> None:
        self.open = None


def rerun_time(rec: dict) -> float | None:
    """Seconds of the first run after the fault that completed."""
    done = [r for r in rec["runs_after"] if r.get("outcome") == "completed"]
    return done[0]["seconds"] if done else None


def describe(run: dict | None) -> str:
    if not run:
        return "-"
    what = f"{run['playbook']} {run['outcome']}"
    if run.get("outcome") == "killed" and run.get("task"):
        what += f" in [{run['task']}]"
    if run.get("outcome") == "failed":
        what += f" at [{run.get('task') or '?'}]" + (f": {run['message'][:120]}" if run.get("message") else "")
    if run.get("outcome") == "completed" and run.get("changed") is not None:
        what += f" changed={run['changed']}"
    return what


def table(records: list[dict]) -> str:
    """One row per fault: step, fault, first run, re-run (the first run after
    the fault), the runs after that, time of the run that completed it,
    acknowledged writes, lost, longest window of failed writes."""
    head = ["step", "fault", "first run", "re-run", "then", "re-run s", "acked", "lost", "longest failed window s"]
    rows = []
    for rec in records:
        after = rec["runs_after"]
        rows.append([rec["step"], rec["fault"], describe(rec["first_run"]), describe(after[0] if after else None),
                     "; ".join(describe(r) for r in after[1:]) or "-",
                     "-" if rerun_time(rec) is None else f"{rerun_time(rec):.0f}",
                     "-" if rec["acked"] is None else str(rec["acked"]),
                     "-" if rec["lost"] is None else str(rec["lost"]),
                     "-" if rec["longest_unavailable_s"] is None else f"{rec['longest_unavailable_s']:.1f}"])
    return "\n".join("| " + " | ".join(cell.replace("|", "/") for cell in row) + " |"
                     for row in [head, ["---"] * len(head)] + rows)


def write(scenario: str, records: list[dict], path: Path | None = None) -> Path:
    """Store this scenario's records in the report, next to the other
    scenarios' (the lanes run scenarios side by side: a lock and an atomic
    rename keep the file whole)."""
    path = path or report_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            report = json.loads(path.read_text()) if path.exists() else {}
        except ValueError:
            report = {}
        report[scenario] = records
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(report, indent=1))
        tmp.replace(path)
    return path
