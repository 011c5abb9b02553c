# -*- coding: utf-8 -*-
# Copyright (c) raftops.etcd contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Private helpers of raftops.etcd: NOT a public API, may change without notice.

Off-site backups: compress (gzip) and encrypt (``age``, to public-key
recipients) an etcd snapshot, upload it to S3-compatible storage, read it back
to verify it, write the manifest last; list, prune, download, verify and
decrypt. Ansible-free on purpose: module ``etcd_backup_remote`` imports it,
and the role copies this very file to the members for the systemd timer's
``etcd-backup-remote`` script, so both run the same code.

Layout in the bucket, one "folder" per backup::

    <prefix><cluster>/<YYYYmmddTHHMMSSZ>-<member>/snapshot.db.gz.age
    <prefix><cluster>/<YYYYmmddTHHMMSSZ>-<member>/manifest.json

A backup is complete only when its manifest exists: the manifest is written
after the snapshot object was uploaded and read back, so an interrupted
upload (a multipart upload is aborted by boto3, or never completed) leaves at
most a folder without manifest, which listing reports as incomplete and
retention removes once older than its grace period.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import gzip
import hashlib
import json
import os
import re
import subprocess
import tempfile

try:
    import boto3
    import botocore.exceptions
    from botocore.config import Config
    from boto3.s3.transfer import TransferConfig
    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None
except ImportError as e:  # pragma: no cover - reported by the callers
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = str(e)

MANIFEST_FORMAT = 'raftops.etcd/backup/v1'
DATA_OBJECT = 'snapshot.db.gz.age'
MANIFEST_OBJECT = 'manifest.json'
STAMP_FORMAT = '%Y%m%dT%H%M%SZ'
NAME_RE = re.compile(r'^(\d{8}T\d{6}Z)-([A-Za-z0-9][A-Za-z0-9._-]*)$')
CHUNK = 1 << 20
# age recipients: native X25519 (bech32, "age1" + 58 characters) or SSH public keys.
RECIPIENT_RE = re.compile(r'^(age1[02-9ac-hj-np-z]{58}|(ssh-ed25519|ssh-rsa) [A-Za-z0-9+/=]+( .*)?)$')


class BackupError(Exception):
    """A failed backup step: `kind` says what went wrong, `hint` what to change."""

    def __init__(self, kind, message, hint=''):
        self.kind = kind
        self.message = message
        self.hint = hint
        Exception.__init__(self, '%s%s' % (message, (' ' + hint) if hint else ''))


# --------------------------------------------------------------------------- names
def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def backup_name(when, member):
    """'<UTC stamp>-<member>': sorts by time, names the member it was taken from."""
    if not re.match(r'^[A-Za-z0-9][A-Za-z0-9._-]*$', member or ''):
        raise BackupError('bad_input', 'member name %r cannot be part of an object key' % member)
    return '%s-%s' % (when.astimezone(datetime.timezone.utc).strftime(STAMP_FORMAT), member)


def parse_name(name):
    """(UTC datetime, member) of a backup name, None for anything else."""
    m = NAME_RE.match(name or '')
    if not m:
        return None
    when = datetime.datetime.strptime(m.group(1), STAMP_FORMAT).replace(tzinfo=datetime.timezone.utc)
    return when, m.group(2)


def cluster_prefix(prefix, cluster):
    """'<prefix><cluster>/' with exactly one slash between the parts that have one."""
    prefix = (prefix or '').lstrip('/')
    if prefix and not prefix.endswith('/'):
        prefix += '/'
    if not re.match(r'^[A-Za-z0-9][A-Za-z0-9._-]*$', cluster or ''):
        raise BackupError('bad_input', 'cluster name %r cannot be part of an object key' % cluster)
    return '%s%s/' % (prefix, cluster)


def object_keys(prefix, cluster, name):
    base = cluster_prefix(prefix, cluster) + name + '/'
    return dict(data=base + DATA_OBJECT, manifest=base + MANIFEST_OBJECT, folder=base)


