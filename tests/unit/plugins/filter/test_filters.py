"""Probe and TLS filters: the decisions that make a converged run a no-op."""
import datetime
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.raftops.etcd.plugins.filter import probe, tls


FIND = {"files": [
    {"path": "/etc/etcd/etcd.conf", "checksum": hashlib.sha1(b"A=1\n").hexdigest(), "mode": "0640",
     "pw_name": "root", "gr_name": "etcd"},
    {"path": "/usr/local/bin/etcd", "islnk": True},
]}


def test_probe_index_links_units():
    idx = probe.probe_index(FIND)
    assert set(idx) == {"/etc/etcd/etcd.conf", "/usr/local/bin/etcd"}
    idx = probe.probe_links(idx, "ActiveState=active\nlink /usr/local/bin/etcd /opt/etcd/v3.5.30/etcd\n"
                                 "link /usr/local/bin/etcdutl \n")
    assert idx["/usr/local/bin/etcd"]["lnk_source"] == "/opt/etcd/v3.5.30/etcd"
    assert "/usr/local/bin/etcdutl" not in idx  # readlink printed nothing: no link
    assert probe.probe_units("ActiveState=active\nUnitFileState=enabled\nlink x y=z\nconf64 RVRDRF9OQU1FPSJ4Igo=\n"
                             "chrony_rc 0\nchrony a=b,1\nExecMainStartTimestamp=@1764030000\n") == \
        {"ActiveState": "active", "UnitFileState": "enabled", "ExecMainStartTimestamp": "@1764030000"}


@pytest.mark.parametrize("kwargs,drift", [
    (dict(content="A=1\n", mode="0640", owner="root", group="etcd"), False),
    (dict(content="A=2\n"), True),
    (dict(content="A=1\n", mode="0644"), True),
    (dict(content="A=1\n", owner="etcd"), True),
    (dict(content="A=1\n", group="root"), True),
])
def test_drifted_file(kwargs, drift):
    idx = probe.probe_index(FIND)
    assert probe.drifted(idx, "/etc/etcd/etcd.conf", **kwargs) is drift


def test_drifted_missing_and_links():
    idx = probe.probe_links(probe.probe_index(FIND), "link /usr/local/bin/etcd /opt/etcd/v3.5.30/etcd")
    assert probe.drifted(idx, "/nope", content="x") is True
    assert probe.drifted(idx, "/usr/local/bin/etcd", link_to="/opt/etcd/v3.5.30/etcd") is False
    assert probe.drifted(idx, "/usr/local/bin/etcd", link_to="/opt/etcd/v3.5.16/etcd") is True


def test_bundle_drifted(tmp_path):
    (tmp_path / "etcd").mkdir()
    (tmp_path / "etcd" / "a.key").write_bytes(b"KEY")
    (tmp_path / "etcd" / "a.crt").write_bytes(b"CRT")
    bundles = {"etcd": {"owner": "etcd", "files": ["a.key", "a.crt"]}}
    idx = {"/pki/a.key": {"checksum": hashlib.sha1(b"KEY").hexdigest(), "mode": "0600", "pw_name": "etcd", "gr_name": "etcd"},
           "/pki/a.crt": {"checksum": hashlib.sha1(b"CRT").hexdigest(), "mode": "0644", "pw_name": "etcd", "gr_name": "etcd"}}
    assert probe.bundle_drifted("etcd", bundles, idx, str(tmp_path), "/pki", "etcd") is None
    idx["/pki/a.key"]["mode"] = "0640"
    assert probe.bundle_drifted("etcd", bundles, idx, str(tmp_path), "/pki", "etcd") == "etcd"
    assert probe.bundle_drifted("etcd", bundles, {}, str(tmp_path / "missing"), "/pki", "etcd") == "etcd"


def make_cert(path, cn, sans, ekus, days):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    names = [x509.DNSName(s[4:]) if s.startswith("DNS:") else
             x509.IPAddress(__import__("ipaddress").ip_address(s[3:])) for s in sans]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca")]))
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([getattr(ExtendedKeyUsageOID, e) for e in ekus]), critical=False)
            .sign(key, hashes.SHA256()))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


SPEC = {"name": "server", "bundle": "etcd", "cn": "etcd-1",
        "sans": ["DNS:etcd-1", "DNS:localhost", "IP:127.0.0.1", "IP:10.0.0.1"], "eku": ["serverAuth", "clientAuth"]}


