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
  - With O(wait_healthy) and O(clear_cause_polls), gives up early when a
    member has stayed unreachable or refused connections (RV(findings)).
  - With O(group_hosts), tells the members an interrupted join left behind
    (added but never started, or a learner not yet promoted) apart from a
    degraded cluster, by their peer URLs (RV(unfinished)).
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
  clear_cause_polls:
    description:
      - With O(wait_healthy), give up before O(timeout) when a member has
        been unfit for the same clear reason this many checks in a row
        (checks are at least 2 seconds apart). Clear reasons are a client URL
        that refuses the connection (nothing listens, the etcd process is
        down) and one that cannot be reached (no route to the host, or no
        answer to the connection attempt within O(dial_timeout), the member
        is cut off). The message names the member, the URL and the cause
        (RV(findings)).
      - A member that accepts the connection but is not healthy (slow,
        catching up, no leader) gets the full O(timeout). V(0) never gives
        up early.
    type: int
    default: 0
    version_added: 0.2.0
  group_hosts:
    description:
      - The hosts meant to be members, inventory name to peer URL (the
        cluster group). A member that was added but never started, or a
        started learner, is then the unfinished join of the host with its
        peer URLs, or belongs to no host. Both are listed in RV(unfinished)
        instead of RV(problems).
      - O(wait_healthy) does not wait for the joins of these hosts (the
        caller finishes them), but does for members that belong to no host.
    type: dict
  removed_ids:
    description:
      - IDs (hex) of members this run removed in check mode only. They are
        left out of everything read and returned, as if gone, so that a check
        run's later health gates see what a real run would.
    type: list
    elements: str
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
  description: All members started, healthy voters and a leader exists.
  returned: always
  type: bool
problems:
  description: What makes the cluster unhealthy, one line each (not the members in RV(unfinished)).
  returned: always
  type: list
  elements: str
unfinished:
  description:
    - With O(group_hosts), the members an interrupted join left behind (added
      but never started, or started learners). C(host) is the host of
      O(group_hosts) with their peer URLs, null when no host has them.
  returned: always
  type: list
  elements: dict
  sample:
    - host: etcd-4
      id_hex: 6b7f1c2d3e4f5a6b
      name: ""
      peer_urls: ["https://10.0.0.14:2380"]
      started: false
      is_learner: true
      problem: "member 6b7f1c2d3e4f5a6b (https://10.0.0.14:2380), the join of host etcd-4, was added but never started"
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
findings:
  description:
    - Why each unfit started member is unfit at the last check, and for how
      many checks in a row the cause was the same. C(cause) is C(refused)
      (nothing listens on its client URL), C(unreachable) (no route, or the
      connection attempt timed out) or C(unhealthy) (it accepts connections
      but does not answer well, slow or catching up). C(clear) is true for
      the first two.
  returned: always
  type: list
  elements: dict
  sample:
    - member: etcd-2
      cause: unreachable
      clear: true
      count: 3
      detail: "unreachable on https://10.0.0.12:2379: dial tcp 10.0.0.12:2379: connect: no route to host"
gave_up_early:
  description: With O(wait_healthy), the wait ended before O(timeout) because of a clear cause (O(clear_cause_polls)).
  returned: always
  type: bool
