# -*- coding: utf-8 -*-
# Copyright (c) raftops.etcd contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Private helpers of raftops.etcd: NOT a public API, may change without notice.

Restore drill: restore a snapshot into a scratch data directory and prove that
it holds the live cluster's history up to the snapshot's revision.

* ``snapshot restore`` into the scratch directory (it checks the SHA-256 that
  ``snapshot save`` appends: a corrupted snapshot fails here);
* etcd >= 3.6: ``etcdutl hashkv <scratch>/member/snap/db --rev R`` (offline;
  never on the snapshot file itself: etcdutl opens it read-write and the
  snapshot's integrity hash no longer matches afterwards);
* every version: a throw-away etcd on 127.0.0.1 (random ports, its own
  one-member cluster from the restore) answers ``endpoint hashkv --rev R`` and
  the number of keys at R, and is stopped;
* the live cluster answers ``endpoint hashkv --rev R`` on every endpoint and
  the number of keys at R.

The hash of ``HashByRev`` covers the revisions after the store's compact
revision up to R. So the figures are comparable only while the live cluster
still has R (not compacted past it) and has the snapshot's compact revision:
otherwise the result is ``not_comparable``, said so, never a pass.

Ansible-free on purpose: module ``etcd_backup_drill`` imports it, and the
role copies it to the members for the scheduled backups' optional drill.
Commands run through a ``runner(argv, env) -> (rc, stdout, stderr)`` the
caller gives (``module.run_command`` in the module), always with a list.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

COMPACTED_RE = re.compile(r'required revision has been compacted')
FUTURE_RE = re.compile(r'required revision is a future revision')
# `snapshot restore` of a file whose appended SHA-256 does not match
# (etcdutl/snapshot/v3_snapshot.go), or that is no bbolt file at all.
CORRUPT_RE = re.compile(r'(expected sha256|snapshot file integrity check failed|invalid database|'
                        r'file size too small|checksum|unexpected EOF|not a bolt|page \d+)', re.IGNORECASE)


class DrillError(Exception):
    """A drill step that could not run: `step` names it, `message` is etcd's own."""

    def __init__(self, step, message, kind='error'):
        self.step = step
        self.kind = kind
        self.message = message
        Exception.__init__(self, '%s: %s' % (step, message))


def clean(text):
    """The last meaningful line(s) of etcd's output: `Error: ...` or the message of a JSON log line."""
    lines = []
    for line in (text or '').splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith('{'):
            try:
                doc = json.loads(line)
            except ValueError:
                doc = None
            if isinstance(doc, dict):
                if doc.get('level') in ('warn', 'error', 'fatal', 'panic') and doc.get('error'):
                    lines.append(str(doc['error']))
                continue
        if '\tinfo\t' in line:
            continue
        lines.append(line)
    errors = [x for x in lines if x.startswith('Error:') or x.startswith('panic:') or 'Failed' in x]
    return '; '.join(errors or lines[-2:])


# --------------------------------------------------------------------------- parsing
def parse_endpoint_hashkv(data):
    """`etcdctl endpoint hashkv -w json`: one dict per endpoint that answered."""
    result = []
    for item in data or []:
        hk = item.get('HashKV') or {}
        header = hk.get('header') or {}
        result.append(dict(endpoint=item.get('Endpoint'), hash=hk.get('hash'),
                           hash_revision=hk.get('hash_revision'),
                           compact_revision=hk.get('compact_revision') or 0,
                           revision=header.get('revision'),
                           member_id='%x' % header['member_id'] if header.get('member_id') else None,
                           cluster_id='%x' % header['cluster_id'] if header.get('cluster_id') else None))
    return result


def parse_etcdutl_hashkv(data):
    """`etcdutl hashkv -w json` (etcd 3.6+): {"hash", "hashRevision", "compactRevision"}."""
    return dict(hash=data.get('hash'), hash_revision=data.get('hashRevision'), revision=data.get('hashRevision'),
                compact_revision=data.get('compactRevision') or 0)


def parse_count(data):
    """`etcdctl get "" --prefix --keys-only --limit=1 -w json`: `count` is the whole range's."""
    return int(data.get('count') or 0)


def hashkv_error_kind(text):
    if COMPACTED_RE.search(text or ''):
        return 'compacted'
    if FUTURE_RE.search(text or ''):
        return 'future'
    return 'error'


def loads(out, step):
    out = (out or '').strip()
    try:
        return json.loads(out)
    except ValueError:
        raise DrillError(step, 'unparsable output: %s' % out[:300])


# --------------------------------------------------------------------------- decision
def decide(revision, restored, live, restored_etcdutl=None, keys_restored=None, keys_live=None,
           live_error=None, live_compact_revision=None):
    """(result, reasons): 'passed', 'failed' or 'not_comparable', and why.

    `revision`: the snapshot's revision R. `restored`: dict(hash, hash_revision,
    compact_revision) of the restored data at R (the throw-away etcd's, or
    etcdutl's when no etcd was started). `restored_etcdutl`: etcdutl's figures,
    which must agree with the throw-away etcd's. `live`: parse_endpoint_hashkv()
    of the live cluster at R (empty with `live_error`, 'compacted' or 'future').
    """
    failed = []
    if restored is None:
        return 'failed', ['no hash of the restored data']
    # The restored store's own revision (etcd's answer header; etcdutl: the
    # revision it hashed up to; 3.5 answers carry no hash_revision).
    if restored.get('revision') != revision:
        failed.append('the restored data is at revision %s, the snapshot says %s'
                      % (restored.get('revision'), revision))
    if restored_etcdutl is not None and (restored_etcdutl['hash'], restored_etcdutl['compact_revision']) != (
            restored['hash'], restored['compact_revision']):
        failed.append('etcdutl hashkv of the restored data (%s, compact revision %s) differs from the restored '
                      "etcd's own (%s, compact revision %s)" % (
                          restored_etcdutl['hash'], restored_etcdutl['compact_revision'],
                          restored['hash'], restored['compact_revision']))
    if failed:
        return 'failed', failed
    if live_error == 'compacted':
        return 'not_comparable', [
            'the live cluster is compacted past revision %s (compact revision now %s): it no longer has the '
            "snapshot's state to compare with. Take a new backup and drill it before the next compaction "
            '(or drill right after each backup).' % (revision, live_compact_revision if live_compact_revision
                                                     is not None else 'unknown')]
    if live_error == 'at_compaction':
        return 'not_comparable', [
            "the snapshot was taken at the live cluster's compaction revision %s and the cluster has been written "
            'since: etcd answers hashkv at a compaction revision with the hash it stored while compacting (over '
            'the revisions before it), which the restored data cannot reproduce. Drill the next backup.' % revision]
    if live_error == 'future':
        return 'not_comparable', [
            'the live cluster has not reached revision %s: this backup is not of its current history '
            '(another cluster, or a cluster restored from an older backup since).' % revision]
    if live_error:
        return 'failed', ['the live cluster did not answer hashkv: %s' % live_error]
    if not live:
        return 'failed', ['no live endpoint answered hashkv']
    hashes = set((x['hash'], x['compact_revision']) for x in live)
    if len(hashes) > 1:
        return 'failed', ['the live members disagree at revision %s: %s' % (revision, ', '.join(
            '%s=%s (compact %s)' % (x['endpoint'], x['hash'], x['compact_revision']) for x in live))]
    live_hash, live_compact = hashes.pop()
    if live_compact != restored['compact_revision']:
        return 'not_comparable', [
            'the live cluster was compacted to revision %s since the backup (the backup has compact revision %s): '
            'the hashes cover different revision ranges. Drill a backup taken after that compaction.'
            % (live_compact, restored['compact_revision'])]
    if live_hash != restored['hash']:
        failed.append('hash at revision %s: restored %s, live %s' % (revision, restored['hash'], live_hash))
    if keys_restored is not None and keys_live is not None and keys_restored != keys_live:
        failed.append('keys at revision %s: restored %s, live %s' % (revision, keys_restored, keys_live))
    if failed:
        return 'failed', failed
    return 'passed', ['restored data equals the live cluster at revision %s: hash %s, %s keys, compact revision %s'
                      % (revision, live_hash, keys_live if keys_live is not None else '?', live_compact)]


# --------------------------------------------------------------------------- running
# Seconds the throw-away etcd may take to answer healthy, unless told otherwise
# (the role's etcd_drill_start_timeout; the module's start_timeout).
START_TIMEOUT = 300


def free_port(host='127.0.0.1'):
    s = socket.socket()
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def scrub_environment():
    """Drop inherited ETCDCTL_* variables: each command gets its own (etcdctl refuses a variable and
    its flag together, and the throw-away etcd must never see the live cluster's settings)."""
    for name in list(os.environ):
        if name.startswith('ETCDCTL_') or name.startswith('ETCD_'):
            del os.environ[name]


def subprocess_runner(argv, env=None):
    """A runner without Ansible (the members' scheduled drill)."""
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ, **(env or {})),
                          check=False)
    return proc.returncode, proc.stdout.decode('utf-8', 'replace'), proc.stderr.decode('utf-8', 'replace')


