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
ETCD_HOSTS = RUNNER.get_hosts("etcd")


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
