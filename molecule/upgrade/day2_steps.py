"""The path an operator of an old cluster walks, with the writer running:
3.4.23 -> 3.5.16 -> 3.5.30 -> 3.5.35 -> 3.6.10 -> 3.6.16 -> 3.7.3 (Debian's
builds, then etcd's own Go modules), then the documented one-minor downgrade
3.7 -> 3.6. The refusals on the way (a downgrade through upgrade, a skipped
minor, a 3.5 patch too old for 3.6, a 3.6 patch too old for 3.7, a downgrade
etcd cannot do) change nothing. On 3.4 every member answers GET /health with a
v2 request through raft, as monitoring does: the upgrade into 3.6 finds them in
every WAL and clears them (etcd 3.6 panics replaying them) before 3.6 starts."""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "resources"))

from day2 import Lab, expect  # noqa: E402

H = [f"raftops-upgrade-etcd-{n}" for n in range(1, 4)]


def versions(lab: Lab) -> set[str]:
    return {lab.etcdctl(h, "endpoint status")[0]["Status"]["version"] for h in H}


def started(lab: Lab, host: str) -> str:
    return lab.sh(host, "systemctl show -p ExecMainStartTimestampMonotonic --value etcd").strip()


def upgrade_to(lab: Lab, version: str, then=None, interrupted: bool = False) -> None:
    """interrupted: SIGKILL the first run the moment one member runs `version`
    and the others do not (watched with endpoint status --cluster), then run
    the same command again: it restarts only the members left on the old
    version (before #12 it changed nothing: the new binaries were linked
    already, so the members left behind kept the old version, and into 3.6
    the v2 check ran 3.6's etcdutl, which has none, and refused)."""
    lab.predicts("upgrade", {"etcd_version": version}, H, H)
    with lab.writer(f"upgrade_{version}", H):
        if interrupted:
            lab.killed("upgrade", {"etcd_version": version}, H[0], ["versions", version])
            first = lab.last_output
            for h in H:
                lab.settled(h)
            at_kill = {h: lab.etcdctl(h, "endpoint status")[0]["Status"]["version"] for h in H}
            done = [h for h, v in at_kill.items() if v == version]
            expect(done and len(done) < len(H), f"after the kill, some members should run {version}: {at_kill}")
            lab.report.append(dict(step=f"upgrade_{version}_killed", versions_at_kill=at_kill))
            before = {h: started(lab, h) for h in done}
            lab.playbook("upgrade", {"etcd_version": version})
            again = [h for h in done if started(lab, h) != before[h]]
            expect(not again, f"the resumed upgrade restarted {again} again, which ran {version} already")
            # The log says why: each member left behind restarts for its binary.
            flat = " ".join(lab.last_output.split())
            for h in (h for h in H if h not in done):
                why = re.search(rf"Restarting etcd on {re.escape(h)} \(\S+\): .{{0,600}}?binary: \S+/v[0-9.]+/etcd "
                                rf"-> \S+/v{re.escape(version)}/etcd", flat)
                expect(why is not None, f"the resumed upgrade does not say that {h} restarts for its binary")
        else:
            lab.playbook("upgrade", {"etcd_version": version})
            first = lab.last_output
    if then:
        then(first)
    expect(versions(lab) == {version}, f"versions after the upgrade to {version}: {versions(lab)}")
    for h in H:
        expect(f"v{version}" in lab.sh(h, "readlink /usr/local/bin/etcd"), f"{h} does not link etcd {version}")
        snaps = lab.sh(h, "ls /var/backups/etcd 2>/dev/null || true")
        if f"pre-upgrade-{version}" in snaps:
            break
    else:
        raise AssertionError(f"no pre-upgrade snapshot for {version} on any member")
    lab.idempotent("upgrade", {"etcd_version": version})


def refused(lab: Lab, playbook: str, version: str, why: str) -> None:
    """A refused run changes neither the versions members run nor their processes."""
    before, procs = versions(lab), lab.fingerprint(H)
    lab.playbook(playbook, {"etcd_version": version}, expect_fail=why)
    expect(versions(lab) == before, f"a refused {playbook} changed versions: {before} -> {versions(lab)}")
    expect(lab.fingerprint(H) == procs, f"a refused {playbook} to {version} touched the members")


def refusals(lab: Lab) -> None:
    refused(lab, "upgrade", "3.4.23", "is a downgrade")
    refused(lab, "upgrade", "3.7.3", "skips a minor version")


