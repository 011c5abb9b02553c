"""Each module's documentation parses and documents exactly its options
(ansible-test's validate-modules checks more, but only in the sanity tier)."""
import importlib

import pytest
import yaml

from conftest import ROOT

MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("etcd_*.py"))


class Captured(Exception):
    pass


def argument_spec(mod):
    """The argument_spec main() hands to AnsibleModule."""
    seen = {}

    def fake(argument_spec, **kw):
        seen.update(argument_spec)
        raise Captured()

    orig = mod.AnsibleModule
    mod.AnsibleModule = fake
    try:
        with pytest.raises(Captured):
            mod.main()
    finally:
        mod.AnsibleModule = orig
    return seen


@pytest.mark.parametrize("name", MODULES)
def test_documentation_parses_and_matches_the_argument_spec(name):
    mod = importlib.import_module(f"ansible_collections.raftops.etcd.plugins.modules.{name}")
    doc = yaml.safe_load(mod.DOCUMENTATION)
    yaml.safe_load(mod.EXAMPLES)
    yaml.safe_load(mod.RETURN)
    options = set(doc.get("options") or {})
    if "raftops.etcd.connection" in doc.get("extends_documentation_fragment", []):
        frag = importlib.import_module("ansible_collections.raftops.etcd.plugins.doc_fragments.connection")
        options |= set(yaml.safe_load(frag.ModuleDocFragment.DOCUMENTATION)["options"])
    assert options == set(argument_spec(mod))
