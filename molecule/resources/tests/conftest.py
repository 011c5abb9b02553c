"""Shared fixtures for the Molecule verifiers: the etcd hosts of the scenario
and an etcdctl runner that uses the member's own root environment."""
import json
import os
import shlex

import pytest
import testinfra.utils.ansible_runner

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY)
ETCD_HOSTS = RUNNER.get_hosts("etcd")


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
    return testinfra.get_host(f"ansible://{ETCD_HOSTS[0]}?ansible_inventory={INVENTORY}")
