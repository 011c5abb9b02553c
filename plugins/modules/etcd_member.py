#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) raftops.etcd contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: etcd_member
short_description: Add, update, promote and remove etcd members, quorum-safe and idempotent
version_added: 0.1.0
description:
  - Converges one etcd member through runtime reconfiguration
    (C(etcdctl member add|update|promote|remove)).
  - A member is identified by its exact peer URLs (an added-but-unstarted
    member has an empty name), or by O(name) or O(id).
  - Decisions are made on C(member list -w json), never on text, and the
    membership is listed again before any retry, so a timed-out add is never
    issued twice.
author: raftops maintainers (@raftops)
extends_documentation_fragment:
  - raftops.etcd.connection
attributes:
  check_mode:
    support: full
    description: Predicts the action and the resulting membership without changing anything.
  diff_mode:
    support: full
    description: Shows the member list before and after.
options:
  state:
    description:
      - V(present) makes sure the member exists. When absent it is added, as a
        learner unless O(learner=false). When it exists with the same name and
        other peer URLs, its peer URLs are updated (the member must then be
        restarted with the new URLs, see RV(restart_required)). When it exists
        as a learner and O(learner=false), it is promoted.
      - V(promoted) makes sure the member is a voting member, waiting up to
        O(wait_timeout) seconds for a learner to catch up with the leader.
      - V(absent) removes the member, refusing when that would lose quorum,
        leave a two-member cluster, or remove the last member, unless
        O(force=true). Leadership is moved away first when it leads. A learner
        is always removed (but not the last member); a member that never
        started is removed without the two-member refusal (it never voted, its
        removal restores fault tolerance), but still only while the voters
        that remain keep quorum, in case etcd lists a running member as
        unstarted (its name not yet published, or a lagging member list).
    type: str
    choices: [present, absent, promoted]
    default: present
  name:
    description:
      - Member name. Required to add a member. Identifies the member when
        O(peer_urls) is not given, and makes a URL change an update.
    type: str
  peer_urls:
    description: Exact peer URLs of the member.
    type: list
    elements: str
  id:
    description: Member ID in hex, as C(etcdctl member list) prints it.
    type: str
  learner:
    description:
      - With O(state=present), add a new member as a non-voting learner (the
        safe default, promote it once it has caught up with O(state=promoted)).
      - V(false) adds a voting member straight away, and promotes an existing learner.
    type: bool
    default: true
  force:
    description:
      - Skip the safety refusals (quorum after removal, two-member cluster,
        unstarted members, learner limit). etcd's own checks still apply.
    type: bool
    default: false
  unstarted_only:
    description:
      - With O(state=absent), remove the member only if it never started (no
        name, no client URLs in the member list read just before the
        removal); refuse a member that has started, learner or voter. For
        cleaning up what an interrupted join left, from a member list read
        earlier.
    type: bool
    default: false
  allow_two_members:
    description:
      - Allow a removal that leaves two healthy voters (quorum still safe). For
        replacing a failed member, whose successor joins right after.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait for a learner to be in sync before promoting,
      for leadership to move away before removing the leader, and for etcd to
      stop answering C(unhealthy cluster) to an add (it does for 5 s after a
      member restarted or joined).
    type: int
    default: 120
'''

EXAMPLES = r'''
- name: Add the new host as a learner (run on an existing member)
  raftops.etcd.etcd_member:
    name: etcd-4
    peer_urls: ["https://10.0.0.14:2380"]
    state: present
  delegate_to: "{{ groups['etcd'][0] }}"
  register: join

- name: Render its config with what etcd needs to join
  ansible.builtin.debug:
    msg: "ETCD_INITIAL_CLUSTER={{ join.initial_cluster }} ETCD_INITIAL_CLUSTER_STATE={{ join.initial_cluster_state }}"

- name: Promote it once started and caught up
  raftops.etcd.etcd_member:
    peer_urls: ["https://10.0.0.14:2380"]
    state: promoted

- name: Change a member's peer URLs (then restart it with the new URLs)
  raftops.etcd.etcd_member:
    name: etcd-2
    peer_urls: ["https://10.0.1.12:2380"]

- name: Remove a member (refused if it would lose quorum)
  raftops.etcd.etcd_member:
    name: etcd-3
    state: absent
'''

RETURN = r'''
action:
  description: What was (or in check mode, would be) done.
  returned: always
  type: str
  sample: added
member:
  description: The member after the action (null once removed).
  returned: always
  type: dict
  sample: {id_hex: 2f6bd1a8d5d1e8a1, name: "", peer_urls: ["https://10.0.0.14:2380"], is_learner: true, started: false}
member_id:
  description: Hex ID of the member.
  returned: when the member exists
  type: str
initial_cluster:
  description: C(ETCD_INITIAL_CLUSTER) for the member to start with (every member plus itself).
  returned: when state is present or promoted
  type: str
initial_cluster_state:
  description: Always V(existing) for a member joining a running cluster.
  returned: when state is present or promoted
  type: str
restart_required:
  description: The member's peer URLs were updated; restart it with the new URLs.
  returned: always
  type: bool
