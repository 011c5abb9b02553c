"""plugins/filter/versions.py: etcd's version rules against real etcd binaries
(their captured --help, and the binaries themselves where the test mirror
holds them), and the problems the etcd role refuses with them."""
import os
import platform
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from ansible_collections.raftops.etcd.plugins.filter import versions as v

from conftest import HELP_UNLISTED, HELP_UNREAD, HELP_VERSIONS, etcd_reads, help_flags, help_gates, help_text

MINORS = sorted(HELP_VERSIONS)
MIRROR = Path(os.environ.get("RAFTOPS_CACHE", Path.home() / ".cache" / "raftops-etcd")) / "mirror"


# --- the data against the captured --help ------------------------------------

def test_every_minor_has_a_help_fixture():
    assert sorted(v.ETCD_FLAGS) == MINORS == sorted(v.FEATURE_GATES)


@pytest.mark.parametrize("minor", MINORS)
def test_flags_are_those_etcd_reads(minor):
    """ETCD_FLAGS[minor] == the flags `etcd --help` lists, up to the known help.go gaps."""
    data, real = v.ETCD_FLAGS[minor], etcd_reads(minor)
    assert data == real, "data only: %s; help only: %s" % (sorted(data - real), sorted(real - data))


@pytest.mark.parametrize("minor", MINORS)
def test_help_gaps_are_real(minor):
    """The listed gaps of the help text exist (so that none can hide a change)."""
    listed = help_flags(HELP_VERSIONS[minor])
    assert not HELP_UNLISTED.get(minor, set()) & listed
    assert HELP_UNREAD.get(minor, set()) <= listed


@pytest.mark.parametrize("minor", MINORS)
def test_feature_gates_are_those_of_the_help(minor):
    assert v.FEATURE_GATES[minor] == help_gates(HELP_VERSIONS[minor])
    assert ("feature-gates" in v.ETCD_FLAGS[minor]) is bool(v.FEATURE_GATES[minor])


def test_feature_gates_really_differ():
    assert not v.FEATURE_GATES["3.5"]
    assert {"FastLeaseKeepAlive", "PriorityRequest"} == v.FEATURE_GATES["3.7"] - v.FEATURE_GATES["3.6"]


def help_renames(version):
    """old -> new flag (or feature-gates:<Gate>) from the "Use '--X' instead" notes of the help."""
    renames = {}
    for m in re.finditer(r"^  --([a-z0-9-]+)[^\n]*\n((?:    [^\n]*\n)*)", help_text(version), re.M):
        gate = re.search(r"Use '?--feature-gates=(\w+)=true'? instead", m.group(2))
        new = re.search(r"Use '?--([a-z0-9-]+)'? instead", m.group(2))
        if gate or new:
            renames[m.group(1)] = "feature-gates:" + gate.group(1) if gate else new.group(1)
    return renames


def test_renames_are_those_etcd_3_6_announces():
    assert v.RENAMED_3_6 == help_renames(HELP_VERSIONS["3.6"])
    assert len(v.RENAMED_3_6) == 23
    assert sum(new.startswith("feature-gates:") for new in v.RENAMED_3_6.values()) == 6


@pytest.mark.parametrize("old,new", sorted(v.RENAMED_3_6.items()))
def test_rename_source_in_3_6_only_and_target_in_3_6_and_3_7(old, new):
    h36, h37 = help_flags(HELP_VERSIONS["3.6"]), help_flags(HELP_VERSIONS["3.7"])
    assert old in h36 and old not in h37
    if new.startswith("feature-gates:"):
        gate = new.split(":", 1)[1]
        assert "feature-gates" in h36 and "feature-gates" in h37
        assert gate in help_gates(HELP_VERSIONS["3.6"]) and gate in help_gates(HELP_VERSIONS["3.7"])
    else:
        assert new in h36 and new in h37


@pytest.mark.parametrize("minor", sorted(v.REMOVED))
def test_removed_flags_were_there_one_minor_before(minor):
    before = MINORS[MINORS.index(minor) - 1]
    for flag, instead in v.REMOVED[minor].items():
        assert flag in v.ETCD_FLAGS[before] and flag not in v.ETCD_FLAGS[minor], flag
        if instead and re.match(r"^[a-z0-9-]+(:|$)", instead):
            assert instead.split(":")[0] in v.ETCD_FLAGS[minor], instead