class Drill(object):
    """One drill of one snapshot file. `live_env`: ETCDCTL_* of the live cluster (endpoints, TLS)."""

    def __init__(self, runner, etcdctl, etcdutl, etcd, live_env, version, scratch_parent=None,
                 start_timeout=START_TIMEOUT, log=None):
        self.run = runner
        self.etcdctl = etcdctl
        self.etcdutl = etcdutl
        self.etcd = etcd
        self.live_env = live_env
        self.version = tuple(version)
        self.scratch_parent = scratch_parent
        self.start_timeout = start_timeout
        self.log = log or (lambda msg: None)
        self.commands = []

    def _run(self, step, argv, env=None, allow_rc=False):
        self.commands.append(' '.join(argv))
        rc, out, err = self.run(argv, env)
        if rc != 0 and not allow_rc:
            raise DrillError(step, clean(err or out) or 'rc=%s' % rc)
        return rc, out, err

    # ------------------------------------------------------------ steps
    def status(self, path):
        tool = self.etcdutl if self.version >= (3, 5, 0) and self.etcdutl else self.etcdctl
        out = self._run('snapshot status', [tool, 'snapshot', 'status', path, '-w', 'json'])[1]
        data = loads(out, 'snapshot status')
        return dict(revision=data.get('revision'), total_keys=data.get('totalKey'),
                    total_size=data.get('totalSize'), hash=data.get('hash'))

    def restore(self, path, data_dir, peer_url):
        tool = self.etcdutl if self.version >= (3, 5, 0) and self.etcdutl else self.etcdctl
        rc, out, err = self._run('snapshot restore', [
            tool, 'snapshot', 'restore', path, '--data-dir=%s' % data_dir, '--name=drill',
            '--initial-cluster=drill=%s' % peer_url, '--initial-cluster-token=raftops-drill',
            '--initial-advertise-peer-urls=%s' % peer_url], allow_rc=True)
        if rc != 0:
            message = clean(err or out)
            raise DrillError('snapshot restore', message, 'corrupt' if CORRUPT_RE.search(message) else 'error')

    def etcdutl_hashkv(self, data_dir, revision):
        db = os.path.join(data_dir, 'member', 'snap', 'db')
        out = self._run('etcdutl hashkv', [self.etcdutl, 'hashkv', db, '--rev', str(revision), '-w', 'json'])[1]
        return parse_etcdutl_hashkv(loads(out, 'etcdutl hashkv'))

    def hashkv(self, env, revision, step):
        """(parsed endpoints, error kind or None, message)."""
        rc, out, err = self._run(step, [self.etcdctl, 'endpoint', 'hashkv', '--rev=%d' % revision, '-w', 'json'],
                                 env=env, allow_rc=True)
        if rc != 0:
            return [], hashkv_error_kind(err), clean(err)
        return parse_endpoint_hashkv(loads(out, step)), None, ''

    def count(self, env, revision, step):
        rc, out, err = self._run(step, [self.etcdctl, 'get', '', '--prefix', '--keys-only', '--limit=1',
                                        '--rev=%d' % revision, '-w', 'json'], env=env, allow_rc=True)
        if rc != 0:
            return None
        return parse_count(loads(out, step))

    def serve(self, data_dir, peer_url):
        """Start a throw-away etcd over the restored data, on 127.0.0.1 only. Returns (proc, env)."""
        client = 'http://127.0.0.1:%d' % free_port()
        argv = [self.etcd, '--name=drill', '--data-dir=%s' % data_dir,
                '--listen-client-urls=%s' % client, '--advertise-client-urls=%s' % client,
                '--listen-peer-urls=%s' % peer_url, '--initial-advertise-peer-urls=%s' % peer_url,
                '--initial-cluster=drill=%s' % peer_url, '--initial-cluster-token=raftops-drill',
                '--listen-metrics-urls=', '--log-level=error']
        if self.version < (3, 5, 0):
            argv.remove('--listen-metrics-urls=')
        self.commands.append(' '.join(argv))
        log_path = os.path.join(os.path.dirname(data_dir), 'etcd.log')
        log = open(log_path, 'wb')
        proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                env=dict((k, v) for k, v in os.environ.items() if not k.startswith('ETCD')))
        log.close()
        env = dict(ETCDCTL_ENDPOINTS=client, ETCDCTL_DIAL_TIMEOUT='2s', ETCDCTL_COMMAND_TIMEOUT='300s')
        # Each probe gives up after 5 s and the next one tries again: one probe that hangs (a
        # connection made while etcd was not yet serving) must not use up the whole start_timeout.
        probe = dict(env, ETCDCTL_COMMAND_TIMEOUT='5s')
        deadline = time.time() + self.start_timeout
        while True:
            if proc.poll() is not None:
                raise DrillError('start the restored etcd', 'exited with %s: %s' % (proc.returncode, self.log_tail(log_path)))
            rc = self.run([self.etcdctl, 'endpoint', 'health'], probe)[0]
            if rc == 0:
                return proc, env
            if time.time() > deadline:
                self.stop(proc)
                raise DrillError('start the restored etcd', 'not healthy after %ss (%s): %s' % (
                    self.start_timeout, client, self.log_tail(log_path) or 'etcd logged nothing'))
            time.sleep(0.5)

    @staticmethod
    def log_tail(path):
        """The end of the throw-away etcd's log, cleaned."""
        with open(path, 'rb') as f:
            return clean(f.read()[-2000:].decode('utf-8', 'replace'))

    @staticmethod
    def taken_at_compaction(revision, restored, live):
        """The snapshot was taken at a compaction's revision (nothing written between the two):
        etcd answers hashkv at that revision with the hash it stored while compacting, over the
        revisions since the compaction before, with that one's compact revision. The restored
        store holds only what the compaction kept, so the two never compare."""
        return restored.get('compact_revision') == revision and any(
            x['compact_revision'] != revision for x in live)

    def latest_if_unchanged(self, revision):
        """(live answers, error kind): hashkv of the latest revision, which etcd computes over
        what the compaction kept, when nothing was written since the snapshot; else 'at_compaction'."""
        latest, err_kind, dummy = self.hashkv(self.live_env, 0, 'hashkv of the live cluster (latest)')
        if latest and all(x['revision'] == revision and x['compact_revision'] == revision for x in latest):
            return latest, None
        return [], 'at_compaction'

    @staticmethod
    def stop(proc):
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    # ------------------------------------------------------------ the drill
    def drill(self, path, serve=True, keep_scratch=False):
        """Run the drill of snapshot `path`. Returns the figures (see module etcd_backup_drill's RETURN)."""
        t0 = time.time()
        timings = {}
        result = dict(snapshot=path, etcd_version='.'.join(str(x) for x in self.version))
        scratch = tempfile.mkdtemp(prefix='raftops-drill-', dir=self.scratch_parent)
        os.chmod(scratch, 0o700)
        data_dir = os.path.join(scratch, 'data')
        proc = None
        try:
            try:
                status = self.status(path)
            except DrillError as e:
                # bbolt refuses (or panics on) a damaged file before restore sees it.
                result.update(result='failed', passed=False, error_kind='corrupt', reasons=[
                    'the snapshot cannot be read (corrupted, or no etcd snapshot): %s' % e.message])
                return result
            revision = status['revision']
            result.update(revision=revision, snapshot_status=status)
            peer_url = 'http://127.0.0.1:%d' % free_port()
            t = time.time()
            try:
                self.restore(path, data_dir, peer_url)
            except DrillError as e:
                timings['restore'] = round(time.time() - t, 2)
                result.update(result='failed', passed=False, error_kind=e.kind,
                              reasons=['the snapshot does not restore (%s): %s' % (
                                  'corrupted' if e.kind == 'corrupt' else 'error', e.message)])
                return result
            timings['restore'] = round(time.time() - t, 2)
            restored_etcdutl = None
            if self.version >= (3, 6, 0) and self.etcdutl:
                t = time.time()
                restored_etcdutl = self.etcdutl_hashkv(data_dir, revision)
                timings['etcdutl_hashkv'] = round(time.time() - t, 2)
            restored = restored_etcdutl
            keys_restored = None
            if serve or restored is None:
                t = time.time()
                proc, env = self.serve(data_dir, peer_url)
                served, err_kind, message = self.hashkv(env, revision, 'hashkv of the restored etcd')
                if not served:
                    raise DrillError('hashkv of the restored etcd', message, err_kind)
                restored = served[0]
                keys_restored = self.count(env, revision, 'keys of the restored etcd')
                self.stop(proc)
                proc = None
                timings['restored_etcd'] = round(time.time() - t, 2)
            t = time.time()
            live, live_error, live_message = self.hashkv(self.live_env, revision, 'hashkv of the live cluster')
            if not live_error and self.taken_at_compaction(revision, restored, live):
                live, live_error = self.latest_if_unchanged(revision)
            live_compact = None
            if live_error == 'compacted':
                latest, dummy, dummy2 = self.hashkv(self.live_env, 0, 'hashkv of the live cluster (latest)')
                live_compact = latest[0]['compact_revision'] if latest else None
            keys_live = self.count(self.live_env, revision, 'keys of the live cluster') if not live_error else None
            timings['live_hashkv'] = round(time.time() - t, 2)
            verdict, reasons = decide(revision, restored, live, restored_etcdutl=restored_etcdutl if serve else None,
                                      keys_restored=keys_restored, keys_live=keys_live,
                                      live_error=live_error and (live_error if live_error != 'error' else live_message),
                                      live_compact_revision=live_compact)
            result.update(
                result=verdict, passed=verdict == 'passed', reasons=reasons,
                hash_restored=restored.get('hash'), compact_revision_restored=restored.get('compact_revision'),
                hash_restored_etcdutl=(restored_etcdutl or {}).get('hash'),
                hash_live=live[0]['hash'] if live else None,
                compact_revision_live=live[0]['compact_revision'] if live else live_compact,
                live_endpoints=live, keys_restored=keys_restored, keys_live=keys_live)
            return result
        finally:
            self.stop(proc)
            timings['total'] = round(time.time() - t0, 2)
            result['seconds'] = timings
            result['commands'] = self.commands
            if keep_scratch:
                result['scratch'] = scratch
            else:
                shutil.rmtree(scratch, ignore_errors=True)