members:
  description: Membership after the action.
  returned: always
  type: list
  elements: dict
'''

import copy
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.raftops.etcd.plugins.module_utils._etcdctl import (
    CONNECTION_ARGSPEC, RETRYABLE, EtcdCtl, EtcdError, Refused, id_hex, initial_cluster,
    move_leadership_away, quorum, run_module)


def find_member(members, peer_urls=None, name=None, member_id=None):
    """The member these identifiers point at, and how it matched."""
    if member_id:
        for m in members:
            if m['id_hex'] == id_hex(member_id):
                return m, 'id'
    if peer_urls:
        wanted = sorted(peer_urls)
        for m in members:
            if m['peer_urls'] == wanted:
                return m, 'peer_urls'
    if name:
        for m in members:
            if m['name'] == name:
                return m, 'name'
    return None, None


def plan_present(members, name, peer_urls, learner, force):
    """Decide what state=present must do: (action, member)."""
    member, how = find_member(members, peer_urls, name)
    if member is not None and how == 'peer_urls' and name and member['name'] and member['name'] != name:
        raise Refused('peer URLs %s already belong to member %s, not %s'
                      % (','.join(peer_urls), member['name'], name))
    if member is not None:
        if peer_urls and member['peer_urls'] != sorted(peer_urls):
            # Same name (or id), other URLs: the seed's "member update" case.
            clash, dummy = find_member([m for m in members if m is not member], peer_urls)
            if clash is not None:
                raise Refused('peer URLs %s already belong to member %s' % (
                    ','.join(peer_urls), clash['name'] or clash['id_hex']))
            return 'update', member
        if member['is_learner'] and not learner:
            return 'promote', member
        return 'none', member
    if not name:
        raise Refused('adding a member needs its name (the member with peer URLs %s is '
                      'not in the cluster)' % ','.join(peer_urls or []))
    if not peer_urls:
        raise Refused('adding member %s needs peer_urls' % name)
    if not force:
        unstarted = [m for m in members if not m['started']]
        if unstarted:
            raise Refused('member %s (%s) was added but never started; start or remove it '
                          'before adding another (force=true overrides)'
                          % (unstarted[0]['id_hex'], ','.join(unstarted[0]['peer_urls'])))
        if learner and any(m['is_learner'] for m in members):
            raise Refused('a learner is already in the cluster (etcd allows one by default); '
                          'promote or remove it first (force=true overrides)')
    return 'add', None


def plan_absent(view, member, force, allow_two_members=False, unstarted_only=False):
    """Refuse removals that would lose quorum; None when the removal is allowed."""
    members = view['members']
    if member is None:
        return
    if unstarted_only and member['started']:
        raise Refused('member %s (%s) has started (it was not when read before): not removed. A started '
                      'member leaves through scale_in'
                      % (member['name'] or member['id_hex'], ','.join(member['peer_urls'])))
    voters = [m for m in members if not m['is_learner']]
    if len(members) == 1:
        raise Refused('member %s is the last member of the cluster; removing it would '
                      'destroy the cluster' % (member['name'] or member['id_hex']))
    # A learner does not vote: removing it cannot cost quorum.
    if force or member['is_learner']:
        return
    remaining = [m for m in voters if m['id'] != member['id']]
    healthy = [m for m in remaining if m.get('healthy')]
    need = quorum(len(remaining))
    if len(healthy) < need:
        raise Refused('removing %s leaves %d voting members of which %d are healthy; quorum '
                      'needs %d. Bring members back first (force=true overrides)'
                      % (member['name'] or member['id_hex'], len(remaining), len(healthy), need))
    # A voter that never started never voted: removing it only restores
    # fault tolerance, so a 2-member result is no loss. The quorum guard above
    # still holds it: a truly unstarted member always passes it while the
    # cluster has quorum, but a running voter etcd lists as unstarted (name not
    # yet published, or a lagging member list) does not slip through.
    if len(remaining) == 2 and not allow_two_members and member['started']:
        raise Refused('removing %s leaves a 2-member cluster, which tolerates no failure '
                      '(force=true overrides)' % (member['name'] or member['id_hex']))


def summarize(members):
    return [dict(id_hex=m['id_hex'], name=m['name'], peer_urls=m['peer_urls'],
                 is_learner=m['is_learner'], started=m['started']) for m in members]


class MemberManager(object):
    def __init__(self, module, ctl):
        self.module = module
        self.ctl = ctl
        self.p = module.params

    def members(self):
        return self.ctl.retry(self.ctl.member_list, timeout=30)

    # ------------------------------------------------------------ present
    def add(self, members):
        """Add the member; etcd refuses an add with "unhealthy cluster" until
        the member serving it has been connected to every voter for 5 s (as
        right after a restart or a join), so that answer is waited out."""
        p = self.p
        deadline = time.time() + p['wait_timeout']
        while True:
            try:
                self.ctl.member_add(p['name'], p['peer_urls'], p['learner'])
                return self.members()
            except EtcdError as e:
                # List again before anything else: an add that timed out may
                # have been committed. Never add the same URL twice.
                if e.kind in ('timeout', 'not_leader', 'unknown', 'peer_url_exists'):
                    time.sleep(1)
                    after = self.members()
                    m, dummy = find_member(after, p['peer_urls'])
                    if m is not None:
                        return after
                if e.kind not in RETRYABLE or time.time() >= deadline:
                    raise
            time.sleep(2)

    def promote(self, member):
        """Promote a learner, waiting for it to catch up."""
        deadline = time.time() + self.p['wait_timeout']
        while True:
            try:
                self.ctl.member_promote(member['id'])
                return
            except EtcdError as e:
                if e.kind == 'not_learner':
                    return
                if e.kind not in ('learner_not_ready', 'not_enough_started') + tuple(RETRYABLE) \
                        or time.time() >= deadline:
                    raise
            time.sleep(2)

    # ------------------------------------------------------------ absent
    def move_leadership_away(self, view, member):
        return move_leadership_away(self.ctl, view, member, self.p['wait_timeout'])

    # ------------------------------------------------------------ main
    def run(self):
        p = self.p
        members = self.members()
        before = summarize(members)
        result = dict(changed=False, action='none', restart_required=False)

        if p['state'] in ('present', 'promoted'):
            learner = p['learner'] and p['state'] == 'present'
            action, member = plan_present(members, p['name'], p['peer_urls'], learner, p['force'])
            if p['id'] and member is None:
                raise Refused('no member with id %s' % p['id'])
            if action == 'none' and p['state'] == 'promoted' and member['is_learner']:
                action = 'promote'
            after_members = copy.deepcopy(members)
            if action == 'add':
                if self.module.check_mode:
                    after_members.append(dict(id=0, id_hex='(new)', name='',
                                              peer_urls=sorted(p['peer_urls']), client_urls=[],
                                              is_learner=learner, started=False))
                else:
                    after_members = self.add(members)
                    if p['state'] == 'promoted':
                        m, dummy = find_member(after_members, p['peer_urls'])
                        self.promote(m)
                        after_members = self.members()
            elif action == 'update':
                result['restart_required'] = True
                if self.module.check_mode:
                    for m in after_members:
                        if m['id'] == member['id']:
                            m['peer_urls'] = sorted(p['peer_urls'])
                else:
                    self.ctl.retry(lambda: self.ctl.member_update(member['id'], p['peer_urls']))
                    after_members = self.members()
            elif action == 'promote':
                if self.module.check_mode:
                    for m in after_members:
                        if m['id'] == member['id']:
                            m['is_learner'] = False
                else:
                    self.promote(member)
                    after_members = self.members()
            found, dummy = find_member(after_members, p['peer_urls'], p['name'], p['id'])
            result.update(
                action={'add': 'added', 'update': 'updated', 'promote': 'promoted'}.get(action, 'none'),
                member=found,
                member_id=found['id_hex'] if found else None,
                initial_cluster=initial_cluster(after_members, p['name'] or (found or {}).get('name'),
                                                p['peer_urls'] or (found or {}).get('peer_urls')),
                initial_cluster_state='existing',
            )
        else:
            member, dummy = find_member(members, p['peer_urls'], p['name'], p['id'])
            after_members = members
            if member is not None:
                view = self.ctl.cluster_view(copy.deepcopy(members))
                vm, dummy = find_member(view['members'], member_id=member['id_hex'])
                plan_absent(view, vm, p['force'], p['allow_two_members'], p['unstarted_only'])
                result['action'] = 'removed'
                if self.module.check_mode:
                    after_members = [m for m in members if m['id'] != member['id']]
                else:
                    survivors = [m for m in view['members'] if m['id'] != member['id']
                                 and m.get('healthy')]
                    if vm.get('is_leader') and len(view['members']) > 1:
                        self.move_leadership_away(view, vm)
                    # Talk to the survivors: the member being removed may be down.
                    if survivors:
                        self.ctl.endpoints = [m['client_urls'][0] for m in survivors]
                    self.ctl.retry(lambda: self.ctl.member_remove(member['id']))
                    after_members = self.members()
            result['member'] = None

        result['changed'] = result['action'] != 'none'
        result['members'] = summarize(after_members)
        if self.module._diff:
            result['diff'] = dict(before=dict(members=before), after=dict(members=result['members']))
        return result


def main():
    argspec = dict(CONNECTION_ARGSPEC)
    argspec.update(
        state=dict(type='str', default='present', choices=['present', 'absent', 'promoted']),
        name=dict(type='str'),
        peer_urls=dict(type='list', elements='str'),
        id=dict(type='str'),
        learner=dict(type='bool', default=True),
        force=dict(type='bool', default=False),
        allow_two_members=dict(type='bool', default=False),
        unstarted_only=dict(type='bool', default=False),
        wait_timeout=dict(type='int', default=120),
    )
    module = AnsibleModule(
        argument_spec=argspec,
        supports_check_mode=True,
        required_one_of=[('name', 'peer_urls', 'id')],
    )
    ctl = EtcdCtl(module)
    run_module(module, MemberManager(module, ctl).run)


if __name__ == '__main__':
    main()