@pytest.mark.parametrize("cn,sans,ekus,days,reason", [
    ("etcd-1", SPEC["sans"], ["SERVER_AUTH", "CLIENT_AUTH"], 365, ""),
    ("etcd-1", SPEC["sans"], ["SERVER_AUTH", "CLIENT_AUTH"], 10, "expires within 30 days"),
    ("etcd-9", SPEC["sans"], ["SERVER_AUTH", "CLIENT_AUTH"], 365, "common name changed"),
    ("etcd-1", SPEC["sans"][:3], ["SERVER_AUTH", "CLIENT_AUTH"], 365, "subject alternative names changed"),
    ("etcd-1", SPEC["sans"], ["SERVER_AUTH"], 365, "extended key usage changed"),
])
def test_cert_todo(tmp_path, cn, sans, ekus, days, reason):
    make_cert(tmp_path / "etcd" / "server.crt", cn, sans, ekus, days)
    todo = tls.cert_todo([SPEC], str(tmp_path), 30)
    assert [t["reason"] for t in todo] == ([reason] if reason else [])


def test_cert_todo_other_ca(tmp_path):
    make_cert(tmp_path / "etcd" / "server.crt", "etcd-1", SPEC["sans"], ["SERVER_AUTH", "CLIENT_AUTH"], 365)
    make_cert(tmp_path / "ca.crt", "ca", ["DNS:ca"], ["SERVER_AUTH"], 365)  # a different key signs this
    todo = tls.cert_todo([SPEC], str(tmp_path), 30, str(tmp_path / "ca.crt"))
    assert [t["reason"] for t in todo] == ["not signed by the current CA"]


def test_cert_todo_missing(tmp_path):
    assert tls.cert_todo([SPEC], str(tmp_path), 30)[0]["reason"] == "missing"


def test_env_file():
    text = '# managed\nETCD_NAME="etcd-1"\nETCD_INITIAL_CLUSTER="a=https://1:2380,b=https://2:2380"\n\nPLAIN=x=y\n'
    assert probe.env_file(text) == {"ETCD_NAME": "etcd-1", "PLAIN": "x=y",
                                    "ETCD_INITIAL_CLUSTER": "a=https://1:2380,b=https://2:2380"}


def test_dns_record():
    from ansible_collections.raftops.etcd.plugins.filter import dns
    assert dns.dns_record({"inventory_hostname": "h1", "etcd_address": "10.0.0.1"}, "c.test") == \
        {"name": "h1.c.test", "address": "10.0.0.1", "srv_name": ""}
    rec = dns.dns_record({"inventory_hostname": "h2", "etcd_name": "m2", "etcd_dns_srv_name": "blue",
                          "ansible_facts": {"default_ipv4": {"address": "10.0.0.2"}}}, "c.test")
    assert rec == {"name": "m2.c.test", "address": "10.0.0.2", "srv_name": "blue"}
    assert dns.dns_record({"inventory_hostname": "h3"}, "c.test")["address"] == ""
    # etcd_interface picks that interface's address, not the default route's.
    facts = {"default_ipv4": {"address": "10.0.0.4"}, "back_net": {"ipv4": {"address": "10.9.0.4"}}}
    rec = dns.dns_record({"inventory_hostname": "h4", "etcd_interface": "back-net", "ansible_facts": facts}, "c.test")
    assert rec["address"] == "10.9.0.4"
    assert dns.dns_record({"inventory_hostname": "h4", "etcd_interface": "eth9", "ansible_facts": facts},
                          "c.test")["address"] == ""
    assert dns.dns_record({"inventory_hostname": "h4", "etcd_interface": "back-net", "etcd_address": "10.1.1.1",
                           "ansible_facts": facts}, "c.test")["address"] == "10.1.1.1"


def _member(name, started=True, healthy=True, learner=False, url=None):
    return {"name": name, "started": started, "healthy": healthy, "is_learner": learner,
            "client_urls": [url or f"https://{name}:2379"] if started else []}


def _hv(*names):
    return {n: {"inventory_hostname": n, "__etcd_member": {"name": n, "client_url": f"https://{n}:2379"}}
            for n in names}


def test_live_members_only_what_etcd_reports():
    from ansible_collections.raftops.etcd.plugins.filter.members import live_members
    hv = _hv("e1", "e2", "e3", "e4", "e5")
    # e4 joined only in this run's facts (check mode): etcd does not list it.
    cluster = {"members": [_member("e1"), _member("e2"), _member("e3", healthy=False)]}
    assert live_members(["e5", "e4", "e3", "e2", "e1"], hv, cluster) == ["e2", "e1"]
    # An added but unstarted member has no name and never counts; a learner
    # counts only when voters are not required.
    cluster = {"members": [_member("e1"), {"name": "", "started": False, "healthy": False},
                           _member("e2", learner=True)]}
    assert live_members(["e2", "e1"], hv, cluster) == ["e1"]
    assert live_members(["e2", "e1"], hv, cluster, voters=False) == ["e2", "e1"]
    # A member of that name that advertises another client URL is another member.
    assert live_members(["e1"], hv, {"members": [_member("e1", url="https://other:2379")]}) == []
    # Nothing read yet (a failed read, or none): no host.
    assert live_members(["e1"], hv, {}) == []
    assert live_members(["e1"], hv, {"msg": "cannot read"}) == []
