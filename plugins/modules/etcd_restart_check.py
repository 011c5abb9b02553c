#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) raftops.etcd contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: etcd_restart_check
short_description: Tell whether a running etcd member must restart, and why
version_added: 0.3.0
description:
  - Compares what the running etcd process started with against what it should run now,
    and returns one reason per difference. The answer comes from the host's state, not
    from what this run changed, so a restart a killed run still owed is found by the next
    run.
  - What etcd started with is the record the unit's C(ExecStartPre) writes at each start
    into O(record), with the same environment as etcd itself. It holds the C(ETCD_*)
    variables, the binary the unit's etcd link pointed to, and the SHA-256 of the files etcd
    reads only at start (the unit, the CA). Reading it needs no access to the etcd process
    (C(/proc/PID/environ) wants C(CAP_SYS_PTRACE), which containers and hardened hosts lack).
  - C(config) each C(ETCD_*) variable against the wanted C(etcd.conf), with old and new values.
  - C(binary) the recorded binary against O(binary) (another path after an upgrade).
  - C(unit) and C(tls) each file of O(inputs) against its recorded SHA-256.
  - C(unit) also when systemd reports the unit changed on disk and not yet loaded.
  - A running member without a record started from a unit older than the record, so it owes
    a restart.
  - A member that does not run owes nothing, its start applies everything. RV(running) is
    then false and RV(reasons) empty.
  - Reads only, also in check mode; in check mode the wanted state is passed in (O(config),
    O(inputs)), so the restart a real run would make is predicted.
author: raftops maintainers (@raftops)
attributes:
  check_mode:
    support: full
    description: Reads only, also in check mode.
  diff_mode:
    support: none
    description: The reasons say what differs.
options:
  service:
    description: The systemd unit of the member.
    type: str
    default: etcd
  config:
    description:
      - The wanted C(etcd.conf) (an EnvironmentFile) as text. Only its C(ETCD_*) variables count.
      - When not given, O(config_path) is read from the host.
    type: str
  config_path:
    description: The C(etcd.conf) to read when O(config) is not given.
    type: path
    default: /etc/etcd/etcd.conf
  binary:
    description: The etcd executable the member should run (a link is followed).
    type: path
  inputs:
    description: Files etcd reads only at start, with the SHA-256 they should have.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The file, as the unit's C(ExecStartPre) names it in O(record).
        type: path
        required: true
      sha256:
        description: Its wanted SHA-256 (hex).
        type: str
        required: true
      kind:
        description: The reason's prefix, for example V(unit) or V(tls).
        type: str
        required: true
  record:
    description:
      - The file the unit's C(ExecStartPre) writes at each start, line by line C(ETCD_*=value),
        C(RAFTOPS_BINARY=path) and C(sha256sum) output.
    type: path
    default: /run/etcd/started
'''

EXAMPLES = r'''
- name: Decide whether this member restarts
  raftops.etcd.etcd_restart_check:
    config: "{{ lookup('ansible.builtin.template', 'etcd.conf.j2') }}"
    binary: /opt/etcd/v3.6.16/etcd
    inputs:
      - path: /etc/systemd/system/etcd.service
        sha256: "{{ lookup('ansible.builtin.template', 'etcd.service.j2') | hash('sha256') }}"
        kind: unit
  register: restart

- name: Say why
  ansible.builtin.debug:
    msg: "{{ restart.message }}"
'''

RETURN = r'''
running:
  description: etcd runs (systemd has a main PID for O(service)).
  returned: always
  type: bool
pid:
  description: The main PID, 0 when it does not run.
  returned: always
  type: int
restart:
  description: A restart is owed (RV(reasons) is not empty).
  returned: always
  type: bool
reasons:
  description:
    - "One line per difference, prefixed with its kind, for example
      C(config: snapshot-count 10000 -> 20000), C(binary: /opt/etcd/v3.6.15/etcd -> /opt/etcd/v3.6.16/etcd),
      C(unit: /etc/systemd/system/etcd.service changed since etcd started)."
  returned: always
  type: list
  elements: str
