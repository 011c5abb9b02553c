#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) raftops.etcd contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: etcd_downgrade
short_description: Enable, follow and cancel an etcd cluster downgrade of one minor version
version_added: 0.2.0
description:
  - Drives etcd's own downgrade procedure (etcd 3.6+ servers, C(etcdctl downgrade) of etcdctl 3.6+)
    from what the members report, so that a re-run changes nothing.
  - Reads every member's server version and, from etcd 3.6 on, its storage version and the
    cluster's downgrade job from C(etcdctl endpoint status -w json) (C(storageVersion),
    C(downgradeInfo)), and the cluster version from each member's C(/version) URL (no etcdctl
    command prints it; etcd's downgrade guides read it there), with the CA and client
    certificate of O(cacert), O(cert) and O(key), never through a proxy.
  - V(enabled) runs C(etcdctl downgrade validate) then C(etcdctl downgrade enable) with the
    target minor. etcd accepts only the cluster version minus one minor, and 3.5 or later;
    anything else is refused before etcd is asked, with what to do instead. Nothing is sent when
    a downgrade to that target is enabled already, when the cluster version is the target
    already, or when every member runs the target (nothing to downgrade). Once enabled, the
    cluster version is the target and etcd migrates each member's storage version to it; with
    O(wait=true), waits until every member not yet on the target reports that storage version,
    the point from which its binary can be replaced.
  - V(completed) waits until every member runs the target minor, the cluster version is the
    target and the downgrade job is over (the leader cancels it once every member runs the
    target). It changes nothing; in check mode it reports what is pending without waiting.
    etcd 3.5 servers do not report the downgrade job; then the module asks
    C(etcdctl downgrade validate) for the minor below the cluster version, which answers
    C(cluster has a downgrade job in progress) while one runs and changes nothing.
  - V(cancelled) runs C(etcdctl downgrade cancel) when a downgrade job is enabled (for
    O(target_version) only, when given). Members already downgraded must then go back to the
    binaries they ran before.
  - Replacing the binaries, member by member and the leader last, is not done here (see the
    C(raftops.etcd.downgrade) playbook).
author: raftops maintainers (@raftops)
extends_documentation_fragment:
  - raftops.etcd.connection
attributes:
  check_mode:
    support: full
    description:
      - Reads, and runs C(etcdctl downgrade validate) (it changes nothing), but neither enables
        nor cancels a downgrade, nor waits. RV(commands) lists what would run.
  diff_mode:
    support: full
    description: Shows the cluster version, the downgrade job and each member's versions before and after.
options:
  target_version:
    description:
      - The version to downgrade to, V(X.Y) or V(X.Y.Z). Only the minor counts (etcd downgrades
        the cluster version, which has no patch level).
      - Required for V(enabled) and V(completed).
    type: str
  state:
    description: See the description.
    type: str
    choices: [enabled, completed, cancelled]
    default: enabled
  wait:
    description:
      - With V(enabled), wait until the cluster version is the target and every member that does
        not run the target yet reports it as its storage version.
      - V(completed) always waits.
    type: bool
    default: false
  timeout:
    description: Seconds to wait with O(wait=true) or V(completed). V(0) checks once.
    type: int
    default: 300
'''

EXAMPLES = r'''
- name: Enable the downgrade of a 3.7 cluster to 3.6 and wait until every member can take 3.6
  raftops.etcd.etcd_downgrade:
    target_version: "3.6"
    state: enabled
    wait: true
    endpoints: ["https://10.0.0.11:2379", "https://10.0.0.12:2379", "https://10.0.0.13:2379"]
    cacert: /etc/etcd/pki/ca.crt
    cert: /etc/etcd/pki/admin.crt
    key: /etc/etcd/pki/admin.key
    etcdctl_path: /opt/etcd/v3.7.3/etcdctl

- name: After every member runs 3.6, wait until etcd has finished the downgrade
  raftops.etcd.etcd_downgrade:
    target_version: 3.6.16
    state: completed
    timeout: 120

