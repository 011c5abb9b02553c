"""Bad input fails early with a message naming the variable and the fix, and
leaves the hosts exactly as they were (config, running process, installs)."""
import json
import os
import re
import subprocess

import pytest
import testinfra

from conftest import host_spec

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
PROJECT = os.environ["MOLECULE_PROJECT_DIRECTORY"]
HOSTS = ["raftops-default-etcd-1", "raftops-default-etcd-2", "raftops-default-etcd-3"]
STATE_CMD = ("sha1sum /etc/etcd/etcd.conf /etc/systemd/system/etcd.service; "
             "systemctl show -p MainPID -p ActiveEnterTimestampMonotonic etcd; "
             "ls /opt/etcd; ls -l /etc/etcd/pki | sha1sum")


def host_state():
    state = {}
    for h in HOSTS:
        # The files are root's: host_spec runs the command through sudo.
        host = testinfra.get_host(host_spec(h))
        state[h] = host.check_output(f"bash -c '{STATE_CMD}'")
    return state


def run_site(*args):
    env = dict(os.environ,
               ANSIBLE_COLLECTIONS_PATH=os.path.join(PROJECT, "collections"),
               ANSIBLE_PIPELINING="True", ANSIBLE_NOCOLOR="1", ANSIBLE_FORKS="20")
    cmd = ["ansible-playbook", "-i", INVENTORY,
           os.path.join(PROJECT, "molecule", "resources", "converge.yml"), *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)


CASES = [
    ("election_short", ["-e", "etcd_election_timeout=300"],
     r"etcd_election_timeout=300 must be at least 5 x etcd_heartbeat_interval"),
    ("election_long", ["-e", "etcd_election_timeout=60000"],
     r"etcd_election_timeout=60000 .* at most 50000"),
    ("version", ["-e", "etcd_version=3.3.27"],
     r"etcd_version=3.3.27 is not supported"),
    ("install_method", ["-e", "etcd_install_method=rpm"],
     r"etcd_install_method.*(archive|package)"),
    ("ports", ["-e", "etcd_client_port=2380"],
     r"etcd_client_port/etcd_peer_port must be distinct"),
    ("duplicate_names", ["-e", "etcd_name=same"],
     r"etcd_name must be unique in the cluster; duplicates: same"),
    ("bootstrap_conflict", ["-e", json.dumps({"etcd_extra_flags": {"initial-cluster-state": "new"}})],
     r"etcd_extra_flags must not carry bootstrap settings"),
    ("plaintext", ["-e", json.dumps({"etcd_tls": False})],
     r"etcd_tls=false .* set etcd_allow_plaintext=true"),
    # -e passes strings: "false" is read as false, not as a truthy string.
    ("plaintext_string", ["-e", "etcd_tls=false"],
     r"etcd_tls=false .* set etcd_allow_plaintext=true"),
    # Role argument validation takes "y" for true, the bool filter for false.
    ("bool_typo", ["-e", "etcd_tls=y"],
     r"etcd_tls='y' is not a boolean: use true/false, yes/no, on/off or 1/0"),
    ("bool_invalid", ["-e", "etcd_force=maybe"],
     r"argument 'etcd_force' .* 'maybe' is not a valid boolean"),
    ("single_member", ["-e", "etcd_cluster_group=solo"],
     r"1-member cluster has no fault tolerance: .* etcd_allow_single_member=true"),
    ("limit", ["--limit", "raftops-default-etcd-1"],
     r"every host of group etcd must be in the play"),
    ("clock", ["-e", "etcd_clock_max_offset=-1"],
     r"clock offset .* exceeds etcd_clock_max_offset=-1"),
    ("lost_pki", ["-e", "etcd_tls_controller_dir=/tmp/raftops-elsewhere/pki"],
     r"trusts a CA .* etcd_tls_allow_ca_change=true"),
    ("bad_checksum", ["-e", "etcd_version=3.5.16", "-e", "etcd_archive_checksum=sha256:" + "0" * 64],
     r"The checksum for .* did not match 0{64}"),
]


@pytest.fixture(scope="module")
def before():
    return host_state()


@pytest.mark.first_verify
@pytest.mark.parametrize("name,args,message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_fails_early_and_changes_nothing(before, name, args, message):
    res = run_site(*args)
    out = res.stdout + res.stderr
    assert res.returncode != 0, f"{name}: the run succeeded\n{out[-3000:]}"
    assert re.search(message, out.replace("\n", " ")), f"{name}: message not found\n{out[-4000:]}"
    changed = [int(n) for n in re.findall(r"\bchanged=(\d+)", out)]
    assert changed and not any(changed), f"{name}: something changed\n{out[-3000:]}"
    assert host_state() == before, f"{name}: host state differs after the failed run"
