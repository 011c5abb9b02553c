"""Discovery bootstrap of group etcd (etcd 3.6): v3 discovery, a token and the
discovery endpoints, one fresh token sized to the cluster. The 3.5 cluster with
a v2 discovery URL, and what v3 discovery recorded in the discovery service,
are checked in side_effect.yml (the service is gone by the second verify)."""
import re

from conftest import ETCD_HOSTS, host_spec

testinfra_hosts = [host_spec(h) for h in ETCD_HOSTS]


def token(host):
    conf = host.file("/etc/etcd/etcd.conf").content_string
    m = re.search(r'^ETCD_DISCOVERY_TOKEN="([^"]+)"$', conf, re.M)
    assert m, conf
    assert 'ETCD_DISCOVERY_ENDPOINTS="http://172.31.205.6:2379"' in conf
    # No v2 URL, no static list, no DNS: exactly one bootstrap source.
    assert "ETCD_DISCOVERY=" not in conf and "ETCD_INITIAL_CLUSTER=" not in conf
    assert "ETCD_DISCOVERY_SRV" not in conf
    tok = re.search(r'^ETCD_INITIAL_CLUSTER_TOKEN="([^"]+)"$', conf, re.M).group(1)
    assert tok == m.group(1)
    return tok


def test_one_fresh_token_for_the_cluster(host):
    mine = token(host)
    assert mine.startswith("discovery-") and len(mine) > len("discovery-") + 8
