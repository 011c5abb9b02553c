"""etcd_restart_check: why a running member restarts, read from the host."""
import hashlib
import os
import subprocess

import pytest

from ansible_collections.raftops.etcd.plugins.modules import etcd_restart_check as m

CONF = '''# Ansible managed
# etcd 3.6.16: member etcd-1 of cluster main.
ETCD_NAME="etcd-1"
ETCD_SNAPSHOT_COUNT="20000"
  ETCD_HEARTBEAT_INTERVAL = 250
; a comment systemd also skips
ETCD_INITIAL_CLUSTER_TOKEN="secret-ish"
ETCD_QUOTED="a \\"b\\" c"
ETCD_SINGLE='x y'
not an assignment
'''


def test_env_file_is_read_as_systemd_reads_it():
    assert m.parse_env_file(CONF) == {
        "ETCD_NAME": "etcd-1", "ETCD_SNAPSHOT_COUNT": "20000", "ETCD_HEARTBEAT_INTERVAL": "250",
        "ETCD_INITIAL_CLUSTER_TOKEN": "secret-ish", "ETCD_QUOTED": 'a "b" c', "ETCD_SINGLE": "x y"}


@pytest.mark.parametrize("line,value", [
    ('X="a\\nb"', "a\\nb"),          # a backslash in double quotes escapes only " \\ ` $
    ('X="a\\"b"', 'a"b'),
    ('X="say "hi""', "say hi"),       # a quoted part may be followed by more value
    ("X='a\\b' c  ", "a\\b c"),        # nothing is escaped in single quotes; trailing blanks go
    ("X=a\\ b", "a b"),                # outside quotes a backslash escapes any character
    ("X=", ""),
    ('X="https://a:2379,https://b:2379"', "https://a:2379,https://b:2379"),
])
def test_env_file_edge_cases_as_systemd(line, value):
    assert m.parse_env_file(line + "\n") == {"X": value}


def test_variables_the_unit_sets_itself_are_no_reason():
    """A drop-in's Environment= (recover_quorum's ETCD_FORCE_NEW_CLUSTER while
    it is loaded) or UnsetEnvironment= (the upgrade's v2 snapshot start): a
    restart would keep them, so restarting for them would never end."""
    props = {"Environment": "ETCD_FORCE_NEW_CLUSTER=true", "UnsetEnvironment": "ETCD_SNAPSHOT_COUNT"}
    keys = m.unit_keys(props)
    assert keys == {"ETCD_FORCE_NEW_CLUSTER", "ETCD_SNAPSHOT_COUNT"}
    started = record({"ETCD_NAME": "a", "ETCD_FORCE_NEW_CLUSTER": "true"})
    wanted = {"ETCD_NAME": "a", "ETCD_SNAPSHOT_COUNT": "10000"}
    assert m.decide(started, wanted, "/opt/etcd/v3.6.16/etcd", [], False, "etcd", keys) == ([], [])
    # Once the drop-in is gone (removed and reloaded), the variable is a reason.
    _c, reasons = m.decide(started, wanted, "/opt/etcd/v3.6.16/etcd", [], False, "etcd", set())
    assert reasons == ["config: force-new-cluster true -> unset; snapshot-count unset -> 10000"]


def record(env=None, binary="/opt/etcd/v3.6.16/etcd", sums=None):
    """The record as ExecStartPre writes it (env | grep ^ETCD_; readlink | sed; sha256sum)."""
    lines = ["%s=%s" % kv for kv in (env or {}).items()] + ["RAFTOPS_BINARY=" + binary]
    lines += ["%s  %s" % (h, p) for p, h in (sums or {}).items()]
    return m.parse_record("\n".join(lines) + "\n")


