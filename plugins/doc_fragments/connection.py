# -*- coding: utf-8 -*-
# Copyright (c) raftops.etcd contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r'''
options:
  endpoints:
    description:
      - etcd client URLs to talk to.
      - Falls back to the E(ETCDCTL_ENDPOINTS) environment variable (comma separated),
        then to V(https://127.0.0.1:2379).
    type: list
    elements: str
  cacert:
    description: CA bundle that signed the server certificates (E(ETCDCTL_CACERT)).
    type: path
  cert:
    description: Client certificate (E(ETCDCTL_CERT)).
    type: path
  key:
    description: Client certificate key (E(ETCDCTL_KEY)).
    type: path
  user:
    description: etcd user name when etcd authentication is on (E(ETCDCTL_USERNAME)).
    type: str
  password:
    description:
      - Password of O(user) (E(ETCDCTL_PASSWORD)). Passed to etcdctl through its
        environment, never on the command line.
    type: str
  etcdctl_path:
    description: Path to etcdctl. Default is to search C(PATH), C(/usr/local/bin) and C(/usr/bin).
    type: path
  etcdutl_path:
    description:
      - Path to etcdutl (etcd 3.5+), used for offline snapshot status/restore.
        With etcd 3.4, etcdctl does that work.
    type: path
  dial_timeout:
    description: etcdctl C(--dial-timeout).
    type: str
    default: 5s
  command_timeout:
    description: etcdctl C(--command-timeout).
    type: str
    default: 15s
notes:
  - Runs C(etcdctl -w json) on the target host; the target needs etcdctl and
    network access to the endpoints. The modules are in the C(raftops.etcd.etcd)
    action group, so C(module_defaults) can carry endpoints and TLS paths once.
requirements:
  - etcdctl 3.4 or newer on the target host
'''
