"""rolling_restart's stamp (members started before it restart; a resumed roll
passes it back as etcd_restart_before) is the controller's epoch seconds in
every time zone: the playbook's own template, rendered by ansible-playbook."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

PLAYBOOK = ROOT / "playbooks" / "rolling_restart.yml"


def stamp_template() -> str:
    for play in yaml.safe_load(PLAYBOOK.read_text()):
        for task in play.get("tasks", []):
            facts = task.get("ansible.builtin.set_fact") or {}
            if "etcd_restart_stamp" in facts:
                return facts["etcd_restart_stamp"]
    raise AssertionError(f"no set_fact of etcd_restart_stamp in {PLAYBOOK}")


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"])
def test_stamp_is_epoch_seconds_in_any_time_zone(tmp_path, tz):
    if not Path("/usr/share/zoneinfo", tz).exists():
        pytest.fail(f"no zoneinfo for {tz}: install tzdata")
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"ansible.builtin.debug": {"msg": "STAMP={{ " + "(" + stamp_template().strip()[2:-2].strip() + ") }}"}}]}]
    path = tmp_path / "stamp.yml"
    path.write_text(yaml.safe_dump(play))
    playbook = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) or "ansible-playbook"
    before = time.time()
    out = subprocess.run([playbook, "-i", "localhost,", "-c", "local", str(path)], capture_output=True, text=True,
                         env=dict(os.environ, TZ=tz, ANSIBLE_STDOUT_CALLBACK="json"), check=True).stdout
    after = time.time()
    msg = json.loads(out)["plays"][0]["tasks"][0]["hosts"]["localhost"]["msg"]
    stamp = int(msg.split("=", 1)[1])
    assert int(before) - 1 <= stamp <= after + 1, f"TZ={tz}: stamp {stamp}, epoch now {int(after)}"
