"""The day-2 driver's per-fault report (molecule/resources/faults.py)."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "molecule" / "resources"))

import faults  # noqa: E402

FAILED_RUN = """PLAY [Restart one member at a time] ********************************************

TASK [raftops.etcd.etcd : Wait until every member is started and healthy and there is a leader] ***
fatal: [raftops-day2-etcd-1 -> raftops-day2-etcd-1]: FAILED! =>
    changed: false
    msg: 'etcd cluster not healthy, gave up after 19s of 120s because the cause is clear:
        member raftops-day2-etcd-2: connection refused on https://172.31.206.12:2379'
    problems:
    - 'member raftops-day2-etcd-2 is unhealthy: ...'

TASK [raftops.etcd.etcd : Name the command that finishes or fixes what holds the gate] ***
fatal: [raftops-day2-etcd-1]: FAILED! =>
    changed: false
    msg: 'etcd cluster not healthy, gave up after 19s of 120s because the cause is clear: member raftops-day2-etcd-2:
        connection refused on https://172.31.206.12:2379. Once that is fixed, `ansible-playbook raftops.etcd.rolling_restart
        -i inv -e etcd_restart_before=1700000000` resumes the rolling restart'

PLAY RECAP *********************************************************************
raftops-day2-etcd-1        : ok=20   changed=1    unreachable=0    failed=1    skipped=3    rescued=1    ignored=0
"""


def test_failed_run_names_task_host_and_message():
    out = faults.run_outcome("rolling_restart", 2, FAILED_RUN, 61.26, 1)
    assert out["outcome"] == "failed" and out["rc"] == 2 and out["seconds"] == 61.3
    assert out["host"] == "raftops-day2-etcd-1"
    assert out["task"] == "raftops.etcd.etcd : Name the command that finishes or fixes what holds the gate"
    assert out["message"].startswith("etcd cluster not healthy, gave up after 19s of 120s")
    assert "etcd_restart_before=1700000000` resumes the rolling restart" in out["message"]


def test_killed_and_completed_runs():
    killed = faults.run_outcome("scale_out", -9, "TASK [a] ***\nok: [h]\nTASK [b : Add this host] ***\n", 12)
    assert killed["outcome"] == "killed" and killed["task"] == "b : Add this host"
    done = faults.run_outcome("scale_out", 0, "TASK [a] ***\nok: [h]\n", 40, 3)
    assert done["outcome"] == "completed" and done["changed"] == 3
    # rc 0 with a failed host is not a completed run.
    assert faults.run_outcome("x", 0, "TASK [a] ***\nfatal: [h]: FAILED! =>\n    msg: no\n", 1)["outcome"] == "failed"


def test_message_is_cut():
    text = "    msg: " + "x" * 1000 + "\n"
    assert len(faults.message_after(text, limit=50)) == 50


def test_log_aggregates_runs_and_writer_per_fault():
    log = faults.FaultLog()
    log.run(faults.run_outcome("site", 0, "", 1))  # no fault open: not recorded
    since = log.mark()
    log.begin("scale_out_interrupted", "controller SIGKILLed", faults.run_outcome("scale_out", -9, "", 5))
    log.run(faults.run_outcome("site", 2, "fatal: [h]: FAILED! =>\n    msg: Run scale_out\n", 20))
    log.run(faults.run_outcome("scale_out", 0, "", 44.0, 2))
    log.begin("scale_out_interrupted", "controller SIGKILLed again", faults.run_outcome("scale_out", -9, "", 6))
    log.run(faults.run_outcome("rolling_restart", 0, "", 30.0, 0))
    log.close()
    log.run(faults.run_outcome("maintenance", 0, "", 3))  # after the step: not recorded
    log.writer(since, {"acked": 8583, "lost": 0, "longest_unavailable_s": 0.4})
    first, second = log.records
    assert [r["playbook"] for r in first["runs_after"]] == ["site", "scale_out"]
    assert [r["playbook"] for r in second["runs_after"]] == ["rolling_restart"]
    assert faults.rerun_time(first) == 44.0 and faults.rerun_time(second) == 30.0
    assert first["acked"] == second["acked"] == 8583 and first["longest_unavailable_s"] == 0.4
    rows = faults.table(log.records).splitlines()
    assert len(rows) == 4 and rows[0].startswith("| step | fault | first run | re-run")
    assert "| site failed at [?]: Run scale_out |" in rows[2]
    assert "scale_out completed changed=2" in rows[2] and "| 44 | 8583 | 0 | 0.4 |" in rows[2]


def test_table_without_writer_or_rerun():
    log = faults.FaultLog()
    log.begin("s", "f", faults.run_outcome("p", -9, "", 1))
    row = faults.table(log.records).splitlines()[2]
    assert row.endswith("| - | - | - | - | - |")


def test_write_keeps_other_scenarios(tmp_path, monkeypatch):
    monkeypatch.setenv("RAFTOPS_CACHE", str(tmp_path))
    assert faults.report_path() == tmp_path / "reports" / "faults.json"
    faults.write("upgrade", [{"step": "upgrade_3_6"}])
    path = faults.write("day2", [{"step": "cut_off_mid_roll"}])
    assert json.loads(path.read_text()) == {"upgrade": [{"step": "upgrade_3_6"}], "day2": [{"step": "cut_off_mid_roll"}]}
    faults.write("day2", [])
    assert json.loads(path.read_text())["day2"] == []
