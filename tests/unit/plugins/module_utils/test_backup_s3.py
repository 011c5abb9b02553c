"""_backup.py against a real S3 server on loopback: `rclone serve s3` (scripts/s3server.py).

Needs the binaries scripts/s3server.py caches (`build` for rclone, `age` for
Debian's age) and boto3; skipped, saying which is missing, otherwise. A
skipped run proves nothing: the pipeline's unit step builds them first.
"""
import datetime
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.raftops.etcd.plugins.module_utils import _backup as b

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / 'scripts'))
import s3server  # noqa: E402

AGE_DIRS = sorted(s3server.S3_CACHE.glob('age-*/usr/bin'))
pytestmark = [
    pytest.mark.skipif(not s3server.binary().exists(),
                       reason='rclone not cached: python3 scripts/s3server.py build'),
    pytest.mark.skipif(not AGE_DIRS, reason='age not cached: python3 scripts/s3server.py age'),
    pytest.mark.skipif(not b.HAS_BOTO3, reason='boto3 missing in this Python'),
]
BUCKET = 'etcd-offsite'


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('s3')
    (tmp / 'data' / BUCKET).mkdir(parents=True)
    info = s3server.start('127.0.0.1:0', str(tmp / 'data'), str(tmp / 'state.json'))
    yield info
    s3server.stop(str(tmp / 'state.json'))