'''

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.raftops.etcd.plugins.module_utils._etcdctl import (
    CONNECTION_ARGSPEC, ClearCauses, EtcdCtl, EtcdError, id_hex, member_finding)


def unfinished(members, group_hosts):
    """The members an interrupted join left behind, and whose join each is.

    A member added but never started (no name yet) or a started learner is
    the join of the host of group_hosts ({host: peer URL or URLs}) with
    exactly its peer URLs; with no such host, it belongs to no host of the
    group. Every other member is finished. Nothing is classified without
    group_hosts.
    """
    if group_hosts is None:
        return []
    owners = {}
    for host, urls in group_hosts.items():
        owners[tuple(sorted([urls] if isinstance(urls, str) else urls or []))] = host
    found = []
    for m in members:
        if m['started'] and not m['is_learner']:
            continue
        host = owners.get(tuple(sorted(m['peer_urls'])))
        label = 'member %s (%s)%s' % (m['name'] or m['id_hex'], ','.join(m['peer_urls']),
                                      ', the join of host %s,' % host if host else '')
        what = 'was added but never started' if not m['started'] else 'is a learner, not yet promoted'
        found.append(dict(
            host=host, id_hex=m['id_hex'], name=m['name'], peer_urls=m['peer_urls'],
            started=m['started'], is_learner=m['is_learner'],
            problem='%s %s%s' % (label, what, '' if host else ', and no host of the group has its peer URLs')))
    return found


def assess(view, expected_members=None, max_raft_lag=None, skip=()):
    """Problems that make the cluster unfit for the next step (empty = healthy).

    Members whose ID is in skip (the unfinished joins) are left out.
    """
    problems = []
    if max_raft_lag is not None:
        applied = dict((m['name'] or m['id_hex'], (m.get('status') or {}).get('raft_applied_index'))
                       for m in view['members'] if m.get('healthy') and m['id_hex'] not in skip)
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
        if m['id_hex'] in skip:
            continue
        if not m['started']:
            problems.append('member %s (%s) is added but not started' % (m['id_hex'], label))
        elif not m['healthy']:
            problems.append('member %s is unhealthy: %s' % (label, m.get('health_error') or '?'))
        elif m['is_learner']:
            problems.append('member %s is still a learner' % label)
    if not view.get('leader'):
        problems.append('no leader')
    return problems


def evaluate(view, group_hosts=None, expected_members=None, max_raft_lag=None):
    """(problems, unfinished, holding): what degrades the cluster, what an
    interrupted join left, and what holds the health gate: everything but the
    joins of group_hosts, which the caller finishes."""
    pending = unfinished(view['members'], group_hosts)
    problems = assess(view, expected_members, max_raft_lag, skip=[u['id_hex'] for u in pending])
    return problems, pending, problems + [u['problem'] for u in pending if not u['host']]


def findings_of(view, skip=()):
    """{member label: member_finding} of every member but those in skip (hex IDs)."""
    return dict((m['name'] or m['id_hex'], member_finding(m)) for m in view['members']
                if m['id_hex'] not in skip)


def gather(ctl, removed_ids=None, probe=False):
    view = ctl.cluster_view(probe=probe)
    try:
        view['alarms'] = ctl.alarms()
    except EtcdError:
        view['alarms'] = []
    return without(view, removed_ids)


def without(view, removed_ids):
    """The view with the members of removed_ids (hex) left out: removals a
    check run only simulated."""
    removed = set(id_hex(i) for i in removed_ids or [])
    if removed:
        view['members'] = [m for m in view['members'] if m['id_hex'] not in removed]
        if view.get('leader') in removed:
            view['leader'] = None
    return view


def main():
    argspec = dict(CONNECTION_ARGSPEC)
    argspec.update(
        wait_healthy=dict(type='bool', default=False),
        expected_members=dict(type='int'),
        max_raft_lag=dict(type='int'),
        timeout=dict(type='int', default=120),
        clear_cause_polls=dict(type='int', default=0),
        group_hosts=dict(type='dict'),
        removed_ids=dict(type='list', elements='str'),
    )
    module = AnsibleModule(argument_spec=argspec, supports_check_mode=True)
    ctl = EtcdCtl(module)
    p = module.params
    started = time.time()
    deadline = started + p['timeout']
    last_error = None
    causes = ClearCauses(p['clear_cause_polls'] if p['wait_healthy'] else 0)
    clear = []
    findings = {}
    while True:
        try:
            view = gather(ctl, p['removed_ids'], probe=True)
            problems, pending, holding = evaluate(
                view, p['group_hosts'], p['expected_members'] if p['wait_healthy'] else None, p['max_raft_lag'])
            findings = findings_of(view, skip=[u['id_hex'] for u in pending if u['host']])
            last_error = None
        except EtcdError as e:
            # No member list: nothing to tell the members apart by; the
            # full timeout applies.
            view, problems, pending, last_error = None, [str(e)], [], e
            holding, findings = problems, {}
        clear = causes.update(findings) if holding else []
        if not p['wait_healthy'] or not holding or clear or time.time() >= deadline:
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
                  leader_name=leader_name, healthy=not problems and not pending, problems=problems,
                  unfinished=pending, alarms=view['alarms'], cluster_id=cluster_id, versions=versions,
                  findings=[dict(f, member=label, count=(causes.streaks.get(label) or {}).get('count', 0))
                            for label, f in sorted(findings.items()) if f],
                  gave_up_early=bool(p['wait_healthy'] and holding and clear))
    if p['wait_healthy'] and holding and clear:
        module.fail_json(msg='etcd cluster not healthy, gave up after %ds of %ss because the cause is clear: %s. '
                             'Still wrong: %s'
                         % (time.time() - started, p['timeout'], '; '.join(ClearCauses.describe(c) for c in clear),
                            '; '.join(holding)), **result)
    if p['wait_healthy'] and holding:
        module.fail_json(msg='etcd cluster not healthy after %ss: %s'
                         % (p['timeout'], '; '.join(holding)), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
