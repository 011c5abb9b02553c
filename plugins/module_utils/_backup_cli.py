# -*- coding: utf-8 -*-
# Copyright (c) raftops.etcd contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Private helpers of raftops.etcd: NOT a public API, may change without notice.

The members' scheduled backup (``etcd-backup.service``, run by its timer):
``/usr/local/sbin/etcd-backup --config /etc/raftops-etcd/backup.json``.

1. ``etcdctl snapshot save`` of this member into ``<dir>/.<name>.part``,
   ``snapshot status``, then the final name ``<cluster>-scheduled-<UTC stamp>.db``;
2. local retention with ``_backup.retention()`` (last N plus hourly, daily,
   weekly generations; the newest is always kept);
3. on the current leader only (others log a line and stop here, exit 0):
   gzip + age + upload + read back + manifest (``_backup.push``), remote
   retention (``_backup.prune``), and the restore drill (``_drill``) when
   configured.

Any failure exits 1, so ``systemctl status etcd-backup`` shows it. The
configuration file (written by the role, root, 0600) holds the credentials:
nothing secret is on a command line or in the log. Ansible-free: the role
copies this file, ``_backup.py`` and ``_drill.py`` to /usr/local/lib/raftops-etcd.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import datetime
import json
import os
import re
import stat
import sys

try:
    from ansible_collections.raftops.etcd.plugins.module_utils import _backup, _drill
except ImportError:  # on the members: the files side by side in /usr/local/lib/raftops-etcd
    import _backup  # noqa: F401
    import _drill  # noqa: F401

LOCAL_RE = r'^%s-scheduled-(\d{8}T\d{6}Z)\.db$'


def log(msg):
    # The journal of etcd-backup.service reads standard output.
    sys.stdout.write(msg + '\n')
    sys.stdout.flush()


def load_config(path):
    st = os.stat(path)
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise _backup.BackupError('bad_input', '%s is readable by others (mode %o): it holds credentials; '
                                  'chmod 0600 it' % (path, stat.S_IMODE(st.st_mode)))
    with open(path) as f:
        return json.load(f)


def ctl_env(cfg):
    env = dict(ETCDCTL_ENDPOINTS=cfg['endpoint'], ETCDCTL_DIAL_TIMEOUT='5s', ETCDCTL_COMMAND_TIMEOUT='300s')
    for opt in ('cacert', 'cert', 'key'):
        if cfg.get(opt):
            env['ETCDCTL_%s' % opt.upper()] = cfg[opt]
    return env


def local_backups(directory, cluster):
    pattern = re.compile(LOCAL_RE % re.escape(cluster))
    found = []
    for name in os.listdir(directory):
        m = pattern.match(name)
        if m:
            when = datetime.datetime.strptime(m.group(1), _backup.STAMP_FORMAT).replace(tzinfo=datetime.timezone.utc)
            found.append(dict(name=name, time=when, complete=True))
    return found


def local_retention(directory, cluster, policy, now=None):
    """Delete the local scheduled snapshots retention() lets go. Returns (kept, deleted)."""
    keep, delete = _backup.retention(local_backups(directory, cluster), now=now, **policy)
    for name in delete:
        os.unlink(os.path.join(directory, name))
    return keep, delete


def is_leader(run, cfg):
    """(leader?, member id): this member's own `endpoint status`."""
    rc, out, err = run([cfg['etcdctl'], 'endpoint', 'status', '-w', 'json'], ctl_env(cfg))
    if rc != 0:
        raise _backup.BackupError('etcd', 'endpoint status of %s: %s' % (cfg['endpoint'], _drill.clean(err)))
    data = json.loads(out)
    status = (data[0] if isinstance(data, list) else data)['Status']
    member_id = status['header']['member_id']
    return status.get('leader') == member_id, '%x' % member_id, '%x' % status['header']['cluster_id']


def snapshot(run, cfg, when):
    directory = cfg['backup_dir']
    name = '%s-scheduled-%s.db' % (cfg['cluster'], when.strftime(_backup.STAMP_FORMAT))
    part = os.path.join(directory, '.%s.part' % name)
    try:
        rc, out, err = run([cfg['etcdctl'], 'snapshot', 'save', part], ctl_env(cfg))
        if rc != 0:
            raise _backup.BackupError('etcd', 'snapshot save: %s' % _drill.clean(err or out))
        tool = cfg.get('etcdutl') or cfg['etcdctl']
        rc, out, err = run([tool, 'snapshot', 'status', part, '-w', 'json'], {})
        if rc != 0:
            raise _backup.BackupError('etcd', 'snapshot status: %s' % _drill.clean(err or out))
        data = json.loads(out)
        status = dict(revision=data.get('revision'), hash=data.get('hash'), total_keys=data.get('totalKey'),
                      total_size=data.get('totalSize'), version=data.get('version'))
        final = os.path.join(directory, name)
        os.rename(part, final)
        return final, status
    finally:
        if os.path.exists(part):
            os.unlink(part)


