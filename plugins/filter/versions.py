# -*- coding: utf-8 -*-
# Copyright (c) raftops.etcd contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""etcd's version rules as data, and the checks the etcd role runs with them.

etcd reads every flag from an ETCD_* environment variable too; one it does not
know it only warns about ("unrecognized environment variable",
pkg/flags/flag.go verifyEnv) and starts without it. A misspelt, renamed or
removed flag in etcd.conf is therefore a silent misconfiguration, which
etcd_flag_problems refuses before anything changes. etcd_upgrade_problems
holds the upgrade path rules of etcd's upgrade guides, etcd_downgrade_problems
those of its downgrade guides (one minor down, from 3.6 on).

The data are per minor version. tests/unit/plugins/filter/test_versions.py
checks them against the --help of real etcd binaries
(tests/unit/fixtures/<version>/etcd_help.txt) and, where the test mirror
holds them, against the ETCD_* variables those binaries accept.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import re

from collections.abc import Mapping

# Flags etcd 3.5 accepts: `etcd --help` of 3.5.30, plus
# experimental-snapshot-catchup-entries, which server/etcdmain/config.go
# registers but server/etcdmain/help.go does not list.
_FLAGS_3_5 = frozenset("""
    advertise-client-urls auth-token auth-token-ttl auto-compaction-mode auto-compaction-retention
    auto-tls backend-batch-interval backend-batch-limit backend-bbolt-freelist-type bcrypt-cost
    cert-file cipher-suites client-cert-allowed-hostname client-cert-auth client-cert-file
    client-crl-file client-key-file cors data-dir discovery discovery-fallback discovery-proxy
    discovery-srv discovery-srv-name election-timeout enable-grpc-gateway enable-log-rotation
    enable-pprof enable-v2 experimental-bootstrap-defrag-threshold-megabytes
    experimental-compact-hash-check-enabled experimental-compact-hash-check-time
    experimental-compaction-batch-limit experimental-compaction-sleep-interval
    experimental-corrupt-check-time experimental-distributed-tracing-address
    experimental-distributed-tracing-instance-id experimental-distributed-tracing-sampling-rate
    experimental-distributed-tracing-service-name experimental-downgrade-check-time
    experimental-enable-distributed-tracing experimental-enable-lease-checkpoint
    experimental-enable-lease-checkpoint-persist experimental-enable-v2v3
    experimental-initial-corrupt-check experimental-memory-mlock
    experimental-peer-skip-client-san-verification experimental-snapshot-catchup-entries
    experimental-stop-grpc-service-on-defrag experimental-txn-mode-write-with-shared-buffer
    experimental-warning-apply-duration experimental-watch-progress-notify-interval
    force-new-cluster grpc-keepalive-interval grpc-keepalive-min-time grpc-keepalive-timeout
    heartbeat-interval host-whitelist initial-advertise-peer-urls initial-cluster
    initial-cluster-state initial-cluster-token initial-election-tick-advance key-file
    listen-client-http-urls listen-client-urls listen-metrics-urls listen-peer-urls log-level
    log-outputs log-rotation-config-json logger max-concurrent-streams max-request-bytes
    max-snapshots max-txn-ops max-wals metrics name peer-auto-tls peer-cert-allowed-cn
    peer-cert-allowed-hostname peer-cert-file peer-client-cert-auth peer-client-cert-file
    peer-client-key-file peer-crl-file peer-key-file peer-trusted-ca-file pre-vote proxy
    proxy-dial-timeout proxy-failure-wait proxy-read-timeout proxy-refresh-interval
    proxy-write-timeout quota-backend-bytes raft-read-timeout raft-write-timeout
    self-signed-cert-validity snapshot-count socket-reuse-address socket-reuse-port
    strict-reconfig-check tls-max-version tls-min-version trusted-ca-file unsafe-no-fsync
    v2-deprecation wal-dir
""".split())

