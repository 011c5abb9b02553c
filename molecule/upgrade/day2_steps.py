"""Rolling upgrade 3.4.23 -> 3.5.16 -> 3.5.30 with the writer running; the
refusals (downgrade, skipped minor) change nothing."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "resources"))

from day2 import Lab, expect  # noqa: E402

H = [f"raftops-upgrade-etcd-{n}" for n in range(1, 4)]


def versions(lab: Lab) -> set[str]:
    return {lab.etcdctl(h, "endpoint status")[0]["Status"]["version"] for h in H}


def upgrade_to(lab: Lab, version: str) -> None:
    lab.predicts("upgrade", {"etcd_version": version}, H, H)
    with lab.writer(f"upgrade_{version}", H):
        lab.playbook("upgrade", {"etcd_version": version})
    expect(versions(lab) == {version}, f"versions after the upgrade to {version}: {versions(lab)}")
    for h in H:
        expect(f"v{version}" in lab.sh(h, "readlink /usr/local/bin/etcd"), f"{h} does not link etcd {version}")
        snaps = lab.sh(h, "ls /var/backups/etcd 2>/dev/null || true")
        if f"pre-upgrade-{version}" in snaps:
            break
    else:
        raise AssertionError(f"no pre-upgrade snapshot for {version} on any member")
    lab.idempotent("upgrade", {"etcd_version": version})


def refusals(lab: Lab) -> None:
    before = versions(lab)
    lab.playbook("upgrade", {"etcd_version": "3.4.23"}, expect_fail="is a downgrade")
    lab.playbook("upgrade", {"etcd_version": "3.7.0"}, expect_fail="skips a minor version")
    expect(versions(lab) == before, f"a refused upgrade changed versions: {before} -> {versions(lab)}")


def upgrade_3_5_16(lab: Lab) -> None:
    upgrade_to(lab, "3.5.16")


def upgrade_3_5_30(lab: Lab) -> None:
    upgrade_to(lab, "3.5.30")


if __name__ == "__main__":
    steps = [upgrade_3_5_16, refusals, upgrade_3_5_30]
    only = sys.argv[1:]
    sys.exit(Lab("upgrade").steps([s for s in steps if not only or s.__name__ in only]))
