"""module_utils/_drill.py: parsing of real etcd output and the drill's verdict.

The fixtures are etcd's own answers (tests/unit/fixtures/capture.py
--drill-only): a member with keys /drill/2..5 at revision 7, compact revision 3.
test_drill_live.py runs the whole drill against the real binaries.
"""
import json
from pathlib import Path

import pytest

from ansible_collections.raftops.etcd.plugins.module_utils import _drill as d

FIX = Path(__file__).resolve().parents[2] / 'fixtures'
VERSIONS = ['3.4.23', '3.5.30', '3.6.16', '3.7.3']


def fixture(version, name):
    return (FIX / version / name).read_text()


@pytest.mark.parametrize('version', VERSIONS)
def test_live_hashkv_parsed(version):
    live = d.parse_endpoint_hashkv(json.loads(fixture(version, 'drill_endpoint_hashkv.json')))
    assert len(live) == 1
    assert live[0]['revision'] == 7 and live[0]['compact_revision'] == 3
    assert isinstance(live[0]['hash'], int) and live[0]['hash'] > 0
    assert live[0]['endpoint'] == 'http://127.0.0.1:23791'
    # 3.6+ say which revision they hashed; 3.4/3.5 do not.
    assert live[0]['hash_revision'] == (7 if version >= '3.6' else None)


@pytest.mark.parametrize('version', ['3.6.16', '3.7.3'])
def test_etcdutl_hashkv_equals_the_live_member(version):
    offline = d.parse_etcdutl_hashkv(json.loads(fixture(version, 'drill_etcdutl_hashkv.json')))
    live = d.parse_endpoint_hashkv(json.loads(fixture(version, 'drill_endpoint_hashkv.json')))
    assert offline == dict(hash=live[0]['hash'], hash_revision=7, revision=7, compact_revision=3)
    result, reasons = d.decide(7, offline, live, keys_restored=None, keys_live=4)
    assert result == 'passed', reasons


@pytest.mark.parametrize('version', VERSIONS)
def test_count_is_the_whole_range(version):
    # --limit=1 returns one key, `count` all four at revision 7.
    data = json.loads(fixture(version, 'drill_get_count.json'))
    assert len(data['kvs']) == 1 and d.parse_count(data) == 4


@pytest.mark.parametrize('version', VERSIONS)
def test_hashkv_errors_classified(version):
    compacted = fixture(version, 'drill_hashkv_compacted.txt')
    future = fixture(version, 'drill_hashkv_future.txt')
    assert d.hashkv_error_kind(compacted) == 'compacted'
    assert d.hashkv_error_kind(future) == 'future'
    assert d.clean(compacted) .endswith('Error: etcdserver: mvcc: required revision has been compacted')


@pytest.mark.parametrize('version', VERSIONS)
def test_corrupt_snapshot_message_is_recognised(version):
    text = fixture(version, 'drill_restore_corrupt.txt')
    message = d.clean(text)
    assert message.startswith('Error:') and d.CORRUPT_RE.search(message), message


def live_of(version, hash_=None, compact=3):
    live = d.parse_endpoint_hashkv(json.loads(fixture(version, 'drill_endpoint_hashkv.json')))
    if hash_ is not None:
        live[0]['hash'] = hash_
    live[0]['compact_revision'] = compact
    return live


def restored_of(version):
    # What the throw-away etcd over the restored data answers: the same document.
    return d.parse_endpoint_hashkv(json.loads(fixture(version, 'drill_endpoint_hashkv.json')))[0]


@pytest.mark.parametrize('version', VERSIONS)
def test_verdicts(version):
    restored = restored_of(version)
    good = d.decide(7, restored, live_of(version), keys_restored=4, keys_live=4)
    assert good[0] == 'passed' and '4 keys' in good[1][0]
    bad_hash = d.decide(7, restored, live_of(version, hash_=restored['hash'] + 1), keys_restored=4, keys_live=4)
    assert bad_hash[0] == 'failed' and 'hash at revision 7' in bad_hash[1][0]
    bad_keys = d.decide(7, restored, live_of(version), keys_restored=3, keys_live=4)
    assert bad_keys[0] == 'failed' and 'keys at revision 7: restored 3, live 4' in bad_keys[1][0]
    wrong_rev = d.decide(8, restored, live_of(version), keys_restored=4, keys_live=4)
    assert wrong_rev[0] == 'failed' and 'restored data is at revision 7' in wrong_rev[1][0]


def test_compacted_live_is_not_comparable_never_a_pass():
    result, reasons = d.decide(7, restored_of('3.6.16'), [], live_error='compacted', live_compact_revision=8)
    assert result == 'not_comparable'
    assert 'compacted past revision 7 (compact revision now 8)' in reasons[0]


def test_later_compaction_below_the_revision_is_not_comparable():
    # Live compacted to 5 after the backup (compact 3): hashes cover (5, 7] and (3, 7].
    result, reasons = d.decide(7, restored_of('3.6.16'), live_of('3.6.16', hash_=1, compact=5))
    assert result == 'not_comparable' and 'compacted to revision 5' in reasons[0]


def test_future_revision_is_not_comparable():
    result, reasons = d.decide(99, dict(restored_of('3.5.30'), revision=99), [], live_error='future')
    assert result == 'not_comparable' and 'has not reached revision 99' in reasons[0]


def test_written_since_a_snapshot_at_a_compaction_is_not_comparable():
    result, reasons = d.decide(99, dict(restored_of('3.5.30'), revision=99), [], live_error='at_compaction')
    assert result == 'not_comparable' and "compaction revision 99" in reasons[0]


def test_members_that_disagree_fail():
    live = live_of('3.6.16') * 2
    live[1] = dict(live[1], hash=1, endpoint='http://b:2379')
    result, reasons = d.decide(7, restored_of('3.6.16'), live)
    assert result == 'failed' and 'live members disagree' in reasons[0]


def test_etcdutl_and_restored_etcd_must_agree():
    restored = restored_of('3.6.16')
    offline = d.parse_etcdutl_hashkv(json.loads(fixture('3.6.16', 'drill_etcdutl_hashkv.json')))
    result, dummy = d.decide(7, restored, live_of('3.6.16'), restored_etcdutl=offline, keys_restored=4, keys_live=4)
    assert result == 'passed'
    result, reasons = d.decide(7, restored, live_of('3.6.16'), restored_etcdutl=dict(offline, hash=1))
    assert result == 'failed' and 'etcdutl hashkv of the restored data' in reasons[0]


def test_other_live_errors_fail():
    result, reasons = d.decide(7, restored_of('3.6.16'), [], live_error='context deadline exceeded')
    assert result == 'failed' and 'did not answer hashkv: context deadline exceeded' in reasons[0]
    assert d.decide(7, None, [])[0] == 'failed'
