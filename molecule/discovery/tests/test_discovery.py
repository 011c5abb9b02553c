"""Discovery bootstrap: a fresh token sized to the cluster, v2 discovery for 3.5."""
import re

from conftest import ETCD_HOSTS, INVENTORY

testinfra_hosts = [f"ansible://{h}?ansible_inventory={INVENTORY}" for h in ETCD_HOSTS]


def token(host):
    conf = host.file("/etc/etcd/etcd.conf").content_string
    m = re.search(r'^ETCD_DISCOVERY="http://172\.31\.205\.6:2379/v2/keys/_etcd/registry/([^"]+)"$', conf, re.M)
    assert m, conf
    assert 'ETCD_DISCOVERY_FALLBACK="exit"' in conf
    assert "ETCD_INITIAL_CLUSTER=" not in conf and "ETCD_DISCOVERY_SRV" not in conf
    tok = re.search(r'^ETCD_INITIAL_CLUSTER_TOKEN="([^"]+)"$', conf, re.M).group(1)
    assert tok == m.group(1)
    return tok


def test_one_fresh_token_for_the_cluster(host):
    mine = token(host)
    assert mine.startswith("discovery-") and len(mine) > len("discovery-") + 8