# Flags 3.5 added over 3.4 (CHANGELOG-3.5; the 3.4.23 and 3.5.30 binaries). 3.4.23
# also reads enable-grpc-gateway, experimental-enable-lease-checkpoint-persist
# and unsafe-no-fsync, which its --help omits.
_ADDED_3_5 = frozenset("""
    backend-bbolt-freelist-type client-cert-file client-key-file enable-log-rotation
    experimental-bootstrap-defrag-threshold-megabytes experimental-compact-hash-check-enabled
    experimental-compact-hash-check-time experimental-compaction-sleep-interval
    experimental-distributed-tracing-address experimental-distributed-tracing-instance-id
    experimental-distributed-tracing-sampling-rate experimental-distributed-tracing-service-name
    experimental-downgrade-check-time experimental-enable-distributed-tracing
    experimental-memory-mlock experimental-snapshot-catchup-entries
    experimental-stop-grpc-service-on-defrag experimental-txn-mode-write-with-shared-buffer
    listen-client-http-urls log-rotation-config-json peer-client-cert-file peer-client-key-file
    raft-read-timeout raft-write-timeout self-signed-cert-validity socket-reuse-address
    socket-reuse-port tls-max-version tls-min-version v2-deprecation
""".split())

# Flags a minor version removed: name -> what to use instead (None: nothing,
# the feature is gone). 3.5: CHANGELOG-3.5 (capnslog logging gone); 3.6:
# etcd.io upgrade_3_6 guide, server/etcdmain/config.go deprecatedFlags (v2 API,
# v2 proxy); 3.7: etcd.io upgrade_3_7 guide (v2 discovery gone; the
# experimental flags of RENAMED_3_6 go too, see below).
REMOVED = {
    "3.5": {"debug": "log-level: debug", "log-package-levels": "log-level",
            "experimental-backend-bbolt-freelist-type": "backend-bbolt-freelist-type"},
    "3.6": {"enable-v2": None, "experimental-enable-v2v3": None, "proxy": None,
            "proxy-dial-timeout": None, "proxy-failure-wait": None, "proxy-read-timeout": None,
            "proxy-refresh-interval": None, "proxy-write-timeout": None},
    "3.7": {"discovery": "v3 discovery (discovery-endpoints and discovery-token)",
            "discovery-proxy": None},
}

# 3.6 renamed the experimental flags: old -> new flag, or feature-gates:<Gate>
# (server/embed/config.go experimentalFlagMigrationMap,
# server/features/etcd_features.go ExperimentalFlagToFeatureMap,
# server/etcdmain/config.go for warning-unary-request-duration). 3.6 accepts
# both names but refuses old and new together; 3.7 removed the old ones.
RENAMED_3_6 = {
    "experimental-bootstrap-defrag-threshold-megabytes": "bootstrap-defrag-threshold-megabytes",
    "experimental-compact-hash-check-time": "compact-hash-check-time",
    "experimental-compaction-batch-limit": "compaction-batch-limit",
    "experimental-compaction-sleep-interval": "compaction-sleep-interval",
    "experimental-corrupt-check-time": "corrupt-check-time",
    "experimental-distributed-tracing-address": "distributed-tracing-address",
    "experimental-distributed-tracing-instance-id": "distributed-tracing-instance-id",
    "experimental-distributed-tracing-sampling-rate": "distributed-tracing-sampling-rate",
    "experimental-distributed-tracing-service-name": "distributed-tracing-service-name",
    "experimental-downgrade-check-time": "downgrade-check-time",
    "experimental-enable-distributed-tracing": "enable-distributed-tracing",
    "experimental-memory-mlock": "memory-mlock",
    "experimental-peer-skip-client-san-verification": "peer-skip-client-san-verification",
    "experimental-snapshot-catchup-entries": "snapshot-catchup-entries",
    "experimental-warning-apply-duration": "warning-apply-duration",
    "experimental-warning-unary-request-duration": "warning-unary-request-duration",
    "experimental-watch-progress-notify-interval": "watch-progress-notify-interval",
    "experimental-compact-hash-check-enabled": "feature-gates:CompactHashCheck",
    "experimental-enable-lease-checkpoint": "feature-gates:LeaseCheckpoint",
    "experimental-enable-lease-checkpoint-persist": "feature-gates:LeaseCheckpointPersist",
    "experimental-initial-corrupt-check": "feature-gates:InitialCorruptCheck",
    "experimental-stop-grpc-service-on-defrag": "feature-gates:StopGRPCServiceOnDefrag",
    "experimental-txn-mode-write-with-shared-buffer": "feature-gates:TxnModeWriteWithSharedBuffer",
}

