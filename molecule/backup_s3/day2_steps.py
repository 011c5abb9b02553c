"""Off-site encrypted backups (#13) on the converged `backup_s3` scenario, with
the writer running, against a real S3 server (rclone `serve s3`) on the
scenario's own network (see molecule/resources/day2.py for the driver).

Steps: an on-demand backup lands encrypted with its manifest (and a re-run
changes nothing); the timer's service uploads from the leader only; retention
prunes; a drill passes; bad input (unreachable endpoint, wrong credentials,
missing bucket, wrong key, another cluster's backup) fails early and changes
nothing; a corrupted object and a corrupted local snapshot fail the drill;
then a >= 200 MB snapshot is uploaded, drilled, every member's data and the
controller's copies are destroyed, and `restore` rebuilds the cluster from
`latest` with exactly that backup's data. Upload, drill and restore times are
printed and written to the report.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "molecule" / "resources"))
sys.path.insert(0, str(ROOT / "scripts"))

from day2 import Lab, StepFailed, expect  # noqa: E402
import s3server  # noqa: E402

H = [f"raftops-backup_s3-etcd-{n}" for n in (1, 2, 3)]
S3 = "raftops-backup_s3-s3"
BUCKET = "etcd-backups"
PREFIX = "etcd/"
CLUSTER = "offsite"
ACCESS, SECRET = "raftopslab", "lab-only-secret-0123456789"  # molecule.yml's RCLONE_AUTH_KEY
ENDPOINT = "http://172.31.210.6:9000"
BACKUPS_DIR = f"/srv/s3/{BUCKET}/{PREFIX}{CLUSTER}"
# >= 200 MB of incompressible values, bounded: 420 x 512 KiB.
FILL_COUNT, FILL_SIZE = 420, 512 * 1024


class S3Lab(Lab):
    def env(self) -> dict:
        # Per-task times: the upload, download and drill figures come from them.
        return dict(super().env(), ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks")

    def keys(self) -> None:
        """Two age key pairs on the controller: the operators' and a stranger's."""
        agebin = s3server.age()
        self.identity = {}
        for who in ("ops", "stranger"):
            ident = self.work / f"{who}.agekey"
            ident.unlink(missing_ok=True)
            subprocess.run([str(agebin / "age-keygen"), "-o", str(ident)], check=True, capture_output=True)
            pub = subprocess.run([str(agebin / "age-keygen"), "-y", str(ident)], check=True, capture_output=True,
                                 text=True).stdout.strip()
            self.identity[who] = (str(ident), pub)
        self.extra.update(
            etcd_backup_s3_enabled=True, etcd_backup_s3_endpoint=ENDPOINT, etcd_backup_s3_bucket=BUCKET,
            etcd_backup_s3_prefix=PREFIX, etcd_backup_s3_access_key=ACCESS, etcd_backup_s3_secret_key=SECRET,
            etcd_backup_encryption_recipients=[self.identity["ops"][1]],
            etcd_backup_s3_keep_last=2, etcd_backup_s3_keep_hourly=0, etcd_backup_s3_keep_daily=0,
            etcd_backup_s3_keep_weekly=0, etcd_restore_identity_file=self.identity["ops"][0])

    def remote(self) -> list[dict]:
        """The bucket as the S3 container's disk holds it: backup folders, newest first."""
        out = self.sh(S3, f"cd {BACKUPS_DIR} 2>/dev/null && for d in */; do echo \"$d $(ls $d | tr '\\n' ' ')\"; done",
                      check=False)
        found = []
        for line in out.splitlines():
            name, *files = line.split()
            found.append(dict(name=name.rstrip("/"), files=sorted(files),
                              complete="manifest.json" in files and "snapshot.db.gz.age" in files))
        return sorted(found, key=lambda b: b["name"], reverse=True)

    def s3(self):
        """A client of the bucket, from the controller over the scenario's network:
        the test changes objects through S3, as the server's listings cache the disk."""
        import boto3  # pylint: disable=import-outside-toplevel
        from botocore.config import Config  # pylint: disable=import-outside-toplevel
        return boto3.session.Session().client(
            "s3", endpoint_url=ENDPOINT, aws_access_key_id=ACCESS, aws_secret_access_key=SECRET,
            region_name="us-east-1", config=Config(s3={"addressing_style": "path"},
                                                   request_checksum_calculation="when_required",
                                                   response_checksum_validation="when_required"))

    def key(self, name: str, obj: str) -> str:
        return f"{PREFIX}{CLUSTER}/{name}/{obj}"

    def manifest(self, name: str) -> dict:
        return json.loads(self.sh(S3, f"cat {BACKUPS_DIR}/{name}/manifest.json"))

    def state(self) -> dict[str, str]:
        """What a refused run must leave alone: the etcd process, the membership,
        the files of the backup and data directories (names: the temporary
        identity and download come and go)."""
        script = ("systemctl show -p ExecMainStartTimestampMonotonic --value etcd; ls /var/backups/etcd /var/lib/etcd "
                  "/etc/raftops-etcd; md5sum /etc/raftops-etcd/backup.json; . /etc/profile.d/etcdctl.sh; "
                  "etcdctl member list -w simple | sort")
        return {h: self.sh(h, script, check=False) for h in H}

    def task_seconds(self, task: str) -> float:
        m = re.findall(re.escape(task) + r"[^\n]*?-+\s+([0-9.]+)s", self.last_output)
        return float(m[-1]) if m else -1.0

    def hashkv(self, host: str, rev: int) -> int:
        return self.etcdctl(host, f"endpoint hashkv --rev={rev}")[0]["HashKV"]["hash"]

    def count(self, host: str, prefix: str) -> int:
        out = self.sh(host, f". /etc/profile.d/etcdctl.sh; etcdctl get {prefix} --prefix --keys-only --limit=1 -w json")
        return int(json.loads(out).get("count") or 0)


