"""module_utils/_backup.py: key naming, listing, retention, manifest, error classification."""
import datetime

import pytest

from ansible_collections.raftops.etcd.plugins.module_utils import _backup as b

UTC = datetime.timezone.utc


def at(*args):
    return datetime.datetime(*args, tzinfo=UTC)


# --------------------------------------------------------------------------- names
def test_name_round_trip():
    name = b.backup_name(at(2026, 11, 24, 9, 10, 0), 'etcd-1')
    assert name == '20261124T091000Z-etcd-1'
    assert b.parse_name(name) == (at(2026, 11, 24, 9, 10, 0), 'etcd-1')


def test_name_is_utc_whatever_the_zone():
    cet = datetime.timezone(datetime.timedelta(hours=1))
    assert b.backup_name(datetime.datetime(2026, 1, 1, 0, 30, tzinfo=cet), 'm') == '20251231T233000Z-m'


@pytest.mark.parametrize('bad', ['', '../x', 'a/b', 'a b', '-x'])
def test_names_that_cannot_be_keys_are_refused(bad):
    with pytest.raises(b.BackupError) as e:
        b.backup_name(at(2026, 1, 1), bad)
    assert e.value.kind == 'bad_input'
    with pytest.raises(b.BackupError):
        b.cluster_prefix('', bad)


@pytest.mark.parametrize('prefix, want', [
    ('', 'prod/'), ('etcd', 'etcd/prod/'), ('etcd/', 'etcd/prod/'), ('/a/b/', 'a/b/prod/')])
def test_cluster_prefix(prefix, want):
    assert b.cluster_prefix(prefix, 'prod') == want


def test_object_keys():
    keys = b.object_keys('backups', 'prod', '20261124T091000Z-etcd-1')
    assert keys['data'] == 'backups/prod/20261124T091000Z-etcd-1/snapshot.db.gz.age'
    assert keys['manifest'] == 'backups/prod/20261124T091000Z-etcd-1/manifest.json'


def test_listing_groups_and_tells_incomplete_backups():
    base = 'x/prod/'
    keys = [
        base + '20261124T091000Z-etcd-1/snapshot.db.gz.age',
        base + '20261124T091000Z-etcd-1/manifest.json',
        base + '20261124T101000Z-etcd-2/snapshot.db.gz.age',          # no manifest: interrupted
        base + '20261123T091000Z-etcd-1/manifest.json',               # manifest without data
        base + 'notes.txt', base + 'other/dir/x', 'x/prodution/20261124T091000Z-a/manifest.json',
    ]
    got = b.group_listing(keys, 'x', 'prod')
    assert [(e['name'], e['complete']) for e in got] == [
        ('20261124T101000Z-etcd-2', False), ('20261124T091000Z-etcd-1', True), ('20261123T091000Z-etcd-1', False)]


# --------------------------------------------------------------------------- retention
def backups(times, incomplete=()):
    return [dict(name=b.backup_name(t, 'm'), time=t, complete=i not in incomplete) for i, t in enumerate(times)]


def test_keep_last_only():
    items = backups([at(2026, 1, 10 - i) for i in range(6)])
    keep, delete = b.retention(items, keep_last=2, hourly=0, daily=0, weekly=0, now=at(2026, 1, 10))
    assert keep == [items[0]['name'], items[1]['name']]
    assert delete == [x['name'] for x in items[2:]]


def test_generations():
    # Every 6 hours for 30 days, newest first.
    now = at(2026, 3, 31, 18)
    items = backups([now - datetime.timedelta(hours=6 * i) for i in range(120)])
    keep, delete = b.retention(items, keep_last=3, hourly=6, daily=7, weekly=4, now=now)
    kept_times = sorted((x['time'] for x in items if x['name'] in keep), reverse=True)
    # 3 last (they are also the newest of their hours); hourly adds 3 more hours;
    # daily: newest of 7 days; weekly: newest of 4 ISO weeks.
    days = set(t.date() for t in kept_times)
    assert len(days) >= 7
    assert len(set(tuple(t.isocalendar()[:2]) for t in kept_times)) == 4
    assert kept_times[:6] == [now - datetime.timedelta(hours=6 * i) for i in range(6)]
    assert set(keep) | set(delete) == set(x['name'] for x in items)
    assert not set(keep) & set(delete)
    # Weekly reaches back: the oldest kept backup is from 3 ISO weeks before now's week.
    assert kept_times[-1] < now - datetime.timedelta(days=14)


