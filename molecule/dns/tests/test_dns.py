"""DNS bootstrap: SRV records from dnsmasq, names in URLs and certificates."""
import re

from conftest import ETCD_HOSTS, host_spec

testinfra_hosts = [host_spec(h) for h in ETCD_HOSTS]
DOMAIN = "cluster.etcd.test"


def test_srv_records_list_every_member(host):
    for name, port in (("_etcd-server-ssl._tcp", 2380), ("_etcd-client-ssl._tcp", 2379)):
        out = host.check_output(f"dig +short SRV {name}.{DOMAIN}")
        targets = sorted(line.split()[3].rstrip(".") for line in out.splitlines() if line.strip())
        assert targets == sorted(f"{h}.{DOMAIN}" for h in ETCD_HOSTS), out
        assert all(line.split()[2] == str(port) for line in out.splitlines() if line.strip())


def test_member_names_resolve_to_their_addresses(host):
    me = host.check_output(f"dig +short A {host.backend.host}.{DOMAIN}").strip()
    ips = host.check_output("ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1")
    assert me and me in ips.split()


def test_config_uses_discovery_srv_only(host):
    conf = host.file("/etc/etcd/etcd.conf").content_string
    assert f'ETCD_DISCOVERY_SRV="{DOMAIN}"' in conf
    assert "ETCD_INITIAL_CLUSTER=" not in conf and "ETCD_DISCOVERY=" not in conf


def test_certificates_carry_the_dns_names(host):
    text = host.check_output("openssl x509 -noout -ext subjectAltName -in /etc/etcd/pki/peer.crt")
    sans = set(re.findall(r"DNS:([^,\s]+)", text))
    assert {f"{host.backend.host}.{DOMAIN}", DOMAIN} <= sans, sans