def test_config_changes_name_flags_and_values_and_hide_secrets():
    running = {"ETCD_NAME": "etcd-1", "ETCD_SNAPSHOT_COUNT": "10000", "ETCD_INITIAL_CLUSTER_TOKEN": "a",
               "ETCD_GONE": "1"}
    wanted = {"ETCD_NAME": "etcd-1", "ETCD_SNAPSHOT_COUNT": "20000", "ETCD_INITIAL_CLUSTER_TOKEN": "b",
              "ETCD_NEW": "", "PATH": "/usr/bin"}
    changes, reasons = m.decide(record(running), wanted, "/opt/etcd/v3.6.16/etcd", [], False, "etcd")
    assert [c["name"] for c in changes] == ["ETCD_GONE", "ETCD_INITIAL_CLUSTER_TOKEN", "ETCD_NEW",
                                            "ETCD_SNAPSHOT_COUNT"]
    assert reasons == ['config: gone 1 -> unset; initial-cluster-token changed; new unset -> ""; '
                       'snapshot-count 10000 -> 20000']
    _c, reasons = m.decide(record({"ETCD_DISCOVERY": "http://d:2379/v2/keys/_etcd/registry/secret"}), {},
                           "/opt/etcd/v3.6.16/etcd", [], False, "etcd")
    assert reasons == ["config: discovery (hidden) -> unset"]
    assert "a" not in [c["running"] for c in changes] and "b" not in [c["wanted"] for c in changes]


def test_nothing_owed_when_everything_matches():
    env = {"ETCD_NAME": "etcd-1", "ETCD_LISTEN_CLIENT_URLS": "https://10.0.0.1:2379,https://127.0.0.1:2379"}
    unit = {"path": "/etc/systemd/system/etcd.service", "sha256": "AB" * 32, "kind": "unit"}
    assert m.decide(record(env, sums={unit["path"]: "ab" * 32}), dict(env), "/opt/etcd/v3.6.16/etcd",
                    [unit], False, "etcd") == ([], [])


def test_a_member_left_on_the_old_version_restarts():
    """An upgrade 3.5 -> 3.6 killed after etcd-1 restarted: every link points
    at 3.6.16 already (nothing drifts on disk), etcd-2 still runs 3.5's binary."""
    _c, reasons = m.decide(record(binary="/opt/etcd/v3.5.30/etcd"), {}, "/opt/etcd/v3.6.16/etcd", [], False, "etcd")
    assert reasons == ["binary: /opt/etcd/v3.5.30/etcd -> /opt/etcd/v3.6.16/etcd"]
    # The upgrade's one-off start (v2_wal.yml) runs the old binary while the
    # link points at the new one already: its drop-in appends the binary it
    # runs, and the last line counts.
    started = m.parse_record("ETCD_NAME=etcd-2\nRAFTOPS_BINARY=/opt/etcd/v3.6.16/etcd\n"
                             "RAFTOPS_BINARY=/opt/etcd/v3.5.30/etcd\n")
    _c, reasons = m.decide(started, {"ETCD_NAME": "etcd-2"}, "/opt/etcd/v3.6.16/etcd", [], False, "etcd")
    assert reasons == ["binary: /opt/etcd/v3.5.30/etcd -> /opt/etcd/v3.6.16/etcd"]


def test_unit_and_ca_against_the_record():
    unit = {"path": "/etc/systemd/system/etcd.service", "sha256": "aa" * 32, "kind": "unit"}
    ca = {"path": "/etc/etcd/pki/ca.crt", "sha256": "cc" * 32, "kind": "tls"}
    started = record(sums={unit["path"]: "aa" * 32, ca["path"]: "bb" * 32})
    _c, reasons = m.decide(started, {}, "", [unit, ca], False, "etcd")
    assert reasons == ["tls: /etc/etcd/pki/ca.crt changed since etcd started"]
    _c, reasons = m.decide(record(sums={unit["path"]: "aa" * 32}), {}, "", [unit, ca], True, "etcd")
    assert reasons == ["tls: /etc/etcd/pki/ca.crt appeared since etcd started",
                       "unit: etcd.service changed on disk and is not loaded yet"]
    _c, reasons = m.decide(None, {}, "", [unit], False, "etcd")
    assert reasons == ["unit: etcd started without a record of what it read (a unit older than the record)"]


