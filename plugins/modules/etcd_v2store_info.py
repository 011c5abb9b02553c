#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) raftops.etcd contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: etcd_v2store_info
short_description: Check a member's data for v2 content that etcd 3.6 refuses
version_added: 0.2.0
description:
  - Runs C(etcdutl check v2store) on a member's data, the check etcd's 3.6 upgrade guide asks
    for on every member before the first one runs 3.6. etcd 3.6 no longer has the v2 API, so it
    refuses to start on a v2 store with content other than the membership, and panics
    (C(detected disallowed v2 WAL)) when it replays a v2 request other than a member's
    attributes from the WAL records after the newest v2 snapshot (for example the v2 C(QGET)
    etcd 3.4 sends through raft for each C(GET /health)).
  - C(etcdutl check v2store) wants a data directory no etcd process uses. The module links
    (or, across file systems, copies) the v2 snapshot files and WAL files of O(data_dir) into
    a private directory inside it, checks that, and removes it; the bbolt database is not
    read. The running member is neither stopped nor slowed.
  - Reading only, also in check mode. C(etcdutl) of 3.5.32 or later reads the WAL records as
    well as the v2 snapshot; earlier 3.5 releases read the snapshot only, 3.4 and 3.5 before
    3.5.18 cannot check (RV(result=unsupported)).
author: raftops maintainers (@raftops)
attributes:
  check_mode:
    support: full
    description: Reads only, also in check mode.
  diff_mode:
    support: none
    description: Nothing to diff.
options:
  data_dir:
    description: The member's data directory (C(ETCD_DATA_DIR)), with C(member/snap) and C(member/wal) in it.
    type: path
    required: true
  etcdutl_path:
    description: The C(etcdutl) to run; found on the usual paths when not given.
    type: path
  etcdctl_path:
    description: The C(etcdctl) next to it, used to tell etcd 3.4 (no C(etcdutl)) apart.
    type: path
'''

EXAMPLES = r'''
- name: Check for v2 content before the upgrade to 3.6
  raftops.etcd.etcd_v2store_info:
    data_dir: /var/lib/etcd
  register: v2

- name: Refuse while the v2 store holds data
  ansible.builtin.assert:
    that: not v2.custom_store
'''

RETURN = r'''
result:
  description:
    - V(clean) (only membership data), V(store) (custom content in the v2 store), V(wal)
      (custom v2 requests in the WAL records after the newest v2 snapshot), V(both),
      V(empty) (no member data yet) or V(unsupported) (no C(etcdutl check v2store)).
  returned: always
  type: str
custom_store:
  description: The v2 store holds content other than the membership.
  returned: always
  type: bool
custom_wal:
  description: The WAL records after the newest v2 snapshot hold v2 requests etcd 3.6 refuses to replay.
  returned: always
  type: bool
message:
  description: What C(etcdutl check v2store) printed.
  returned: always
  type: str
'''

import errno
import glob
import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.raftops.etcd.plugins.module_utils._etcdctl import EtcdCtl, run_module


def stage(data_dir):
    """A private copy of member/snap/*.snap and member/wal/*.wal: hard links where possible.

    Links share the files etcd writes: the WAL's torn tail is fine (read mode
    stops there) and files etcd purges meanwhile stay readable through the link.
    """
    tmp = tempfile.mkdtemp(prefix='.raftops-v2check-', dir=data_dir)
    try:
        for sub, pattern in (('snap', '*.snap'), ('wal', '*.wal')):
            dest = os.path.join(tmp, 'member', sub)
            os.makedirs(dest)
            for src in sorted(glob.glob(os.path.join(data_dir, 'member', sub, pattern))):
                target = os.path.join(dest, os.path.basename(src))
                try:
                    os.link(src, target)
                except OSError as e:
                    if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                        raise
                    shutil.copy2(src, target)
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def check(module):
    data_dir = module.params['data_dir']
    if not os.path.isdir(os.path.join(data_dir, 'member', 'wal')):
        return dict(changed=False, result='empty', custom_store=False, custom_wal=False,
                    message='no member data in %s' % data_dir)
    ctl = EtcdCtl(module)
    tmp = stage(data_dir)
    try:
        kind, text = ctl.check_v2store(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dict(changed=False, result=kind, custom_store=kind in ('store', 'both'),
                custom_wal=kind in ('wal', 'both'), message=text)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            data_dir=dict(type='path', required=True),
            etcdutl_path=dict(type='path'),
            etcdctl_path=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    run_module(module, lambda: check(module))


if __name__ == '__main__':
    main()
