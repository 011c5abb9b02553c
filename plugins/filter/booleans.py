# -*- coding: utf-8 -*-
# Copyright (c) raftops.etcd contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""bool_problems: boolean settings that Ansible's bool filter cannot read.

Operators set booleans on the command line (``-e etcd_force=true``), where
they arrive as strings; the roles read every boolean setting through the
``bool`` filter. That filter takes any other string (``maybe``, ``y``, ``t``)
as false (ansible-core 2.19 only warns), so the roles refuse such values
first, naming the variable and the values it accepts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

# What ansible.builtin.bool reads without a warning (any case).
TRUE = ('true', 'yes', 'on', '1')
FALSE = ('false', 'no', 'off', '0')
ACCEPTED = 'true/false, yes/no, on/off or 1/0'


def is_boolean(value):
    """True when the bool filter reads value as a boolean, without guessing."""
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return value in (0, 1)
    return isinstance(value, str) and value.lower() in TRUE + FALSE


def bool_problems(settings):
    """One message per setting of {name: value} whose value is not a boolean."""
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError('bool_problems expects a dict of setting names and values')
    problems = []
    for name, value in settings.items():
        if not is_boolean(value):
            shown = str(value) if isinstance(value, str) else value
            problems.append('%s=%r is not a boolean: use %s' % (name, shown, ACCEPTED))
    return problems


class FilterModule(object):
    def filters(self):
        return {'bool_problems': bool_problems}