# Flags 3.6 added over 3.5 (CHANGELOG-3.6; `etcd --help` of 3.6.16): the new
# names of RENAMED_3_6, v3 discovery, feature gates, and a few more.
_ADDED_3_6 = frozenset(
    [new for new in RENAMED_3_6.values() if not new.startswith("feature-gates:")]
    + """
    experimental-warning-unary-request-duration feature-gates log-format max-learners
    discovery-token discovery-endpoints discovery-dial-timeout discovery-request-timeout
    discovery-keepalive-time discovery-keepalive-timeout discovery-insecure-transport
    discovery-insecure-skip-tls-verify discovery-cert discovery-key discovery-cacert
    discovery-user discovery-password
    """.split())

# Flags each minor reads as ETCD_<FLAG> (3.4: upgrade source only). 3.7's
# help text still lists --discovery and --discovery-proxy, but 3.7.3 no
# longer registers them (server/etcdmain/config.go, server/embed/config.go).
_FLAGS_3_6 = (_FLAGS_3_5 - frozenset(REMOVED["3.6"])) | _ADDED_3_6
ETCD_FLAGS = {
    "3.4": (_FLAGS_3_5 - _ADDED_3_5) | frozenset(REMOVED["3.5"]),
    "3.5": _FLAGS_3_5,
    "3.6": _FLAGS_3_6,
    "3.7": _FLAGS_3_6 - frozenset(RENAMED_3_6) - frozenset(REMOVED["3.7"]),
}

# Feature gates of --feature-gates per minor (server/features/etcd_features.go
# DefaultEtcdServerFeatureGates; `etcd --help`); etcd refuses unknown ones.
_GATES_3_6 = frozenset("""
    AllAlpha AllBeta CompactHashCheck InitialCorruptCheck LeaseCheckpoint LeaseCheckpointPersist
    SetMemberLocalAddr StopGRPCServiceOnDefrag TxnModeWriteWithSharedBuffer
""".split())
FEATURE_GATES = {
    "3.4": frozenset(),
    "3.5": frozenset(),
    "3.6": _GATES_3_6,
    "3.7": _GATES_3_6 | frozenset(["FastLeaseKeepAlive", "PriorityRequest"]),
}

# Flags etcd accepts only to ignore them, leftovers of etcd 2
# (server/etcdmain/config.go `ignored`, the same list in 3.5, 3.6 and 3.7).
IGNORED = frozenset("""
    cluster-active-size cluster-remove-delay cluster-sync-interval config force max-result-buffer
    max-retry-attempts peer-heartbeat-interval peer-election-timeout retry-interval snapshot v vv
""".split())

# ETCD_* variables that are no flag setting (server/etcdmain/config.go):
# ETCD_CONFIG_FILE makes etcd ignore every other ETCD_* variable, and etcd
# unsets ETCD_VERSION ("cannot set special environment variable").
RESERVED = {
    "config-file": "etcd would read only that file and ignore every ETCD_* setting this role writes",
    "version": "etcd drops ETCD_VERSION at start (etcd_version selects the version)",
}

# Bootstrap settings the role renders itself (templates/etcd.conf.j2).
_BOOTSTRAP = re.compile(r"^(initial-cluster|discovery)")

# The oldest patch every member must run before the upgrade to a minor:
# etcd.io/docs/v3.6/upgrades/upgrade_3_6 (3.6 reads membership from bbolt,
# which 3.5 patches keep right from 3.5.32 on) and
# etcd.io/docs/v3.7/upgrades/upgrade_3_7 ("3.6.11 or later"). The 3.5 guide
# (etcd.io/docs/v3.5/upgrades/upgrade_3_5) names none for 3.4.
MIN_UPGRADE_FROM = {"3.6": "3.5.32", "3.7": "3.6.11"}

