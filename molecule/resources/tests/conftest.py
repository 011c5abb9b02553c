"""Shared fixtures for the Molecule verifiers: the etcd hosts of the scenario,
how testinfra reaches them, and an etcdctl runner that uses the member's own
root environment."""
import json
import os
import shlex

import pytest
import testinfra.utils.ansible_runner

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY)
# Several clusters: the groups below etcd_clusters (each host's
# etcd_cluster_group names its cluster); else the one group etcd.
ETCD_HOSTS = RUNNER.get_hosts("etcd_clusters") or RUNNER.get_hosts("etcd")


def pytest_configure(config):
    config.addinivalue_line("markers", "first_verify: runs in the verify after converge only, not again in the "
                                       "verify after the side effect (scripts/test.py sets RAFTOPS_VERIFY=again)")


def pytest_collection_modifyitems(config, items):
    """The verify after the side effect leaves out what does not depend on the
    cluster's state (the bad-input runs of site.yml, which change nothing):
    deselected, so pytest's summary counts them, never skipped or passed."""
    if os.environ.get("RAFTOPS_VERIFY") != "again":
        return
    keep = [i for i in items if i.get_closest_marker("first_verify") is None]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep


def cluster_hosts(name):
    """The hosts of the cluster `name` belongs to."""
    return RUNNER.get_hosts(RUNNER.get_variables(name).get("etcd_cluster_group", "etcd"))


def ports(name):
    """(client, peer) ports of the member on `name`."""
    hv = RUNNER.get_variables(name)
    return int(hv.get("etcd_client_port", 2379)), int(hv.get("etcd_peer_port", 2380))


def member_ip(host):
    """The address a member listens on and advertises: etcd_address, else the
    IPv4 address of etcd_interface, else the first global IPv4 address."""
    hv = RUNNER.get_variables(host.backend.host)
    if hv.get("etcd_address"):
        return hv["etcd_address"]
    dev = f"dev {hv['etcd_interface']} " if hv.get("etcd_interface") else ""
    return host.check_output(
        f"ip -4 -o addr show {dev}scope global | awk '{{print $4}}' | cut -d/ -f1 | head -n1")


def host_spec(name):
    """testinfra's address of an inventory host. testinfra logs in as Ansible
    does (the docker connection as root, or SSH as the inventory's user);
    where that user is not root, every command runs through sudo, as the
    playbooks' tasks do (become)."""
    user = RUNNER.get_variables(name).get("ansible_user", "root")
    sudo = "" if user == "root" else "&sudo=true"
    return f"ansible://{name}?ansible_inventory={INVENTORY}{sudo}"


def etcdctl(host, args, endpoints=None, check=True):
    """Run etcdctl as root on `host` with the profile's environment."""
    # etcdctl refuses a flag whose ETCDCTL_* variable is also set.
    ep = f"ETCDCTL_ENDPOINTS={shlex.quote(endpoints)} " if endpoints else ""
    cmd = f". /etc/profile.d/etcdctl.sh && {ep}etcdctl {args}"
    res = host.run(f"bash -c {shlex.quote(cmd)}")
    if check:
        assert res.rc == 0, f"etcdctl {args} on {host.backend.host}: {res.stderr}"
    return res


def etcdctl_json(host, args, endpoints=None):
    return json.loads(etcdctl(host, args + " -w json", endpoints).stdout)


@pytest.fixture(scope="module")
def hostvars():
    return {h: RUNNER.get_variables(h) for h in ETCD_HOSTS}


@pytest.fixture(scope="module")
def first():
    return testinfra.get_host(host_spec(ETCD_HOSTS[0]))
