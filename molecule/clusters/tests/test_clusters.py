"""Two clusters of one inventory: fact-based addressing on two networks, and
certificates, tokens, settings and backups that never mix; made by the
unprivileged controller user raftops-ci."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import testinfra

from conftest import RUNNER, host_spec, member_ip, ports

MAIN = RUNNER.get_hosts("etcd_main")
EVENTS = RUNNER.get_hosts("etcd_events")
FRONT = re.compile(r"^172\.31\.208\.")
BACK = re.compile(r"^172\.31\.209\.")
HELPER = Path(__file__).resolve().parents[1] / "as_ci_user.py"


def remote(name):
    return testinfra.get_host(host_spec(name))


def conf(h):
    """etcd.conf as a dict."""
    text = h.check_output("cat /etc/etcd/etcd.conf")
    return dict(re.findall(r'^(ETCD_[A-Z0-9_]+)="(.*)"$', text, re.M))


def front_ip(h):
    return h.check_output("ip -4 -o addr show to 172.31.208.0/24 | awk '{print $4}' | cut -d/ -f1")


@pytest.fixture(scope="module")
def run_dir():
    out = subprocess.run([sys.executable, str(HELPER), "where"], capture_output=True, text=True, check=True).stdout
    return Path(json.loads(out)["run_dir"])


def test_inventory_shape():
    assert len(MAIN) == 3 and len(EVENTS) == 1
    for name in MAIN:
        hv = RUNNER.get_variables(name)
        assert not hv.get("etcd_address") and hv["etcd_interface"] == "backnet0"


@pytest.mark.parametrize("name", MAIN)
def test_main_uses_the_back_network(name):
    """No etcd_address: the member's URLs carry etcd_interface's address (the
    back network), never the default route's (the front network)."""
    h = remote(name)
    back, front = member_ip(h), front_ip(h)
    assert BACK.match(back) and FRONT.match(front), (back, front)
    # The default route is the front network: the fallback would have picked it.
    default = h.check_output("ip -4 route show default")
    assert default.startswith("default via 172.31.208.1 ") and "backnet0" not in default, default
    c = conf(h)
    client, peer = ports(name)
    for key in ("ETCD_INITIAL_ADVERTISE_PEER_URLS", "ETCD_LISTEN_PEER_URLS"):
        assert c[key] == f"https://{back}:{peer}", (key, c[key])
    assert c["ETCD_ADVERTISE_CLIENT_URLS"] == f"https://{back}:{client}"
    assert front not in json.dumps(c), c
    sans = h.check_output("openssl x509 -noout -ext subjectAltName -in /etc/etcd/pki/peer.crt")
    assert f"IP Address:{back}" in sans and f"IP Address:{front}" not in sans, sans
    # etcd listens on the back address only (and loopback for metrics).
    listening = h.check_output("ss -Htln")
    assert f"{back}:{peer}" in listening and f"{front}:{peer}" not in listening, listening


def test_settings_differ():
    m, e = conf(remote(MAIN[0])), conf(remote(EVENTS[0]))
    assert (m["ETCD_HEARTBEAT_INTERVAL"], m["ETCD_ELECTION_TIMEOUT"]) == ("100", "1000")
    assert (e["ETCD_HEARTBEAT_INTERVAL"], e["ETCD_ELECTION_TIMEOUT"]) == ("200", "2000")
    assert m["ETCD_QUOTA_BACKEND_BYTES"] != e["ETCD_QUOTA_BACKEND_BYTES"] == "1073741824"
    assert e["ETCD_ADVERTISE_CLIENT_URLS"].endswith(":2389") and m["ETCD_ADVERTISE_CLIENT_URLS"].endswith(":2379")


def test_tokens_and_cas_differ():
    tokens = {n: conf(remote(n))["ETCD_INITIAL_CLUSTER_TOKEN"] for n in MAIN + EVENTS}
    assert len({tokens[n] for n in MAIN}) == 1, tokens
    assert tokens[MAIN[0]].startswith("main-") and tokens[EVENTS[0]].startswith("events-"), tokens
    cas = {n: remote(n).check_output("sha256sum /etc/etcd/pki/ca.crt").split()[0] for n in MAIN + EVENTS}
    assert len({cas[n] for n in MAIN}) == 1 and cas[MAIN[0]] != cas[EVENTS[0]], cas
    subject = remote(EVENTS[0]).check_output("openssl x509 -noout -subject -in /etc/etcd/pki/ca.crt")
    assert "events etcd CA" in subject, subject


