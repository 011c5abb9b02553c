"""Operators log in as an unprivileged user with sudo: the shipped plays
escalate by themselves (no --become needed), and nothing that runs on the
controller ever escalates there."""
import pytest
import yaml

from conftest import ROOT

PLAYBOOKS = sorted((ROOT / "playbooks").glob("*.yml"))
TASK_FILES = sorted(ROOT.glob("roles/*/tasks/*.yml")) + sorted(ROOT.glob("roles/*/handlers/*.yml"))
LOCAL = {"localhost", "127.0.0.1"}


def load(path):
    return yaml.safe_load(path.read_text()) or []


def tasks_of(items, where):
    """Every task and block of a task list, nested ones too, with its place."""
    for i, task in enumerate(items or []):
        here = f"{where}[{i}] {task.get('name', '')}".rstrip()
        yield here, task
        for key in ("block", "rescue", "always"):
            yield from tasks_of(task.get(key), f"{here}.{key}")


def on_controller(task):
    return task.get("delegate_to") in LOCAL or task.get("connection") == "local" or "local_action" in task


def controller_tasks_that_may_escalate(items, where):
    return [here for here, task in tasks_of(items, where)
            if on_controller(task) and task.get("become") is not False]


@pytest.mark.parametrize("path", PLAYBOOKS, ids=lambda p: p.name)
def test_every_play_escalates_itself(path):
    plays = [p for p in load(path) if "hosts" in p]
    assert plays, path
    for play in plays:
        if play["hosts"] in LOCAL or play.get("connection") == "local":
            assert play.get("become") is False, f"{path.name}: play {play['name']!r} runs on the controller"
        else:
            assert play.get("become") is True, f"{path.name}: play {play['name']!r} needs become: true"


@pytest.mark.parametrize("path", PLAYBOOKS, ids=lambda p: p.name)
def test_playbook_tasks_on_the_controller_never_escalate(path):
    bad = [here for play in load(path) if "hosts" in play
           for key in ("pre_tasks", "tasks", "post_tasks", "handlers")
           for here in controller_tasks_that_may_escalate(play.get(key), f"{play['name']}.{key}")]
    assert not bad, f"{path.name}: tasks on the controller without become: false: {bad}"


@pytest.mark.parametrize("path", TASK_FILES, ids=lambda p: str(p.relative_to(ROOT / "roles")))
def test_role_tasks_on_the_controller_never_escalate(path):
    bad = controller_tasks_that_may_escalate(load(path), path.name)
    assert not bad, f"tasks on the controller without become: false: {bad}"


def test_the_scan_sees_controller_tasks():
    tasks = [{"name": "a", "delegate_to": "localhost", "ansible.builtin.file": {}},
             {"name": "b", "block": [{"name": "c", "delegate_to": "localhost", "become": False}]},
             {"name": "d", "delegate_to": "{{ other }}"}]
    assert controller_tasks_that_may_escalate(tasks, "t") == ["t[0] a"]