def on_demand_backup(lab: S3Lab) -> None:
    with lab.writer("on_demand_backup", H):
        lab.playbook("backup")
    backups = lab.remote()
    expect(len(backups) == 1 and backups[0]["complete"], f"bucket after backup: {backups}")
    head = lab.sh(S3, f"head -c 21 {BACKUPS_DIR}/{backups[0]['name']}/snapshot.db.gz.age")
    expect(head == "age-encryption.org/v1", f"the object is not age ciphertext: {head!r}")
    doc = lab.manifest(backups[0]["name"])
    expect(doc["cluster"]["name"] == CLUSTER and doc["snapshot"]["revision"] > 0
           and doc["object"]["recipients"] == [lab.identity["ops"][1]], f"manifest: {doc}")
    expect(SECRET not in lab.last_output, "the secret key appeared in the playbook output")
    expect("Backups fresh" in lab.last_output, "backup did not report the age of the newest backups")
    lab.idempotent("backup")
    expect(len(lab.remote()) == 1, "the re-run uploaded again")


def timer_backup_and_retention(lab: S3Lab) -> None:
    leader = lab.leader(H[0])
    before = {b["name"] for b in lab.remote()}
    with lab.writer("timer_backup", H, duration=300):
        for h in H:
            lab.backup_now(h)
    after = lab.remote()
    new = [b for b in after if b["name"] not in before]
    expect(len(new) == 1 and new[0]["name"].endswith("-" + leader) and new[0]["complete"],
           f"the timer's upload: {new} (leader {leader})")
    for h in H:
        expect(lab.sh(h, "systemctl is-failed etcd-backup.service || true").strip() != "failed", f"unit failed on {h}")
        journal = lab.sh(h, "journalctl -u etcd-backup --no-pager -o cat -n 50")
        expect(SECRET not in journal, f"the secret key is in the journal of {h}")
        if h != leader:
            expect("not the leader" in journal, f"{h} did not say it leaves the upload to the leader")
        else:
            # etcd_backup_timer_drill (on by default): the leader drills what it uploaded.
            expect("drill PASSED" in journal, f"the leader's scheduled backup was not drilled: {journal[-1500:]}")
    # Retention (keep_last=2): a third and fourth upload prune the oldest.
    for _round in range(2):
        time.sleep(1.1)
        lab.backup_now(leader)
    names = [b["name"] for b in lab.remote()]
    expect(len(names) == 2, f"remote retention keep_last=2 left {names}")
    local = lab.sh(leader, f"ls /var/backups/etcd | grep -c {CLUSTER}-scheduled- || true").strip()
    expect(int(local) <= 7, f"local retention left {local} scheduled snapshots")
    # A refused upload fails the unit: visible in systemctl status.
    lab.sh(leader, "cp /etc/raftops-etcd/backup.json /root/backup.json.good && "
                   "python3 -c \"import json; p='/etc/raftops-etcd/backup.json'; d=json.load(open(p)); "
                   "d['s3']['secret_key']='wrong'; json.dump(d, open(p, 'w'))\"")
    lab.backup_now(leader, check=False)
    state = lab.sh(leader, "systemctl is-failed etcd-backup.service || true").strip()
    lab.sh(leader, "cp /root/backup.json.good /etc/raftops-etcd/backup.json && rm /root/backup.json.good && "
                   "systemctl reset-failed etcd-backup.service")
    expect(state == "failed", f"a refused upload left the unit {state}")