@pytest.mark.parametrize("src,dst", [("main", "events"), ("events", "main")])
def test_client_cert_of_one_cluster_rejected_by_the_other(src, dst):
    """The admin client certificate of one cluster, copied to a member of the
    other, does not open that member even without server verification; the
    member's own certificate does (same URL, same host)."""
    a = remote(MAIN[0] if src == "main" else EVENTS[0])
    b_name = EVENTS[0] if dst == "events" else MAIN[0]
    b = remote(b_name)
    url = conf(b)["ETCD_ADVERTISE_CLIENT_URLS"]
    client, _peer = ports(b_name)
    assert url.endswith(f":{client}")
    tmp = f"/root/raftops-foreign-{src}"
    crt, key = (a.check_output(f"base64 -w0 /etc/etcd/pki/admin.{ext}") for ext in ("crt", "key"))
    try:
        b.check_output(f"install -d -m 0700 {tmp} && echo {crt} | base64 -d > {tmp}/admin.crt && "
                       f"(umask 077; echo {key} | base64 -d > {tmp}/admin.key)")
        foreign = b.run(f"curl -sS --max-time 5 -k --cert {tmp}/admin.crt --key {tmp}/admin.key {url}/version")
        assert foreign.rc != 0 and "etcdserver" not in foreign.stdout, (foreign.stdout, foreign.stderr)
    finally:
        b.run(f"rm -rf {tmp}")
    own = b.run(f"curl -sS --max-time 5 -k --cert /etc/etcd/pki/admin.crt --key /etc/etcd/pki/admin.key {url}/version")
    assert own.rc == 0 and "etcdserver" in own.stdout, (own.stdout, own.stderr)


def test_controller_files_are_the_unprivileged_users(run_dir):
    """The PKI and fetched backups live in raftops-ci's directory, owned by it,
    one directory per cluster; each cluster's snapshot is the one its leader
    kept, never the other's."""
    import pwd
    user = pwd.getpwnam("raftops-ci")
    # side_effect.yml's backups ran (as_ci_user.py keeps a log of each run).
    logs = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "ci-user"
    backed_up = bool(list(logs.glob("*.backup.log")))
    for cluster, members in (("main", MAIN), ("events", EVENTS)):
        pki = run_dir / f"pki-{cluster}"
        ca = pki / "ca.crt"
        assert ca.is_file() and (pki / "ca.key").is_file(), pki
        for p in (pki, ca, pki / "ca.key"):
            assert p.stat().st_uid == user.pw_uid, p
        assert (pki / "ca.key").stat().st_mode & 0o077 == 0
        # The CA on the members is the one raftops-ci made.
        local = subprocess.run(["sha256sum", str(ca)], capture_output=True, text=True, check=True).stdout.split()[0]
        on_member = remote(members[0]).check_output("sha256sum /etc/etcd/pki/ca.crt").split()[0]
        assert local == on_member, cluster
        snaps = sorted((run_dir / f"backups-{cluster}").glob("*.db"))
        if not backed_up:
            # Verify after converge: side_effect.yml has not backed up yet.
            assert not snaps, snaps
            continue
        assert [s.name.split("-snapshot-")[0] for s in snaps] == [cluster], snaps
        assert snaps[0].stat().st_uid == user.pw_uid
        digest = subprocess.run(["sha256sum", str(snaps[0])], capture_output=True, text=True,
                                check=True).stdout.split()[0]
        kept = " ".join(remote(m).check_output(
            f"sha256sum /var/backups/etcd/{snaps[0].name} 2>/dev/null || true") for m in members)
        assert digest in kept, (cluster, snaps[0].name)
    assert not (run_dir / "pki").exists() and not (run_dir / "backups").exists()
    assert os.path.samefile(run_dir.parents[4], user.pw_dir)