@pytest.fixture(scope='module')
def keys(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('age')
    agebin = AGE_DIRS[-1]
    result = {}
    for who in ('ops', 'other'):
        ident = tmp / who
        subprocess.run([str(agebin / 'age-keygen'), '-o', str(ident)], check=True, capture_output=True)
        pub = subprocess.run([str(agebin / 'age-keygen'), '-y', str(ident)], check=True,
                             capture_output=True, text=True).stdout.strip()
        result[who] = (str(ident), pub)
    result['age'] = str(agebin / 'age')
    return result


def remote(server, **kw):
    args = dict(endpoint=server['endpoint'], bucket=BUCKET, access_key=server['access_key'],
                secret_key=server['secret_key'], prefix='raftops/', timeout=3)
    args.update(kw)
    return b.Remote(**args)


@pytest.fixture()
def snapshot(tmp_path):
    path = tmp_path / 'snap.db'
    # Compressible and not: like a bbolt file (pages of keys and zeroes).
    path.write_bytes((b'key/%d value\n' * 50000) + os.urandom(300000))
    return path


STATUS = dict(revision=77, hash=987654321, total_keys=12, total_size=1, version='3.6.0')


def push(r, snapshot, keys, tmp_path, when, cluster='prod'):
    return b.push(r, str(snapshot), STATUS, cluster, 'c1d2', 'etcd-1', 'm1', '3.6.16', [keys['ops'][1]],
                  age_bin=keys['age'], workdir=str(tmp_path), when=when)


def test_round_trip_latest_and_by_name(server, keys, snapshot, tmp_path):
    r = remote(server)
    r.check()
    t1 = datetime.datetime(2026, 1, 1, 1, tzinfo=datetime.timezone.utc)
    first = push(r, snapshot, keys, tmp_path, t1)
    second = push(r, snapshot, keys, tmp_path, t1 + datetime.timedelta(hours=1))
    assert first['object']['size'] < first['snapshot']['size']  # compressed before encryption
    # The stored object is age ciphertext, not the snapshot.
    stored = Path(server['dir'], BUCKET, 'raftops', 'prod', first['name'], b.DATA_OBJECT).read_bytes()
    assert stored.startswith(b'age-encryption.org/v1')
    out = tmp_path / 'restored.db'
    doc = b.pull(r, 'prod', 'latest', keys['ops'][0], str(out), expect_cluster='prod',
                 age_bin=keys['age'], workdir=str(tmp_path))
    assert doc['name'] == second['name']
    assert hashlib.sha256(out.read_bytes()).hexdigest() == hashlib.sha256(snapshot.read_bytes()).hexdigest()
    doc = b.pull(r, 'prod', first['name'], keys['ops'][0], str(out), age_bin=keys['age'], workdir=str(tmp_path))
    assert doc['snapshot']['revision'] == 77


def test_wrong_key_other_cluster_and_incomplete(server, keys, snapshot, tmp_path):
    r = remote(server)
    when = datetime.datetime(2026, 2, 1, tzinfo=datetime.timezone.utc)
    doc = push(r, snapshot, keys, tmp_path, when, cluster='staging')
    out = str(tmp_path / 'x.db')
    with pytest.raises(b.BackupError) as e:
        b.pull(r, 'staging', 'latest', keys['other'][0], out, age_bin=keys['age'], workdir=str(tmp_path))
    assert e.value.kind == 'wrong_key'
    with pytest.raises(b.BackupError) as e:
        b.pull(r, 'staging', 'latest', keys['ops'][0], out, expect_cluster='prod',
               age_bin=keys['age'], workdir=str(tmp_path))
    assert e.value.kind == 'other_cluster' and 'etcd_restore_allow_other_cluster' in str(e.value)
    # The same refusal from the manifest alone (the module's check before any download).
    name, manifest = b.resolve(r, 'staging', 'latest')
    with pytest.raises(b.BackupError) as e:
        b.check_cluster(manifest, name, 'prod')
    assert e.value.kind == 'other_cluster'
    b.check_cluster(manifest, name, 'prod', allow_other_cluster=True)
    b.check_cluster(manifest, name, 'staging')
    # An upload that never got its manifest is not a backup: 'latest' skips it.
    late = b.object_keys('raftops/', 'staging', b.backup_name(when + datetime.timedelta(days=1), 'etcd-2'))
    r.client.put_object(Bucket=BUCKET, Key=late['data'], Body=b'partial')
    listing = r.backups('staging')
    assert [x['complete'] for x in listing] == [False, True]
    assert b.resolve(r, 'staging', 'latest')[0] == doc['name']
    with pytest.raises(b.BackupError) as e:
        b.resolve(r, 'staging', listing[0]['name'])
    assert 'no manifest' in str(e.value)


def test_tampered_object_is_refused(server, keys, snapshot, tmp_path):
    r = remote(server)
    doc = push(r, snapshot, keys, tmp_path, datetime.datetime(2026, 3, 1, tzinfo=datetime.timezone.utc),
               cluster='tamper')
    path = Path(server['dir'], BUCKET, 'raftops', 'tamper', doc['name'], b.DATA_OBJECT)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xff
    path.write_bytes(bytes(data))
    with pytest.raises(b.BackupError) as e:
        b.pull(r, 'tamper', 'latest', keys['ops'][0], str(tmp_path / 'x.db'), age_bin=keys['age'],
               workdir=str(tmp_path))
    assert e.value.kind == 'mismatch'


def test_prune_remote(server, keys, snapshot, tmp_path):
    r = remote(server)
    base = datetime.datetime(2026, 4, 1, tzinfo=datetime.timezone.utc)
    names = [push(r, snapshot, keys, tmp_path, base + datetime.timedelta(days=i), cluster='prune')['name']
             for i in range(4)]
    keep, delete = b.prune(r, 'prune', dict(keep_last=2, hourly=0, daily=0, weekly=0),
                           now=base + datetime.timedelta(days=4))
    assert keep == sorted(names[2:], reverse=True) and delete == sorted(names[:2], reverse=True)
    assert [x['name'] for x in r.backups('prune')] == sorted(names[2:], reverse=True)


def test_bad_input_is_named(server):
    with pytest.raises(b.BackupError) as e:
        remote(server, secret_key='wrong-secret').check()
    assert e.value.kind == 'credentials' and 'etcd_backup_s3_secret_key' in str(e.value)
    with pytest.raises(b.BackupError) as e:
        remote(server, bucket='no-such-bucket').check()
    assert e.value.kind == 'no_bucket' and 'etcd_backup_s3_bucket=no-such-bucket' in str(e.value)
    with pytest.raises(b.BackupError) as e:
        remote(server, endpoint='http://127.0.0.1:9').check()  # discard port: nothing listens
    assert e.value.kind == 'unreachable' and 'etcd_backup_s3_endpoint=' in str(e.value)


def _ca_and_server_cert(tmp):
    """A CA and a certificate for 127.0.0.1 signed by it (PEM files in tmp)."""
    # pylint: disable=import-outside-toplevel
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    now = datetime.datetime.now(datetime.timezone.utc)

    def cert(subject, issuer, public, signer, ca, sans=None):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public)
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, srv_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'raftops test S3 CA')])
    ca = cert(ca_name, ca_name, ca_key.public_key(), ca_key, True)
    srv = cert(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, '127.0.0.1')]), ca_name, srv_key.public_key(),
               ca_key, False, [x509.IPAddress(ipaddress.ip_address('127.0.0.1'))])
    pem = serialization.Encoding.PEM
    paths = dict(ca=tmp / 'ca.crt', cert=tmp / 'server.crt', key=tmp / 'server.key')
    paths['ca'].write_bytes(ca.public_bytes(pem))
    paths['cert'].write_bytes(srv.public_bytes(pem) + ca.public_bytes(pem))
    paths['key'].write_bytes(srv_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
    return {k: str(v) for k, v in paths.items()}


def test_endpoint_with_a_private_ca(tmp_path, keys, snapshot):
    """HTTPS with a certificate of the operators' own CA: refused (naming
    etcd_backup_s3_ca_file) until the CA is given, then a full round trip."""
    pki = _ca_and_server_cert(tmp_path)
    (tmp_path / 'data' / BUCKET).mkdir(parents=True)
    state = str(tmp_path / 'tls.json')
    info = s3server.start('127.0.0.1:0', str(tmp_path / 'data'), state, cert=pki['cert'], key=pki['key'])
    try:
        assert info['endpoint'].startswith('https://')
        with pytest.raises(b.BackupError) as e:
            remote(info).check()
        assert e.value.kind == 'tls' and 'etcd_backup_s3_ca_file' in str(e.value)
        r = remote(info, ca_file=pki['ca'])
        r.check()
        when = datetime.datetime(2026, 5, 1, tzinfo=datetime.timezone.utc)
        doc = push(r, snapshot, keys, tmp_path, when, cluster='tls')
        out = tmp_path / 'back.db'
        b.pull(r, 'tls', 'latest', keys['ops'][0], str(out), age_bin=keys['age'], workdir=str(tmp_path))
        assert hashlib.sha256(out.read_bytes()).hexdigest() == doc['snapshot']['sha256']
    finally:
        s3server.stop(state)