def drill_passes(lab: S3Lab) -> None:
    with lab.writer("drill", H, duration=300):
        lab.playbook("backup_drill", {"etcd_drill_remote": "latest"})
    m = re.search(r"Drill PASSED[^\n]*", lab.last_output)
    expect(m is not None, "the drill did not pass")
    print(f"  {m.group(0)[:400]}", flush=True)
    # The drill changes nothing lasting (the age identity and the download are
    # temporary files, so a re-run reports them as changes again).
    before = lab.state()
    lab.playbook("backup_drill", {"etcd_drill_remote": "latest"}, check=True)
    expect(lab.state() == before, "the drill in check mode changed the hosts")


def bad_input(lab: S3Lab) -> None:
    before = lab.state()
    bucket_before = lab.remote()
    cases = [
        ("backup", {"etcd_backup_min_age": 0, "etcd_backup_s3_endpoint": "http://172.31.210.99:9000"},
         r"does not answer from this host"),
        ("backup", {"etcd_backup_min_age": 0, "etcd_backup_s3_secret_key": "wrong"}, r"refused etcd_backup_s3_access_key"),
        ("backup", {"etcd_backup_min_age": 0, "etcd_backup_s3_bucket": "no-such-bucket"},
         r"bucket etcd_backup_s3_bucket=no-such-bucket does not exist"),
        ("backup", {"etcd_backup_min_age": 0, "etcd_backup_encryption_recipients": [lab.identity["ops"][1][:20]]},
         r"etcd_backup_encryption_recipients: .* is not an age recipient"),
        ("backup_drill", {"etcd_drill_remote": "latest", "etcd_restore_identity_file": lab.identity["stranger"][0]},
         r"no identity matched"),
        ("restore", {"etcd_restore_remote": "latest", "etcd_restore_identity_file": lab.identity["stranger"][0],
                     "etcd_force": True}, r"no identity matched"),
    ]
    for name, extra, pattern in cases:
        lab.playbook(name, extra, expect_fail=pattern)
        expect(SECRET not in lab.last_output, f"{name}: the secret key appeared in the output")
    # Another cluster's backup, newest in this cluster's folder: refused before anything changes.
    newest = bucket_before[0]["name"]
    other = "29991231T235959Z-" + newest.split("-", 1)[1]
    s3 = lab.s3()
    doc = lab.manifest(newest)
    doc["cluster"]["name"], doc["name"] = "elsewhere", other
    s3.copy_object(Bucket=BUCKET, Key=lab.key(other, "snapshot.db.gz.age"),
                   CopySource={"Bucket": BUCKET, "Key": lab.key(newest, "snapshot.db.gz.age")})
    s3.put_object(Bucket=BUCKET, Key=lab.key(other, "manifest.json"), Body=json.dumps(doc).encode())
    try:
        lab.playbook("restore", {"etcd_restore_remote": "latest", "etcd_force": True},
                     expect_fail=r"was taken from cluster elsewhere")
    finally:
        s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": lab.key(other, o)}
                                                             for o in ("manifest.json", "snapshot.db.gz.age")]})
    after = lab.state()
    diff = {h: (before[h], after[h]) for h in H if before[h] != after[h]}
    expect(not diff, f"refused runs changed the hosts: {diff}")
    expect(lab.remote() == bucket_before, "refused runs changed the bucket")