def test_newest_good_backup_survives_zero_settings():
    items = backups([at(2026, 1, 3), at(2026, 1, 2)])
    keep, delete = b.retention(items, keep_last=0, hourly=0, daily=0, weekly=0, now=at(2026, 1, 3))
    assert keep == [items[0]['name']] and delete == [items[1]['name']]


def test_newest_good_backup_survives_newer_incomplete_ones():
    now = at(2026, 1, 10)
    items = backups([now - datetime.timedelta(days=i) for i in range(4)], incomplete=(0, 1))
    keep, delete = b.retention(items, keep_last=1, hourly=0, daily=0, weekly=0, incomplete_grace=3600, now=now)
    # The two newest are incomplete (and past grace except the one from `now`).
    assert items[2]['name'] in keep          # newest complete
    assert items[0]['name'] in keep          # incomplete, within grace: maybe still uploading
    assert items[1]['name'] in delete        # incomplete, older than grace
    assert items[3]['name'] in delete


def test_retention_refuses_negative_counts():
    with pytest.raises(b.BackupError):
        b.retention([], keep_last=-1)


# --------------------------------------------------------------------------- manifest
STATUS = dict(revision=42, hash=123456, total_keys=10, total_size=20480, version='3.6.0')


def manifest(**kw):
    args = dict(name='20261124T091000Z-etcd-1', cluster_name='prod', cluster_id='cdf818194e3a8c32',
                member='etcd-1', member_id='8e9e05c52164694d', etcd_version='3.6.16', status=STATUS,
                snapshot_sha256='a' * 64, snapshot_size=20480, object_sha256='b' * 64, object_size=900,
                recipients=['age1' + 'q' * 58], created=at(2026, 11, 24, 9, 10))
    args.update(kw)
    return b.build_manifest(**args)


def test_manifest_carries_what_a_restore_needs():
    doc = manifest()
    assert doc['format'] == b.MANIFEST_FORMAT
    assert doc['cluster'] == dict(name='prod', id='cdf818194e3a8c32')
    assert doc['snapshot']['revision'] == 42 and doc['snapshot']['hash'] == 123456
    assert doc['object']['encryption'] == 'age' and doc['object']['recipients'] == ['age1' + 'q' * 58]
    assert doc['created'] == '2026-11-24T09:10:00Z'
    assert b.manifest_problems(doc, '20261124T091000Z-etcd-1') == []


def test_manifest_problems():
    doc = manifest(object_sha256='nothex', snapshot_size=-1)
    problems = b.manifest_problems(doc, 'another-name')
    assert any('another-name' in p for p in problems)
    assert any('object.sha256' in p for p in problems)
    assert any('snapshot.size' in p for p in problems)
    assert b.manifest_problems([]) == ['the manifest is not a JSON object']


def test_recipients():
    good = ['age1' + 'q' * 58, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0 ops@example']
    assert b.validate_recipients(good) == []
    bad = b.validate_recipients(['AGE-SECRET-KEY-1XYZ', 'age1short', ''])
    assert len(bad) == 3 and 'identity' in bad[0]


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize('exc, code, status, kind', [
    ('EndpointConnectionError', None, None, 'unreachable'),
    ('ConnectTimeoutError', None, None, 'unreachable'),
    ('SSLError', None, None, 'tls'),
    ('ClientError', 'InvalidAccessKeyId', 403, 'credentials'),
    ('ClientError', 'SignatureDoesNotMatch', 403, 'credentials'),
    ('ClientError', 'RequestTimeTooSkewed', 403, 'credentials'),
    ('ClientError', 'AccessDenied', 403, 'forbidden'),
    ('ClientError', '403', 403, 'forbidden'),
    ('ClientError', 'NoSuchBucket', 404, 'no_bucket'),
    ('ClientError', 'NoSuchKey', 404, 'not_found'),
    ('ClientError', 'InternalError', 500, 'unknown'),
])
def test_classify_s3(exc, code, status, kind):
    assert b.classify_s3(exc, code, status) == kind


@pytest.mark.parametrize('text, kind', [
    ('age: error: no identity matched any of the recipients', 'wrong_key'),
    ('age: error: reading "/x": open /x: no such file or directory', 'identity'),
    ('age: error: failed to read header: parsing age header: unexpected intro', 'corrupt'),
    ('something else', 'age'),
])
def test_classify_age(text, kind):
    assert b.classify_age(text) == kind


def test_hints_name_the_variable():
    for kind in ('unreachable', 'tls', 'credentials', 'forbidden', 'no_bucket'):
        hint = b.S3_HINTS[kind] % dict(endpoint='http://s3:9000', bucket='bk', access_key='AK')
        assert 'etcd_backup_s3_' in hint
