"""The restore drill (module_utils/_drill.py) end to end with real etcd binaries on loopback.

A one-member etcd of the test mirror (scripts/lab.py mirror) on 127.0.0.1
gets a few keys, a snapshot is saved, and the drill restores it, hashes it
(etcdutl hashkv on 3.6+, a throw-away etcd on every version) and compares with
the live member. Then: a corrupted copy of the snapshot must fail, and after a
compaction past the snapshot the drill must say "not comparable". Skipped,
saying so, when the mirror does not hold the version.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ansible_collections.raftops.etcd.plugins.module_utils import _drill as d

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'fixtures'))
import capture  # noqa: E402


def available(version):
    return (capture.MIRROR / f'v{version}' / f'etcd-v{version}-linux-amd64.tar.gz').exists()


@pytest.fixture(scope='module', params=['3.5.30', '3.6.16'])
def member(request):
    version = request.param
    if not available(version):
        pytest.skip(f'etcd {version} not in {capture.MIRROR}: python3 scripts/lab.py mirror')
    tmp = Path(tempfile.mkdtemp(prefix=f'drill-live-{version}-'))
    client, peer = f'http://127.0.0.1:{d.free_port()}', f'http://127.0.0.1:{d.free_port()}'
    bindir = capture.extract(version, tmp)
    proc = capture.start_etcd(bindir, tmp, 'live', client, peer, f'live={peer}')
    env = {'ETCDCTL_ENDPOINTS': client}
    try:
        capture.wait_for(lambda: d.subprocess_runner([str(bindir / 'etcdctl'), 'endpoint', 'health'], env)[0] == 0,
                         'the live member')
        for i in range(20):
            d.subprocess_runner([str(bindir / 'etcdctl'), 'put', f'/drill/{i}', 'v' * (i * 100)], env)
        snap = tmp / 'snap.db'
        rc, out, err = d.subprocess_runner([str(bindir / 'etcdctl'), 'snapshot', 'save', str(snap)], env)
        assert rc == 0, err
        yield dict(version=version, bindir=bindir, env=env, snap=snap, tmp=tmp)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


def drill(member, path, serve=True):
    b = member['bindir']
    version = tuple(int(x) for x in member['version'].split('.'))
    return d.Drill(d.subprocess_runner, str(b / 'etcdctl'), str(b / 'etcdutl'), str(b / 'etcd'), member['env'],
                   version, scratch_parent=str(member['tmp']), start_timeout=60).drill(str(path), serve=serve)


def test_drill_passes_and_reports_figures(member):
    before = set(os.listdir(member['tmp']))
    result = drill(member, member['snap'])
    assert result['result'] == 'passed', result['reasons']
    assert result['passed'] is True
    assert result['revision'] == 21 and result['keys_live'] == 20 and result['keys_restored'] == 20
    assert result['hash_restored'] == result['hash_live']
    if member['version'] >= '3.6':
        assert result['hash_restored_etcdutl'] == result['hash_live']
    assert result['seconds']['total'] > 0
    assert set(os.listdir(member['tmp'])) == before  # the scratch directory is gone


def test_offline_only_on_36(member):
    """serve=False hashes the restored data offline (etcdutl hashkv, 3.6+); 3.5
    has no offline hash, so its drill serves a throw-away etcd all the same."""
    result = drill(member, member['snap'], serve=False)
    assert result['result'] == 'passed'
    served = any(' --listen-client-urls' in c or c.endswith('/etcd') for c in result['commands'])
    if member['version'] >= '3.6':
        assert result['keys_restored'] is None and not served
    else:
        assert result['keys_restored'] == 20 and served, result['commands']


def test_corrupted_snapshot_fails(member):
    bad = member['tmp'] / 'bad.db'
    data = bytearray(member['snap'].read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    result = drill(member, bad)
    assert result['result'] == 'failed' and result['passed'] is False
    assert result['error_kind'] == 'corrupt' and 'corrupted' in result['reasons'][0], result


def test_compacted_past_the_snapshot_is_not_comparable(member):
    ctl = str(member['bindir'] / 'etcdctl')
    d.subprocess_runner([ctl, 'put', '/drill/late', 'x'], member['env'])
    rc, out, err = d.subprocess_runner([ctl, 'compact', '22'], member['env'])
    assert rc == 0, err
    time.sleep(0.2)
    result = drill(member, member['snap'])
    assert result['result'] == 'not_comparable' and result['passed'] is False
    assert 'compacted past revision 21 (compact revision now 22)' in result['reasons'][0]


def run_module(member, tmp_path, **args):
    """The module as Ansible runs it: a Python process reading its arguments from a JSON file."""
    import json
    b = member['bindir']
    params = dict(path=str(member['snap']), endpoints=[member['env']['ETCDCTL_ENDPOINTS']],
                  etcdctl_path=str(b / 'etcdctl'), etcdutl_path=str(b / 'etcdutl'), etcd_path=str(b / 'etcd'),
                  scratch_dir=str(tmp_path), _ansible_tmpdir=str(tmp_path))
    params.update(args)
    argsfile = tmp_path / 'args.json'
    argsfile.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': params}))
    root = Path(__file__).resolve().parents[4]
    proc = subprocess.run([sys.executable, '-m', 'ansible_collections.raftops.etcd.plugins.modules.etcd_backup_drill',
                           str(argsfile)], capture_output=True, text=True, cwd=str(tmp_path), check=False,
                          env=dict(os.environ, PYTHONPATH=str(root / 'collections')))
    return json.loads(proc.stdout)


def compact_to_latest(member):
    import json
    ctl = str(member['bindir'] / 'etcdctl')
    rc, out, err = d.subprocess_runner([ctl, 'put', '/drill/later', 'y', '-w', 'json'], member['env'])
    revision = json.loads(out)['header']['revision']
    assert d.subprocess_runner([ctl, 'compact', str(revision)], member['env'])[0] == 0


def test_module_reports_and_fails(member, tmp_path):
    compact_to_latest(member)  # the live member no longer has the snapshot's revision
    out = run_module(member, tmp_path)
    assert out.get('failed') and out['result'] == 'not_comparable' and 'NOT COMPARABLE' in out['msg'], out
    out = run_module(member, tmp_path, not_comparable='warn')
    assert not out.get('failed') and out['result'] == 'not_comparable' and out['passed'] is False
    assert 'not comparable' in str(out.get('warnings')), out.get('warnings')
    bad = member['tmp'] / 'bad-module.db'
    data = bytearray(member['snap'].read_bytes())
    data[-40] ^= 0xFF  # in the last page: snapshot status reads it, restore's hash check refuses it
    bad.write_bytes(bytes(data))
    out = run_module(member, tmp_path, path=str(bad))
    assert out.get('failed') and out['error_kind'] == 'corrupt' and 'FAILED' in out['msg'], out


def test_snapshot_taken_at_a_compaction(member):
    """A backup taken right after a compaction (a quiet cluster, or maintenance then backup): etcd
    answers hashkv at a compaction's revision with the hash it stored while compacting, whose
    compact revision is the one before. Nothing written since: the drill compares the latest
    revision and passes. Written since: not comparable, saying why, never a pass or a failure."""
    import json
    ctl = str(member['bindir'] / 'etcdctl')
    for value in ('a', 'b', 'c'):  # overwrites: what the compaction drops changes its stored hash
        assert d.subprocess_runner([ctl, 'put', '/drill/0', value], member['env'])[0] == 0
    compact_to_latest(member)
    rc, out, err = d.subprocess_runner([ctl, 'endpoint', 'status', '-w', 'json'], member['env'])
    revision = json.loads(out)[0]['Status']['header']['revision']
    snap = member['tmp'] / 'at-compaction.db'
    assert d.subprocess_runner([ctl, 'snapshot', 'save', str(snap)], member['env'])[0] == 0
    rc, out, err = d.subprocess_runner([ctl, 'endpoint', 'hashkv', '--rev=%d' % revision, '-w', 'json'],
                                       member['env'])
    stored = d.parse_endpoint_hashkv(json.loads(out))[0]
    assert stored['compact_revision'] != revision, 'etcd no longer answers with the hash stored at compaction'
    result = drill(member, snap)
    assert result['result'] == 'passed', result['reasons']
    assert result['compact_revision_live'] == revision and result['hash_live'] != stored['hash']
    d.subprocess_runner([ctl, 'put', '/drill/after', 'x'], member['env'])
    result = drill(member, snap)
    assert result['result'] == 'not_comparable' and result['passed'] is False
    assert "taken at the live cluster's compaction revision %d" % revision in result['reasons'][0], result['reasons']
