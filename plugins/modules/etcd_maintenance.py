#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) raftops.etcd contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: etcd_maintenance
short_description: Defragment, compact, disarm alarms and move leadership, only when needed
version_added: 0.1.0
description:
  - One maintenance step on a running etcd cluster, decided on C(endpoint status)
    and C(alarm list) JSON, so that a re-run on a maintained cluster changes nothing.
  - V(defragmented) defragments one member when its free space (C(dbSize - dbSizeInUse))
    reaches O(min_free_bytes) and O(min_free_ratio), or always with O(force=true)
    or while an alarm (NOSPACE) is raised, because the alarm returns at the next write
    until the backend file shrinks below the quota. A member whose only fault is
    the alarm is defragmented; any other unhealthy member is refused.
    Defragmentation blocks the member, so callers do one member at a time.
  - V(compacted) compacts the key-value history up to the current revision minus
    O(keep_revisions), unless that revision is compacted already.
  - V(disarmed) disarms every active alarm, the last step of the NOSPACE recovery
    (compact, defragment, then disarm).
  - V(leader_moved) hands leadership from O(member) to the most caught-up healthy
    voter when O(member) leads, so that it can be restarted or defragmented last.
author: raftops maintainers (@raftops)
extends_documentation_fragment:
  - raftops.etcd.connection
attributes:
  check_mode:
    support: full
    description: Reports what would be done from the same reads, without doing it.
  diff_mode:
    support: full
    description: Shows the relevant status before and after.
options:
  state:
    description: The maintenance step, see the description.
    type: str
    choices: [defragmented, compacted, disarmed, leader_moved]
    required: true
  member:
    description: Member name, required for V(defragmented) and V(leader_moved).
    type: str
  min_free_bytes:
    description: Defragment only when at least this many bytes are free in the backend.
    type: int
    default: 16777216
  min_free_ratio:
    description: Defragment only when at least this fraction of the backend is free.
    type: float
    default: 0.2
  keep_revisions:
    description: Revisions of history to keep when compacting.
    type: int
    default: 1000
  force:
    description: Defragment even when little space would be reclaimed.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait for leadership to move.
    type: int
    default: 60
'''

EXAMPLES = r'''
- name: Defragment etcd-1 when a fifth of its backend is free
  raftops.etcd.etcd_maintenance:
    state: defragmented
    member: etcd-1

- name: Keep 1000 revisions of history
  raftops.etcd.etcd_maintenance:
    state: compacted
    keep_revisions: 1000

- name: Clear a NOSPACE alarm once space is reclaimed
  raftops.etcd.etcd_maintenance:
    state: disarmed
'''

RETURN = r'''
action:
  description: What was done (or would be in check mode), V(none) when nothing was needed.
  returned: always
  type: str
  sample: defragment
status:
  description: Endpoint status of O(member) before the step (V(defragmented)).
  returned: when state is defragmented
  type: dict
revision:
  description: Revision compacted up to (V(compacted)).
  returned: when state is compacted
  type: int
alarms:
  description: Alarms found before disarming (V(disarmed)).
  returned: when state is disarmed
  type: list
  elements: dict
leader:
  description: Name of the leader after the step (V(leader_moved)).
  returned: when state is leader_moved
  type: str
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.raftops.etcd.plugins.module_utils._etcdctl import (
    CONNECTION_ARGSPEC, EtcdCtl, EtcdError, Refused, move_leadership_away, run_module)


def needs_defrag(status, min_free_bytes, min_free_ratio):
    size = status.get('db_size') or 0
    in_use = status.get('db_size_in_use')
    if in_use is None or size <= 0:
        return False
    free = size - in_use
    return free >= min_free_bytes and float(free) / size >= min_free_ratio


def find_named(view, name):
    for m in view['members']:
        if m['name'] == name:
            return m
    raise Refused('no member named %s in the cluster (members: %s)'
                  % (name, ', '.join(m['name'] or m['id_hex'] for m in view['members'])))


def run(module, ctl):
    p = module.params
    check = module.check_mode
    state = p['state']
    result = dict(changed=False, action='none')
    if state in ('defragmented', 'leader_moved') and not p['member']:
        raise Refused('state=%s needs member' % state)

    if state == 'defragmented':
        member = find_named(ctl.cluster_view(), p['member'])
        # An alarm (NOSPACE) is what defragmentation is there to clear.
        if not member['healthy'] and not member.get('alarmed'):
            raise Refused('member %s is not healthy: %s' % (p['member'], member.get('health_error')))
        status = member.get('status') or {}
        result['status'] = status
        # Under an alarm (NOSPACE) every member is defragmented whatever the
        # thresholds say: the alarm comes back at the next write until the
        # files shrink below the quota, and a follower's in-use figure may
        # not show the compaction yet.
        if p['force'] or member.get('alarmed') or needs_defrag(status, p['min_free_bytes'], p['min_free_ratio']):
            result.update(changed=True, action='defragment')
            if not check:
                ctl.defrag(member['client_urls'][0])
                after = ctl.endpoint_status([member['client_urls'][0]])[0]
                result['diff'] = dict(before='db_size: %s\n' % status.get('db_size'),
                                      after='db_size: %s\n' % after.get('db_size'))
        return result

    if state == 'compacted':
        view = ctl.cluster_view()
        revisions = [(m.get('status') or {}).get('revision') or 0 for m in view['members']]
        target = max(revisions) - p['keep_revisions']
        result['revision'] = target
        # A range read below the compaction revision fails: probing target - 1
        # tells whether history is compacted up to target already.
        if target > 1 and not ctl.is_compacted(target - 1):
            result.update(changed=True, action='compact')
            if not check:
                try:
                    ctl.compact(target)
                except EtcdError as e:
                    if 'compacted' not in (e.stderr + e.stdout):
                        raise
                    result.update(changed=False, action='none')
        return result

    if state == 'disarmed':
        alarms = ctl.alarms()
        result['alarms'] = alarms
        if alarms:
            result.update(changed=True, action='disarm')
            if not check:
                ctl.alarm_disarm()
                result['diff'] = dict(
                    before=''.join('%s %s\n' % (a['member_id'], a['alarm']) for a in alarms),
                    after='')
        return result

    # leader_moved
    view = ctl.cluster_view()
    member = find_named(view, p['member'])
    result['leader'] = next((m['name'] for m in view['members'] if m['is_leader']), None)
    if member['is_leader']:
        result.update(changed=True, action='move-leader')
        if not check:
            target = move_leadership_away(ctl, view, member, p['wait_timeout'])
            result['leader'] = target['name']
            result['diff'] = dict(before='leader: %s\n' % member['name'],
                                  after='leader: %s\n' % target['name'])
    return result


def main():
    argspec = dict(CONNECTION_ARGSPEC)
    argspec.update(
        state=dict(type='str', required=True,
                   choices=['defragmented', 'compacted', 'disarmed', 'leader_moved']),
        member=dict(type='str'),
        min_free_bytes=dict(type='int', default=16777216),
        min_free_ratio=dict(type='float', default=0.2),
        keep_revisions=dict(type='int', default=1000),
        force=dict(type='bool', default=False),
        wait_timeout=dict(type='int', default=60),
    )
    module = AnsibleModule(argument_spec=argspec, supports_check_mode=True,
                           required_if=[('state', 'defragmented', ['member']),
                                        ('state', 'leader_moved', ['member'])])
    ctl = EtcdCtl(module)
    run_module(module, lambda: run(module, ctl))


if __name__ == '__main__':
    main()
