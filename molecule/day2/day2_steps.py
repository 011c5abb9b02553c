"""Day-2 operations on the converged `day2` scenario, each with the writer
running and each re-run for changed=0 (see molecule/resources/day2.py)."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "resources"))

from day2 import LAB_VARS, Lab, expect  # noqa: E402

H = [f"raftops-day2-etcd-{n}" for n in range(1, 6)]
ORIGINAL, GROWN, SWAPPED = H[:3], H, [H[0], H[1], H[3]]
# Lab thresholds for raftops.etcd.maintenance: compact everything, defragment
# from 4 MiB and 30 % free (the churn frees more than that).
MAINTENANCE = {"etcd_maintenance_keep_revisions": 0, "etcd_maintenance_defrag_min_free_bytes": 4194304,
               "etcd_maintenance_defrag_min_free_ratio": 0.3}


def rolling_restart(lab: Lab) -> None:
    before = {h: lab.sh(h, "systemctl show -p ExecMainStartTimestampMonotonic --value etcd").strip() for h in ORIGINAL}
    leader = lab.leader(H[0])
    stamp = int(time.time())
    lab.predicts("rolling_restart", {"etcd_restart_before": stamp}, ORIGINAL, H)
    with lab.writer("rolling_restart", ORIGINAL):
        lab.playbook("rolling_restart", {"etcd_restart_before": stamp})
    order = re.findall(r"Restarting etcd on (\S+)", lab.last_output)
    expect(len(order) == 3 and order[-1] == leader, f"restart order {order}: the leader {leader} must be last")
    handed = re.search(r"Hand leadership to another member first\][^\n]*\n(?:[^\n]*\n)?changed: \[" + re.escape(leader),
                       lab.last_output)
    expect(handed is not None, f"leadership was not handed away from {leader} before its restart")
    after = {h: lab.sh(h, "systemctl show -p ExecMainStartTimestampMonotonic --value etcd").strip() for h in ORIGINAL}
    expect(all(before[h] != after[h] for h in ORIGINAL), f"not every member restarted: {before} {after}")
    lab.idempotent("rolling_restart", {"etcd_restart_before": stamp})


def scale_out(lab: Lab) -> None:
    # Check mode on hosts that have nothing yet: install, PKI and join
    # predicted. Twice: in inventory order, and with the new hosts first
    # (etcd_grown_new_first, inventory/hosts.yml), the order in which a join
    # simulated in check mode once became the seed of the next join. Every
    # join must work through a member that really runs.
    for group in ("etcd_grown", "etcd_grown_new_first"):
        lab.predicts("scale_out", {"etcd_cluster_group": group}, H[3:5], H)
        seeds = re.findall(r"Add this host as a learner through (\S+?)\]", lab.last_output)
        expect(len(seeds) == 2 and set(seeds) <= set(ORIGINAL),
               f"check-mode joins in {group} worked through {seeds}, not through running members {ORIGINAL}")
    with lab.writer("scale_out", ORIGINAL):
        lab.playbook("scale_out", {"etcd_cluster_group": "etcd_grown"})
    members = lab.members(H[0])
    expect(sorted(members) == sorted(GROWN), f"members after scale_out: {sorted(members)}")
    expect(not any(m.get("isLearner") for m in members.values()), "a learner was left behind")
    lab.idempotent("scale_out", {"etcd_cluster_group": "etcd_grown"})


def scale_in(lab: Lab) -> None:
    extra = {"etcd_cluster_group": "etcd", "etcd_remove_members": H[3:5]}
    lab.playbook("scale_in", {"etcd_cluster_group": "etcd_grown", "etcd_remove_members": H[3:5]},
                 expect_fail="still in group etcd_grown")
    lab.predicts("scale_in", extra, H[3:5], H)
    with lab.writer("scale_in", ORIGINAL):
        lab.playbook("scale_in", extra)
    expect(sorted(lab.members(H[0])) == sorted(ORIGINAL), "members after scale_in")
    for h in H[3:5]:
        expect(lab.sh(h, "systemctl is-active etcd || true").strip() != "active", f"etcd still runs on {h}")
        expect(lab.sh(h, "ls -d /var/lib/etcd.removed-* | wc -l").strip() == "1", f"data of {h} not moved aside")
    lab.idempotent("scale_in", extra)


def replace_in_place(lab: Lab) -> None:
    old_id = lab.members(H[0])[H[1]]["ID"]
    # The disk of etcd-2 fails: etcd stops, its data is gone.
    lab.sh(H[1], "systemctl stop etcd; rm -rf /var/lib/etcd/member")
    extra = {"etcd_replace_member": H[1]}
    with lab.writer("replace_in_place", [H[0], H[2]]):
        lab.playbook("replace_node", extra)
    members = lab.members(H[0])
    expect(members[H[1]]["ID"] != old_id, "etcd-2 was not re-added as a new member")
    expect(len(members) == 3 and not any(m.get("isLearner") for m in members.values()), f"{members}")
    lab.idempotent("replace_node", extra)


def update_peer_urls(lab: Lab) -> None:
    lab.extra["etcd_peer_port"] = 2390
    lab.predicts("update_peer_urls", None, ORIGINAL, ORIGINAL)
    with lab.writer("update_peer_urls", ORIGINAL):
        lab.playbook("update_peer_urls")
    members = lab.members(H[0])
    urls = sorted(u for m in members.values() for u in m["peerURLs"])
    expect(all(u.endswith(":2390") for u in urls), f"peer URLs after the update: {urls}")
    lab.idempotent("update_peer_urls")


def swap_host_down(lab: Lab) -> None:
    # etcd-3's VM dies for good; etcd-4 takes its place in the inventory.
    subprocess.run(["docker", "stop", "-t", "1", H[2]], check=True, capture_output=True)
    # Degraded: day-2 playbooks refuse to start unless forced.
    lab.playbook("rolling_restart", {"etcd_cluster_group": "etcd_swapped"}, expect_fail="is degraded")
    extra = {"etcd_cluster_group": "etcd_swapped", "etcd_replace_member": H[2]}
    with lab.writer("swap_host_down", [H[0], H[1]]):
        lab.playbook("replace_node", extra)
    members = lab.members(H[0])
    expect(sorted(members) == sorted(SWAPPED), f"members after the swap: {sorted(members)}")
    lab.idempotent("replace_node", extra)
    lab.extra["etcd_cluster_group"] = "etcd_swapped"


def maintenance(lab: Lab) -> None:
    lab.churn(SWAPPED, count=1500, size=8192)
    sizes = {h: lab.etcdctl(h, "endpoint status")[0]["Status"]["dbSize"] for h in SWAPPED}
    # Check mode predicts the compaction and defragmentation and does neither.
    predicted = lab.playbook("maintenance", MAINTENANCE, check=True)
    expect(any(predicted.values()), f"check mode predicted no change: {predicted}")
    unchanged = {h: lab.etcdctl(h, "endpoint status")[0]["Status"]["dbSize"] for h in SWAPPED}
    expect(unchanged == sizes, f"check mode changed the backend sizes: {sizes} -> {unchanged}")
    with lab.writer("maintenance", SWAPPED, duration=120):
        lab.playbook("maintenance", MAINTENANCE)
    # Compact what the writer added meanwhile; then nothing is left to do.
    lab.playbook("maintenance", MAINTENANCE)
    after = {h: lab.etcdctl(h, "endpoint status")[0]["Status"]["dbSize"] for h in SWAPPED}
    expect(all(after[h] < sizes[h] for h in SWAPPED), f"defragmentation reclaimed nothing: {sizes} -> {after}")
    lab.idempotent("maintenance", MAINTENANCE)


def nospace(lab: Lab) -> None:
    """The NOSPACE recovery sequence for real: a small quota, writes until etcd
    raises the alarm and refuses them, then the maintenance playbook (compact,
    defragment, disarm) makes the cluster writable again."""
    hosts = SWAPPED if lab.extra.get("etcd_cluster_group") == "etcd_swapped" else ORIGINAL
    lab.extra["etcd_quota_backend_bytes"] = 24 * 1024 * 1024
    lab.playbook("site")
    expect(all("ETCD_QUOTA_BACKEND_BYTES=\"25165824\"" in lab.sh(h, "cat /etc/etcd/etcd.conf") for h in hosts),
           "the new quota is not in etcd.conf")
    res = lab.churn(hosts, count=2000, size=65536, until_nospace=True)
    alarms = lab.etcdctl(H[0], "alarm list").get("alarms") or []
    expect(any(a.get("alarm") == "NOSPACE" or a.get("alarm") == 1 for a in alarms), f"no NOSPACE alarm: {alarms} {res}")
    refused = lab.sh(H[0], ". /etc/profile.d/etcdctl.sh; etcdctl put /raftops-test/during-nospace x 2>&1 || true")
    expect("space exceeded" in refused, f"a write was accepted under NOSPACE: {refused}")
    with lab.writer("nospace", hosts, duration=300):
        lab.playbook("maintenance", MAINTENANCE)
    expect(not lab.etcdctl(H[0], "alarm list").get("alarms"), "alarms left after maintenance")
    lab.etcdctl(H[0], "put /raftops-test/after-nospace ok")
    lab.report.append(dict(step="nospace_churn", **res))
    # The writer's keys since the compaction are compacted once more; then nothing is left to do.
    lab.playbook("maintenance", MAINTENANCE)
    lab.idempotent("maintenance", MAINTENANCE)


def backup_and_restore(lab: Lab) -> None:
    backups = lab.ephemeral / "backups"
    at_backup = lab.dump(SWAPPED)
    expect(len(at_backup) > 100, f"too little data to prove a restore: {len(at_backup)} keys")
    lab.predicts("backup", None, SWAPPED, SWAPPED)
    expect(not list(backups.glob("*.db")), "backup --check fetched a snapshot")
    lab.playbook("backup")
    snaps = sorted(backups.glob("day2-snapshot-*.db"))
    expect(len(snaps) == 1, f"controller snapshots: {snaps}")
    lab.idempotent("backup")
    for h in SWAPPED:
        expect(lab.sh(h, "systemctl is-enabled etcd-backup.timer").strip() == "enabled", f"timer on {h}")
    lab.sh(H[0], "systemctl start etcd-backup.service")
    expect("day2-scheduled-" in lab.sh(H[0], "ls /var/backups/etcd"), "the scheduled snapshot was not written")
    # Writes after the backup must not survive the restore.
    with lab.writer("after_backup", SWAPPED, duration=5):
        pass
    extra = {"etcd_restore_snapshot": str(snaps[0])}
    lab.playbook("restore", extra, expect_fail="is healthy")
    cluster_id = lab.etcdctl(H[0], "endpoint status")[0]["Status"]["header"]["cluster_id"]
    lab.playbook("restore", dict(extra, etcd_force=True))
    restored = lab.dump(SWAPPED)
    expect(restored == at_backup, f"restored data differs from the data at backup time: "
           f"{len(restored)} keys vs {len(at_backup)}; extra: {sorted(set(restored) - set(at_backup))[:5]}")
    expect(lab.etcdctl(H[0], "endpoint status")[0]["Status"]["header"]["cluster_id"] != cluster_id,
           "the restored cluster kept the old cluster ID")
    lab.idempotent("restore", extra)
    lab.report.append(dict(step="restore", keys_at_backup=len(at_backup), keys_restored=len(restored)))


def recover_quorum(lab: Lab) -> None:
    lab.idempotent("recover_quorum")
    with lab.writer("recover_quorum", SWAPPED):
        # Two of three members fail one after the other and lose their disks:
        # every write acknowledged meanwhile needed the survivor etcd-1.
        time.sleep(3)
        lab.sh(H[1], "systemctl stop etcd")
        time.sleep(3)
        lab.sh(H[3], "systemctl stop etcd")
        for h in (H[1], H[3]):
            lab.sh(h, "rm -rf /var/lib/etcd/member")
        time.sleep(2)
        lab.playbook("recover_quorum")
    members = lab.members(H[0])
    expect(sorted(members) == sorted(SWAPPED), f"members after recovery: {sorted(members)}")
    lab.idempotent("recover_quorum")


# Runs inside a member (python3 and etcdctl are there): lists the members
# every 50 ms until the member with peer URL argv[1] is in state argv[2]
# ("unstarted": added, no name yet; "learner": started, not promoted), prints
# it and exits 0; exits 1 after argv[3] seconds.
WATCH = r"""
import json, subprocess, sys, time
url, want, deadline = sys.argv[1], sys.argv[2], time.monotonic() + float(sys.argv[3])
while time.monotonic() < deadline:
    out = subprocess.run(["etcdctl", "member", "list", "-w", "json"], capture_output=True, text=True).stdout
    for m in (json.loads(out).get("members") or []) if out.strip() else []:
        if m.get("peerURLs") == [url] and (not m.get("name") if want == "unstarted"
                                           else bool(m.get("name")) and bool(m.get("isLearner"))):
            print(json.dumps(m), flush=True)
            sys.exit(0)
    time.sleep(0.05)
