#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) raftops.etcd contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: etcd_backup_remote
short_description: Encrypted off-site etcd backups in S3-compatible storage
version_added: 0.3.0
description:
  - V(uploaded) compresses (gzip) and encrypts (C(age), to public-key recipients) a local
    snapshot file, uploads it, reads it back (size, SHA-256) and writes the backup's
    manifest last; a backup without manifest is incomplete and never restored.
  - V(downloaded) fetches a backup by name or V(latest), checks the encrypted object's
    SHA-256 against the manifest, decrypts it with an identity file and checks the
    snapshot's SHA-256.
  - V(pruned) applies retention (last N, hourly, daily, weekly generations) to the
    cluster's backups; the newest complete backup is never deleted.
  - V(listed) checks endpoint, credentials and bucket and lists the backups.
  - The same code (C(module_utils/_backup.py)) runs the members' scheduled uploads.
author: raftops maintainers (@raftops)
requirements:
  - boto3 (Debian package python3-boto3) and C(age) on the host that runs the module.
attributes:
  check_mode:
    support: full
    description: Reads the bucket (credentials, listing) and predicts the change.
  diff_mode:
    support: none
    description: Backups are binary.
options:
  state:
    description: What to do.
    type: str
    choices: [uploaded, downloaded, pruned, listed]
    default: uploaded
  s3_endpoint:
    description: URL of the S3-compatible service, for example V(https://s3.example.internal:9000).
    type: str
    required: true
  s3_bucket:
    description: Bucket; it must exist (it is never created).
    type: str
    required: true
  s3_prefix:
    description: Key prefix before C(<cluster>/).
    type: str
    default: ''
  s3_region:
    description: Region used for request signing.
    type: str
    default: us-east-1
  s3_access_key:
    description: Access key ID.
    type: str
    required: true
  s3_secret_key:
    description: Secret access key.
    type: str
    required: true
  s3_ca_file:
    description: CA bundle that signed the endpoint's certificate.
    type: path
  s3_validate_certs:
    description: Verify the endpoint's TLS certificate.
    type: bool
    default: true
  s3_addressing_style:
    description: V(path) works with every S3 implementation; V(virtual) puts the bucket in the host name.
    type: str
    choices: [path, virtual, auto]
    default: path
  cluster:
    description: Cluster name; the backups live under C(<s3_prefix><cluster>/).
    type: str
    required: true
  path:
    description:
      - With V(uploaded), the snapshot file to upload (written by M(raftops.etcd.etcd_snapshot)).
      - With V(downloaded), the file to write the decrypted snapshot to (mode 0600).
    type: path
  name:
    description: With V(downloaded), the backup's name (C(<UTC stamp>-<member>)) or V(latest).
    type: str
    default: latest
  recipients:
    description:
      - With V(uploaded), C(age) recipients (public keys) to encrypt to.
      - With any state, recipients given are checked first (a preflight before a snapshot is taken).
    type: list
    elements: str
    default: []
  identity_file:
    description: With V(downloaded), the C(age) identity (secret key) file on the host.
    type: path
  cluster_id:
    description: With V(uploaded), the cluster ID recorded in the manifest.
    type: str
  member:
    description: With V(uploaded), the member the snapshot was taken from (part of the backup's name).
    type: str
  member_id:
    description: With V(uploaded), that member's ID, recorded in the manifest.
    type: str
  etcd_version:
    description: With V(uploaded), the server version recorded in the manifest.
    type: str
  status:
    description:
      - With V(uploaded), C(snapshot status) of O(path) (revision, hash, total_keys, total_size, version),
        as M(raftops.etcd.etcd_snapshot) returns it.
    type: dict
    default: {}
  skip_if_newer_than:
    description: With V(uploaded), no change while a complete backup of the cluster younger than this many seconds exists.
    type: int
    default: 0
  read_back:
    description: With V(uploaded), download the object again and compare its SHA-256 (else size and metadata only).
    type: bool
    default: true
  expect_cluster:
    description: With V(downloaded), refuse a backup whose manifest names another cluster.
    type: str
  allow_other_cluster:
    description: With V(downloaded), accept a backup of another cluster than O(expect_cluster).
    type: bool
    default: false
  keep_last:
    description: With V(pruned), the newest complete backups always kept (at least 1).
    type: int
    default: 7
  keep_hourly:
    description: With V(pruned), keep the newest backup of this many hours.
    type: int
    default: 0
  keep_daily:
    description: With V(pruned), keep the newest backup of this many days.
    type: int
    default: 7
  keep_weekly:
    description: With V(pruned), keep the newest backup of this many ISO weeks.
    type: int
    default: 4
  incomplete_grace:
    description: With V(pruned), seconds an incomplete backup (no manifest) is left alone, as it may still be uploading.
    type: int
    default: 86400
  age_path:
    description: The C(age) binary.
    type: path
    default: age
  workdir:
    description: Directory for the temporary encrypted file (as large as the compressed snapshot).
    type: path
'''

EXAMPLES = r'''
- name: Upload a snapshot, encrypted to two recipients
  raftops.etcd.etcd_backup_remote:
    s3_endpoint: https://s3.example.internal:9000
    s3_bucket: etcd-backups
    s3_access_key: "{{ vault_s3_access_key }}"
    s3_secret_key: "{{ vault_s3_secret_key }}"
    cluster: prod
    path: /var/backups/etcd/prod-snapshot-20261124T030000Z.db
    recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]
    member: etcd-1

- name: Fetch and decrypt the newest backup
  raftops.etcd.etcd_backup_remote:
    state: downloaded
    s3_endpoint: https://s3.example.internal:9000
    s3_bucket: etcd-backups
    s3_access_key: "{{ vault_s3_access_key }}"
    s3_secret_key: "{{ vault_s3_secret_key }}"
    cluster: prod
    name: latest
    identity_file: /root/restore.agekey
    path: /var/backups/etcd/restore.db
    expect_cluster: prod
'''

RETURN = r'''
manifest:
  description: The backup's manifest (cluster, member, etcd version, revision, hash, sizes, SHA-256s, recipients).
  returned: with V(uploaded) and V(downloaded) when a backup was handled
  type: dict
name:
  description: The backup's name.
  returned: with V(uploaded) and V(downloaded)
  type: str
backups:
  description: The cluster's backups, newest first (name, time, member, complete, age in seconds).
  returned: with V(listed) and V(pruned)
  type: list
  elements: dict
deleted:
  description: Backups retention removed (or would remove, in check mode).
  returned: with V(pruned)
  type: list
  elements: str
error_kind:
  description: On failure, what went wrong (unreachable, tls, credentials, forbidden, no_bucket, not_found,
    wrong_key, identity, mismatch, other_cluster, bad_input, ...).
  returned: failure
  type: str
'''

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.raftops.etcd.plugins.module_utils import _backup
from ansible_collections.raftops.etcd.plugins.module_utils._etcdctl import EtcdCtl, EtcdError


def listing(remote, cluster):
    now = _backup.utc_now()
    return [dict(name=b['name'], time=b['time'].strftime('%Y-%m-%dT%H:%M:%SZ'), member=b['member'],
                 complete=b['complete'], age=int((now - b['time']).total_seconds()))
            for b in remote.backups(cluster)]


def run(module):
    p = module.params
    remote = _backup.Remote(p['s3_endpoint'], p['s3_bucket'], p['s3_access_key'], p['s3_secret_key'],
                            region=p['s3_region'], prefix=p['s3_prefix'], ca_file=p['s3_ca_file'],
                            validate_certs=p['s3_validate_certs'], addressing_style=p['s3_addressing_style'])
    state = p['state']
    bad = _backup.validate_recipients(p['recipients'])
    if bad or (state == 'uploaded' and not p['recipients']):
        # Checked first: a preflight (state=listed with the recipients) refuses them before any snapshot.
        raise _backup.BackupError('bad_input', 'etcd_backup_encryption_recipients: %s'
                                  % ('; '.join(bad) or 'empty: off-site backups are always encrypted'))
    remote.check()
    result = dict(changed=False)
    if state == 'listed':
        result['backups'] = listing(remote, p['cluster'])
    elif state == 'uploaded':
        if p['skip_if_newer_than']:
            now = _backup.utc_now()
            fresh = [b for b in remote.backups(p['cluster'])
                     if b['complete'] and (now - b['time']).total_seconds() < p['skip_if_newer_than']]
            if fresh:
                result.update(name=fresh[0]['name'], skipped_reason='a backup younger than %ss exists'
                              % p['skip_if_newer_than'])
                return result
        result['changed'] = True
        if module.check_mode:
            return result
        if not os.path.isfile(p['path'] or ''):
            raise _backup.BackupError('bad_input', 'snapshot %s does not exist' % p['path'])
        status = p['status']
        if not isinstance(status.get('revision'), int):
            # A snapshot taken by an earlier run: its status read again.
            status = EtcdCtl(module).snapshot_status(p['path'])
        doc = _backup.push(remote, p['path'], status, p['cluster'], p['cluster_id'], p['member'],
                           p['member_id'], p['etcd_version'], p['recipients'], age_bin=p['age_path'],
                           workdir=p['workdir'] or os.path.dirname(p['path']), read_back=p['read_back'])
        result.update(manifest=doc, name=doc['name'])
    elif state == 'downloaded':
        name, doc = _backup.resolve(remote, p['cluster'], p['name'])
        result.update(name=name, manifest=doc)
        # Refused before anything is downloaded, and in check mode too.
        _backup.check_cluster(doc, name, p['expect_cluster'], p['allow_other_cluster'])
        if os.path.isfile(p['path']) and _backup.sha256_file(p['path'])[0] == doc['snapshot']['sha256']:
            return result
        result['changed'] = True
        if module.check_mode:
            return result
        directory = p['workdir'] or os.path.dirname(p['path']) or '.'
        part = p['path'] + '.part'
        old = os.umask(0o077)
        try:
            doc = _backup.pull(remote, p['cluster'], name, p['identity_file'], part,
                               expect_cluster=p['expect_cluster'], allow_other_cluster=p['allow_other_cluster'],
                               age_bin=p['age_path'], workdir=directory)
            os.rename(part, p['path'])
        finally:
            os.umask(old)
            if os.path.exists(part):
                os.unlink(part)
        result['manifest'] = doc
    else:
        policy = dict(keep_last=p['keep_last'], hourly=p['keep_hourly'], daily=p['keep_daily'],
                      weekly=p['keep_weekly'], incomplete_grace=p['incomplete_grace'])
        keep, delete = _backup.prune(remote, p['cluster'], policy, dry_run=module.check_mode)
        result.update(changed=bool(delete), deleted=delete, kept=keep)
        result['backups'] = listing(remote, p['cluster'])
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', default='uploaded', choices=['uploaded', 'downloaded', 'pruned', 'listed']),
            s3_endpoint=dict(type='str', required=True),
            s3_bucket=dict(type='str', required=True),
            s3_prefix=dict(type='str', default=''),
            s3_region=dict(type='str', default='us-east-1'),
            s3_access_key=dict(type='str', required=True, no_log=True),
            s3_secret_key=dict(type='str', required=True, no_log=True),
            s3_ca_file=dict(type='path'),
            s3_validate_certs=dict(type='bool', default=True),
            s3_addressing_style=dict(type='str', default='path', choices=['path', 'virtual', 'auto']),
            cluster=dict(type='str', required=True),
            path=dict(type='path'),
            name=dict(type='str', default='latest'),
            recipients=dict(type='list', elements='str', default=[]),
            identity_file=dict(type='path'),
            cluster_id=dict(type='str'),
            member=dict(type='str'),
            member_id=dict(type='str'),
            etcd_version=dict(type='str'),
            status=dict(type='dict', default={}),
            skip_if_newer_than=dict(type='int', default=0),
            read_back=dict(type='bool', default=True),
            expect_cluster=dict(type='str'),
            allow_other_cluster=dict(type='bool', default=False),
            keep_last=dict(type='int', default=7),
            keep_hourly=dict(type='int', default=0),
            keep_daily=dict(type='int', default=7),
            keep_weekly=dict(type='int', default=4),
            incomplete_grace=dict(type='int', default=86400),
            age_path=dict(type='path', default='age'),
            workdir=dict(type='path'),
        ),
        supports_check_mode=True,
        required_if=[('state', 'uploaded', ('path', 'member')),
                     ('state', 'downloaded', ('path', 'identity_file'))],
    )
    if not _backup.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib('boto3 (Debian: python3-boto3)'),
                         exception=_backup.BOTO3_IMPORT_ERROR, error_kind='boto3_missing')
    try:
        result = run(module)
    except _backup.BackupError as e:
        module.fail_json(msg='%s' % e, error_kind=e.kind)
    except EtcdError as e:
        module.fail_json(msg='etcd %s: %s' % (e.action, e.message), error_kind=e.kind)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