def test_ignored_and_reserved_names_are_no_flags():
    for minor in MINORS:
        assert not (v.IGNORED | set(v.RESERVED)) & v.ETCD_FLAGS[minor]


def test_minimum_patches_belong_to_the_minor_before():
    for minor, minimum in v.MIN_UPGRADE_FROM.items():
        major, m = minor.split(".")
        assert re.match(r"^%s\.%d\.\d+$" % (major, int(m) - 1), minimum), (minor, minimum)
    assert v.MIN_UPGRADE_FROM == {"3.6": "3.5.32", "3.7": "3.6.11"}


# --- the data against the binaries themselves (where the mirror holds them) --

def etcd_binary(version, tmp_path):
    tarball = MIRROR / f"v{version}" / f"etcd-v{version}-linux-amd64.tar.gz"
    if not tarball.exists() or platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip(f"no runnable etcd {version} in {MIRROR} (scripts/lab.py mirror)")
    with tarfile.open(tarball) as t:
        member = t.getmember(f"etcd-v{version}-linux-amd64/etcd")
        member.name = "etcd"
        t.extract(member, tmp_path)
    return tmp_path / "etcd"


@pytest.mark.parametrize("minor", MINORS)
def test_the_binary_reads_exactly_these_variables(minor, tmp_path):
    """Every candidate name set at once as ETCD_*; an invalid election timeout
    makes etcd exit right after it has checked the environment, warning
    "unrecognized environment variable" for each variable it does not read."""
    etcd = etcd_binary(HELP_VERSIONS[minor], tmp_path)
    names = set(v.IGNORED) | set(v.RENAMED_3_6) | {"not-an-etcd-flag"}
    for m in MINORS:
        names |= v.ETCD_FLAGS[m] | help_flags(HELP_VERSIONS[m]) | set(v.REMOVED.get(m, {}))
    env = {"ETCD_" + n.upper().replace("-", "_"): "x" for n in names}
    env.update(PATH="/usr/bin:/bin", HOME=str(tmp_path), ETCD_ELECTION_TIMEOUT="not-a-number")
    res = subprocess.run([str(etcd)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         check=False)
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "unrecognized environment variable" in out, out[-2000:]
    unread = {m.lower().replace("_", "-")
              for m in re.findall(r"unrecognized environment variable[^\n]*?ETCD_([A-Z0-9_]+)", out)}
    assert "not-an-etcd-flag" in unread
    read = names - unread
    assert read == v.ETCD_FLAGS[minor] | v.IGNORED, \
        "read, not in data: %s; in data, not read: %s" % (
            sorted(read - v.ETCD_FLAGS[minor] - v.IGNORED), sorted(v.ETCD_FLAGS[minor] - read))


# --- etcd_flag_problems -------------------------------------------------------

def problems(flags, version):
    return v.etcd_flag_problems(flags, version)


@pytest.mark.parametrize("flags,version", [
    ({}, "3.6.16"),
    (None, "3.7.3"),
    ({"max-request-bytes": 1048576, "quota-backend-bytes": 8589934592}, "3.5.30"),
    ({"MAX_REQUEST_BYTES": 1048576, "Log-Level": "warn"}, "3.7.3"),
    ({"experimental-initial-corrupt-check": True}, "3.5.30"),
    ({"experimental-initial-corrupt-check": True, "experimental-memory-mlock": True}, "3.6.16"),
    ({"feature-gates": "InitialCorruptCheck=true, StopGRPCServiceOnDefrag=false"}, "3.6.16"),
    ({"feature-gates": "PriorityRequest=true,FastLeaseKeepAlive=false"}, "3.7.3"),
    ({"memory-mlock": True, "corrupt-check-time": "5m"}, "3.7.3"),
    ({"logger": "capnslog", "debug": True}, "3.4.23"),
    ({"enable-v2": True}, "3.5.30"),
    ({"unsafe-no-fsync": True, "enable-grpc-gateway": True}, "3.4.23"),
    ({"experimental-snapshot-catchup-entries": 5000}, "3.5.30"),
    ({"enable-distributed-tracing": False}, "3.6"),
])
def test_accepted_flags_pass(flags, version):
    assert problems(flags, version) == []


@pytest.mark.parametrize("flags,version,expected", [
    ({"experimental-initial-corrupt-check": True}, "3.7.3",
     ["etcd_extra_flags.experimental-initial-corrupt-check (ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK): "
      "etcd 3.7 removed it; use etcd_extra_flags.feature-gates: InitialCorruptCheck=true"]),
    ({"EXPERIMENTAL_ENABLE_LEASE_CHECKPOINT": "false", "feature-gates": "AllAlpha=false"}, "3.7.3",
     ["etcd 3.7 removed it; add LeaseCheckpoint=false to etcd_extra_flags.feature-gates"]),
    ({"experimental-watch-progress-notify-interval": "5m"}, "3.7.3",
     ["(ETCD_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL): etcd 3.7 removed it; "
      "use etcd_extra_flags.watch-progress-notify-interval"]),
    ({"experimental-memory-mlock": True, "memory-mlock": True}, "3.7.3",
     ["etcd 3.7 removed it; remove it (etcd_extra_flags.memory-mlock is already set)"]),
    ({"experimental-warning-unary-request-duration": "1s"}, "3.7.3",
     ["use etcd_extra_flags.warning-unary-request-duration"]),
    ({"enable-v2": True}, "3.6.16", ["(ETCD_ENABLE_V2): etcd 3.6 removed it; the feature is gone: remove it"]),
    ({"proxy-dial-timeout": 1000}, "3.7.3", ["etcd 3.6 removed it (this is 3.7)"]),
    ({"debug": True}, "3.5.30", ["etcd 3.5 removed it; use etcd_extra_flags.log-level: debug"]),
    ({"memory-mlock": True}, "3.5.30",
     ["etcd 3.5 knows it as experimental-memory-mlock; use etcd_extra_flags.experimental-memory-mlock"]),
    ({"feature-gates": "InitialCorruptCheck=true"}, "3.5.30",
     ["etcd 3.5 has no feature gates", "InitialCorruptCheck: experimental-initial-corrupt-check"]),
    ({"log-format": "console"}, "3.5.30", ["etcd 3.5 does not have it yet (etcd 3.6 added it)"]),
    ({"max-request-bytez": 1}, "3.6.16",
     ["(ETCD_MAX_REQUEST_BYTEZ): etcd 3.6 has no such flag", "did you mean etcd_extra_flags.max-request-bytes?"]),
    ({"no-such-thing": 1}, "3.6.16", ["has no such flag", "remove it or correct the name"]),
    ({"snapshot": True}, "3.6.16", ["(ETCD_SNAPSHOT): etcd accepts it only to ignore it"]),
    ({"config-file": "/etc/etcd/etcd.yml"}, "3.6.16", ["(ETCD_CONFIG_FILE): etcd would read only that file"]),
    ({"version": "3.6.16"}, "3.6.16", ["(ETCD_VERSION): etcd drops ETCD_VERSION"]),
    ({"experimental-initial-corrupt-check": True, "feature-gates": "InitialCorruptCheck=true"}, "3.6.16",
     ["etcd_extra_flags.experimental-initial-corrupt-check and etcd_extra_flags.feature-gates "
      "(InitialCorruptCheck) together: etcd 3.6 refuses to start"]),
    # etcd matches the gate name anywhere in --feature-gates (strings.Contains).
    ({"experimental-enable-lease-checkpoint": True, "feature-gates": "LeaseCheckpointPersist=true"}, "3.6.16",
     ["(LeaseCheckpoint) together: etcd 3.6 refuses to start"]),
    ({"experimental-corrupt-check-time": "1m", "Corrupt_Check_Time": "2m"}, "3.6.16",
     ["etcd_extra_flags.experimental-corrupt-check-time and etcd_extra_flags.Corrupt_Check_Time together: "
      "etcd 3.6 refuses to start; keep only etcd_extra_flags.Corrupt_Check_Time"]),
    ({"feature-gates": "InitialCorruptCheck=true,NoSuchGate=true"}, "3.6.16",
     ["etcd 3.6 has no feature gate NoSuchGate; use one of AllAlpha"]),
    ({"feature-gates": "PriorityRequest=true"}, "3.6.16",
     ["no feature gate PriorityRequest; etcd 3.7 added it: remove it or set etcd_version to 3.7.x"]),
    ({"feature-gates": "initialcorruptcheck=true"}, "3.7.3", ["did you mean InitialCorruptCheck?"]),
    ({"feature-gates": "InitialCorruptCheck=yes"}, "3.6.16", ["InitialCorruptCheck=yes is not a boolean"]),
    ({"feature-gates": "InitialCorruptCheck"}, "3.6.16", ["InitialCorruptCheck has no value"]),
    ({"feature-gates": {"InitialCorruptCheck": True}}, "3.6.16", ["must be a string like"]),
    ({"initial-cluster-state": "new"}, "3.6.16", ["etcd_extra_flags must not carry bootstrap settings"]),
    ({"INITIAL_CLUSTER": "a=http://a:2380"}, "3.5.30", ["etcd_extra_flags must not carry bootstrap settings"]),
    ({"discovery-srv": "example.com"}, "3.7.3", ["etcd_extra_flags must not carry bootstrap settings"]),
    ({"max-request-bytes": 1, "MAX_REQUEST_BYTES": 2}, "3.6.16",
     ["etcd_extra_flags has max-request-bytes, MAX_REQUEST_BYTES: all set ETCD_MAX_REQUEST_BYTES; keep one"]),
    ({"log-level": ""}, "3.6.16", ["has no value: etcd ignores an empty ETCD_LOG_LEVEL"]),
    ({"log-level": None}, "3.6.16", ["has no value"]),
    ({"max-request-bytes": 1}, "3.8.0", ["etcd_version=3.8.0: no flag rules for that version"]),
    (["max-request-bytes"], "3.6.16", ["etcd_extra_flags must be a dict"]),
])
def test_problems_are_named_with_the_fix(flags, version, expected):
    found = problems(flags, version)
    assert len(found) == 1, found
    for text in expected:
        assert text in found[0], found[0]


def test_one_message_per_problem():
    found = problems({"enable-v2": True, "experimental-initial-corrupt-check": True, "snapshot": 1,
                      "initial-cluster": "x", "max-request-bytes": 1}, "3.7.3")
    assert len(found) == 4, found
    assert all(p.startswith("etcd_extra_flags") for p in found)


def test_every_renamed_flag_is_refused_by_3_7_and_accepted_by_3_6():
    for old, new in v.RENAMED_3_6.items():
        assert problems({old: True}, "3.6.16") == []
        found = problems({old: True}, "3.7.3")
        assert len(found) == 1 and "etcd 3.7 removed it" in found[0]
        assert (new.split(":")[1] + "=true" if new.startswith("feature-gates:") else new) in found[0]


def test_every_flag_of_a_version_passes_alone():
    for minor in MINORS:
        for flag in v.ETCD_FLAGS[minor]:
            if re.match(r"^(initial-cluster|discovery)", flag):
                continue
            value = "InitialCorruptCheck=true" if flag == "feature-gates" else "1"
            assert problems({flag: value}, minor) == [], (minor, flag)


# --- etcd_upgrade_problems ----------------------------------------------------

@pytest.mark.parametrize("running,target", [
    (["3.4.23"] * 3, "3.5.16"),
    (["3.5.16"] * 3, "3.5.30"),
    (["3.5.30"] * 3, "3.5.35"),
    (["3.5.32"] * 3, "3.6.16"),
    (["3.5.35"] * 3, "3.6.16"),
    (["3.6.11"] * 3, "3.7.3"),
    (["3.6.16"] * 3, "3.6.16"),
    # In the middle of an upgrade: some members on the target already.
    (["3.5.35", "3.6.16", "3.6.16"], "3.6.16"),
    (["3.5.35", "3.5.35", "3.6.16"], "3.6.17"),
    (["3.6.16", "3.7.3", "3.7.3"], "3.7.3"),
    # Even below the minimum patch: that member can no longer be raised.
    (["3.5.30", "3.6.16", "3.6.16"], "3.6.16"),
])
def test_upgrade_paths_that_may_go_ahead(running, target):
    assert v.etcd_upgrade_problems(running, target) == []


@pytest.mark.parametrize("running,target,expected", [
    (["3.5.16"] * 3, "3.4.23",
     ["etcd_version=3.4.23 is a downgrade: members run 3.5.16.", "set etcd_version to 3.5.16 or newer",
      "raftops.etcd.restore"]),
    (["3.7.3"] * 3, "3.6.16",
     ["is a downgrade", "ansible-playbook raftops.etcd.downgrade -e etcd_version=3.6.16"]),
    (["3.7.3"] * 3, "3.5.35", ["is a downgrade", "raftops.etcd.downgrade playbook goes one minor down"]),
    (["3.6.16", "3.6.10"], "3.6.11", ["is a downgrade: members run 3.6.10, 3.6.16"]),
    (["3.5.16"] * 3, "3.7.3",
     ["etcd_version=3.7.3 skips a minor version: members run 3.5.16", "newest 3.5.x (3.5.32 or newer)",
      "ansible-playbook raftops.etcd.upgrade -e etcd_version=3.5.32"]),
    (["3.5.35", "3.6.16"], "3.7.3",
     ["skips a minor version", "newest 3.6.x (3.6.11 or newer)", "-e etcd_version=3.6.11"]),
    (["3.4.23"] * 3, "3.6.16", ["skips a minor version", "newest 3.5.x (3.5.32 or newer)"]),
    (["3.5.30"] * 3, "3.6.16",
     ["members on 3.5.30 are too old to upgrade to 3.6", "requires 3.5.32 or newer",
      "upgrade to the newest 3.5.x (3.5.32 or newer), e.g. ansible-playbook raftops.etcd.upgrade "
      "-e etcd_version=3.5.32, then to 3.6.16"]),
    (["3.5.35", "3.5.31", "3.5.26"], "3.6.16", ["members on 3.5.26, 3.5.31 are too old"]),
    (["3.6.10"] * 3, "3.7.3", ["members on 3.6.10 are too old to upgrade to 3.7", "3.6.11 or newer"]),
    (["3.5.35"] * 3, "3.8.0", ["etcd 3.8 is not supported here", "set etcd_version to a 3.5, 3.6 or 3.7 release"]),
    (["3.5.35"] * 3, "latest", ["is not a version like 3.6.16"]),
    ([], "3.6.16", ["cannot read the versions the members run"]),
    (["3.5.35", "unknown"], "3.6.16", ["no etcd release (3.5.35, unknown)"]),
])
def test_upgrade_problems_say_what_to_do(running, target, expected):
    found = v.etcd_upgrade_problems(running, target)
    assert len(found) == 1, found
    for text in expected:
        assert text in found[0], found[0]


def test_minimum_patch_boundary():
    for minor, minimum in v.MIN_UPGRADE_FROM.items():
        major, m, patch = (int(p) for p in minimum.split("."))
        target = "%s.0" % minor
        assert v.etcd_upgrade_problems([minimum], target) == []
        assert "too old" in v.etcd_upgrade_problems(["%d.%d.%d" % (major, m, patch - 1)], target)[0]


# --- etcd_downgrade_problems --------------------------------------------------

@pytest.mark.parametrize("running,target,method", [
    (["3.7.3"] * 3, "3.6.16", "archive"),
    (["3.7.3"] * 3, "3.6.0", "archive"),
    # 3.6 -> 3.5 is the first downgrade etcd can do; 3.5.0 is the lowest target.
    (["3.6.16"] * 3, "3.5.35", "archive"),
    (["3.6.16"] * 3, "3.5.0", "archive"),
    # In the middle of a downgrade (a run stopped half-way resumes).
    (["3.6.16", "3.7.3", "3.7.3"], "3.6.16", "archive"),
    (["3.7.3", "3.6.16"], "3.6.10", "archive"),
    # Nothing to do, whatever the install method.
    (["3.6.16"] * 3, "3.6.16", "archive"),
    (["3.6.16"] * 3, "3.6.16", "package"),
    (["3.5.35"], "3.5.35", "package"),
])
def test_downgrade_paths_that_may_go_ahead(running, target, method):
    assert v.etcd_downgrade_problems(running, target, method) == []


def test_downgrade_install_method_defaults_to_archive():
    assert v.etcd_downgrade_problems(("3.7.3", "3.7.3"), "3.6.16") == []


@pytest.mark.parametrize("running,target,method,expected", [
    # The exact wording of the playbook's refusals (the upgrade scenario greps "one minor").
    ([], "3.6.16", "archive", "cannot read the versions the members run"),
    (None, "3.6.16", "package", "cannot read the versions the members run"),
    (["3.7.3"] * 3, "latest", "archive", "etcd_version=latest is not a version like 3.6.16"),
    ([], "latest", "archive", "cannot read the versions the members run"),
    (["3.7.3"] * 3, "3.4.23", "archive",
     "etcd cannot downgrade to 3.4: its downgrade support (etcdctl downgrade) begins with 3.6 to 3.5 and "
     "nothing goes below 3.5. Only a snapshot taken while the cluster ran 3.4 brings it back (raftops.etcd.restore)"),
    (["3.7.3", "3.7.1", "3.7.3"], "3.7.2", "archive",
     "members run 3.7.1, 3.7.3: etcd_version=3.7.2 is a patch-level change within 3.7, which needs no downgrade "
     "procedure. Use raftops.etcd.upgrade (with etcd_force=true for a lower patch)"),
    (["3.6.16"] * 3, "3.7.3", "archive",
     "members run 3.6.16: etcd_version=3.7.3 is not a downgrade. Use raftops.etcd.upgrade"),
    (["3.7.3"] * 3, "3.5.35", "archive",
     "members run 3.7.3: etcd cannot downgrade more than one minor at a time (3.7 to 3.5). "
     "Downgrade to the latest 3.6.x first, then again from there"),
    (["3.7.3", "3.5.35"], "3.6.16", "archive",
     "members run 3.5.35, 3.7.3, some below 3.6: that is no downgrade to 3.6.16. "
     "Bring every member to 3.7 first (raftops.etcd.upgrade)"),
    (["3.7.3"] * 3, "3.6.16", "package",
     "etcd_install_method=package: a downgrade installs the older release next to the running one, "
     "which only etcd_install_method=archive does"),
    (["3.7.3", "unknown"], "3.6.16", "archive",
     "members report versions that are no etcd release (3.7.3, unknown); check etcdctl endpoint status --cluster"),
])
def test_downgrade_refusals_are_the_playbooks(running, target, method, expected):
    assert v.etcd_downgrade_problems(running, target, method) == [expected]


@pytest.mark.parametrize("running,target,expected", [
    # Only a plain X.Y.Z, as etcd_version is written.
    (["3.7.3"], "v3.6.16", "is not a version like 3.6.16"),
    (["3.7.3"], "3.6", "is not a version like 3.6.16"),
    (["3.7.3"], "3.6.16-rc.0", "is not a version like 3.6.16"),
    (["3.7.3"], "", "is not a version like 3.6.16"),
    # Below 3.5 even where every member runs it: etcd has no downgrade there.
    (["3.5.35"] * 3, "3.4.23", "etcd cannot downgrade to 3.4"),
    (["3.4.23"] * 3, "3.4.23", "etcd cannot downgrade to 3.4"),
    (["3.4.23"] * 3, "2.3.8", "etcd cannot downgrade to 2.3"),
    # A patch-level change within one minor, up or down.
    (["3.7.3"] * 3, "3.7.1", "is a patch-level change within 3.7"),
    (["3.7.3"] * 3, "3.7.4", "is a patch-level change within 3.7"),
    (["3.6.16", "3.6.16"], "3.6.15", "is a patch-level change within 3.6"),
    # Not below the highest minor: a cluster mid-upgrade is no downgrade.
    (["3.5.35", "3.6.16"], "3.6.16", "members run 3.5.35, 3.6.16: etcd_version=3.6.16 is not a downgrade"),
    (["3.5.35", "3.6.16"], "3.6.10", "is not a downgrade"),
    (["3.7.3"] * 3, "3.8.0", "is not a downgrade"),
    (["3.6.16"], "4.0.0", "is not a downgrade"),
    # More than one minor down, also from a cluster mid-downgrade.
    (["3.7.3", "3.6.16"], "3.5.35", "(3.7 to 3.5). Downgrade to the latest 3.6.x first"),
    (["3.7.3"], "3.5.0", "more than one minor at a time"),
    # Some members below the target minor.
    (["3.5.35", "3.6.16", "3.7.3"], "3.6.16", "members run 3.5.35, 3.6.16, 3.7.3, some below 3.6"),
    # Any install method but archive, checked last.
    (["3.7.3", "3.6.16"], "3.6.16", "etcd_install_method=package: a downgrade installs"),
])
def test_downgrade_refusals(running, target, expected):
    found = v.etcd_downgrade_problems(running, target, "package")
    assert len(found) == 1, found
    assert expected in found[0], found[0]


def test_only_archive_installs_downgrade():
    for method in ("package", "Archive", "", None):
        found = v.etcd_downgrade_problems(["3.7.3"] * 3, "3.6.16", method)
        assert len(found) == 1 and found[0].startswith("etcd_install_method=%s:" % method), found
    assert v.etcd_downgrade_problems(["3.7.3"] * 3, "3.6.16", "archive") == []


def test_downgrade_names_members_once_in_version_order():
    found = v.etcd_downgrade_problems(["3.7.10", "3.7.3", "3.7.10", "3.7.9"], "3.7.1")
    assert found[0].startswith("members run 3.7.3, 3.7.9, 3.7.10: "), found


def test_filters_are_registered():
    assert v.FilterModule().filters() == {
        "etcd_downgrade_problems": v.etcd_downgrade_problems,
        "etcd_flag_problems": v.etcd_flag_problems,
        "etcd_upgrade_problems": v.etcd_upgrade_problems,
    }


def test_downgrade_lowest_minor_boundary():
    assert v.etcd_downgrade_problems(["3.6.0"], "3.5.0") == []
    assert "etcd cannot downgrade to 3.4" in v.etcd_downgrade_problems(["3.5.0"], "3.4.99")[0]


@pytest.mark.parametrize("running,target", [
    (["3.7.3"] * 3, "3.6.16"),
    (["3.6.16"] * 3, "3.5.35"),
    (["3.7.3"] * 3, "3.5.35"),
    (["3.6.16"] * 3, "3.4.23"),
    (["3.5.35"] * 3, "3.4.23"),
])
def test_upgrade_and_downgrade_agree(running, target):
    """Where the upgrade check sends to the downgrade playbook, that playbook
    goes ahead; where the upgrade check says etcd cannot, it refuses too."""
    up = v.etcd_upgrade_problems(running, target)
    down = v.etcd_downgrade_problems(running, target)
    assert len(up) == 1 and "is a downgrade" in up[0], up
    if "raftops.etcd.downgrade -e etcd_version=%s" % target in up[0]:
        assert down == [], down
    else:
        assert len(down) == 1, down


# --- the role uses the filters ------------------------------------------------

@pytest.mark.parametrize("path,filter_name", [
    ("roles/etcd/tasks/preflight.yml", "raftops.etcd.etcd_flag_problems"),
    ("roles/etcd/tasks/upgrade_check.yml", "raftops.etcd.etcd_flag_problems"),
    ("roles/etcd/tasks/upgrade_check.yml", "raftops.etcd.etcd_upgrade_problems"),
    ("playbooks/downgrade.yml", "raftops.etcd.etcd_downgrade_problems"),
])
def test_role_checks_use_the_filters(path, filter_name):
    from conftest import ROOT
    assert filter_name in (ROOT / path).read_text()