def group_listing(keys, prefix, cluster):
    """Backups from object keys under the cluster's prefix, newest first.

    Each: name, time, member, complete (manifest present), keys. Keys that do
    not follow the layout are left out (they are not this collection's).
    """
    base = cluster_prefix(prefix, cluster)
    found = {}
    for key in keys:
        if not key.startswith(base):
            continue
        parts = key[len(base):].split('/')
        if len(parts) != 2:
            continue
        parsed = parse_name(parts[0])
        if not parsed:
            continue
        entry = found.setdefault(parts[0], dict(name=parts[0], time=parsed[0], member=parsed[1],
                                                complete=False, has_data=False, keys=[]))
        entry['keys'].append(key)
        if parts[1] == MANIFEST_OBJECT:
            entry['complete'] = True
        elif parts[1] == DATA_OBJECT:
            entry['has_data'] = True
    result = [dict(e, complete=e['complete'] and e['has_data']) for e in found.values()]
    return sorted(result, key=lambda e: (e['time'], e['name']), reverse=True)


# --------------------------------------------------------------------------- retention
def retention(backups, keep_last=7, hourly=0, daily=7, weekly=4, incomplete_grace=86400, now=None):
    """(keep, delete): names of backups to keep and to delete.

    `backups`: dicts with name, time (aware datetime) and complete. Complete
    backups are kept when they are among the `keep_last` newest, or the newest
    of one of the `hourly` newest hours, `daily` newest days or `weekly` newest
    ISO weeks (UTC) that hold a backup. The newest complete backup is always
    kept, whatever the numbers. Incomplete backups (no manifest: an
    interrupted or running upload) are deleted once older than
    `incomplete_grace` seconds, and never count as generations.
    """
    for label, value in (('keep_last', keep_last), ('hourly', hourly), ('daily', daily), ('weekly', weekly)):
        if value is None or int(value) < 0:
            raise BackupError('bad_input', 'retention %s must be 0 or more, got %r' % (label, value))
    now = now or utc_now()
    complete = sorted([b for b in backups if b['complete']], key=lambda b: (b['time'], b['name']), reverse=True)
    keep = set(b['name'] for b in complete[:max(int(keep_last), 1)])
    buckets = [
        (int(hourly), lambda t: (t.year, t.month, t.day, t.hour)),
        (int(daily), lambda t: (t.year, t.month, t.day)),
        (int(weekly), lambda t: tuple(t.isocalendar()[:2])),
    ]
    for count, bucket_of in buckets:
        seen = set()
        for b in complete:
            if len(seen) >= count:
                break
            bucket = bucket_of(b['time'].astimezone(datetime.timezone.utc))
            if bucket not in seen:
                seen.add(bucket)
                keep.add(b['name'])
    delete = []
    for b in backups:
        if b['name'] in keep:
            continue
        if not b['complete'] and (now - b['time']).total_seconds() < incomplete_grace:
            keep.add(b['name'])
            continue
        delete.append(b['name'])
    return sorted(keep, reverse=True), sorted(delete, reverse=True)


# --------------------------------------------------------------------------- manifest
def build_manifest(name, cluster_name, cluster_id, member, member_id, etcd_version, status,
                   snapshot_sha256, snapshot_size, object_sha256, object_size, recipients,
                   created=None, compression='gzip'):
    return dict(
        format=MANIFEST_FORMAT,
        name=name,
        created=(created or utc_now()).strftime('%Y-%m-%dT%H:%M:%SZ'),
        cluster=dict(name=cluster_name, id=cluster_id),
        member=dict(name=member, id=member_id),
        etcd_version=etcd_version,
        snapshot=dict(revision=status.get('revision'), hash=status.get('hash'),
                      total_keys=status.get('total_keys'), total_size=status.get('total_size'),
                      storage_version=status.get('version'),
                      sha256=snapshot_sha256, size=snapshot_size),
        object=dict(key=DATA_OBJECT, sha256=object_sha256, size=object_size,
                    compression=compression, encryption='age', recipients=sorted(recipients)),
    )


def manifest_problems(doc, name=None):
    """What is wrong with a manifest read back (empty list: usable)."""
    problems = []
    if not isinstance(doc, dict):
        return ['the manifest is not a JSON object']
    if doc.get('format') != MANIFEST_FORMAT:
        problems.append('format %r is not %s' % (doc.get('format'), MANIFEST_FORMAT))
    if name and doc.get('name') != name:
        problems.append('it names backup %r, not %r' % (doc.get('name'), name))
    obj = doc.get('object') or {}
    snap = doc.get('snapshot') or {}
    for label, value in (('object.sha256', obj.get('sha256')), ('snapshot.sha256', snap.get('sha256'))):
        if not re.match(r'^[0-9a-f]{64}$', value or ''):
            problems.append('%s is not a SHA-256' % label)
    for label, value in (('object.size', obj.get('size')), ('snapshot.size', snap.get('size')),
                         ('snapshot.revision', snap.get('revision'))):
        if not isinstance(value, int) or value < 0:
            problems.append('%s is not a count' % label)
    if not (doc.get('cluster') or {}).get('name'):
        problems.append('cluster.name is missing')
    return problems


