"""Make the collection importable as ansible_collections.raftops.etcd."""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# Versions whose etcdctl output the module tests replay.
VERSIONS = ["3.4.23", "3.5.30"]
# The captured `etcd --help` of each minor: fixtures/<version>/etcd_help.txt.
HELP_VERSIONS = {"3.4": "3.4.23", "3.5": "3.5.30", "3.6": "3.6.16", "3.7": "3.7.3"}
# Where `etcd --help` (server/etcdmain/help.go, hand-written) and the flags
# the binary registers differ, probed with the binaries: etcd warns
# "unrecognized environment variable" for each ETCD_* it does not read
# (test_versions.py repeats the probe where the test mirror holds them).
# Flags etcd reads that its help does not list:
HELP_UNLISTED = {
    "3.4": {"enable-grpc-gateway", "experimental-enable-lease-checkpoint-persist", "unsafe-no-fsync"},
    "3.5": {"experimental-snapshot-catchup-entries"},
}
# Flags the help lists that etcd no longer reads (3.7 removed v2 discovery):
HELP_UNREAD = {"3.7": {"discovery", "discovery-proxy"}}


def help_text(version):
    return (FIXTURES / version / "etcd_help.txt").read_text()


def help_flags(version):
    """The flags `etcd --help` of <version> lists (the lines "  --name ...")."""
    return set(re.findall(r"^\s+--([a-z0-9-]+)", help_text(version), re.M))


def help_gates(version):
    """The feature gates listed under --feature-gates ("    Name=true|false (...)")."""
    return set(re.findall(r"^\s+([A-Z][A-Za-z0-9]+)=true\|false\b", help_text(version), re.M))


def etcd_reads(minor):
    """The flags etcd <minor> reads as ETCD_*, by its captured help and the differences above."""
    return (help_flags(HELP_VERSIONS[minor]) | HELP_UNLISTED.get(minor, set())) - HELP_UNREAD.get(minor, set())
