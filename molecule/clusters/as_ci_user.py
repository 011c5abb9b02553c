"""Run a playbook of the clusters scenario as an unprivileged controller user.

CI runs as root; operators run Ansible as themselves. This helper (called as
root by the scenario's converge and side_effect playbooks) runs
`ansible-playbook` as the local user `raftops-ci` through `runuser`, against a
copy of Molecule's inventory, with its own copy of the run's SSH key, and with
MOLECULE_EPHEMERAL_DIRECTORY pointing at a directory that user owns: the
controller PKI and fetched backups (molecule/resources/vars/lab.yml) are
written there by that user, never by root. The user runs its own
virtualenv (the system Python with the pinned ansible and ansible-core of
requirements-dev.txt, made once in its home) and its own copy of the
checkout, because the runner's Python and the clone may sit in root's
private home. The hosts are reached over SSH as
`debian` with sudo, as in the default scenario.

    as_ci_user.py reset                       # create the user, empty its run directory
    as_ci_user.py where                       # print {"user", "run_dir"} as JSON
    as_ci_user.py run PLAYBOOK [ARGS ...]     # ansible-playbook -i <copy> PLAYBOOK ARGS as raftops-ci

`run` prints one JSON line: {"rc", "recap": {host: {ok, changed, unreachable,
failed}}, "changed_tasks": {host: [task, ...]}, "log"}; the whole output of
the run is kept in the log, in Molecule's ephemeral directory. A failed run
exits non-zero with the log's tail on stderr.

Why not Molecule's own converge: Molecule starts ansible-playbook itself, as
the user running it, and has no hook to start it as another user; the
scenario's converge.yml calls this helper instead and mirrors the inner run's
per-host changes, so that Molecule's idempotence step and the pipeline's
check step judge the unprivileged run.
"""
from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
from pathlib import Path

USER = "raftops-ci"
ROOT = Path(__file__).resolve().parents[2]
# The user's own tool chain: the system Python (the test runner's may live in
# root's private home) with the pinned Ansible of requirements-dev.txt.
SYSTEM_PYTHON = "/usr/bin/python3"
PINNED = [line.strip() for line in (ROOT / "requirements-dev.txt").read_text().splitlines()
          if re.match(r"ansible(-core)?==", line.strip())]
# What of the checkout the user needs (a copy: the clone may sit in a private home).
SKIP = shutil.ignore_patterns(".git", ".venv", ".cache", "__pycache__", "*.pyc", "tests", ".pki", "*.tar.gz")
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
TASK = re.compile(r"^TASK \[(.*)\]")
CHANGED = re.compile(r"^changed: \[([^\]\s]+)")


def sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, text=True, check=True, **kw)


def ensure_user() -> pwd.struct_passwd:
    """The unprivileged controller user: a plain local account, no sudo."""
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        sh(["useradd", "--create-home", "--shell", "/bin/sh", "--comment", "raftops.etcd unprivileged CI user", USER])
        return pwd.getpwnam(USER)


def run_dir(user: pwd.struct_passwd) -> Path:
    """One directory per checkout (several worktrees may share the machine)."""
    key = hashlib.sha256(str(ROOT).encode()).hexdigest()[:10]
    return Path(user.pw_dir) / ".cache" / "raftops-etcd" / "molecule" / key / "clusters"


def as_user(user: pwd.struct_passwd, argv: list[str], env: dict[str, str], **kw) -> subprocess.CompletedProcess:
    """argv as the user, with exactly env (runuser keeps no variable of ours)."""
    envv = [f"{k}={v}" for k, v in sorted(env.items())]
    return subprocess.run(["runuser", "-u", user.pw_name, "--", "/usr/bin/env", "-i", *envv, *argv],
                          text=True, check=False, **kw)


def chown_tree(path: Path, user: pwd.struct_passwd) -> None:
    for p in [path, *path.rglob("*")]:
        os.chown(p, user.pw_uid, user.pw_gid, follow_symlinks=False)


