"""site.yml's choice of clusters: the filter, and the real first play of site.yml
run against an inventory of two clusters (no host is contacted)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.raftops.etcd.plugins.filter.clusters import site_clusters

ROOT = Path(__file__).resolve().parents[4]
GROUPS = {"all": ["m1", "m2", "m3", "e1"], "etcd_clusters": ["m1", "m2", "m3", "e1"],
          "etcd_main": ["m1", "m2", "m3"], "etcd_events": ["e1"]}
MEMBERS = {"m1": {"group": "etcd_main", "name": "main"}, "m2": {"group": "etcd_main", "name": "main"},
           "m3": {"group": "etcd_main", "name": "main"}, "e1": {"group": "etcd_events", "name": "events"}}


def test_two_clusters_one_batch_each():
    # Play order interleaved: the result is grouped by cluster, batches follow.
    site = site_clusters(["m1", "e1", "m2", "m3"], MEMBERS, GROUPS)
    assert site == {"clusters": ["etcd_main", "etcd_events"], "hosts": ["m1", "m2", "m3", "e1"],
                    "batches": [3, 1], "problems": []}


def test_one_cluster_no_batches():
    site = site_clusters(["e1"], MEMBERS, GROUPS)
    assert site["hosts"] == ["e1"] and site["batches"] == [] and not site["problems"]


def test_shared_name_refused():
    members = dict(MEMBERS, e1={"group": "etcd_events", "name": "main"})
    problems = site_clusters(["m1", "m2", "m3", "e1"], members, GROUPS)["problems"]
    assert len(problems) == 1 and "share etcd_cluster_name=main" in problems[0]


def test_host_in_two_clusters_refused():
    groups = dict(GROUPS, etcd_events=["e1", "m3"])
    problems = site_clusters(["m1", "m2", "m3", "e1"], MEMBERS, groups)["problems"]
    assert any("m3 is in two clusters" in p for p in problems), problems


def test_partial_cluster_refused():
    problems = site_clusters(["m1", "m2", "e1"], MEMBERS, GROUPS)["problems"]
    assert any("etcd_main is only partly in this run (m3 left out" in p for p in problems), problems


def test_group_var_missing_refused():
    members = dict(MEMBERS, e1={"group": "etcd", "name": "events"})
    problems = site_clusters(["m1", "m2", "m3", "e1"], members, GROUPS)["problems"]
    assert any(p.startswith("e1 is not in the group its etcd_cluster_group names (etcd)") for p in problems)


INVENTORY = {
    "etcd_clusters": {"children": {
        "etcd_main": {"hosts": {"m1": {}, "m2": {}, "m3": {}},
                      "vars": {"etcd_cluster_group": "etcd_main", "etcd_cluster_name": "main"}},
        "etcd_events": {"hosts": {"e1": {}}, "vars": {"etcd_cluster_group": "etcd_events",
                                                      "etcd_cluster_name": "events"}}}},
    "all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}},
}


def run_first_play(tmp_path, *args):
    """site.yml's first play, then a play with the hosts and serial of its
    `Etcd members` play that prints each batch (local connection only)."""
    plays = yaml.safe_load((ROOT / "playbooks" / "site.yml").read_text())
    members = next(p for p in plays if p["name"] == "Etcd members")
    show = {"name": "Show the batches", "hosts": members["hosts"], "serial": members["serial"],
            "gather_facts": False,
            "tasks": [{"name": "Batch", "ansible.builtin.debug": {"msg": "BATCH {{ ansible_play_batch | join(',') }}"},
                       "run_once": True}]}
    (tmp_path / "pb.yml").write_text(yaml.safe_dump([plays[0], show], sort_keys=False))
    (tmp_path / "inv.yml").write_text(yaml.safe_dump(INVENTORY, sort_keys=False))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    bindir = Path(sys.executable).parent
    return subprocess.run([str(bindir / "ansible-playbook"), "-i", str(tmp_path / "inv.yml"), str(tmp_path / "pb.yml"),
                           *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False)


@pytest.mark.skipif(not (Path(sys.executable).parent / "ansible-playbook").exists(), reason="no ansible-playbook")
def test_site_first_play(tmp_path):
    res = run_first_play(tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert [l.split("BATCH ")[1].strip('"') for l in res.stdout.splitlines() if "BATCH " in l] == ["m1,m2,m3", "e1"]

    res = run_first_play(tmp_path, "-e", "etcd_cluster_group=etcd_events")
    assert res.returncode == 0, res.stdout + res.stderr
    assert [l.split("BATCH ")[1].strip('"') for l in res.stdout.splitlines() if "BATCH " in l] == ["e1"]

    res = run_first_play(tmp_path, "--limit", "m1,m2,e1")
    assert res.returncode != 0 and "cluster etcd_main is only partly in this run" in res.stdout, res.stdout
    assert "BATCH" not in res.stdout