def validate_recipients(recipients):
    """Recipients age would refuse, each with why; public keys only, never identities."""
    bad = []
    for r in recipients or []:
        text = (r or '').strip()
        if text.startswith('AGE-SECRET-KEY-'):
            bad.append('an age identity (secret key) was given as a recipient: give its public key '
                       '(`age-keygen -y IDENTITY_FILE`) and keep the identity off the members')
        elif not RECIPIENT_RE.match(text):
            bad.append('%r is not an age recipient (age1... or an ssh-ed25519/ssh-rsa public key)' % text[:40])
    return bad


# --------------------------------------------------------------------------- files
def sha256_file(path):
    h = hashlib.sha256()
    size = 0
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(CHUNK), b''):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


AGE_ERRORS = [
    ('wrong_key', r'no identity matched any of the recipients'),
    ('identity', r'(failed to open identity file|no such file or directory|reading identity|'
                 r'no identities found|failed to read identities|error reading)'),
    ('corrupt', r'(header|parse|malformed|unexpected EOF|failed to decrypt|invalid)'),
    ('recipient', r'(unknown recipient|malformed recipient|invalid recipient)'),
]


def classify_age(stderr):
    for kind, pattern in AGE_ERRORS:
        if re.search(pattern, stderr or '', re.IGNORECASE):
            return kind
    return 'age'


def spawn_age(argv, **pipes):
    """Start age (argv[0]) with its standard error piped; a missing binary is named."""
    try:
        return subprocess.Popen(argv, stderr=subprocess.PIPE, **pipes)
    except OSError as e:
        raise BackupError('age_missing', 'cannot run %s: %s' % (argv[0], e),
                          'Install Debian\'s `age` package on the member (the role does).')


def encrypt(src, dst, recipients, age_bin='age'):
    """gzip + age src into dst. Returns (snapshot sha256, size, object sha256, size)."""
    argv = [age_bin, '--encrypt']
    for r in recipients:
        argv += ['--recipient', r]
    argv += ['--output', dst]
    proc = spawn_age(argv, stdin=subprocess.PIPE)
    h = hashlib.sha256()
    size = 0
    try:
        with open(src, 'rb') as f:
            with gzip.GzipFile(fileobj=proc.stdin, mode='wb', compresslevel=6, mtime=0) as gz:
                for chunk in iter(lambda: f.read(CHUNK), b''):
                    h.update(chunk)
                    size += len(chunk)
                    gz.write(chunk)
        proc.stdin.close()
    except (IOError, OSError):
        pass  # age exited early: its message below says why
    err = proc.stderr.read().decode('utf-8', 'replace')
    if proc.wait() != 0:
        raise BackupError(classify_age(err), 'age --encrypt failed: %s' % err.strip())
    obj_sum, obj_size = sha256_file(dst)
    return h.hexdigest(), size, obj_sum, obj_size


def decrypt(src, dst, identity_file, age_bin='age'):
    """age -d + gunzip src into dst. Returns (snapshot sha256, size)."""
    if not identity_file or not os.path.isfile(identity_file):
        raise BackupError('identity', 'age identity file %r does not exist on this host' % identity_file)
    argv = [age_bin, '--decrypt', '--identity', identity_file, src]
    proc = spawn_age(argv, stdout=subprocess.PIPE)
    h = hashlib.sha256()
    size = 0
    gz_error = None
    try:
        with open(dst, 'wb') as out:
            with gzip.GzipFile(fileobj=proc.stdout, mode='rb') as gz:
                for chunk in iter(lambda: gz.read(CHUNK), b''):
                    h.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
    except (IOError, OSError, EOFError) as e:
        gz_error = e
    proc.stdout.close()
    err = proc.stderr.read().decode('utf-8', 'replace')
    if proc.wait() != 0:
        raise BackupError(classify_age(err), 'age --decrypt failed: %s' % err.strip())
    if gz_error is not None:
        raise BackupError('corrupt', 'the decrypted backup is not gzip data: %s' % gz_error)
    return h.hexdigest(), size