config_changes:
  description: The C(ETCD_*) variables that differ; values of secret-looking names are not returned.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The variable.
      type: str
    flag:
      description: The etcd flag it sets.
      type: str
    running:
      description: Its value in the running process, null when unset there.
      type: str
    wanted:
      description: Its wanted value, null when unset.
      type: str
message:
  description: One sentence, the reasons joined, or why nothing is owed.
  returned: always
  type: str
'''

import os
import re

from ansible.module_utils.basic import AnsibleModule

# Values not to print: a discovery URL holds its token.
SECRET = re.compile(r'PASSWORD|SECRET|TOKEN|DISCOVERY', re.I)


def parse_env_file(text):
    """The variables of a systemd EnvironmentFile, read as systemd reads them
    (src/basic/env-file.c): a quoted part may be followed by more value, a
    backslash inside double quotes escapes only a quote, a backslash, a
    backquote or a dollar sign, one outside quotes escapes any character, a
    backslash at the end of a line continues it, trailing blanks are dropped."""
    env = {}
    key, value, state, blanks = '', [], 'pre_key', 0
    text = text + '\n'
    i = 0
    while i < len(text):
        c = text[i]
        if state == 'pre_key':
            if c in '#;':
                state = 'comment'
            elif not c.isspace():
                key, state = c, 'key'
        elif state == 'comment':
            if c == '\\':
                i += 1
            elif c in '\r\n':
                state = 'pre_key'
        elif state == 'key':
            if c in '\r\n':
                state = 'pre_key'
            elif c == '=':
                key, value, blanks, state = key.strip(), [], 0, 'pre_value'
            else:
                key += c
        elif state in ('pre_value', 'value'):
            if c in '\r\n':
                env[key] = ''.join(value[:len(value) - blanks] if blanks else value)
                state = 'pre_key'
            elif state == 'pre_value' and c.isspace():
                pass
            elif c == "'":
                state, blanks = 'single', 0
            elif c == '"':
                state, blanks = 'double', 0
            elif c == '\\':
                i += 1
                if i < len(text) and text[i] not in '\r\n':
                    value.append(text[i])
                state, blanks = 'value', 0
            else:
                value.append(c)
                blanks = blanks + 1 if c.isspace() else 0
                state = 'value'
        elif state == 'single':
            if c == "'":
                state = 'value'
            else:
                value.append(c)
        elif state == 'double':
            if c == '"':
                state = 'value'
            elif c == '\\':
                i += 1
                nxt = text[i] if i < len(text) else ''
                if nxt in '"\\`$':
                    value.append(nxt)
                elif nxt != '\n':
                    value.extend(['\\', nxt])
            else:
                value.append(c)
        i += 1
    return {k: v for k, v in env.items() if re.match(r'^[A-Za-z_][A-Za-z0-9_]*$', k)}


def parse_record(text):
    """The record ExecStartPre wrote: (ETCD_* environment, binary, {path: sha256})."""
    env, binary, sums = {}, '', {}
    for line in text.splitlines():
        m = re.match(r'^\\?([0-9a-f]{64}) [ *](.+)$', line)
        if m:
            sums[m.group(2)] = m.group(1)
        elif line.startswith('RAFTOPS_BINARY='):
            binary = line.split('=', 1)[1]
        elif line.startswith('ETCD_') and '=' in line:
            k, v = line.split('=', 1)
            env[k] = v
    return env, binary, sums


def flag(name):
    return name[len('ETCD_'):].lower().replace('_', '-')


def config_changes(running, wanted):
    """The ETCD_* variables that differ, sorted by name."""
    keys = sorted(k for k in set(running) | set(wanted) if k.startswith('ETCD_'))
    out = []
    for k in keys:
        before, after = running.get(k), wanted.get(k)
        if before == after:
            continue
        if SECRET.search(k):
            before = None if before is None else '(hidden)'
            after = None if after is None else '(hidden)'
        out.append(dict(name=k, flag=flag(k), running=before, wanted=after))
    return out


def describe(change):
    def show(v):
        return 'unset' if v is None else (v if v else '""')
    if change['running'] == '(hidden)' and change['wanted'] == '(hidden)':
        return '%s changed' % change['flag']
    return '%s %s -> %s' % (change['flag'], show(change['running']), show(change['wanted']))


def decide(record, wanted_env, binary, inputs, need_reload, service, unit_keys=()):
    """Reasons a running member must restart; `record` is parse_record()'s, or
    None. `unit_keys`: the variables the loaded unit sets or unsets itself
    (Environment=, UnsetEnvironment= of a drop-in): a restart keeps them as
    they are, so they are no reason for one."""
    if record is None:
        return [], ['unit: etcd started without a record of what it read (a unit older than the record)']
    running_env, started_binary, sums = record
    changes = [c for c in config_changes(running_env, wanted_env) if c['name'] not in unit_keys]
    reasons = []
    if changes:
        reasons.append('config: ' + '; '.join(describe(c) for c in changes))
    if binary and started_binary and binary != started_binary:
        reasons.append('binary: %s -> %s' % (started_binary, binary))
    for item in inputs:
        had = sums.get(item['path'])
        if had != item['sha256'].lower():
            reasons.append('%s: %s %s since etcd started' % (
                item['kind'], item['path'], 'changed' if had else 'appeared'))
    if need_reload:
        reasons.append('unit: %s.service changed on disk and is not loaded yet' % service)
    return changes, reasons


def systemd_props(module, service):
    rc, out, err = module.run_command(['systemctl', 'show', '-p', 'MainPID', '-p', 'NeedDaemonReload',
                                       '-p', 'Environment', '-p', 'UnsetEnvironment', service])
    if rc != 0:
        module.fail_json(msg='systemctl show %s failed: %s' % (service, err.strip()))
    return dict(line.split('=', 1) for line in out.splitlines() if '=' in line)


def unit_keys(props):
    """The names in the loaded unit's Environment= and UnsetEnvironment= (systemctl show)."""
    keys = set()
    for prop in ('Environment', 'UnsetEnvironment'):
        for word in (props.get(prop) or '').split():
            keys.add(word.strip('"\'').split('=', 1)[0])
    return keys


def read(path):
    with open(path) as f:
        return f.read()


def check(module):
    p = module.params
    props = systemd_props(module, p['service'])
    pid = int(props.get('MainPID') or 0)
    result = dict(changed=False, running=pid > 0, pid=pid, restart=False, reasons=[], config_changes=[])
    if pid <= 0:
        result['message'] = '%s does not run: its start applies everything, no restart owed' % p['service']
        return result
    if p['config'] is not None:
        wanted = parse_env_file(p['config'])
    else:
        try:
            wanted = parse_env_file(read(p['config_path']))
        except (IOError, OSError) as e:
            module.fail_json(msg='cannot read %s: %s' % (p['config_path'], e))
    binary = os.path.realpath(p['binary']) if p['binary'] else ''
    try:
        record = parse_record(read(p['record']))
    except (IOError, OSError):
        record = None
    changes, reasons = decide(record, wanted, binary, p['inputs'], props.get('NeedDaemonReload') == 'yes',
                              p['service'], unit_keys(props))
    result.update(restart=bool(reasons), reasons=reasons, config_changes=changes)
    result['message'] = ('; '.join(reasons) if reasons
                         else 'runs its current configuration, binary, unit and CA: no restart owed')
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            service=dict(type='str', default='etcd'),
            config=dict(type='str', no_log=True),
            config_path=dict(type='path', default='/etc/etcd/etcd.conf'),
            binary=dict(type='path'),
            inputs=dict(type='list', elements='dict', default=[], options=dict(
                path=dict(type='path', required=True),
                sha256=dict(type='str', required=True),
                kind=dict(type='str', required=True),
            )),
            record=dict(type='path', default='/run/etcd/started'),
        ),
        supports_check_mode=True,
    )
    module.exit_json(**check(module))


if __name__ == '__main__':
    main()