def run_backup(cfg, run=None, now=None, remote_factory=None):
    """One scheduled backup. Returns a dict of what happened; raises BackupError/DrillError on failure."""
    run = run or _drill.subprocess_runner
    _drill.scrub_environment()
    when = now or _backup.utc_now()
    os.umask(0o077)
    if not os.path.isdir(cfg['backup_dir']):
        os.makedirs(cfg['backup_dir'], 0o700)
    path, status = snapshot(run, cfg, when)
    log('saved %s: revision %s, %s keys' % (path, status['revision'], status['total_keys']))
    kept, deleted = local_retention(cfg['backup_dir'], cfg['cluster'], cfg['local_retention'], now=when)
    log('local retention: kept %d, deleted %s' % (len(kept), ', '.join(deleted) or 'none'))
    result = dict(path=path, status=status, local_deleted=deleted, leader=None, uploaded=None, drill=None)
    if not (cfg.get('upload') or cfg.get('drill')):
        return result
    leader, member_id, cluster_id = is_leader(run, cfg)
    result['leader'] = leader
    if not leader:
        log('not the leader: the leader uploads%s; nothing more to do here'
            % (' and drills' if cfg.get('drill') else ''))
        return result
    if cfg.get('upload'):
        s3 = cfg['s3']
        remote = (remote_factory or _backup.Remote)(
            s3['endpoint'], s3['bucket'], s3['access_key'], s3['secret_key'], region=s3.get('region'),
            prefix=s3.get('prefix'), ca_file=s3.get('ca_file') or None, validate_certs=s3.get('validate_certs', True))
        remote.check()
        doc = _backup.push(remote, path, status, cfg['cluster'], cluster_id, cfg['member'], member_id,
                           cfg.get('etcd_version'), cfg['recipients'], age_bin=cfg.get('age', 'age'),
                           workdir=cfg['backup_dir'], when=when)
        log('uploaded %s: %d bytes encrypted, sha256 %s' % (doc['name'], doc['object']['size'], doc['object']['sha256']))
        keep, delete = _backup.prune(remote, cfg['cluster'], cfg['remote_retention'], now=when)
        log('remote retention: kept %d, deleted %s' % (len(keep), ', '.join(delete) or 'none'))
        result['uploaded'] = doc['name']
    if cfg.get('drill'):
        version = tuple(int(x) for x in re.findall(r'\d+', cfg.get('etcd_version') or '3.5.0')[:3])
        live = dict(ctl_env(cfg), ETCDCTL_ENDPOINTS=','.join(cfg.get('endpoints') or [cfg['endpoint']]))
        drill = _drill.Drill(run, cfg['etcdctl'], cfg.get('etcdutl'), cfg['etcd'], live, version,
                             scratch_parent=cfg['backup_dir'],
                             start_timeout=cfg.get('drill_start_timeout', _drill.START_TIMEOUT))
        figures = drill.drill(path, serve=cfg.get('drill_serve', True))
        result['drill'] = figures
        log('drill %s: %s (%.1f s)'
            % (figures['result'].upper(), '; '.join(figures['reasons']), figures['seconds']['total']))
        not_comparable_fails = cfg.get('drill_not_comparable', 'fail') == 'fail'
        if figures['result'] == 'failed' or (figures['result'] == 'not_comparable' and not_comparable_fails):
            raise _drill.DrillError('drill', '; '.join(figures['reasons']), figures['result'])
    return result


def main(argv=None):
    ap = argparse.ArgumentParser(description='Scheduled etcd backup (raftops.etcd).')
    ap.add_argument('--config', default='/etc/raftops-etcd/backup.json')
    args = ap.parse_args(argv)
    try:
        cfg = load_config(args.config)
        run_backup(cfg)
    except (_backup.BackupError, _drill.DrillError) as e:
        log('FAILED: %s' % e)
        return 1
    except (OSError, ValueError, KeyError) as e:
        log('FAILED: %s: %s' % (type(e).__name__, e))
        return 1
    return 0