def user_venv(user: pwd.struct_passwd) -> Path:
    """The user's virtualenv with the pinned Ansible, made once per pin set
    (complete once .complete exists; an interrupted one is made again)."""
    key = hashlib.sha256("\n".join(PINNED).encode()).hexdigest()[:10]
    venv = Path(user.pw_dir) / ".cache" / "raftops-etcd" / f"venv-{key}"
    if (venv / ".complete").exists():
        return venv
    env = {"HOME": user.pw_dir, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
           **{k: v for k, v in os.environ.items() if k.startswith("PIP_") or k.lower().endswith("_proxy")}}
    for cmd in (["rm", "-rf", str(venv)], ["mkdir", "-p", str(venv.parent)], [SYSTEM_PYTHON, "-m", "venv", str(venv)],
                [str(venv / "bin" / "pip"), "install", "-q", *PINNED], ["touch", str(venv / ".complete")]):
        res = as_user(user, cmd, env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if res.returncode != 0:
            raise SystemExit(f"{USER}: {' '.join(cmd)} failed ({res.returncode}):\n{res.stdout[-3000:]}")
    return venv


def reset() -> None:
    user = ensure_user()
    run = run_dir(user)
    if run.exists():
        shutil.rmtree(run)
    run.mkdir(parents=True)
    # Every directory from the user's home down is the user's.
    for p in [run, *run.parents]:
        if p == Path(user.pw_dir).parent:
            break
        os.chown(p, user.pw_uid, user.pw_gid)
    os.chmod(run, 0o700)
    venv = user_venv(user)
    copy = run / "src"
    shutil.copytree(ROOT, copy, ignore=SKIP, symlinks=True)
    chown_tree(run, user)
    print(json.dumps({"user": USER, "run_dir": str(run), "venv": str(venv), "checkout": str(copy)}))


def run(playbook: str, args: list[str]) -> int:
    user = ensure_user()
    run = run_dir(user)
    ephemeral = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
    inventory = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
    venv = user_venv(user)
    copy = run / "src"
    if not copy.is_dir():
        raise SystemExit(f"{copy} is missing: the scenario's prepare step (as_ci_user.py reset) did not run")
    # Molecule rewrites its inventory on every command: copy it each time.
    # The key is the run's (prepare.yml made it), readable by the user only.
    if (run / "inventory").exists():
        shutil.rmtree(run / "inventory")
    shutil.copytree(inventory, run / "inventory", symlinks=False)
    shutil.copy2(ephemeral / "id_ed25519", run / "id_ed25519")
    chown_tree(run, user)
    os.chmod(run / "id_ed25519", 0o600)
    env = {
        "HOME": user.pw_dir, "USER": user.pw_name, "LOGNAME": user.pw_name, "LANG": "C.UTF-8",
        "PATH": f"{venv / 'bin'}:/usr/sbin:/usr/bin:/sbin:/bin",
        "ANSIBLE_CONFIG": str(copy / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_STDOUT_CALLBACK": "default", "ANSIBLE_CALLBACK_RESULT_FORMAT": "yaml",
        # lab.yml puts the controller PKI and fetched backups here.
        "MOLECULE_EPHEMERAL_DIRECTORY": str(run),
    }
    # Playbooks of the checkout run from the user's copy of it.
    if Path(playbook).is_absolute():
        playbook = str(copy / Path(playbook).resolve().relative_to(ROOT))
    argv = [str(venv / "bin" / "ansible-playbook"), "-i", str(run / "inventory"),
            "-e", f"ansible_ssh_private_key_file={run / 'id_ed25519'}", playbook, *args]
    logs = ephemeral / "ci-user"
    logs.mkdir(exist_ok=True)
    log = logs / f"{len(list(logs.glob('*.log'))) + 1:02d}-{re.sub(r'[.]ya?ml$', '', Path(playbook).name)}.log"
    res = as_user(user, argv, env, cwd=str(copy), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log.write_text("+ " + " ".join(argv) + f"\n# as {USER}\n" + res.stdout)
    recap = {h: dict(zip(("ok", "changed", "unreachable", "failed"), map(int, n)))
             for h, *n in RECAP.findall(res.stdout)}
    changed: dict[str, list[str]] = {}
    task = ""
    for line in res.stdout.splitlines():
        if m := TASK.match(line):
            task = m.group(1)
        elif m := CHANGED.match(line):
            changed.setdefault(m.group(1), []).append(task)
    print(json.dumps({"rc": res.returncode, "recap": recap, "changed_tasks": changed, "log": str(log)}))
    if res.returncode != 0 or not recap:
        tail = "\n".join(res.stdout.splitlines()[-80:])
        print(f"ansible-playbook as {USER} failed ({res.returncode}); log {log}:\n{tail}", file=sys.stderr)
        return res.returncode or 1
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["reset"]:
        reset()
        return 0
    if argv[:1] == ["where"]:
        print(json.dumps({"user": USER, "run_dir": str(run_dir(ensure_user()))}))
        return 0
    if len(argv) >= 2 and argv[0] == "run":
        return run(argv[1], argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