- name: Abort a downgrade in progress
  raftops.etcd.etcd_downgrade:
    state: cancelled
'''

RETURN = r'''
action:
  description: What was done (or would be in check mode), V(enable), V(cancel) or V(none).
  returned: always
  type: str
  sample: enable
msg:
  description: The decision in words.
  returned: always
  type: str
  sample: "every member runs 3.6: nothing to downgrade"
commands:
  description:
    - The C(etcdctl downgrade) commands of the step, run or, in check mode, to be run (check mode runs
      C(validate) only).
    - The read-only C(downgrade validate) that asks 3.5 servers about the job is not listed.
  returned: always
  type: list
  elements: str
  sample: ["etcdctl downgrade validate 3.6", "etcdctl downgrade enable 3.6"]
cluster_version:
  description: Cluster version (V(X.Y)) as the leader serves it, null when no member tells it.
  returned: always
  type: str
  sample: "3.6"
server_versions:
  description: Version each member runs, by member name (null when it does not answer).
  returned: always
  type: dict
  sample: {etcd-1: 3.6.16, etcd-2: 3.7.3, etcd-3: 3.7.3}
storage_versions:
  description: Storage version of each member's data (etcd 3.6+), by member name; null from 3.5.
  returned: always
  type: dict
  sample: {etcd-1: 3.6.0, etcd-2: 3.6.0, etcd-3: 3.6.0}
downgrade:
  description:
    - The cluster's downgrade job, C(enabled) and C(target) (V(X.Y)).
    - C(enabled) is null when nothing tells (etcd 3.5 servers read through a 3.5 etcdctl);
      C(target) is null as well when only 3.5 servers answer.
  returned: always
  type: dict
  sample: {enabled: true, target: "3.6"}
pending:
  description: What is not there yet (V(enabled) with O(wait), V(completed)); empty when done.
  returned: always
  type: list
  elements: str
