"""bool_problems: what -e passes for a boolean is accepted, anything else refused by name."""
import pytest
from ansible.errors import AnsibleFilterError
from ansible.plugins.filter.core import to_bool

from ansible_collections.raftops.etcd.plugins.filter.booleans import ACCEPTED, bool_problems, is_boolean

TRUE = [True, 1, "true", "True", "TRUE", "yes", "Yes", "on", "ON", "1"]
FALSE = [False, 0, "false", "False", "no", "NO", "off", "Off", "0"]
# The bool filter takes these as false (ansible-core 2.19 only warns):
# a typo must not silently turn etcd_force or etcd_tls off.
INVALID = ["maybe", "", " true", "y", "n", "t", "f", "2", 2, -1, 1.0, 0.5, None, [], {}, ["true"]]


@pytest.mark.parametrize("value", TRUE + FALSE)
def test_accepts_what_the_bool_filter_reads(value):
    assert is_boolean(value)
    assert bool_problems({"etcd_force": value}) == []
    assert to_bool(value) is (value in TRUE)


@pytest.mark.parametrize("value", INVALID)
def test_refuses_anything_else_naming_the_variable(value):
    assert not is_boolean(value)
    problems = bool_problems({"etcd_tls": True, "etcd_force": value})
    assert len(problems) == 1
    assert problems[0].startswith("etcd_force=")
    assert problems[0].endswith("is not a boolean: use " + ACCEPTED)


def test_message_shows_the_value_and_every_problem():
    assert bool_problems({"etcd_force": "maybe", "etcd_tls": "nope", "etcd_ionice": "yes"}) == [
        "etcd_force='maybe' is not a boolean: use true/false, yes/no, on/off or 1/0",
        "etcd_tls='nope' is not a boolean: use true/false, yes/no, on/off or 1/0",
    ]


def test_needs_a_dict():
    with pytest.raises(AnsibleFilterError):
        bool_problems(["etcd_force"])