def v2_wal(lab: Lab, host: str) -> str:
    """etcdutl check v2store on a copy of the member's snap and WAL files (not the live dir).

    3.5.35's etcdutl (kept in /opt/etcd by the install): 3.6 dropped the command."""
    return lab.sh(host, "d=$(mktemp -d); mkdir -p $d/member/snap $d/member/wal;"
                        " cp /var/lib/etcd/member/snap/*.snap $d/member/snap/ 2>/dev/null;"
                        " cp /var/lib/etcd/member/wal/*.wal $d/member/wal/;"
                        " /opt/etcd/v3.5.35/etcdutl check v2store --data-dir $d 2>&1; rm -rf $d", check=False)


def v2_requests(lab: Lab) -> None:
    """What monitoring does to etcd 3.4: GET /health, each a v2 QGET through raft into every WAL."""
    tls = "--cacert /etc/etcd/pki/ca.crt --cert /etc/etcd/pki/admin.crt --key /etc/etcd/pki/admin.key"
    for h in H:
        out = lab.sh(h, f"curl -sS {tls} https://{h}:2379/health")
        expect('"health":"true"' in out.replace(" ", ""), f"GET /health on {h}: {out}")


def refuse_old_patch(lab: Lab) -> None:
    # etcd's 3.6 upgrade guide: 3.6 reads membership from bbolt, which 3.5
    # releases before 3.5.32 may have left wrong.
    refused(lab, "upgrade", "3.6.16", "too old")


def downgrade_3_6(lab: Lab) -> None:
    refused(lab, "downgrade", "3.5.35", "one minor")
    lab.predicts("downgrade", {"etcd_version": "3.6.16"}, H, H)
    with lab.writer("downgrade_3.6.16", H):
        lab.playbook("downgrade", {"etcd_version": "3.6.16"})
    expect(versions(lab) == {"3.6.16"}, f"versions after the downgrade: {versions(lab)}")
    status = lab.etcdctl(H[0], "endpoint status --cluster")
    storage = {s["Endpoint"]: s["Status"].get("storageVersion") for s in status}
    expect(set(storage.values()) == {"3.6.0"}, f"storage versions after the downgrade: {storage}")
    lab.idempotent("downgrade", {"etcd_version": "3.6.16"})


def upgrade_3_5_16(lab: Lab) -> None:
    upgrade_to(lab, "3.5.16")


def upgrade_3_5_30(lab: Lab) -> None:
    upgrade_to(lab, "3.5.30")


def upgrade_3_5_35(lab: Lab) -> None:
    upgrade_to(lab, "3.5.35")


def upgrade_3_6(lab: Lab) -> None:
    for h in H:
        found = v2_wal(lab, h)
        expect("detected custom v2 content in WAL records" in found, f"no v2 request in the WAL of {h}: {found}")

    def cleared(out: str) -> None:
        forced = forced_snapshots(out)
        expect(forced == H, f"v2 snapshots forced on {forced}, expected on every member")
        for h in H:
            clean = v2_wal(lab, h)
            expect("No custom content found in both v2store and WAL records" in clean, f"{h} after 3.6: {clean}")
            expect("raftops-v2-snapshot" not in lab.sh(h, "ls /run/systemd/system/etcd.service.d/ 2>/dev/null || true"),
                   f"the v2 snapshot override is left on {h}")
    # Killed between two members, then resumed (see upgrade_to).
    upgrade_to(lab, "3.6.10", then=cleared, interrupted=True)


def refuse_old_3_6(lab: Lab) -> None:
    # etcd's 3.7 upgrade guide: 3.6.11 or later before 3.7.
    refused(lab, "upgrade", "3.7.3", "too old")


def upgrade_3_6_16(lab: Lab) -> None:
    upgrade_to(lab, "3.6.16")


def forced_snapshots(out: str) -> list[str]:
    return sorted(re.findall(r"Start etcd once with --snapshot-count=1, \S+\][^\n]*\n(?:[^\n]*\n)?changed: \[(\S+)\]", out))


def upgrade_3_7(lab: Lab) -> None:
    # 3.7 reads no v2 request: every member takes a v2 snapshot on 3.6 first,
    # else the member-attribute PUT of its last 3.5 start, still in the WAL
    # after the newest (3.5) snapshot, makes 3.7 panic at start.
    def snapped(out: str) -> None:
        expect(forced_snapshots(out) == H, f"v2 snapshots before 3.7 on {forced_snapshots(out)}, expected on every member")
    upgrade_to(lab, "3.7.3", then=snapped)


if __name__ == "__main__":
    steps = [v2_requests, upgrade_3_5_16, refusals, upgrade_3_5_30, refuse_old_patch, upgrade_3_5_35, upgrade_3_6,
             refuse_old_3_6, upgrade_3_6_16, upgrade_3_7, downgrade_3_6]
    only = sys.argv[1:]
    sys.exit(Lab("upgrade").steps(steps, only))