'''

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.raftops.etcd.plugins.module_utils._etcdctl import (
    CONNECTION_ARGSPEC, EtcdCtl, EtcdError, RETRYABLE, Refused, minor_of, run_module)

LOWEST_TARGET = (3, 5)


class Pending(Exception):
    """A wait ran out of time: fail with the result so far."""

    def __init__(self, msg, result):
        Exception.__init__(self, msg)
        self.result = result


def vstr(minor):
    return '%d.%d' % minor if minor else None


def parse_target(text):
    if text is None or text == '':
        return None
    minor = minor_of(str(text))
    if minor is None:
        raise Refused('target_version=%s is not a version: use X.Y or X.Y.Z, such as 3.6 or 3.6.16' % text)
    return minor


def probe_job(ctl, cluster):
    """Whether a downgrade job runs, asked of servers whose status does not tell (3.5).

    ``downgrade validate <cluster version - 1>`` changes nothing and answers
    "cluster has a downgrade job in progress" while one runs; that needs a
    3.6+ etcdctl. None when it cannot tell.
    """
    below = (cluster[0], cluster[1] - 1)
    if below < (3, 4) or ctl.version() < (3, 6, 0):
        return None
    try:
        ctl.downgrade_validate(vstr(below))
    except EtcdError as e:
        return True if e.kind == 'downgrade_in_progress' else None
    return False


def read(ctl):
    """version_view, plus the probe of the downgrade job when no member reports it."""
    view = ctl.version_view()
    s = summarize(view)
    if s['downgrade']['enabled'] is None and s['cluster_version']:
        view['job'] = probe_job(ctl, minor_of(s['cluster_version']))
    return view


def summarize(view):
    """The cluster's versions and downgrade job, as the module returns them.

    The leader's answer counts first: members agree once they have applied
    the leader's entries, and the cluster version is decided by the leader.
    """
    members = view['members']
    ordered = [m for m in members if m['is_leader']] + [m for m in members if not m['is_leader']]
    cluster = next((m['cluster_version'] for m in ordered if m.get('cluster_version')), None)
    info = next((m['downgrade'] for m in ordered if m.get('downgrade') is not None), None)
    if info is None and view.get('job') is not None:
        # Learned by probe_job, which cannot tell the target.
        info = dict(enabled=view['job'], target=None)
    return dict(
        cluster_version=vstr(minor_of(cluster)),
        server_versions=dict((m['name'], m['server_version']) for m in members),
        storage_versions=dict((m['name'], m['storage_version']) for m in members),
        downgrade=dict(enabled=info['enabled'] if info else None,
                       target=vstr(minor_of(info['target'])) if info and info.get('target') else None),
    )


def describe(summary):
    dg = summary['downgrade']
    job = ('enabled, target %s' % dg['target'] if dg['enabled'] else
           'not enabled' if dg['enabled'] is False else 'not reported')
    lines = ['cluster version: %s' % (summary['cluster_version'] or 'unknown'), 'downgrade: %s' % job]
    for name in sorted(summary['server_versions']):
        server = summary['server_versions'][name] or 'unknown'
        lines.append('%s: server %s, storage %s' % (name, server, summary['storage_versions'].get(name) or '-'))
    return '\n'.join(lines) + '\n'


def silent(view):
    return [m['name'] for m in view['members'] if m['server_version'] is None]


def plan_enable(view, target):
    """('enable' or 'none', why), or Refused with what to do instead."""
    s = summarize(view)
    t = vstr(target)
    dg = s['downgrade']
    cluster = minor_of(s['cluster_version'])
    if dg['enabled'] and dg['target'] is None:
        # 3.5 servers tell neither the job nor its target (see probe_job).
        if cluster == target:
            return 'none', 'a downgrade job is enabled and the cluster version is %s' % t
        raise Refused('a downgrade job is in progress (etcd 3.5 does not tell its target) and the cluster version '
                      'is %s: finish it, or cancel it (state=cancelled) first' % s['cluster_version'])
    if dg['enabled']:
        if minor_of(dg['target']) == target:
            return 'none', 'a downgrade to %s is enabled already' % t
        raise Refused('a downgrade to %s is in progress, not to %s: finish it (state=completed once every member '
                      'runs %s) or cancel it (state=cancelled) first' % (dg['target'], t, dg['target']))
    servers = dict((m['name'], minor_of(m['server_version'])) for m in view['members'] if m['server_version'])
    if not silent(view) and servers and all(v == target for v in servers.values()) and cluster == target:
        return 'none', 'every member runs %s: nothing to downgrade' % t
    if target < LOWEST_TARGET:
        raise Refused('etcd cannot downgrade to %s: its downgrade support (etcdctl downgrade) begins with 3.6 to 3.5 '
                      'and nothing goes below 3.5. Only a snapshot taken while the cluster ran %s brings %s back '
                      '(raftops.etcd.restore), without the writes made since' % (t, t, t))
    if cluster is None:
        raise Refused('no member tells the cluster version: %s'
                      % ('; '.join(m['error'] for m in view['members'] if m.get('error')) or 'GET /version answered none'))
    if cluster == target:
        return 'none', ('the cluster version is %s already: no downgrade job is needed; members that run a later '
                        'minor can take %s once their storage version is %s' % (t, t, t))
    if target > cluster:
        raise Refused('%s is not below the cluster version %s: not a downgrade (raftops.etcd.upgrade upgrades)'
                      % (t, vstr(cluster)))
    allowed = (cluster[0], cluster[1] - 1)
    if target != allowed:
        raise Refused('etcd downgrades one minor at a time and cannot go from %s to %s: downgrade to %s first, '
                      'then from %s on' % (vstr(cluster), t, vstr(allowed), vstr(allowed)))
    if silent(view):
        raise Refused('members %s do not answer: every member must run to downgrade (etcd decides the cluster '
                      'version from all of them)' % ', '.join(silent(view)))
    ahead = sorted(n for n, v in servers.items() if v > cluster)
    if ahead:
        raise Refused('members %s run a later minor than the cluster version %s (an unfinished upgrade?): '
                      'finish that first' % (', '.join(ahead), vstr(cluster)))
    return 'enable', 'downgrading the cluster version %s to %s' % (vstr(cluster), t)


def pending_ready(view, target):
    """What keeps members from taking the target binaries (empty: all can)."""
    s = summarize(view)
    pending = []
    if minor_of(s['cluster_version']) != target:
        pending.append('the cluster version is %s, not %s yet' % (s['cluster_version'] or 'unknown', vstr(target)))
    for m in view['members']:
        if m['server_version'] is None:
            pending.append('member %s does not answer' % m['name'])
        elif minor_of(m['server_version']) != target and minor_of(m['storage_version']) != target:
            pending.append('member %s (%s) has storage version %s, not %s yet'
                           % (m['name'], m['server_version'], m['storage_version'] or 'unknown', vstr(target)))
    return pending


def pending_completed(view, target):
    """What is left before the downgrade is over (empty: it is)."""
    s = summarize(view)
    pending = []
    for m in view['members']:
        if m['server_version'] is None:
            pending.append('member %s does not answer' % m['name'])
        elif minor_of(m['server_version']) != target:
            pending.append('member %s runs %s' % (m['name'], m['server_version']))
    if minor_of(s['cluster_version']) != target:
        pending.append('the cluster version is %s, not %s' % (s['cluster_version'] or 'unknown', vstr(target)))
    if s['downgrade']['enabled']:
        pending.append('the downgrade job is still enabled (the leader ends it once every member runs %s)'
                       % vstr(target))
    return pending


def wait_until(ctl, check, timeout, interval=2):
    """Re-read until check(view) is empty or time is up: (view, pending)."""
    deadline = time.time() + max(timeout, 0)
    view = None
    while True:
        try:
            view = read(ctl)
            pending = check(view)
        except EtcdError as e:
            # Members restart during a downgrade: a leader election or a
            # member that does not answer yet is worth another look.
            if e.kind not in RETRYABLE or (view is None and time.time() >= deadline):
                raise
            pending = [str(e)]
        if not pending or time.time() >= deadline:
            return view, pending
        time.sleep(interval)


def result_of(summary, **extra):
    result = dict(changed=False, action='none', commands=[], pending=[])
    result.update(summary)
    result.update(extra)
    return result


def run_enabled(module, ctl, target):
    p = module.params
    check = module.check_mode
    t = vstr(target)
    view = read(ctl)
    before = summarize(view)
    action, msg = plan_enable(view, target)
    result = result_of(before, msg=msg)
    if action == 'enable':
        result['commands'] = ['etcdctl downgrade validate %s' % t, 'etcdctl downgrade enable %s' % t]
        result.update(changed=True, action='enable')
        after = dict(before, cluster_version=t, downgrade=dict(enabled=True, target=t))
        try:
            # validate changes nothing: a check run gets etcd's own answer too.
            ctl.downgrade_validate(t)
            if not check:
                ctl.downgrade_enable(t)
        except EtcdError as e:
            if e.kind == 'invalid_downgrade_target':
                raise Refused('etcd refuses %s as the downgrade target (%s): it takes the cluster version %s minus '
                              'one minor only' % (t, e.message, before['cluster_version']))
            if e.kind != 'downgrade_in_progress':
                raise
            # Enabled meanwhile by someone else: fine when it is this target.
            again = summarize(read(ctl))
            if again['downgrade']['target'] != t:
                raise Refused('a downgrade to %s was enabled meanwhile, not to %s'
                              % (again['downgrade']['target'], t))
            result.update(changed=False, action='none', msg='a downgrade to %s is enabled already' % t)
            after = again
        if not check:
            after = summarize(read(ctl))
            result.update(after)
        result['diff'] = dict(before=describe(before), after=describe(after))
    if p['wait'] and not check:
        view, pending = wait_until(ctl, lambda v: pending_ready(v, target), p['timeout'])
        result.update(summarize(view), pending=pending)
        if pending:
            raise Pending('the downgrade to %s is enabled, but after %ss: %s. etcd migrates each member\'s storage '
                          'version after the enable; no binary may change before. Wait longer, or abort with '
                          'state=cancelled' % (t, p['timeout'], '; '.join(pending)), result)
    elif p['wait']:
        result['pending'] = pending_ready(view, target) if action == 'none' else ['the downgrade is not enabled (check mode)']
    return result


def run_completed(module, ctl, target):
    p = module.params
    t = vstr(target)
    view = read(ctl)
    s = summarize(view)
    dg = s['downgrade']
    if dg['enabled'] and dg['target'] and minor_of(dg['target']) != target:
        raise Refused('the downgrade in progress is to %s, not %s' % (dg['target'], t))
    cluster = minor_of(s['cluster_version'])
    if dg['enabled'] is False and cluster and cluster > target and not module.check_mode:
        raise Refused('no downgrade to %s is in progress and the cluster version is %s: enable it first '
                      '(state=enabled)' % (t, s['cluster_version']))
    pending = pending_completed(view, target)
    if pending and not module.check_mode:
        view, pending = wait_until(ctl, lambda v: pending_completed(v, target), p['timeout'])
    result = result_of(summarize(view), pending=pending,
                       msg='the cluster runs %s and the downgrade is over' % t if not pending else
                       'not done: ' + '; '.join(pending))
    if pending and not module.check_mode:
        raise Pending('the downgrade to %s is not over after %ss: %s' % (t, p['timeout'], '; '.join(pending)), result)
    return result


def run_cancelled(module, ctl, target):
    check = module.check_mode
    view = read(ctl)
    before = summarize(view)
    dg = before['downgrade']
    result = result_of(before)
    if dg['enabled']:
        if target and dg['target'] and minor_of(dg['target']) != target:
            raise Refused('the downgrade in progress is to %s, not %s: give that target_version, or none, to cancel it'
                          % (dg['target'], vstr(target)))
        result.update(changed=True, action='cancel', commands=['etcdctl downgrade cancel'],
                      msg='cancelling the downgrade to %s' % (dg['target'] or 'a target etcd 3.5 does not tell'))
        after = dict(before, downgrade=dict(enabled=False, target=None))
        if not check:
            ctl.downgrade_cancel()
            after = summarize(read(ctl))
            result.update(after)
        result['diff'] = dict(before=describe(before), after=describe(after))
        return result
    if dg['enabled'] is None and not check:
        # Neither the members (3.5) nor probe_job could tell: a 3.5 server
        # answers a cancel without a job with "no inflight downgrade job".
        result['commands'] = ['etcdctl downgrade cancel']
        try:
            ctl.downgrade_cancel()
        except EtcdError as e:
            if e.kind != 'no_downgrade_job':
                raise
            result['msg'] = 'no downgrade job to cancel'
            return result
        result.update(changed=True, action='cancel', msg='cancelled a downgrade job the members do not report')
        result.update(summarize(read(ctl)))
        return result
    result['msg'] = ('no downgrade job to cancel' if dg['enabled'] is False else
                     'no member reports the downgrade job (etcd 3.5): the real run sends a cancel')
    return result


def run(module, ctl):
    p = module.params
    target = parse_target(p['target_version'])
    if p['state'] == 'cancelled':
        return run_cancelled(module, ctl, target)
    if target is None:
        raise Refused('state=%s needs target_version' % p['state'])
    if p['state'] == 'enabled':
        return run_enabled(module, ctl, target)
    return run_completed(module, ctl, target)


def main():
    argspec = dict(CONNECTION_ARGSPEC)
    argspec.update(
        target_version=dict(type='str'),
        state=dict(type='str', default='enabled', choices=['enabled', 'completed', 'cancelled']),
        wait=dict(type='bool', default=False),
        timeout=dict(type='int', default=300),
    )
    module = AnsibleModule(argument_spec=argspec, supports_check_mode=True,
                           required_if=[('state', 'enabled', ['target_version']),
                                        ('state', 'completed', ['target_version'])])
    ctl = EtcdCtl(module)

    def func():
        try:
            return run(module, ctl)
        except Pending as e:
            module.fail_json(**dict(e.result, msg=str(e)))

    run_module(module, func)


if __name__ == '__main__':
    main()
