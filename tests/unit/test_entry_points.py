"""Each tasks_from entry point of roles/etcd declares exactly the inputs it
reads (its role options and its own parameters), playbooks call only declared
entry points and pass them no private (__etcd_*) variable."""

import pytest
import yaml

import entry_points as ep
from conftest import ROOT

SPECS = ep.specs()
ENTRIES = sorted(k for k in SPECS if k != "main")
# Parameters read through a private variable shared with other entry points,
# always with a default: only the entry points a playbook passes them to
# declare them.
OWNERS = {"etcd_check_ignore": {"check"}, "etcd_check_version": {"rolling", "restart"}}


@pytest.mark.parametrize("entry", ENTRIES)
def test_entry_point_declares_what_it_reads(entry):
    options, params = ep.reads(entry)
    params = {p for p in params if entry in OWNERS.get(p, {entry})}
    declared = set(SPECS[entry].get("options") or {})
    public = ep.public_options()
    assert declared & public == options, (
        f"{entry}: declare {sorted(options - declared)}, drop {sorted(declared & public - options)}")
    assert declared - public == params, (
        f"{entry}: parameters to declare {sorted(params - declared)}, to drop {sorted(declared - public - params)}")
    # A role option has one spec: the main entry point's (a YAML alias).
    for name in options:
        assert SPECS[entry]["options"][name] == SPECS["main"]["options"][name], f"{entry}: {name}"
    for name in declared - public:
        assert SPECS[entry]["options"][name].get("description"), f"{entry}: {name} has no description"


def test_no_entry_point_takes_every_option():
    assert all(len(SPECS[e].get("options") or {}) < len(SPECS["main"]["options"]) for e in ENTRIES)


def include_role_calls():
    """(file, tasks_from, vars) of every include_role/import_role of raftops.etcd.etcd."""
    calls = []
    for path in sorted(ROOT.glob("playbooks/*.yml")) + sorted(ROOT.glob("roles/*/tasks/*.yml")):
        def walk(node):
            if isinstance(node, list):
                for item in node:
                    walk(item)
            elif isinstance(node, dict):
                for key in ("ansible.builtin.include_role", "ansible.builtin.import_role"):
                    args = node.get(key)
                    if isinstance(args, dict) and args.get("name") == "raftops.etcd.etcd":
                        calls.append((path.relative_to(ROOT), args.get("tasks_from", "main"), node.get("vars") or {}))
                for value in node.values():
                    walk(value)
        walk(yaml.safe_load(path.read_text()))
    return calls


def test_playbooks_call_declared_entry_points_with_public_names():
    calls = include_role_calls()
    assert len(calls) > 40, calls
    for path, entry, given in calls:
        assert entry in SPECS, f"{path}: tasks_from {entry} has no argument_specs entry"
        private = [n for n in given if n.startswith("__")]
        assert not private, f"{path}: passes {private} to {entry}"
        undeclared = [n for n in given if n not in (SPECS[entry].get("options") or {})]
        assert not undeclared, f"{path}: passes {undeclared}, which {entry} does not declare"


def test_the_reading_finds_names_and_skips_keys_comments_and_literals():
    text = ("# etcd_commented\n- name: x\n  raftops.etcd.etcd_member:\n    etcd_path: \"{{ etcd_bin_dir }}\"\n"
            "  when: etcd_tls | bool and 'etcd_literal' in groups\n")
    assert ep._names(ep.KEY.sub(r"\1", text), ep.PUBLIC_NAME) == {"etcd_bin_dir", "etcd_tls"}