# --------------------------------------------------------------------------- S3 errors
S3_HINTS = {
    'unreachable': 'etcd_backup_s3_endpoint=%(endpoint)s does not answer from this host: check the URL '
                   '(scheme, host, port), DNS and the firewall.',
    'tls': 'the TLS certificate of etcd_backup_s3_endpoint=%(endpoint)s is not trusted: set '
           'etcd_backup_s3_ca_file to the CA that signed it.',
    'credentials': 'the storage refused etcd_backup_s3_access_key=%(access_key)s or its '
                   'etcd_backup_s3_secret_key: set the pair the storage issued (check both, and the clock).',
    'forbidden': 'the key etcd_backup_s3_access_key=%(access_key)s may not use bucket %(bucket)s: '
                 'grant it s3:ListBucket, GetObject, PutObject, DeleteObject there.',
    'no_bucket': 'bucket etcd_backup_s3_bucket=%(bucket)s does not exist at %(endpoint)s: create it '
                 '(the collection never creates buckets) or fix the name.',
    'not_found': '',
    'unknown': '',
}
CREDENTIAL_CODES = ('InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken', 'ExpiredToken',
                    'AuthorizationHeaderMalformed', 'InvalidSecurity', 'RequestTimeTooSkewed')


def classify_s3(exc_name, code=None, status=None):
    """Kind of an S3 failure from the botocore exception class name, error code and HTTP status."""
    if exc_name in ('EndpointConnectionError', 'ConnectTimeoutError', 'ConnectionClosedError',
                    'ReadTimeoutError', 'ProxyConnectionError', 'InvalidEndpointURL'):
        return 'unreachable'
    if exc_name == 'SSLError':
        return 'tls'
    if exc_name in ('NoCredentialsError', 'PartialCredentialsError'):
        return 'credentials'
    code = code or ''
    if code in CREDENTIAL_CODES:
        return 'credentials'
    if code == 'NoSuchBucket':
        return 'no_bucket'
    if code in ('NoSuchKey', 'NotFound') or (code == '404' and status == 404):
        return 'not_found'
    if code in ('AccessDenied', 'Forbidden', '403') or status == 403:
        return 'forbidden'
    return 'unknown'