def test_the_record_command_of_the_unit_is_what_parse_record_reads(tmp_path):
    """The ExecStartPre command of templates/etcd.service.j2, run by a shell
    with an ETCD_* environment: parse_record gets the environment, the
    binary the link points to and the SHA-256 of each input."""
    from conftest import ROOT
    line = [x for x in (ROOT / "roles/etcd/templates/etcd.service.j2").read_text().splitlines()
            if x.startswith("ExecStartPre=")][0]
    script = line.split("/bin/sh -c '", 1)[1].rsplit("'", 1)[0]
    (tmp_path / "v3.6.16").mkdir()
    (tmp_path / "v3.6.16" / "etcd").write_text("#!/bin/true\n")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "etcd").symlink_to(tmp_path / "v3.6.16" / "etcd")
    unit, ca = tmp_path / "etcd.service", tmp_path / "ca.crt"
    unit.write_text("[Service]\n")
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    out = tmp_path / "started"
    script = (script.replace("{{ __etcd_bin }}", str(tmp_path / "bin"))
              .replace('{{ __etcd_start_inputs | join(" ") }}', "%s %s" % (unit, ca))
              .replace("/run/etcd/started", str(out)))
    assert "{{" not in script
    subprocess.run(["/bin/sh", "-c", script], check=True, env={
        "PATH": os.environ["PATH"], "ETCD_NAME": "etcd-1", "ETCD_LISTEN_CLIENT_URLS": "https://a:2379,https://b:2379",
        "OTHER": "x"})
    env, binary, sums = m.parse_record(out.read_text())
    assert env == {"ETCD_NAME": "etcd-1", "ETCD_LISTEN_CLIENT_URLS": "https://a:2379,https://b:2379"}
    assert binary == str(tmp_path / "v3.6.16" / "etcd")
    assert sums == {str(unit): hashlib.sha256(unit.read_bytes()).hexdigest(),
                    str(ca): hashlib.sha256(ca.read_bytes()).hexdigest()}


class Mod:
    """AnsibleModule enough for check(): systemctl answers with `pid`."""

    def __init__(self, pid, **params):
        self.params = dict(service="etcd", config=None, config_path="/nonexistent", binary=None, inputs=[],
                           record="/nonexistent/record")
        self.params.update(params)
        self.pid = pid

    def run_command(self, argv):
        assert argv[:2] == ["systemctl", "show"]
        return 0, "MainPID=%d\nNeedDaemonReload=no\nEnvironment=\nUnsetEnvironment=\n" % self.pid, ""

    def fail_json(self, **kw):
        raise AssertionError(kw)


def test_check_reads_the_record_and_the_conf(tmp_path):
    conf = tmp_path / "etcd.conf"
    conf.write_text('ETCD_NAME="etcd-1"\nETCD_SNAPSHOT_COUNT="10000"\n')
    rec = tmp_path / "started"
    rec.write_text("ETCD_NAME=etcd-1\nETCD_SNAPSHOT_COUNT=10000\nRAFTOPS_BINARY=/opt/etcd/v3.6.15/etcd\n")
    same = m.check(Mod(42, config_path=str(conf), record=str(rec)))
    assert same["running"] and same["pid"] == 42 and same["reasons"] == [] and not same["restart"]
    # The file changed, the process did not restart: owed, with the values.
    conf.write_text('ETCD_NAME="etcd-1"\nETCD_SNAPSHOT_COUNT="20000"\n')
    owed = m.check(Mod(42, config_path=str(conf), record=str(rec), binary="/opt/etcd/v3.6.16/etcd"))
    assert owed["restart"]
    assert owed["reasons"] == ["config: snapshot-count 10000 -> 20000",
                               "binary: /opt/etcd/v3.6.15/etcd -> /opt/etcd/v3.6.16/etcd"]
    assert owed["message"] == "; ".join(owed["reasons"])
    # Check mode passes the wanted text: it wins over the file.
    given = m.check(Mod(42, config='ETCD_NAME="etcd-1"\nETCD_SNAPSHOT_COUNT="10000"\n', config_path=str(conf),
                        record=str(rec)))
    assert given["reasons"] == []
    # Running without a record: started from an older unit.
    assert m.check(Mod(42, config_path=str(conf)))["restart"]


def test_a_stopped_member_owes_nothing():
    out = m.check(Mod(0))
    assert not out["running"] and not out["restart"] and out["reasons"] == []
