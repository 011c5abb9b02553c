# -*- coding: utf-8 -*-
# Copyright (c) raftops.etcd contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Filters that compare desired files with one find-module probe of a host.

Roles read a host's files once (ansible.builtin.find with get_checksum) and
only run copy/template/file tasks for what differs: a converged host costs one
module call instead of one per file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_bytes


def probe_index(find_result):
    """{path: stat dict} from a registered ansible.builtin.find result."""
    if not isinstance(find_result, dict):
        raise AnsibleFilterError('probe_index expects a registered find result')
    return dict((f['path'], f) for f in find_result.get('files') or [])


def probe_links(index, stdout):
    """Merge `link <path> <target>` lines (readlink output) into the index."""
    merged = dict(index)
    for line in (stdout or '').splitlines():
        parts = line.split(' ', 2)
        if len(parts) == 3 and parts[0] == 'link' and parts[2]:
            entry = dict(merged.get(parts[1]) or {'path': parts[1]})
            entry['islnk'] = True
            entry['lnk_source'] = parts[2]
            merged[parts[1]] = entry
    return merged


def probe_units(stdout):
    """{unit property: value} from `systemctl show -p ...` output; other lines
    of the probe (`link ...`, `conf64 ...`, `chrony ...`) are not properties."""
    props = {}
    for line in (stdout or '').splitlines():
        key, sep, value = line.partition('=')
        if sep and key.isalnum():
            props[key] = value
    return props


def env_file(text):
    """{KEY: value} of a systemd EnvironmentFile (KEY="value" lines)."""
    env = {}
    for line in (text or '').splitlines():
        line = line.strip()
        if not line or line.startswith('#') or '=' not in line:
            continue
        key, value = line.split('=', 1)
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        env[key.strip()] = value
    return env


def content_sha1(content):
    if not isinstance(content, bytes):
        content = to_bytes(content, errors='surrogate_or_strict')
    return hashlib.sha1(content).hexdigest()


def drifted(index, path, content=None, mode=None, owner=None, group=None, link_to=None):
    """True when `path` on the host differs from what is wanted.

    content: wanted file content (compared by SHA1); mode: '0640'; owner/group:
    names; link_to: wanted symlink target (see probe_links). A missing path always drifts.
    """
    cur = index.get(path)
    if cur is None:
        return True
    if link_to is not None:
        return cur.get('lnk_source') != link_to
    if content is not None and cur.get('checksum') != content_sha1(content):
        return True
    if mode is not None and cur.get('mode') != mode:
        return True
    if owner is not None and cur.get('pw_name') != owner:
        return True
    if group is not None and cur.get('gr_name') != group:
        return True
    return False


def bundle_drifted(name, bundles, index, src_dir, dest_dir, group):
    """`name` when any file of that bundle differs on the host, else None.

    bundles: {name: {owner, files}}; controller files live in src_dir/name/,
    host files in dest_dir/. Keys must be 0600, certificates 0644.
    """
    bundle = bundles[name]
    for fname in bundle['files']:
        try:
            with open('%s/%s/%s' % (src_dir, name, fname), 'rb') as f:
                content = f.read()
        except (IOError, OSError):
            return name  # not made yet (check mode)
        mode = '0600' if fname.endswith('.key') else '0644'
        if drifted(index, '%s/%s' % (dest_dir, fname), content, mode, bundle['owner'], group):
            return name
    return None


class FilterModule(object):
    def filters(self):
        return {'probe_index': probe_index, 'probe_links': probe_links,
                'probe_units': probe_units, 'drifted': drifted,
                'bundle_drifted': bundle_drifted, 'env_file': env_file}