# --------------------------------------------------------------------------- S3
class Remote(object):
    """One bucket of S3-compatible storage, with every failure turned into a BackupError."""

    def __init__(self, endpoint, bucket, access_key, secret_key, region='us-east-1', prefix='',
                 ca_file=None, validate_certs=True, addressing_style='path', timeout=10):
        if not HAS_BOTO3:
            raise BackupError('boto3_missing', 'boto3 is not importable on this host (%s)' % BOTO3_IMPORT_ERROR,
                              'Install Debian\'s python3-boto3 package on the member (the role does).')
        self.endpoint = endpoint
        self.bucket = bucket
        self.access_key = access_key
        self.prefix = prefix or ''
        options = dict(s3=dict(addressing_style=addressing_style), signature_version='s3v4',
                       connect_timeout=timeout, read_timeout=max(timeout, 60),
                       retries=dict(max_attempts=3, mode='standard'))
        try:
            # botocore >= 1.36 sends CRC checksums by default, which older S3
            # implementations refuse; the collection verifies SHA-256 itself.
            config = Config(request_checksum_calculation='when_required',
                            response_checksum_validation='when_required', **options)
        except TypeError:
            config = Config(**options)
        verify = (ca_file or True) if validate_certs else False
        self.client = boto3.session.Session().client(
            's3', endpoint_url=endpoint or None, region_name=region or 'us-east-1',
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, verify=verify, config=config)
        self.transfer = TransferConfig(multipart_threshold=64 * CHUNK, multipart_chunksize=16 * CHUNK,
                                       max_concurrency=2, use_threads=True)

    def error(self, e, doing):
        name = type(e).__name__
        code = status = None
        if isinstance(e, botocore.exceptions.ClientError):
            code = (e.response.get('Error') or {}).get('Code')
            status = (e.response.get('ResponseMetadata') or {}).get('HTTPStatusCode')
        kind = classify_s3(name, code, status)
        hint = S3_HINTS.get(kind, '') % dict(endpoint=self.endpoint, bucket=self.bucket, access_key=self.access_key)
        return BackupError(kind, '%s: %s' % (doing, e), hint)

    def _call(self, doing, func, *args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            raise self.error(e, doing)

    def check(self):
        """The endpoint answers, the credentials are accepted, the bucket exists and may be listed."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            err = self.error(e, 'HEAD bucket %s' % self.bucket)
            if err.kind not in ('forbidden', 'not_found', 'unknown'):
                raise err
            if err.kind == 'not_found':
                raise BackupError('no_bucket', err.message, S3_HINTS['no_bucket'] % dict(
                    endpoint=self.endpoint, bucket=self.bucket, access_key=self.access_key))
        # HEAD answers carry no error code: a listing tells a wrong key from a missing grant.
        self._call('list bucket %s' % self.bucket, self.client.list_objects_v2, Bucket=self.bucket, MaxKeys=1)

    def keys(self, prefix):
        result = []
        token = None
        while True:
            kwargs = dict(Bucket=self.bucket, Prefix=prefix)
            if token:
                kwargs['ContinuationToken'] = token
            page = self._call('list %s/%s' % (self.bucket, prefix), self.client.list_objects_v2, **kwargs)
            result += [o['Key'] for o in page.get('Contents') or []]
            if not page.get('IsTruncated'):
                return result
            token = page.get('NextContinuationToken')

    def backups(self, cluster):
        return group_listing(self.keys(cluster_prefix(self.prefix, cluster)), self.prefix, cluster)

    def upload(self, path, key, sha256):
        self._call('upload s3://%s/%s' % (self.bucket, key), self.client.upload_file, path, self.bucket, key,
                   ExtraArgs=dict(Metadata=dict(sha256=sha256), ContentType='application/octet-stream'),
                   Config=self.transfer)

    def verify(self, key, sha256, size, read_back=True):
        """HEAD (size, and the SHA-256 metadata where the storage keeps it), then GET and hash."""
        head = self._call('HEAD s3://%s/%s' % (self.bucket, key), self.client.head_object,
                          Bucket=self.bucket, Key=key)
        if head.get('ContentLength') != size:
            raise BackupError('mismatch', 's3://%s/%s has %s bytes, %s were uploaded'
                              % (self.bucket, key, head.get('ContentLength'), size))
        meta = (head.get('Metadata') or {}).get('sha256')
        if meta and meta != sha256:
            raise BackupError('mismatch', 's3://%s/%s carries sha256 %s, %s was uploaded'
                              % (self.bucket, key, meta, sha256))
        if read_back:
            body = self._call('GET s3://%s/%s' % (self.bucket, key), self.client.get_object,
                              Bucket=self.bucket, Key=key)['Body']
            h = hashlib.sha256()
            got = 0
            for chunk in iter(lambda: body.read(CHUNK), b''):
                h.update(chunk)
                got += len(chunk)
            if h.hexdigest() != sha256 or got != size:
                raise BackupError('mismatch', 's3://%s/%s reads back as %s (%d bytes), %s (%d bytes) was uploaded'
                                  % (self.bucket, key, h.hexdigest(), got, sha256, size))
        return dict(size=size, sha256=sha256, metadata_sha256=meta)

    def put_json(self, key, doc):
        body = (json.dumps(doc, indent=2, sort_keys=True) + '\n').encode('utf-8')
        self._call('PUT s3://%s/%s' % (self.bucket, key), self.client.put_object, Bucket=self.bucket,
                   Key=key, Body=body, ContentType='application/json')
        if self.get_json(key) != doc:
            raise BackupError('mismatch', 's3://%s/%s does not read back as written' % (self.bucket, key))

    def get_json(self, key):
        body = self._call('GET s3://%s/%s' % (self.bucket, key), self.client.get_object,
                          Bucket=self.bucket, Key=key)['Body'].read()
        try:
            return json.loads(body.decode('utf-8'))
        except ValueError as e:
            raise BackupError('corrupt', 's3://%s/%s is not JSON: %s' % (self.bucket, key, e))

    def download(self, key, path):
        self._call('download s3://%s/%s' % (self.bucket, key), self.client.download_file, self.bucket, key,
                   path, Config=self.transfer)

    def delete(self, keys):
        for key in keys:
            self._call('DELETE s3://%s/%s' % (self.bucket, key), self.client.delete_object,
                       Bucket=self.bucket, Key=key)


# --------------------------------------------------------------------------- operations
def push(remote, snapshot, status, cluster_name, cluster_id, member, member_id, etcd_version, recipients,
         age_bin='age', workdir=None, read_back=True, when=None):
    """Encrypt, upload, verify and describe one snapshot. Returns the manifest."""
    bad = validate_recipients(recipients)
    if not recipients or bad:
        raise BackupError('bad_input', 'etcd_backup_encryption_recipients: %s'
                          % ('; '.join(bad) or 'empty: off-site backups are always encrypted'))
    when = when or utc_now()
    name = backup_name(when, member)
    keys = object_keys(remote.prefix, cluster_name, name)
    fd, part = tempfile.mkstemp(prefix='.%s.' % name, suffix='.gz.age', dir=workdir)
    os.close(fd)
    try:
        snap_sum, snap_size, obj_sum, obj_size = encrypt(snapshot, part, recipients, age_bin)
        remote.upload(part, keys['data'], obj_sum)
        remote.verify(keys['data'], obj_sum, obj_size, read_back=read_back)
    finally:
        os.unlink(part)
    doc = build_manifest(name, cluster_name, cluster_id, member, member_id, etcd_version, status,
                         snap_sum, snap_size, obj_sum, obj_size, recipients, created=when)
    remote.put_json(keys['manifest'], doc)  # last: only now is the backup complete
    return doc


def resolve(remote, cluster, name):
    """(name, manifest) of backup `name` or of the newest complete one ('latest')."""
    listing = remote.backups(cluster)
    complete = [b for b in listing if b['complete']]
    if name in (None, '', 'latest'):
        if not complete:
            raise BackupError('not_found', 'no complete backup of cluster %s under s3://%s/%s'
                              % (cluster, remote.bucket, cluster_prefix(remote.prefix, cluster)))
        name = complete[0]['name']
    elif name not in [b['name'] for b in complete]:
        incomplete = name in [b['name'] for b in listing]
        raise BackupError('not_found', 'backup %s of cluster %s %s' % (
            name, cluster, 'has no manifest (an interrupted upload): choose another'
            if incomplete else 'does not exist; newest complete: %s'
            % (', '.join(b['name'] for b in complete[:5]) or 'none')))
    keys = object_keys(remote.prefix, cluster, name)
    doc = remote.get_json(keys['manifest'])
    problems = manifest_problems(doc, name)
    if problems:
        raise BackupError('corrupt', 'manifest of backup %s: %s' % (name, '; '.join(problems)))
    return name, doc


def check_cluster(doc, name, expect_cluster, allow_other_cluster=False):
    """Refuse a backup whose manifest names another cluster than expect_cluster."""
    if expect_cluster and doc['cluster']['name'] != expect_cluster and not allow_other_cluster:
        raise BackupError('other_cluster', 'backup %s was taken from cluster %s (id %s), not %s'
                          % (name, doc['cluster']['name'], doc['cluster'].get('id'), expect_cluster),
                          'Set etcd_restore_allow_other_cluster=true to restore it into this one.')


def pull(remote, cluster, name, identity_file, dest, expect_cluster=None, allow_other_cluster=False,
         age_bin='age', workdir=None):
    """Download, verify, decrypt backup `name` ('latest') into file `dest`. Returns the manifest."""
    name, doc = resolve(remote, cluster, name)
    check_cluster(doc, name, expect_cluster, allow_other_cluster)
    keys = object_keys(remote.prefix, cluster, name)
    fd, part = tempfile.mkstemp(prefix='.%s.' % name, suffix='.gz.age', dir=workdir)
    os.close(fd)
    try:
        remote.download(keys['data'], part)
        obj_sum, obj_size = sha256_file(part)
        if (obj_sum, obj_size) != (doc['object']['sha256'], doc['object']['size']):
            raise BackupError('mismatch', 'downloaded %s is %s (%d bytes); its manifest says %s (%d bytes)'
                              % (keys['data'], obj_sum, obj_size, doc['object']['sha256'], doc['object']['size']))
        snap_sum, snap_size = decrypt(part, dest, identity_file, age_bin)
    finally:
        os.unlink(part)
    if (snap_sum, snap_size) != (doc['snapshot']['sha256'], doc['snapshot']['size']):
        os.unlink(dest)
        raise BackupError('mismatch', 'decrypted snapshot is %s (%d bytes); the manifest says %s (%d bytes)'
                          % (snap_sum, snap_size, doc['snapshot']['sha256'], doc['snapshot']['size']))
    return doc


def prune(remote, cluster, policy, dry_run=False, now=None):
    """Apply retention(policy) to the cluster's remote backups. Returns (kept, deleted) names."""
    listing = remote.backups(cluster)
    keep, delete = retention(listing, now=now, **policy)
    if not dry_run:
        by_name = dict((b['name'], b) for b in listing)
        for name in delete:
            # The manifest first: a half-deleted backup then reads as incomplete, never as good.
            keys = sorted(by_name[name]['keys'], key=lambda k: not k.endswith('/' + MANIFEST_OBJECT))
            remote.delete(keys)
    return keep, delete
