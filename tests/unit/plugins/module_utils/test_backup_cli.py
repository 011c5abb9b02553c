"""The members' scheduled backup (module_utils/_backup_cli.py).

Leader check and local retention over captured output and files; then the
whole run against a real one-member etcd, `rclone serve s3` and Debian's age on
loopback (skipped, saying which is missing, without the cached binaries).
"""
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.raftops.etcd.plugins.module_utils import _backup as b
from ansible_collections.raftops.etcd.plugins.module_utils import _backup_cli as cli
from ansible_collections.raftops.etcd.plugins.module_utils import _drill as d

ROOT = Path(__file__).resolve().parents[4]
FIX = ROOT / 'tests' / 'unit' / 'fixtures'
sys.path.insert(0, str(ROOT / 'scripts'))
sys.path.insert(0, str(FIX))
import capture  # noqa: E402
import s3server  # noqa: E402

UTC = datetime.timezone.utc
AGE_DIRS = sorted(s3server.S3_CACHE.glob('age-*/usr/bin'))


@pytest.mark.parametrize('version', ['3.4.23', '3.5.30', '3.6.16', '3.7.3'])
def test_leader_from_endpoint_status(version):
    out = (FIX / version / 'endpoint_status.json').read_text()
    cfg = dict(etcdctl='etcdctl', endpoint='http://127.0.0.1:23791')
    leader, member_id, cluster_id = cli.is_leader(lambda argv, env: (0, out, ''), cfg)
    assert leader is True and len(member_id) > 8 and len(cluster_id) > 8
    doc = json.loads(out)
    doc[0]['Status']['leader'] = 1
    assert cli.is_leader(lambda argv, env: (0, json.dumps(doc), ''), cfg)[0] is False


def test_local_retention_keeps_generations_and_the_newest(tmp_path):
    base = datetime.datetime(2026, 11, 1, 3, tzinfo=UTC)
    for i in range(10):
        (tmp_path / ('prod-scheduled-%s.db' % (base + datetime.timedelta(days=i)).strftime(b.STAMP_FORMAT))).write_bytes(b'x')
    (tmp_path / 'prod-snapshot-20261101T030000Z.db').write_bytes(b'on-demand: not this retention')
    (tmp_path / 'other-scheduled-20261101T030000Z.db').write_bytes(b'another cluster')
    kept, deleted = cli.local_retention(str(tmp_path), 'prod', dict(keep_last=2, hourly=0, daily=3, weekly=0),
                                        now=base + datetime.timedelta(days=10))
    assert len(kept) == 3 and len(deleted) == 7
    assert kept == ['prod-scheduled-202611%02dT030000Z.db' % day for day in (10, 9, 8)]
    assert sorted(x for x in os.listdir(tmp_path) if x.startswith('prod-scheduled')) == sorted(kept)
    assert 'prod-snapshot-20261101T030000Z.db' in os.listdir(tmp_path)
    assert 'other-scheduled-20261101T030000Z.db' in os.listdir(tmp_path)
    # keep_last=0 still keeps the newest
    kept, deleted = cli.local_retention(str(tmp_path), 'prod', dict(keep_last=0, hourly=0, daily=0, weekly=0))
    assert kept == ['prod-scheduled-20261110T030000Z.db']


def test_config_readable_by_others_is_refused(tmp_path):
    path = tmp_path / 'backup.json'
    path.write_text('{}')
    os.chmod(path, 0o644)
    assert cli.main(['--config', str(path)]) == 1
    os.chmod(path, 0o600)
    assert cli.load_config(str(path)) == {}


@pytest.mark.skipif(not s3server.binary().exists(), reason='rclone not cached: python3 scripts/s3server.py build')
@pytest.mark.skipif(not AGE_DIRS, reason='age not cached: python3 scripts/s3server.py age')
@pytest.mark.skipif(not (capture.MIRROR / 'v3.6.16').exists(), reason='etcd 3.6.16 not in the test mirror')
def test_scheduled_run_uploads_prunes_and_drills(tmp_path, capsys):
    (tmp_path / 's3' / 'bucket').mkdir(parents=True)
    info = s3server.start('127.0.0.1:0', str(tmp_path / 's3'), str(tmp_path / 's3.json'))
    bindir = capture.extract('3.6.16', tmp_path)
    client, peer = 'http://127.0.0.1:%d' % d.free_port(), 'http://127.0.0.1:%d' % d.free_port()
    proc = capture.start_etcd(bindir, tmp_path, 'm1', client, peer, 'm1=%s' % peer)
    try:
        ctl = str(bindir / 'etcdctl')
        capture.wait_for(lambda: d.subprocess_runner([ctl, 'endpoint', 'health'], {'ETCDCTL_ENDPOINTS': client})[0] == 0,
                         'etcd')
        for i in range(10):
            d.subprocess_runner([ctl, 'put', '/k/%d' % i, 'v'], {'ETCDCTL_ENDPOINTS': client})
        ident = tmp_path / 'id'
        subprocess.run([str(AGE_DIRS[-1] / 'age-keygen'), '-o', str(ident)], check=True, capture_output=True)
        pub = subprocess.run([str(AGE_DIRS[-1] / 'age-keygen'), '-y', str(ident)], check=True, capture_output=True,
                             text=True).stdout.strip()
        cfg = dict(cluster='prod', member='m1', backup_dir=str(tmp_path / 'backups'), endpoint=client,
                   endpoints=[client], etcdctl=ctl, etcdutl=str(bindir / 'etcdutl'), etcd=str(bindir / 'etcd'),
                   etcd_version='3.6.16', age=str(AGE_DIRS[-1] / 'age'), recipients=[pub], upload=True, drill=True,
                   local_retention=dict(keep_last=2, hourly=0, daily=0, weekly=0),
                   remote_retention=dict(keep_last=2, hourly=0, daily=0, weekly=0),
                   s3=dict(endpoint=info['endpoint'], bucket='bucket', access_key=info['access_key'],
                           secret_key=info['secret_key'], prefix='etcd/'))
        path = tmp_path / 'backup.json'
        fd = os.open(str(path), os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, 'w') as f:
            json.dump(cfg, f)
        base = datetime.datetime.now(UTC).replace(microsecond=0)
        for i in range(3):
            result = cli.run_backup(cli.load_config(str(path)), now=base + datetime.timedelta(seconds=i))
            assert result['leader'] is True and result['uploaded'] and result['drill']['result'] == 'passed'
        assert len(os.listdir(cfg['backup_dir'])) == 2  # local retention
        remote = b.Remote(info['endpoint'], 'bucket', info['access_key'], info['secret_key'], prefix='etcd/')
        listing = remote.backups('prod')
        assert [x['name'] for x in listing] == [result['uploaded'], b.backup_name(base + datetime.timedelta(seconds=1), 'm1')]
        assert all(x['complete'] for x in listing)
        out = capsys.readouterr().out
        assert info['secret_key'] not in out and 'drill PASSED' in out
        # A refused upload (wrong secret) fails the run: the unit fails.
        bad = json.loads(path.read_text())
        bad['s3']['secret_key'] = 'wrong'
        path.write_text(json.dumps(bad))
        assert cli.main(['--config', str(path)]) == 1
        assert 'FAILED' in capsys.readouterr().out
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        s3server.stop(str(tmp_path / 's3.json'))