# etcd's downgrade (etcdctl downgrade enable) exists from 3.6 on, one minor
# down: nothing goes below 3.5 (etcd.io docs downgrades/downgrade_3_6).
_DOWNGRADE_FROM = "3.6"
_DOWNGRADE_LOWEST = "3.5"

_MINORS = sorted(ETCD_FLAGS, key=lambda m: tuple(int(p) for p in m.split(".")))
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def _version(text):
    """(major, minor, patch) of "3.6.16" / "v3.6.16" / "3.6.16-rc.0", else None."""
    m = re.match(r"^v?(\d+)\.(\d+)\.(\d+)", str(text or "").strip())
    return tuple(int(p) for p in m.groups()) if m else None


def _minor_of(version):
    m = re.match(r"^v?(\d+)\.(\d+)(?:\.|$)", str(version or "").strip())
    return "%s.%s" % m.groups() if m else None


def _minor_key(minor):
    return tuple(int(p) for p in minor.split("."))


def _env(name):
    return "ETCD_" + name.upper().replace("-", "_")


def _norm(key):
    return str(key).strip().lower().replace("_", "-")


def _bool_text(value):
    """A value as etcd's feature gates read it ("true"/"false"), else None."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).strip()
    if text in _TRUE:
        return "true"
    if text in _FALSE:
        return "false"
    return None


def _use(spec, value, given):
    """What to write instead, for a replacement spec of REMOVED / RENAMED_3_6."""
    if spec.startswith("feature-gates:"):
        gate = spec.split(":", 1)[1]
        setting = "%s=%s" % (gate, _bool_text(value) or "true")
        if "feature-gates" in given:
            return "add %s to etcd_extra_flags.feature-gates" % setting
        return "use etcd_extra_flags.feature-gates: %s" % setting
    if re.match(r"^[a-z0-9-]+(: .*)?$", spec):
        if spec.split(":")[0] in given:
            return "remove it (etcd_extra_flags.%s is already set)" % spec.split(":")[0]
        return "use etcd_extra_flags.%s" % spec
    return "use %s" % spec


def _unaccepted(key, norm, value, minor, given):
    """Why etcd <minor> does not accept flag <norm>, and what to do."""
    accepted = ETCD_FLAGS[minor]
    label = "etcd_extra_flags.%s (%s)" % (key, _env(norm))
    if norm in RENAMED_3_6 and _minor_key(minor) >= (3, 7):
        return "%s: etcd %s removed it; %s" % (label, minor, _use(RENAMED_3_6[norm], value, given))
    for m in _MINORS:
        if _minor_key(m) <= _minor_key(minor) and norm in REMOVED.get(m, {}):
            spec = REMOVED[m][norm]
            return "%s: etcd %s removed it%s; %s" % (
                label, m, "" if m == minor else " (this is %s)" % minor,
                _use(spec, value, given) if spec else "the feature is gone: remove it")
    old = [o for o, n in RENAMED_3_6.items() if n == norm and o in accepted]
    if old:
        return "%s: etcd %s knows it as %s; use etcd_extra_flags.%s (renamed in 3.6)" % (
            label, minor, old[0], old[0])
    if norm == "feature-gates":
        return "%s: etcd %s has no feature gates (they came with 3.6); use the experimental flags (%s)" % (
            label, minor, ", ".join("%s: %s" % (g.split(":")[1], o) for o, g in sorted(RENAMED_3_6.items())
                                    if g.startswith("feature-gates:") and o in accepted))
    later = [m for m in _MINORS if _minor_key(m) > _minor_key(minor) and norm in ETCD_FLAGS[m]]
    if later:
        return "%s: etcd %s does not have it yet (etcd %s added it); remove it or set etcd_version to %s.x" % (
            label, minor, later[0], later[0])
    close = difflib.get_close_matches(norm, sorted(accepted), n=1, cutoff=0.75)
    return "%s: etcd %s has no such flag (etcd would only warn and start without it); %s" % (
        label, minor, "did you mean etcd_extra_flags.%s?" % close[0] if close
        else "remove it or correct the name (see etcd --help)")


def _gate_problems(key, value, minor):
    """Problems of a --feature-gates value ("Gate=true,Other=false")."""
    label = "etcd_extra_flags.%s (%s)" % (key, _env("feature-gates"))
    if not isinstance(value, str):
        return ["%s must be a string like 'InitialCorruptCheck=true,LeaseCheckpoint=true'; write it as one" % label]
    gates = FEATURE_GATES[minor]
    problems = []
    for item in value.split(","):
        if not item.strip():
            continue
        name, sep, setting = item.partition("=")
        name = name.strip()
        if not sep:
            problems.append("%s: %s has no value; write %s=true or %s=false" % (label, name, name, name))
            continue
        if name not in gates:
            later = [m for m in _MINORS if _minor_key(m) > _minor_key(minor) and name in FEATURE_GATES[m]]
            close = [g for g in sorted(gates) if g.lower() == name.lower()] or \
                difflib.get_close_matches(name, sorted(gates), n=1, cutoff=0.75)
            problems.append("%s: etcd %s has no feature gate %s; %s" % (
                label, minor, name,
                "etcd %s added it: remove it or set etcd_version to %s.x" % (later[0], later[0]) if later
                else "did you mean %s?" % close[0] if close
                else "use one of %s" % ", ".join(sorted(gates))))
        elif _bool_text(setting) is None:
            problems.append("%s: %s=%s is not a boolean; write %s=true or %s=false" % (
                label, name, setting.strip(), name, name))
    return problems


def etcd_flag_problems(extra_flags, version):
    """Problems of etcd_extra_flags for etcd <version>, one message each.

    A flag that version does not accept (with the replacement of a renamed or
    removed one), a flag etcd only ignores, an old and a new name together
    (3.6 refuses to start), an unknown feature gate, a bootstrap setting the
    role owns, the same variable twice, an empty value. [] if all is well.
    """
    if not extra_flags:
        return []
    if not isinstance(extra_flags, Mapping):
        return ["etcd_extra_flags must be a dict of flag: value, e.g. {'max-request-bytes': 1572864}; "
                "got %s" % type(extra_flags).__name__]
    minor = _minor_of(version)
    if minor not in ETCD_FLAGS:
        return ["etcd_version=%s: no flag rules for that version (known: %s); set etcd_version to one of those"
                % (version, ", ".join(_MINORS))]
    accepted = ETCD_FLAGS[minor]
    given = {}
    for key in extra_flags:
        given.setdefault(_norm(key), []).append(key)
    problems = []
    for norm in sorted(given):
        keys = given[norm]
        key, value = keys[0], extra_flags[keys[0]]
        label = "etcd_extra_flags.%s (%s)" % (key, _env(norm))
        if len(keys) > 1:
            problems.append("etcd_extra_flags has %s: all set %s; keep one" % (
                ", ".join(str(k) for k in keys), _env(norm)))
        if _BOOTSTRAP.match(norm):
            problems.append(
                "%s: etcd_extra_flags must not carry bootstrap settings (initial-cluster*, discovery*): they "
                "conflict with the bootstrap this role renders; use etcd_initial_cluster_token or the bootstrap "
                "variables (etcd_bootstrap_mode, etcd_dns_domain, etcd_discovery_endpoint, etcd_discovery_url)"
                % label)
        elif norm in RESERVED:
            problems.append("%s: %s; remove it" % (label, RESERVED[norm]))
        elif norm in IGNORED:
            problems.append("%s: etcd accepts it only to ignore it (an etcd 2 flag); remove it" % label)
        elif norm not in accepted:
            problems.append(_unaccepted(key, norm, value, minor, given))
        elif value is None or (isinstance(value, str) and not value.strip()):
            problems.append("%s has no value: etcd ignores an empty %s; give a value or remove it" % (
                label, _env(norm)))
        elif norm == "feature-gates":
            problems.extend(_gate_problems(key, value, minor))
    # 3.6 accepts the old names next to the new ones but refuses both together
    # (server/embed/config.go: "cannot set --X and --Y at the same time"; for a
    # gate, any mention of its name in --feature-gates counts).
    for old, new in sorted(RENAMED_3_6.items()):
        if old not in given or old not in accepted:
            continue
        old_key = given[old][0]
        if new.startswith("feature-gates:"):
            gate = new.split(":", 1)[1]
            gates = extra_flags[given["feature-gates"][0]] if "feature-gates" in given else ""
            if "feature-gates" in accepted and isinstance(gates, str) and gate in gates:
                problems.append(
                    "etcd_extra_flags.%s and etcd_extra_flags.feature-gates (%s) together: etcd %s refuses to "
                    "start; keep only the feature gate and remove etcd_extra_flags.%s" % (
                        old_key, gate, minor, old_key))
        elif new in given and new in accepted:
            problems.append(
                "etcd_extra_flags.%s and etcd_extra_flags.%s together: etcd %s refuses to start; keep only "
                "etcd_extra_flags.%s (the new name) and remove etcd_extra_flags.%s" % (
                    old_key, given[new][0], minor, given[new][0], old_key))
    return problems


def _next(minor):
    major, m = _minor_key(minor)
    return "%d.%d" % (major, m + 1)


def _newest(minor, minimum=None):
    """'the newest <minor>.x' with an upgrade command to run."""
    if minimum:
        return "the newest %s.x (%s or newer), e.g. ansible-playbook raftops.etcd.upgrade -e etcd_version=%s" % (
            minor, minimum, minimum)
    return "the newest %s.x, e.g. ansible-playbook raftops.etcd.upgrade -e etcd_version=%s.<patch>" % (minor, minor)


def etcd_upgrade_problems(running_versions, target):
    """Problems of upgrading members that run <running_versions> to <target>.

    A downgrade, a skipped minor, a patch too old for the next minor
    (MIN_UPGRADE_FROM), an unsupported target. A cluster in the middle of an
    upgrade (some members on the target's minor) may continue. [] if fine.
    """
    want = _version(target)
    if want is None:
        return ["etcd_version=%s is not a version like 3.6.16; set etcd_version to an etcd release" % target]
    minor = "%d.%d" % want[:2]
    if minor not in ETCD_FLAGS:
        return ["etcd_version=%s: etcd %s is not supported here (known: %s); set etcd_version to a %s or %s release"
                % (target, minor, ", ".join(_MINORS), ", ".join(_MINORS[1:-1]), _MINORS[-1])]
    running = [str(v) for v in (running_versions or [])]
    if not running:
        return ["cannot read the versions the members run; check that every member answers "
                "(etcdctl endpoint status --cluster) and run again"]
    parsed = [_version(v) for v in running]
    if None in parsed:
        return ["members report versions that are no etcd release (%s); check etcdctl endpoint status --cluster"
                % ", ".join(sorted(set(running)))]
    members = ", ".join(sorted(set(running), key=_version))
    lowest, highest = min(parsed), max(parsed)
    low_minor, high_minor = "%d.%d" % lowest[:2], "%d.%d" % highest[:2]
    if want < highest:
        if want[:2] == (highest[0], highest[1] - 1) and _minor_key(high_minor) >= _minor_key(_DOWNGRADE_FROM):
            todo = ("use the raftops.etcd.downgrade playbook for one minor down: ansible-playbook "
                    "raftops.etcd.downgrade -e etcd_version=%s" % target)
        elif _minor_key(high_minor) >= _minor_key(_DOWNGRADE_FROM):
            todo = ("set etcd_version to %s or newer; the raftops.etcd.downgrade playbook goes one minor down "
                    "at a time (to %d.%d.x)" % (".".join(map(str, highest)), highest[0], highest[1] - 1))
        else:
            todo = ("set etcd_version to %s or newer; etcd %s cannot downgrade a cluster (etcd's downgrade came "
                    "with 3.6): restore a snapshot taken before the upgrade (raftops.etcd.restore) to go back"
                    % (".".join(map(str, highest)), high_minor))
        return ["etcd_version=%s is a downgrade: members run %s. The upgrade playbook only goes up: %s" % (
            target, members, todo)]
    if want[:2] > (lowest[0], lowest[1] + 1):
        step = _next(low_minor)
        if step in MIN_UPGRADE_FROM and lowest < _version(MIN_UPGRADE_FROM[step]):
            first = _newest(low_minor, MIN_UPGRADE_FROM[step])
        else:
            first = _newest(step, MIN_UPGRADE_FROM.get(_next(step)))
        return ["etcd_version=%s skips a minor version: members run %s. Upgrade one minor at a time: first to %s, "
                "then on towards %s" % (target, members, first, target)]
    # Before the first member moves to the new minor, every member must run
    # the minimum patch. Once one does, the old patch can no longer be raised
    # (that would be a downgrade of that member): finishing is the way on.
    minimum = MIN_UPGRADE_FROM.get(minor)
    if minimum and high_minor != minor:
        old = sorted(set(v for v, p in zip(running, parsed) if p < _version(minimum)), key=_version)
        if old:
            return ["etcd_version=%s: members on %s are too old to upgrade to %s (etcd's upgrade guide requires "
                    "%s or newer); first upgrade to %s, then to %s" % (
                        target, ", ".join(old), minor, minimum, _newest(low_minor, minimum), target)]
    return []


def etcd_downgrade_problems(running_versions, target, install_method="archive"):
    """Problems of downgrading members that run <running_versions> to <target>.

    etcd downgrades one minor at a time, from 3.6 on (etcdctl downgrade
    enable). Refused: no versions read, a target that is no plain X.Y.Z, a
    target below 3.5, a patch-level change (the upgrade playbook does those),
    a target not below the cluster's minor, more than one minor down, members
    below the target's minor, an install method other than archive (the older
    release goes next to the running one). A cluster in the middle of a
    downgrade (members on the target's minor and one above) may continue.
    [] if it may go ahead, and [] if every member runs the target already.
    """
    running = [str(v) for v in (running_versions or [])]
    if not running:
        return ["cannot read the versions the members run"]
    if not re.match(r"^[0-9]+\.[0-9]+\.[0-9]+$", str(target)):
        return ["etcd_version=%s is not a version like 3.6.16" % target]
    minor = _minor_of(target)
    want = _minor_key(minor)
    if want < _minor_key(_DOWNGRADE_LOWEST):
        return ["etcd cannot downgrade to %s: its downgrade support (etcdctl downgrade) begins with %s to %s and "
                "nothing goes below %s. Only a snapshot taken while the cluster ran %s brings it back "
                "(raftops.etcd.restore)" % (minor, _DOWNGRADE_FROM, _DOWNGRADE_LOWEST, _DOWNGRADE_LOWEST, minor)]
    if set(running) == {str(target)}:
        return []
    parsed = [_version(v) for v in running]
    if None in parsed:
        return ["members report versions that are no etcd release (%s); check etcdctl endpoint status --cluster"
                % ", ".join(sorted(set(running)))]
    members = ", ".join(sorted(set(running), key=_version))
    top, bottom = max(p[:2] for p in parsed), min(p[:2] for p in parsed)
    one_below = (top[0], top[1] - 1)
    if want == top == bottom:
        return ["members run %s: etcd_version=%s is a patch-level change within %s, which needs no downgrade "
                "procedure. Use raftops.etcd.upgrade (with etcd_force=true for a lower patch)"
                % (members, target, minor)]
    if want >= top:
        return ["members run %s: etcd_version=%s is not a downgrade. Use raftops.etcd.upgrade" % (members, target)]
    if want < one_below:
        return ["members run %s: etcd cannot downgrade more than one minor at a time (%d.%d to %s). Downgrade to "
                "the latest %d.%d.x first, then again from there" % ((members,) + top + (minor,) + one_below)]
    if bottom < want:
        return ["members run %s, some below %s: that is no downgrade to %s. Bring every member to %d.%d first "
                "(raftops.etcd.upgrade)" % ((members, minor, target) + top)]
    if str(install_method) != "archive":
        return ["etcd_install_method=%s: a downgrade installs the older release next to the running one, which "
                "only etcd_install_method=archive does" % install_method]
    return []


class FilterModule(object):
    def filters(self):
        return {
            "etcd_downgrade_problems": etcd_downgrade_problems,
            "etcd_flag_problems": etcd_flag_problems,
            "etcd_upgrade_problems": etcd_upgrade_problems,
        }