def corrupted(lab: S3Lab) -> None:
    newest = lab.remote()[0]["name"]
    s3, key = lab.s3(), lab.key(newest, "snapshot.db.gz.age")
    good = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF
    s3.put_object(Bucket=BUCKET, Key=key, Body=bytes(bad))
    try:
        lab.playbook("backup_drill", {"etcd_drill_remote": "latest"}, expect_fail=r"its manifest says")
    finally:
        s3.put_object(Bucket=BUCKET, Key=key, Body=good)
    # A corrupted local snapshot reaching etcdutl: snapshot restore refuses its integrity hash.
    snaps = sorted((lab.ephemeral / "backups").glob(f"{CLUSTER}-snapshot-*.db"))
    expect(bool(snaps), "no controller snapshot to corrupt")
    bad = lab.work / "corrupted.db"
    data = bytearray(snaps[-1].read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    lab.playbook("backup_drill", {"etcd_drill_snapshot": str(bad)}, expect_fail=r"Drill of .* FAILED.*corrupted")


def large_restore(lab: S3Lab) -> None:
    res = subprocess.run(lab.writer_args(H) + ["fill", "--prefix", "/raftops-fill/", "--count", str(FILL_COUNT),
                                               "--size", str(FILL_SIZE), "--timeout", "60"],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise StepFailed(f"fill: {res.stdout.strip()} {res.stderr.strip()[-2000:]}")
    print(f"  fill: {res.stdout.strip()}", flush=True)
    with lab.writer("large_backup", H, duration=1800):
        t0 = time.monotonic()
        lab.playbook("backup", {"etcd_backup_min_age": 0})
        backup_s = time.monotonic() - t0
    upload_s = lab.task_seconds("Encrypt, upload and verify the snapshot")
    name = lab.remote()[0]["name"]
    doc = lab.manifest(name)
    size_mb = doc["snapshot"]["size"] / 1e6
    expect(size_mb >= 200, f"the snapshot is {size_mb:.0f} MB, not >= 200 MB")
    rev = doc["snapshot"]["revision"]
    t0 = time.monotonic()
    lab.playbook("backup_drill", {"etcd_drill_remote": name})
    drill_s = time.monotonic() - t0
    drill_line = re.search(r"Drill PASSED[^\n]*", lab.last_output)
    expect(drill_line is not None, "the drill of the large backup did not pass")
    # What the restore must bring back: the data at the backup's revision.
    live_hash = lab.hashkv(H[0], rev)
    at_backup = lab.dump(H)  # the writer's keys; writes after the backup must not come back
    fill_keys = lab.count(H[0], "/raftops-fill/")
    # Disaster: every member is lost with its disk, and the controller's copies
    # are gone; new machines with the same names and addresses take their place.
    for h in H:
        lab.fresh(h)
    expect(all(lab.sh(h, "test -e /etc/systemd/system/etcd.service -o -e /var/lib/etcd/member && echo left || true")
               .strip() == "" for h in H), "the new machines still hold etcd files")
    for f in (lab.ephemeral / "backups").glob("*"):
        f.unlink()
    t0 = time.monotonic()
    lab.playbook("restore", {"etcd_restore_remote": "latest"})
    restore_s = time.monotonic() - t0
    download_s = lab.task_seconds("Fetch, verify and decrypt backup")
    expect(lab.count(H[0], "/raftops-fill/") == fill_keys, "fill keys differ after the restore")
    expect(lab.hashkv(H[0], rev) == live_hash, f"hashkv at revision {rev} differs after the restore")
    restored = lab.dump(H)
    rev_now = lab.etcdctl(H[0], "endpoint status")[0]["Status"]["header"]["revision"]
    expect(rev_now == rev, f"the restored cluster is at revision {rev_now}, the backup at {rev}")
    expect(set(restored) <= set(at_backup) and len(restored) > 0,
           f"restored keys not in the data at backup time: {sorted(set(restored) - set(at_backup))[:5]}")
    figures = dict(step="large_backup", snapshot_mb=round(size_mb), object_mb=round(doc["object"]["size"] / 1e6),
                   backup_playbook_s=round(backup_s), upload_task_s=upload_s, drill_playbook_s=round(drill_s),
                   drill=drill_line.group(0)[:300], restore_playbook_s=round(restore_s), download_task_s=download_s,
                   revision=rev, keys=len(restored), fill_keys=fill_keys)
    lab.report.append(figures)
    print(f"  FIGURES: {json.dumps(figures)}", flush=True)
    # The new machines are members like any: a second restore and site.yml change nothing.
    lab.idempotent("restore", {"etcd_restore_remote": "latest"})
    lab.idempotent("site")


if __name__ == "__main__":
    steps = [on_demand_backup, timer_backup_and_retention, drill_passes, bad_input, corrupted, large_restore]
    only = sys.argv[1:]
    lab = S3Lab("backup_s3")
    lab.keys()
    sys.exit(lab.steps(steps, only))
