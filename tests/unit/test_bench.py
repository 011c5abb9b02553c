"""scripts/bench.py's pure parts: arguments, the recap, profile_tasks' summary,
medians and the table, the inventories it writes, the checks it makes after
each phase. The samples follow the output of ansible-core 2.19's default
callback and ansible.posix's profile_tasks (80-column summary when stdout is
not a terminal: the name padded with "-" to 70, the time right-aligned in 9)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import bench  # noqa: E402
from ansible_collections.raftops.etcd.plugins.filter.clusters import site_clusters  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"

# The tail of a cold site.yml on the lab, profile_tasks enabled
# (PROFILE_TASKS_TASK_OUTPUT_LIMIT=all, descending).
COLD = """\
TASK [Members and endpoint status] *********************************************
Tuesday 24 November 2026  10:31:52 +0000 (0:00:00.902)       0:00:34.118 ******
ok: [etcd-1] =>
    msg:
    - etcd-1 id=5c1f0b1e2f0c9a1d https://172.31.250.11:2379 follower version=3.5.30 db=20480 raft_index=8

PLAY RECAP *********************************************************************
etcd-1                     : ok=112  changed=31   unreachable=0    failed=0    skipped=64   rescued=0    ignored=0
etcd-2                     : ok=104  changed=30   unreachable=0    failed=0    skipped=66   rescued=0    ignored=0
etcd-3                     : ok=104  changed=30   unreachable=0    failed=0    skipped=66   rescued=0    ignored=0


TASKS RECAP ********************************************************************
Tuesday 24 November 2026  10:31:52 +0000 (0:00:00.311)       0:00:34.429 ******
===============================================================================
raftops.etcd.etcd : Member and admin certificates ----------------------- 6.42s
raftops.etcd.etcd : Member and admin private keys ----------------------- 3.18s
raftops.etcd.chrony : Install chrony ------------------------------------ 2.95s
raftops.etcd.etcd : Unpack etcd 3.5.30 ---------------------------------- 2.11s
raftops.etcd.etcd : Generate the cluster CA ----------------------------- 1.87s
raftops.etcd.etcd : Wait until every member is started and healthy and there is a leader --- 1.42s
raftops.etcd.etcd : Read the member's files ----------------------------- 0.84s
raftops.etcd.etcd : Read the member's files ----------------------------- 0.57s
Group the hosts by cluster, one batch each ------------------------------ 0.05s
"""

# A local two-play run with profile_tasks, captured as is (ansible-core 2.19.14,
# ansible.posix's callback): two tasks of the same name, a name too long for the padding.
CAPTURED = """
PLAY [Sample play] *************************************************************

TASK [Short task] **************************************************************
Tuesday 24 November 2026  10:07:22 +0000 (0:00:00.014)       0:00:00.014 ******
ok: [localhost]

TASK [A much longer task name that goes on and on and on to test the width of the summary line] ***
Tuesday 24 November 2026  10:07:23 +0000 (0:00:00.647)       0:00:00.662 ******
ok: [localhost]

PLAY [Second play] *************************************************************

TASK [Short task] **************************************************************
Tuesday 24 November 2026  10:07:24 +0000 (0:00:00.813)       0:00:01.475 ******
changed: [localhost]

PLAY RECAP *********************************************************************
localhost                  : ok=3    changed=1    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0


TASKS RECAP ********************************************************************
Tuesday 24 November 2026  10:07:24 +0000 (0:00:00.463)       0:00:01.939 ******
===============================================================================
A much longer task name that goes on and on and on to test the width of the summary line --- 0.81s
Short task -------------------------------------------------------------- 0.65s
Short task -------------------------------------------------------------- 0.46s
"""

FAILED = """\
TASK [raftops.etcd.etcd : Wait until every member is started and healthy and there is a leader] ***
fatal: [etcd-1]: FAILED! =>
    changed: false
    msg: 'etcd cluster not healthy'

