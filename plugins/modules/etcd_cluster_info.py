#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) raftops.etcd contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: etcd_cluster_info
short_description: Read an etcd cluster's members, leader, health, status and alarms
version_added: 0.1.0
description:
  - Read-only view of an etcd cluster through C(etcdctl -w json).
  - Lists members (ID in hex, name, peer and client URLs, learner, started),
    the leader, per-endpoint health and status (version, DB size and in use,
    raft term and index, errors) and active alarms.
  - With O(wait_healthy), waits until every member is started and healthy and
    a leader exists. This is the health gate of the collection's playbooks.
author: raftops maintainers (@raftops)
extends_documentation_fragment:
  - raftops.etcd.connection
attributes:
  check_mode:
    support: full
    description: Reads only, also in check mode.
  diff_mode:
    support: none
    description: Nothing to diff.
options:
  wait_healthy:
    description:
      - Wait until all members are started, all endpoints are healthy and there
        is a leader. Fails after O(timeout) seconds with what is still wrong.
    type: bool
    default: false
  expected_members:
    description:
      - With O(wait_healthy), also wait until the cluster has exactly this many
        members.
    type: int
  max_raft_lag:
    description:
      - Also count as a problem a healthy member whose applied raft index is more
        than this many entries behind the most caught-up member (a restarted or
        new member that has not caught up yet).
    type: int
  timeout:
    description: Seconds to wait with O(wait_healthy).
    type: int
    default: 120
'''

EXAMPLES = r'''
- name: Read the cluster
  raftops.etcd.etcd_cluster_info:
    endpoints: ["https://10.0.0.11:2379"]
    cacert: /etc/etcd/pki/ca.crt
    cert: /etc/etcd/pki/admin.crt
    key: /etc/etcd/pki/admin.key
  register: etcd_info

- name: Health gate before touching the next member
  raftops.etcd.etcd_cluster_info:
    wait_healthy: true
    expected_members: 3
    timeout: 120
'''

RETURN = r'''
members:
  description: Members of the cluster.
  returned: always
  type: list
  elements: dict
  sample:
    - id_hex: 8e9e05c52164694d
      name: etcd-1
      peer_urls: ["https://10.0.0.11:2380"]
      client_urls: ["https://10.0.0.11:2379"]
      is_learner: false
      started: true
      healthy: true
      is_leader: true
      status: {version: 3.5.30, db_size: 20480, raft_term: 2, raft_index: 9}
leader:
  description: Hex ID of the leader, or null when there is none.
  returned: always
  type: str
leader_name:
  description: Name of the leader.
  returned: always
  type: str
healthy:
  description: All members started and healthy and a leader exists.
  returned: always
  type: bool
problems:
  description: What makes the cluster unhealthy, one line each.
  returned: always
  type: list
  elements: str
alarms:
  description: Active alarms (C(NOSPACE), C(CORRUPT)).
  returned: always
  type: list
  elements: dict
cluster_id:
  description: Hex cluster ID.
  returned: always
  type: str
versions:
  description: Server version per member name.
  returned: always
  type: dict
'''

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.raftops.etcd.plugins.module_utils._etcdctl import (
    CONNECTION_ARGSPEC, EtcdCtl, EtcdError)


def assess(view, expected_members=None, max_raft_lag=None):
    """Problems that make the cluster unfit for the next step (empty = healthy)."""
    problems = []
    if max_raft_lag is not None:
        applied = dict((m['name'] or m['id_hex'], (m.get('status') or {}).get('raft_applied_index'))
                       for m in view['members'] if m.get('healthy'))
        known = [v for v in applied.values() if v is not None]
        for name, idx in sorted(applied.items()):
            if known and idx is not None and max(known) - idx > max_raft_lag:
                problems.append('member %s lags: applied index %d, %d behind the most caught-up member'
                                % (name, idx, max(known) - idx))
    members = view['members']
    if expected_members is not None and len(members) != expected_members:
        problems.append('cluster has %d members, expected %d' % (len(members), expected_members))
    for m in members:
        label = m['name'] or ','.join(m['peer_urls'])
        if not m['started']:
            problems.append('member %s (%s) is added but not started' % (m['id_hex'], label))
        elif not m['healthy']:
            problems.append('member %s is unhealthy: %s' % (label, m.get('health_error') or '?'))
        elif m['is_learner']:
            problems.append('member %s is still a learner' % label)
    if not view.get('leader'):
        problems.append('no leader')
    return problems


def gather(ctl):
    view = ctl.cluster_view()
    try:
        view['alarms'] = ctl.alarms()
    except EtcdError:
        view['alarms'] = []
    return view


def main():
    argspec = dict(CONNECTION_ARGSPEC)
    argspec.update(
        wait_healthy=dict(type='bool', default=False),
        expected_members=dict(type='int'),
        max_raft_lag=dict(type='int'),
        timeout=dict(type='int', default=120),
    )
    module = AnsibleModule(argument_spec=argspec, supports_check_mode=True)
    ctl = EtcdCtl(module)
    p = module.params
    deadline = time.time() + p['timeout']
    last_error = None
    while True:
        try:
            view = gather(ctl)
            problems = assess(view, p['expected_members'] if p['wait_healthy'] else None,
                              p['max_raft_lag'])
            last_error = None
        except EtcdError as e:
            view, problems, last_error = None, [str(e)], e
        if not p['wait_healthy'] or not problems or time.time() >= deadline:
            break
        time.sleep(2)

    if view is None:
        module.fail_json(msg='Cannot read the etcd cluster through %s: %s'
                         % (','.join(ctl.endpoints), last_error), problems=problems)
    leader_name = None
    for m in view['members']:
        if m['is_leader']:
            leader_name = m['name']
    cluster_id = None
    versions = {}
    for m in view['members']:
        st = m.get('status') or {}
        cluster_id = cluster_id or st.get('cluster_id')
        if st.get('version'):
            versions[m['name'] or m['id_hex']] = st['version']
    result = dict(changed=False, members=view['members'], leader=view['leader'],
                  leader_name=leader_name, healthy=not problems, problems=problems,
                  alarms=view['alarms'], cluster_id=cluster_id, versions=versions)
    if p['wait_healthy'] and problems:
        module.fail_json(msg='etcd cluster not healthy after %ss: %s'
                         % (p['timeout'], '; '.join(problems)), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
