#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) raftops.etcd contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: etcd_snapshot
short_description: Save, verify and restore etcd snapshots
version_added: 0.1.0
description:
  - V(saved) takes a snapshot from exactly one healthy endpoint (the leader
    unless O(endpoint) is given), writes it atomically with mode 0600,
    verifies it with C(snapshot status) and optionally a trial restore, and
    applies retention.
  - V(restored) restores a snapshot into a member's data directory with its
    name, peer URLs, the full initial cluster and a new cluster token
    (C(etcdutl snapshot restore), or C(etcdctl) for etcd 3.4).
author: raftops maintainers (@raftops)
extends_documentation_fragment:
  - raftops.etcd.connection
attributes:
  check_mode:
    support: full
    description: Predicts whether a snapshot would be taken or restored.
  diff_mode:
    support: none
    description: Snapshots are binary.
options:
  state:
    description: V(saved) takes a snapshot, V(restored) restores one.
    type: str
    choices: [saved, restored]
    default: saved
  path:
    description:
      - With V(saved), the snapshot file to write, or an existing directory in
        which C(<prefix>-<UTC timestamp>.db) is written.
      - With V(restored), the snapshot file to restore.
    type: path
    required: true
  prefix:
    description: File name prefix when O(path) is a directory.
    type: str
    default: etcd-snapshot
  keep:
    description:
      - With O(path) a directory, keep this many newest C(<prefix>-*.db) files
        and delete older ones. V(0) keeps all.
    type: int
    default: 0
  skip_if_newer_than:
    description:
      - With O(path) a directory, do nothing (no change) when a snapshot there
        is younger than this many seconds. V(0) always saves.
    type: int
    default: 0
  endpoint:
    description: Client URL to take the snapshot from. Default is the leader's.
    type: str
  trial_restore:
    description: After saving, restore the snapshot into a temporary directory and remove it.
    type: bool
    default: false
  data_dir:
    description: With V(restored), the member data directory to create.
    type: path
  name:
    description: With V(restored), the member's name.
    type: str
  peer_urls:
    description: With V(restored), the member's peer URLs.
    type: list
    elements: str
  initial_cluster:
    description: With V(restored), C(name=peerURL,...) of every member of the new cluster.
    type: str
  initial_cluster_token:
    description:
      - With V(restored), the new cluster's token (use a new one per restore).
      - A data directory this module restored from the same file with the same
        token and O(initial_cluster) is left as it is (a re-run of an
        interrupted restore); with another token it is restored again.
    type: str
  move_aside:
    description:
      - With V(restored), move a non-empty O(data_dir) to
        C(<data_dir>.before-restore-<timestamp>) instead of refusing.
    type: bool
    default: false
  bump_revision:
    description: With V(restored), add this much to the revision (C(--bump-revision)), for watch-heavy clients.
    type: int
  mark_compacted:
    description: With V(restored) and O(bump_revision), mark the bumped revisions compacted (C(--mark-compacted)).
    type: bool
    default: false
  owner:
    description: With V(restored), owner of the restored data directory (the etcd user).
    type: str
  group:
    description: With V(restored), group of the restored data directory.
    type: str
'''

EXAMPLES = r'''
- name: Snapshot from the leader into /var/backups/etcd, keep 7
  raftops.etcd.etcd_snapshot:
    path: /var/backups/etcd
    keep: 7
    skip_if_newer_than: 3600

- name: Restore into an empty data directory
  raftops.etcd.etcd_snapshot:
    state: restored
    path: /var/backups/etcd/etcd-snapshot-20261123T101500Z.db
    data_dir: /var/lib/etcd
    name: etcd-1
    peer_urls: ["https://10.0.0.11:2380"]
    initial_cluster: etcd-1=https://10.0.0.11:2380,etcd-2=https://10.0.0.12:2380,etcd-3=https://10.0.0.13:2380
    initial_cluster_token: etcd-restored-20261123
    owner: etcd
    group: etcd
'''

RETURN = r'''
path:
  description: Snapshot file written (V(saved)) or restored (V(restored)).
  returned: always
  type: str
endpoint:
  description: Endpoint the snapshot was taken from.
  returned: when state is saved and a snapshot was taken
  type: str
status:
  description: C(snapshot status) of the file (hash, revision, total_keys, total_size).
  returned: when a snapshot was taken or restored
  type: dict
deleted:
  description: Old snapshots removed by retention.
  returned: when state is saved
  type: list
  elements: str
moved_aside:
  description: Where a non-empty data directory was moved.
  returned: when state is restored and a directory was moved
  type: str
