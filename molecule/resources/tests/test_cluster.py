"""A converged cluster: every member up, TLS only, right names, URLs, files."""
import json
import re
import time

import pytest

from conftest import ETCD_HOSTS, cluster_hosts, etcdctl, etcdctl_json, host_spec, member_ip, ports

testinfra_hosts = [host_spec(h) for h in ETCD_HOSTS]


def my_ip(host):
    return member_ip(host)


def test_service_active_enabled(host):
    svc = host.service("etcd")
    assert svc.is_running
    assert svc.is_enabled
    procs = host.process.filter(comm="etcd")
    assert procs and all(p.user == "etcd" for p in procs)


def advertised_host(host, hostvars):
    """The host part of a member's advertised URLs: its DNS name with DNS bootstrap."""
    hv = hostvars[host.backend.host]
    if hv.get("etcd_bootstrap_mode") == "dns":
        return f"{host.backend.host}.{hv['etcd_dns_domain']}"
    return my_ip(host)


def test_members_started_voting_named(host, hostvars):
    data = etcdctl_json(host, "member list")
    members = data["members"]
    cluster = cluster_hosts(host.backend.host)
    client, peer = ports(host.backend.host)
    assert len(members) == len(cluster)
    names = sorted(m.get("name", "") for m in members)
    assert names == sorted(cluster)
    for m in members:
        assert not m.get("isLearner", False), m
        assert m["peerURLs"] and all(u.startswith("https://") and u.endswith(f":{peer}")
                                     for u in m["peerURLs"]), m
        assert m["clientURLs"] and all(u.startswith("https://") for u in m["clientURLs"]), m
    mine = [m for m in members if m["name"] == host.backend.host]
    assert mine and mine[0]["peerURLs"] == [f"https://{advertised_host(host, hostvars)}:{peer}"]
    assert mine[0]["clientURLs"] == [f"https://{advertised_host(host, hostvars)}:{client}"]


def test_all_endpoints_healthy(host):
    health = etcdctl_json(host, "endpoint health --cluster")
    assert len(health) == len(cluster_hosts(host.backend.host))
    assert all(h["health"] for h in health), health


def test_write_one_read_others(host):
    """A key written through this member is read through every other one."""
    key = f"/raftops/verify/{int(time.time() * 1000)}"
    etcdctl(host, f"put {key} hello-from-{host.backend.host}")
    members = etcdctl_json(host, "member list")["members"]
    others = [m["clientURLs"][0] for m in members if m["name"] != host.backend.host]
    assert len(others) == len(cluster_hosts(host.backend.host)) - 1
    for url in others:
        out = etcdctl(host, f"get {key} --print-value-only --consistency=s", endpoints=url).stdout
        assert out.strip() == f"hello-from-{host.backend.host}", url


def test_plain_http_refused(host):
    ip = my_ip(host)
    client, _peer = ports(host.backend.host)
    res = host.run(f"curl -sS --max-time 5 http://{ip}:{client}/version")
    assert res.rc != 0 or "etcdserver" not in res.stdout


def test_client_without_cert_refused(host):
    ip = my_ip(host)
    client, _peer = ports(host.backend.host)
    # /version, not /health: etcd 3.4 answers /health with a v2 quorum read
    # through raft, a v2 WAL entry that etcd 3.6 refuses to replay (panic
    # "detected disallowed v2 WAL"): the upgrade scenario verifies on 3.4.
    res = host.run(f"curl -sS --max-time 5 --cacert /etc/etcd/pki/ca.crt https://{ip}:{client}/version")
    assert res.rc != 0, res.stdout
    ok = host.run(f"curl -sS --max-time 5 --cacert /etc/etcd/pki/ca.crt --cert /etc/etcd/pki/admin.crt "
                  f"--key /etc/etcd/pki/admin.key https://{ip}:{client}/version")
    assert ok.rc == 0 and json.loads(ok.stdout)["etcdserver"], ok.stdout + ok.stderr


@pytest.mark.parametrize("path,mode,user,group", [
    ("/etc/etcd", 0o750, "root", "etcd"),
    ("/etc/etcd/pki", 0o750, "root", "etcd"),
    ("/etc/etcd/etcd.conf", 0o640, "root", "etcd"),
    ("/var/lib/etcd", 0o700, "etcd", "etcd"),
    ("/etc/etcd/pki/server.key", 0o600, "etcd", "etcd"),
    ("/etc/etcd/pki/peer.key", 0o600, "etcd", "etcd"),
    ("/etc/etcd/pki/admin.key", 0o600, "root", "etcd"),
    ("/etc/etcd/pki/server.crt", 0o644, "etcd", "etcd"),
])
def test_file_modes(host, path, mode, user, group):
    f = host.file(path)
    assert f.exists, path
    assert f.mode == mode, f"{path}: {oct(f.mode)}"
    assert f.user == user and f.group == group, f"{path}: {f.user}:{f.group}"


@pytest.mark.parametrize("cert", ["server", "peer"])
def test_cert_sans(host, cert):
    text = host.check_output(f"openssl x509 -noout -ext subjectAltName -in /etc/etcd/pki/{cert}.crt")
    sans = set(re.findall(r"(DNS:[^,\s]+|IP Address:[^,\s]+)", text))
    for want in [f"DNS:{host.backend.host}", "DNS:localhost", "IP Address:127.0.0.1",
                 f"IP Address:{my_ip(host)}"]:
        assert want in sans, f"{want} not in {sans}"
    host.run_expect([0], f"openssl verify -CAfile /etc/etcd/pki/ca.crt /etc/etcd/pki/{cert}.crt")


def test_config_is_environment_file(host):
    conf = host.file("/etc/etcd/etcd.conf").content_string
    assert f'ETCD_NAME="{host.backend.host}"' in conf
    assert 'ETCD_CLIENT_CERT_AUTH="true"' in conf and 'ETCD_PEER_CLIENT_CERT_AUTH="true"' in conf
    unit = host.file("/etc/systemd/system/etcd.service").content_string
    assert "Type=notify" in unit and "EnvironmentFile=/etc/etcd/etcd.conf" in unit
    assert "User=etcd" in unit and "LimitNOFILE=" in unit


def test_clock_offset_within_bound(host):
    fields = host.check_output("chronyc -c tracking").split(",")
    assert abs(float(fields[4])) <= 0.5, fields
