#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) raftops.etcd contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: etcd_backup_drill
short_description: Prove that an etcd snapshot restores to the live cluster's data
version_added: 0.3.0
description:
  - Restores the snapshot O(path) into a scratch data directory on the host (C(snapshot restore) checks
    the SHA-256 that C(snapshot save) appends, so a corrupted snapshot fails here), hashes the restored
    key space at the snapshot's revision R and compares it with C(etcdctl endpoint hashkv --rev=R) of
    every live endpoint, and the number of keys at R.
  - etcd 3.6+ hashes the restored data offline with C(etcdutl hashkv <data-dir>/member/snap/db --rev R).
    With O(serve) (the default, and always before 3.6, whose etcdutl has no C(hashkv)), a throw-away
    etcd is also started over the restored data on 127.0.0.1 with random ports (its own one-member
    cluster, never joined to anything), asked for C(endpoint hashkv --rev=R) and its key count, and
    stopped; both hashes must agree.
  - The hashes cover the revisions after the compact revision up to R. They are comparable only while
    the live cluster still has R and the snapshot's compact revision. Otherwise the result is
    V(not_comparable), which fails unless O(not_comparable=warn), and is never a pass.
  - Changes nothing; the scratch directory (under O(scratch_dir)) is removed afterwards.
author: raftops maintainers (@raftops)
extends_documentation_fragment:
  - raftops.etcd.connection
attributes:
  check_mode:
    support: full
    description: The drill only reads the cluster; it runs in check mode too.
  diff_mode:
    support: none
    description: Nothing is changed.
options:
  path:
    description: Snapshot file on the host (written by C(etcdctl snapshot save), for example by M(raftops.etcd.etcd_snapshot)).
    type: path
    required: true
  scratch_dir:
    description: Directory for the scratch data directory; room for one restored copy of the snapshot.
    type: path
  serve:
    description: Also start a throw-away etcd over the restored data (key count, proof that it boots). Always done before 3.6.
    type: bool
    default: true
  etcd_path:
    description: The etcd binary for the throw-away member (found like etcdctl when not given).
    type: path
  not_comparable:
    description: V(fail) or V(warn) when the live cluster can no longer be compared with the snapshot.
    type: str
    choices: [fail, warn]
    default: fail
  start_timeout:
    description: Seconds the throw-away etcd may take to become healthy.
    type: int
    default: 300
'''

EXAMPLES = r'''
- name: Drill the newest local snapshot against the live cluster
  raftops.etcd.etcd_backup_drill:
    path: /var/backups/etcd/prod-snapshot-20261124T030000Z.db
    scratch_dir: /var/backups/etcd
    endpoints: [https://10.0.0.1:2379, https://10.0.0.2:2379, https://10.0.0.3:2379]
    cacert: /etc/etcd/pki/ca.crt
    cert: /etc/etcd/pki/admin.crt
    key: /etc/etcd/pki/admin.key
  register: drill
'''

RETURN = r'''
result:
  description: V(passed), V(failed) or V(not_comparable).
  returned: always
  type: str
passed:
  description: True only when the restored data equals the live cluster's at the snapshot's revision.
  returned: always
  type: bool
reasons:
  description: Why, in words (the figures that agree or differ).
  returned: always
  type: list
  elements: str
revision:
  description: The snapshot's revision R, the one both sides are hashed at.
  returned: when the snapshot could be read
  type: int
hash_restored:
  description: Hash of the restored key space at R (the throw-away etcd's, or etcdutl's without O(serve)).
  returned: when the snapshot restored
  type: int
hash_restored_etcdutl:
  description: C(etcdutl hashkv) of the restored data at R (etcd 3.6+).
  returned: when the snapshot restored
  type: int
hash_live:
  description: C(endpoint hashkv --rev=R) of the live cluster (all endpoints agree, else the drill fails).
  returned: when the snapshot restored
  type: int
compact_revision_restored:
  description: Compact revision of the restored data.
  returned: when the snapshot restored
  type: int
compact_revision_live:
  description: Compact revision of the live cluster.
  returned: when the snapshot restored
  type: int
keys_restored:
  description: Keys at R in the restored data (null without O(serve)).
  returned: when the snapshot restored
  type: int
keys_live:
  description: Keys at R in the live cluster.
  returned: when the snapshot restored
  type: int
live_endpoints:
  description: Each live endpoint's hash, compact revision and revision.
  returned: when the snapshot restored
  type: list
  elements: dict
seconds:
  description: Time taken by each step (restore, etcdutl_hashkv, restored_etcd, live_hashkv) and in total.
  returned: always
  type: dict
commands:
  description: The commands run.
  returned: always
  type: list
  elements: str
error_kind:
  description: V(corrupt) when C(snapshot restore) refused the snapshot's integrity hash.
  returned: when the snapshot did not restore
  type: str
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.raftops.etcd.plugins.module_utils import _drill
from ansible_collections.raftops.etcd.plugins.module_utils._etcdctl import (
    CONNECTION_ARGSPEC, SEARCH_PATHS, EtcdCtl, run_module)


def run(module):
    p = module.params
    ctl = EtcdCtl(module)
    version = ctl.version()
    etcd = p['etcd_path'] or module.get_bin_path('etcd', required=True, opt_dirs=SEARCH_PATHS)
    live_env = ctl._env(ctl.endpoints)
    _drill.scrub_environment()

    def runner(argv, env=None):
        return module.run_command(argv, environ_update=env or {}, check_rc=False)

    drill = _drill.Drill(runner, ctl.etcdctl, ctl.etcdutl, etcd, live_env, version,
                         scratch_parent=p['scratch_dir'], start_timeout=p['start_timeout'])
    try:
        result = drill.drill(p['path'], serve=p['serve'] or version < (3, 6, 0))
    except _drill.DrillError as e:
        module.fail_json(msg='Drill of %s failed at %s: %s' % (p['path'], e.step, e.message), result='failed',
                         passed=False, error_kind=e.kind, commands=drill.commands)
    result['changed'] = False
    summary = '; '.join(result['reasons'])
    if result['result'] == 'failed':
        module.fail_json(msg='Drill of %s FAILED: %s' % (p['path'], summary), **result)
    if result['result'] == 'not_comparable':
        if p['not_comparable'] == 'fail':
            module.fail_json(msg='Drill of %s NOT COMPARABLE (not a pass): %s' % (p['path'], summary), **result)
        module.warn('Drill of %s not comparable (not a pass): %s' % (p['path'], summary))
    return result


def main():
    argspec = dict(CONNECTION_ARGSPEC)
    argspec.update(
        path=dict(type='path', required=True),
        scratch_dir=dict(type='path'),
        serve=dict(type='bool', default=True),
        etcd_path=dict(type='path'),
        not_comparable=dict(type='str', default='fail', choices=['fail', 'warn']),
        start_timeout=dict(type='int', default=300),
    )
    module = AnsibleModule(argument_spec=argspec, supports_check_mode=True)
    run_module(module, lambda: run(module))


if __name__ == '__main__':
    main()