'''

import datetime
import glob
import hashlib
import os
import shutil
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.raftops.etcd.plugins.module_utils._etcdctl import (
    CONNECTION_ARGSPEC, EtcdCtl, EtcdError, run_module)
from ansible_collections.raftops.etcd.plugins.module_utils._restore import (
    MARKER, marker_text, restored_same)


def utc_stamp():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%SZ')


def snapshots(directory, prefix):
    """Snapshot files in `directory`, newest first."""
    files = glob.glob(os.path.join(directory, '%s-*.db' % prefix))
    return sorted(files, key=os.path.getmtime, reverse=True)


def retention(files, keep):
    """Files to delete so that `keep` newest remain (files newest first)."""
    return files[keep:] if keep > 0 else []


def sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def pick_endpoint(ctl, wanted=None):
    if wanted:
        return wanted
    view = ctl.cluster_view()
    for m in view['members']:
        if m['is_leader'] and m['healthy']:
            return m['client_urls'][0]
    raise EtcdError('snapshot save', 1, '', 'no healthy leader to take the snapshot from')


def save(module, ctl):
    p = module.params
    result = dict(changed=False, deleted=[])
    target = p['path']
    if os.path.isdir(target):
        existing = snapshots(target, p['prefix'])
        if p['skip_if_newer_than'] and existing and \
                time.time() - os.path.getmtime(existing[0]) < p['skip_if_newer_than']:
            result.update(path=existing[0], skipped_reason='a snapshot younger than %ss exists'
                          % p['skip_if_newer_than'])
            return result
        target = os.path.join(target, '%s-%s.db' % (p['prefix'], utc_stamp()))
    result['path'] = target
    result['changed'] = True
    if module.check_mode:
        return result
    endpoint = pick_endpoint(ctl, p['endpoint'])
    result['endpoint'] = endpoint
    directory = os.path.dirname(target) or '.'
    fd, part = tempfile.mkstemp(prefix='.%s.' % os.path.basename(target), suffix='.part', dir=directory)
    os.close(fd)
    os.unlink(part)  # etcdctl refuses to overwrite
    try:
        ctl.snapshot_save(endpoint, part)
        os.chmod(part, 0o600)
        result['status'] = ctl.snapshot_status(part)
        if p['trial_restore']:
            scratch = tempfile.mkdtemp(prefix='etcd-trial-restore-', dir=directory)
            try:
                ctl.snapshot_restore(part, os.path.join(scratch, 'data'), 'trial',
                                     ['http://127.0.0.1:2380'], 'trial=http://127.0.0.1:2380',
                                     'trial-restore')
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            result['trial_restore'] = 'ok'
        os.rename(part, target)
    finally:
        if os.path.exists(part):
            os.unlink(part)
    if os.path.isdir(p['path']):
        for old in retention(snapshots(p['path'], p['prefix']), p['keep']):
            os.unlink(old)
            result['deleted'].append(old)
    return result


def restore(module, ctl):
    p = module.params
    data_dir = p['data_dir']
    result = dict(changed=False, path=p['path'])
    if not os.path.isfile(p['path']):
        module.fail_json(msg='snapshot %s does not exist' % p['path'])
    digest = sha256(p['path'])
    marker = os.path.join(data_dir, MARKER)
    if os.path.isfile(marker):
        with open(marker) as f:
            # Already restored from this very file into the same cluster
            # (token and initial cluster decide its IDs): a re-run of a
            # restore that was interrupted leaves this member as it is. Any
            # other restore (another token: a new restore) moves it aside.
            if restored_same(f.read(), digest, p['initial_cluster_token'], p['initial_cluster']):
                return result
    non_empty = os.path.isdir(data_dir) and os.listdir(data_dir)
    if non_empty and not p['move_aside']:
        module.fail_json(msg='data directory %s is not empty; set move_aside=true to move it '
                             'aside, or restore into an empty directory' % data_dir)
    result['changed'] = True
    if module.check_mode:
        return result
    if non_empty:
        aside = '%s.before-restore-%s' % (data_dir.rstrip('/'), utc_stamp())
        os.rename(data_dir, aside)
        result['moved_aside'] = aside
    elif os.path.isdir(data_dir):
        os.rmdir(data_dir)  # etcdutl wants to create it
    ctl.snapshot_restore(p['path'], data_dir, p['name'], p['peer_urls'], p['initial_cluster'],
                         p['initial_cluster_token'], p['bump_revision'], p['mark_compacted'])
    with open(marker, 'w') as f:
        f.write(marker_text(digest, p['initial_cluster_token'], p['initial_cluster']))
    os.chmod(data_dir, 0o700)
    if p['owner'] or p['group']:
        for root, dirs, files in os.walk(data_dir):
            for entry in [root] + [os.path.join(root, n) for n in dirs + files]:
                shutil.chown(entry, p['owner'], p['group'])
    result['status'] = ctl.snapshot_status(p['path'])
    return result


def main():
    argspec = dict(CONNECTION_ARGSPEC)
    argspec.update(
        state=dict(type='str', default='saved', choices=['saved', 'restored']),
        path=dict(type='path', required=True),
        prefix=dict(type='str', default='etcd-snapshot'),
        keep=dict(type='int', default=0),
        skip_if_newer_than=dict(type='int', default=0),
        endpoint=dict(type='str'),
        trial_restore=dict(type='bool', default=False),
        data_dir=dict(type='path'),
        name=dict(type='str'),
        peer_urls=dict(type='list', elements='str'),
        initial_cluster=dict(type='str'),
        initial_cluster_token=dict(type='str', no_log=False),
        move_aside=dict(type='bool', default=False),
        bump_revision=dict(type='int'),
        mark_compacted=dict(type='bool', default=False),
        owner=dict(type='str'),
        group=dict(type='str'),
    )
    module = AnsibleModule(
        argument_spec=argspec,
        supports_check_mode=True,
        required_if=[('state', 'restored',
                      ('data_dir', 'name', 'peer_urls', 'initial_cluster', 'initial_cluster_token')),
                     ('mark_compacted', True, ('bump_revision',))],
    )
    ctl = EtcdCtl(module)
    run_module(module, lambda: save(module, ctl) if module.params['state'] == 'saved' else restore(module, ctl))


if __name__ == '__main__':
    main()