PLAY RECAP *********************************************************************
etcd-1                     : ok=40   changed=2    unreachable=0    failed=1    skipped=9    rescued=0    ignored=0
etcd-2                     : ok=38   changed=2    unreachable=0    failed=0    skipped=9    rescued=0    ignored=0
etcd-3                     : ok=12   changed=0    unreachable=1    failed=0    skipped=2    rescued=0    ignored=0
"""


def test_args_default_all_phases_in_order():
    a = bench.parse_args([])
    assert a.phases == list(bench.PHASES) and a.runs == 1 and a.profile and a.top == 10


def test_args_phases_run_in_dependency_order():
    a = bench.parse_args(["--runs", "3", "--phases", "replace_node,noop, cold_ca", "--no-profile"])
    assert a.phases == ["cold_ca", "noop", "replace_node"] and a.runs == 3 and not a.profile


@pytest.mark.parametrize("argv", [["--phases", "cold,noop"], ["--runs", "0"], ["--phases", ","], ["--top", "0"]])
def test_args_refused(argv, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(argv)
    assert "error" in capsys.readouterr().err


def test_recap():
    recap = bench.parse_recap(COLD)
    assert sorted(recap) == ["etcd-1", "etcd-2", "etcd-3"]
    assert recap["etcd-1"] == {"ok": 112, "changed": 31, "unreachable": 0, "failed": 0, "skipped": 64,
                               "rescued": 0, "ignored": 0}
    assert bench.changed_total(recap) == 91 and bench.recap_failures(recap) == []


def test_recap_failures_and_unreachable():
    recap = bench.parse_recap(FAILED)
    assert bench.recap_failures(recap) == ["etcd-1", "etcd-3"]


def test_recap_missing():
    assert bench.parse_recap("ERROR! the playbook could not be found") == {}


def test_profile_of_a_cold_run():
    prof = bench.parse_profile(COLD)
    assert prof["raftops.etcd.etcd : Member and admin certificates"] == {"s": 6.42, "count": 1}
    # The same name twice (an included file run twice): summed.
    assert prof["raftops.etcd.etcd : Read the member's files"] == {"s": 1.41, "count": 2}
    long_name = "raftops.etcd.etcd : Wait until every member is started and healthy and there is a leader"
    assert prof[long_name]["s"] == 1.42
    assert len(prof) == 8 and "Group the hosts by cluster, one batch each" in prof
    # The per-task timestamp lines are not tasks.
    assert not any("0:00:" in n for n in prof)


def test_profile_of_captured_output():
    prof = bench.parse_profile(CAPTURED)
    assert prof == {"A much longer task name that goes on and on and on to test the width of the summary line":
                    {"s": 0.81, "count": 1}, "Short task": {"s": 1.11, "count": 2}}


def test_profile_edge_lines():
    text = ("TASKS RECAP ***\nTuesday (0:00:00.1)       0:00:00.1 ***\n=====\n"
            "Check - the gate - x ---------------------------------------------------- 0.61s\n"
            "raftops.etcd.etcd : Fetch and verify the release archive once, on the controller - 123.45s\n"
            "wait -------------------------------------------------------------- 1234.56s\n"
            "\nsomething else ---- 9.99s\n")
    prof = bench.parse_profile(text)
    assert prof == {"Check - the gate - x": {"s": 0.61, "count": 1},
                    "raftops.etcd.etcd : Fetch and verify the release archive once, on the controller":
                    {"s": 123.45, "count": 1},
                    "wait": {"s": 1234.56, "count": 1}}


def test_profile_missing():
    assert bench.parse_profile(FAILED) == {}


def test_top_tasks_median_over_runs():
    runs = [{"a": {"s": 5.0, "count": 1}, "b": {"s": 1.0, "count": 2}},
            {"a": {"s": 3.0, "count": 1}, "b": {"s": 9.0, "count": 2}},
            {"b": {"s": 2.0, "count": 2}, "c": {"s": 0.5, "count": 1}}]
    top = bench.top_tasks(runs, 2)
    # a: median(5, 3, 0) = 3; b: median(1, 9, 2) = 2; c: median(0, 0, 0.5) = 0
    assert top == [{"task": "a", "median_s": 3.0, "count": 1}, {"task": "b", "median_s": 2.0, "count": 2}]


def sample(s, changed=0, per=3, members=3, profile=None):
    return {"run": 1, "s": s, "per": per, "members": members, "changed": changed, "profile": profile or {}}


def test_summary_targets_and_medians():
    samples = {
        "cold_ca": [sample(21.0), sample(19.5), sample(19.9, profile=bench.parse_profile(COLD))],
        "noop": [sample(4.1), sample(4.3, changed=2), sample(4.0)],
        "cold_new_ca": [sample(24.9)],
        "replace_node": [sample(30.0, per=1), sample(32.0, per=1)],
        "rolling_restart": [sample(18.0)],
    }
    s = bench.summarize(samples, 3)
    assert list(s) == ["cold_new_ca", "cold_ca", "noop", "rolling_restart", "replace_node"]
    assert s["cold_ca"]["median_s"] == 19.9 and s["cold_ca"]["target_s"] == 20.0 and s["cold_ca"]["met"] is True
    assert s["cold_new_ca"]["met"] is True and s["cold_new_ca"]["target_s"] == 25.0
    # Fast enough, but a re-run changed something: not met.
    assert s["noop"]["median_s"] == 4.1 and s["noop"]["changed"] == [0, 2, 0] and s["noop"]["met"] is False
    assert s["rolling_restart"]["per_member_median_s"] == 6.0 and s["rolling_restart"]["met"] is None
    assert s["replace_node"]["median_s"] == 31.0 and s["replace_node"]["per_member_median_s"] == 31.0
    # Top tasks from the runs that have a profile (here one): the slowest first, --top 3.
    top = s["cold_ca"]["top_tasks"]
    assert [(t["task"], t["median_s"]) for t in top] == [("raftops.etcd.etcd : Member and admin certificates", 6.42),
                                                         ("raftops.etcd.etcd : Member and admin private keys", 3.18),
                                                         ("raftops.etcd.chrony : Install chrony", 2.95)]
    assert s["noop"]["top_tasks"] == []


def test_summary_top_tasks_share():
    prof = bench.parse_profile(COLD)
    s = bench.summarize({"cold_ca": [sample(32.1, profile=prof), sample(34.4, profile=prof)]}, 2)
    top = s["cold_ca"]["top_tasks"]
    assert top[0] == {"task": "raftops.etcd.etcd : Member and admin certificates", "median_s": 6.42, "count": 1,
                      "share_pct": 19.3}
    assert s["cold_ca"]["met"] is False


def test_noop_growth_phase_met_by_changed_only():
    s = bench.summarize({"five_noop": [sample(12.0, members=5, per=5)]}, 5)
    assert s["five_noop"]["target_s"] is None and s["five_noop"]["met"] is True
    s = bench.summarize({"five_noop": [sample(12.0, changed=1, members=5, per=5)]}, 5)
    assert s["five_noop"]["met"] is False


def test_table():
    prof = bench.parse_profile(COLD)
    s = bench.summarize({"cold_ca": [sample(19.9, profile=prof)], "noop": [sample(6.0, changed=3)],
                         "five": [sample(40.0, members=5, per=5)]}, 2)
    out = bench.table(s)
    lines = out.splitlines()
    assert lines[0].split() == ["phase", "members", "runs", "median", "s", "per", "member", "s", "target", "s", "met"]
    assert lines[2].split() == ["cold_ca", "3", "1", "19.9", "6.6", "20", "yes"]
    assert lines[3].split() == ["noop", "3", "1", "6.0", "2.0", "5", "NO", "(changed=3)"]
    assert lines[4].split() == ["five", "5", "1", "40.0", "8.0", "-", "-"]
    assert "cold_ca: slowest tasks" in out
    assert "   6.42s  32.3%  raftops.etcd.etcd : Member and admin certificates" in out
    assert "Unpack" not in out  # --top 2


def test_compare_table():
    before = bench.summarize({"cold_ca": [sample(36.0)], "noop": [sample(10.4)]}, 1)
    after = bench.summarize({"cold_ca": [sample(18.0)], "noop": [sample(4.8)], "five": [sample(30.0, members=5)]}, 1)
    lines = bench.compare_table(before, after).splitlines()
    assert lines[2].split() == ["cold_ca", "36.0", "18.0", "-50%", "20", "yes"]
    assert lines[3].split() == ["noop", "10.4", "4.8", "-54%", "5", "yes"]
    assert lines[4].split() == ["five", "-", "30.0", "-", "-", "-"]


def inventory_groups(inv):
    """Ansible's groups and the site play's members of a bench inventory, read as Ansible would."""
    groups, members = {"all": []}, {}
    clusters = {"etcd": inv["etcd"]} if "etcd" in inv else inv["etcd_clusters"]["children"]
    for group, body in clusters.items():
        gvars = dict(inv["all"]["vars"], **body.get("vars", {}))
        groups[group] = list(body["hosts"])
        groups["all"] += list(body["hosts"])
        for h in body["hosts"]:
            members[h] = {"group": gvars.get("etcd_cluster_group", "etcd"), "name": gvars.get("etcd_cluster_name", "etcd")}
    if "etcd_clusters" in inv:
        groups["etcd_clusters"] = list(groups["all"])
    return groups, members


def test_inventory_three_clusters():
    inv = bench.inventory("three_clusters", "3.5.30")
    groups, members = inventory_groups(inv)
    site = site_clusters(groups["all"], members, groups)
    assert site["problems"] == [] and site["batches"] == [3, 3, 3]
    assert site["clusters"] == ["etcd_bench_a", "etcd_bench_b", "etcd_bench_c"]
    children = inv["etcd_clusters"]["children"]
    ports = [(c["vars"]["etcd_client_port"], c["vars"]["etcd_peer_port"]) for c in children.values()]
    assert ports == [(2379, 2380), (2389, 2390), (2399, 2400)]
    assert len({c["vars"]["etcd_cluster_name"] for c in children.values()}) == 3
    hosts = {h: v for c in children.values() for h, v in c["hosts"].items()}
    assert hosts["etcd-9"]["ansible_host"] == "raftops-lab-etcd-9" and hosts["etcd-9"]["etcd_address"] == "172.31.250.19"
    # One time source for every cluster: etcd-1.
    assert hosts["etcd-1"]["chrony_servers"] == [] and hosts["etcd-1"]["chrony_local_stratum"] == 8
    assert all(v["chrony_servers"] == ["172.31.250.11"] for h, v in hosts.items() if h != "etcd-1")
    assert inv["all"]["vars"]["etcd_archive_base_url"] == "http://172.31.250.5:8080"
    assert bench.first_members(inv) == [("raftops-lab-etcd-1", 3), ("raftops-lab-etcd-4", 3), ("raftops-lab-etcd-7", 3)]


def test_inventory_single_cluster():
    inv = bench.inventory("five", "3.6.16")
    assert list(inv["etcd"]["hosts"]) == ["etcd-1", "etcd-2", "etcd-3", "etcd-4", "etcd-5"]
    assert inv["all"]["vars"]["etcd_cluster_name"] == "bench" and inv["all"]["vars"]["etcd_version"] == "3.6.16"
    groups, members = inventory_groups(inv)
    assert site_clusters(groups["all"], members, groups) == {"clusters": ["etcd"], "hosts": groups["all"],
                                                             "batches": [], "problems": []}
    assert bench.first_members(inv) == [("raftops-lab-etcd-1", 5)]


@pytest.mark.skipif(not (Path(sys.executable).parent / "ansible-inventory").exists(), reason="no ansible-inventory")
def test_inventory_read_by_ansible(tmp_path):
    (tmp_path / "hosts.json").write_text(json.dumps(bench.inventory("three_clusters", "3.5.30")))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    res = subprocess.run([str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(tmp_path / "hosts.json"),
                          "--list"], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    listed = json.loads(res.stdout)
    assert listed["etcd_clusters"]["children"] == ["etcd_bench_a", "etcd_bench_b", "etcd_bench_c"]
    hv = listed["_meta"]["hostvars"]["etcd-5"]
    assert hv["etcd_cluster_group"] == "etcd_bench_b" and hv["etcd_client_port"] == 2389
    assert hv["ansible_connection"] == "community.docker.docker"


def test_playbook_env():
    env = bench.playbook_env({"PATH": "/bin", "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.timer"}, True)
    assert env["ANSIBLE_CALLBACKS_ENABLED"] == "ansible.posix.timer,ansible.posix.profile_tasks"
    assert env["PROFILE_TASKS_TASK_OUTPUT_LIMIT"] == "all" and env["ANSIBLE_CONFIG"].endswith("ansible.cfg")
    plain = bench.playbook_env({"PATH": "/bin"}, False)
    assert "ANSIBLE_CALLBACKS_ENABLED" not in plain and "PROFILE_TASKS_TASK_OUTPUT_LIMIT" not in plain


def test_pipelining():
    assert bench.pipelining_on((ROOT / "ansible.cfg").read_text())
    assert not bench.pipelining_on("[defaults]\nforks = 20\n[connection]\npipelining = False\n")


def test_health():
    tls = json.dumps([{"endpoint": f"https://172.31.250.1{i}:2379", "health": True, "took": "8.1ms"} for i in (1, 2, 3)])
    assert bench.health_problems(tls, 3) == []
    assert bench.health_problems(tls, 5) == ["3 endpoints, 5 expected"]
    # Captured from etcd 3.5.30: plain HTTP and a member that is down.
    ok = (FIXTURES / "3.5.30" / "endpoint_health.json").read_text()
    assert bench.health_problems(ok, 1) == ["http://127.0.0.1:23791: not TLS"]
    down = (FIXTURES / "3.5.30" / "endpoint_health_down.json").read_text()
    assert bench.health_problems(down, 1)[0] == "http://127.0.0.1:23799: context deadline exceeded"
    assert bench.health_problems("Error: context deadline exceeded", 3)[0].startswith("unreadable")


def test_replace_checks():
    listed = json.loads((FIXTURES / "3.5.30" / "member_list_started_learner.json").read_text())
    before = bench.members_by_name(json.dumps(listed))
    assert sorted(before) == ["node1", "node2"] and before["node2"]["isLearner"]
    after_learner = bench.replace_problems(before, before, "node2")
    assert "node2 kept its member ID 6634810578539285289: it was not replaced" in after_learner
    assert "node2 is a learner" in after_learner
    replaced = {"node1": before["node1"], "node2": dict(before["node2"], ID=42, isLearner=False)}
    assert bench.replace_problems(before, replaced, "node2") == []
    assert bench.replace_problems(before, {"node1": before["node1"]}, "node2") == [
        "node2 is not a member after replace_node", "members ['node1'] after, ['node1', 'node2'] before"]


def test_restart_checks():
    unit = "ExecMainStartTimestamp=Tue 2026-11-24 10:31:40 UTC\nExecMainPID=812\n"
    before = {"etcd-1": bench.parse_unit(unit), "etcd-2": bench.parse_unit(unit), "etcd-3": bench.parse_unit(unit)}
    assert before["etcd-1"] == {"ExecMainStartTimestamp": "Tue 2026-11-24 10:31:40 UTC", "ExecMainPID": "812"}
    after = {"etcd-1": {"ExecMainStartTimestamp": "Tue 2026-11-24 10:32:01 UTC", "ExecMainPID": "1033"},
             "etcd-2": dict(before["etcd-2"]),
             "etcd-3": {"ExecMainStartTimestamp": "", "ExecMainPID": "0"}}
    assert bench.not_restarted(before, after) == ["etcd-2", "etcd-3"]


def test_results_only(tmp_path, capsys):
    prof = bench.parse_profile(COLD)
    results = {"phases": bench.summarize({"cold_ca": [sample(19.9, profile=prof)]}, 3), "problems": []}
    before = {"phases": bench.summarize({"cold_ca": [sample(36.1)]}, 3)}
    (tmp_path / "after.json").write_text(json.dumps(results))
    (tmp_path / "before.json").write_text(json.dumps(before))
    assert bench.main(["--results", str(tmp_path / "after.json"), "--compare", str(tmp_path / "before.json")]) == 0
    out = capsys.readouterr().out
    assert "cold_ca" in out and "before/after" in out and "-45%" in out