sys.exit(1)
"""


def killed_when(lab: Lab, name: str, extra: dict, url: str, state: str, timeout: int = 600) -> dict:
    """Run raftops.etcd.<name> as lab.playbook does, watch the membership from
    H[0] and SIGKILL the playbook's whole process group (controller, forks,
    their docker exec clients) the moment the member with peer URL `url` is in
    `state`. Returns that member as etcd listed it. Fails when the playbook
    ends first or nothing is seen within `timeout` seconds."""
    ev_file = lab.work / f"extra-{name}-killed.json"
    ev_file.write_text(json.dumps(dict(lab.extra, **extra)))
    inventories = [lab.inventory] + ([lab.extra_inventory] if lab.extra_inventory.exists() else [])
    cmd = [str(Path(sys.executable).with_name("ansible-playbook")),
           *[a for inv in inventories for a in ("-i", str(inv))], f"raftops.etcd.{name}",
           "-e", f"@{LAB_VARS}", "-e", f"@{ev_file}"]
    log = lab.work / f"{name}-killed-{int(time.time())}.log"
    print(f"\n$ ansible-playbook raftops.etcd.{name} {json.dumps(extra)}  (SIGKILL once {url} is {state})", flush=True)
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=Path(__file__).resolve().parents[2], env=lab.env(), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        watcher = subprocess.Popen(["docker", "exec", H[0], "sh", "-c",
                                    '. /etc/profile.d/etcdctl.sh; exec python3 -c "$0" "$@"', WATCH, url, state,
                                    str(timeout)], stdout=subprocess.PIPE, text=True)
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
            rc = proc.wait(timeout=60)
        seen = "" if seen == "-" else seen
    lab.last_output = log.read_text()
    print(f"  rc={rc} after {state} {seen.strip()}", flush=True)
    expect(bool(seen) and rc == -signal.SIGKILL,
           f"{name} was not killed at {state} {url} (rc={rc}, seen={seen!r}); log {log}")
    return json.loads(seen)


def scale_out_interrupted(lab: Lab) -> None:
    """scale_out SIGKILLed mid-join, three times, from and back to the three
    original members (runs right after scale_in). The kill point is chosen by
    watching the membership: (1) right after etcd accepted `member add
    --learner` for etcd-4, which then leaves the group: site.yml's health gate names the scale_out command that
    removes the member, and scale_out removes it; (2) at the same point, etcd-4
    still in the group: rolling_restart refuses, changes nothing and names
    scale_out, which then finishes the same member's join; (3) once etcd-4's
    learner runs, before its promotion: site.yml promotes that learner.
    Every acknowledged write survives (the writer runs throughout)."""
    port = lab.extra.get("etcd_peer_port", 2380)
    url4 = f"https://{lab.ips[H[3]]}:{port}"
    grown, original = {"etcd_cluster_group": "etcd_grown"}, {"etcd_cluster_group": "etcd"}
    expect(sorted(lab.members(H[0])) == sorted(ORIGINAL), "scale_out_interrupted starts from the original members")

    def only(url: str) -> list[dict]:
        return [m for m in lab.etcdctl(H[0], "member list").get("members", []) if m.get("peerURLs") == [url]]

    with lab.writer("scale_out_interrupted", ORIGINAL, duration=1800):
        # (1) Never started, and its host leaves the group.
        seen = killed_when(lab, "scale_out", grown, url4, "unstarted")
        time.sleep(5)  # what the killed run had in flight in the containers settles
        left = only(url4)
        expect(len(left) == 1 and not left[0].get("name"), f"after the kill, {url4} should be added, unstarted: {left}")
        fix = r"ansible-playbook raftops\.etcd\.scale_out -i \S+ -i \S+"
        # site.yml's health gate (shortened) holds on it and names scale_out.
        lab.playbook("site", dict(original, etcd_health_timeout=15),
                     expect_fail=rf"member {seen['ID']:x} \({re.escape(url4)}\) was added but never started, and no "
                                 rf"host of the group has its peer URLs\. Run `{fix}`")
        lab.playbook("scale_out", original)
        expect(only(url4) == [] and sorted(lab.members(H[0])) == sorted(ORIGINAL),
               f"scale_out did not remove the member added for {H[3]}: {lab.members(H[0])}")
        lab.idempotent("scale_out", original)

        # (2) Never started, etcd-4 still in the group.
        seen = killed_when(lab, "scale_out", grown, url4, "unstarted")
        time.sleep(5)
        before = lab.fingerprint(H)
        lab.playbook("rolling_restart", grown,
                     expect_fail=rf"An interrupted join was left half done: member {seen['ID']:x} \({re.escape(url4)}\), "
                                 rf"the join of host {H[3]}, was added but never started\. Nothing was changed\. "
                                 rf"Run `{fix} -e etcd_cluster_group=etcd_grown`")
        expect(lab.fingerprint(H) == before, "the refused rolling_restart changed the hosts")
        lab.playbook("scale_out", grown)
        members = lab.members(H[0])
        expect(sorted(members) == sorted(GROWN), f"members after the resumed scale_out: {sorted(members)}")
        expect(not any(m.get("isLearner") for m in members.values()), "a learner was left behind")
        expect(members[H[3]]["ID"] == seen["ID"], "the member added before the kill was not the one completed")
        lab.idempotent("scale_out", grown)
        lab.playbook("scale_in", dict(original, etcd_remove_members=H[3:5]))

        # (3) The learner runs, not yet promoted: site.yml finishes it.
        seen = killed_when(lab, "scale_out", grown, url4, "learner")
        time.sleep(5)
        left = only(url4)
        expect(len(left) == 1 and left[0].get("isLearner"), f"after the kill, {H[3]} should be a learner: {left}")
        lab.playbook("site", grown)
        members = lab.members(H[0])
        expect(sorted(members) == sorted(GROWN) and not any(m.get("isLearner") for m in members.values()),
               f"site.yml did not finish the join of {H[3]}: {members}")
        expect(members[H[3]]["ID"] == seen["ID"], "the learner was replaced, not promoted")
        lab.idempotent("site", grown)
        lab.playbook("scale_in", dict(original, etcd_remove_members=H[3:5]))
    expect(sorted(lab.members(H[0])) == sorted(ORIGINAL), "scale_out_interrupted must end with the original members")


if __name__ == "__main__":
    steps = [rolling_restart, scale_out, scale_in, scale_out_interrupted, replace_in_place, update_peer_urls,
             swap_host_down, maintenance, nospace, backup_and_restore, recover_quorum]
    only = sys.argv[1:]
    sys.exit(Lab("day2").steps([s for s in steps if not only or s.__name__ in only]))
