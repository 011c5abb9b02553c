# -*- coding: utf-8 -*-
# Copyright (c) raftops.etcd contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""cert_todo: which certificates must be (re)issued."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

EKU_NAMES = {
    'serverAuth': 'TLS Web Server Authentication',
    'clientAuth': 'TLS Web Client Authentication',
}


def _norm_eku(values):
    return sorted(EKU_NAMES.get(v, v) for v in values or [])


def cert_todo(certs, info_results):
    """Certificates (from `certs`) that are missing, expire within the renew
    window, or whose common name, SANs or extended key usage changed.

    certs: list of {file, cn, sans?, eku}; info_results: the registered loop
    results of community.crypto.x509_certificate_info with valid_at.renew,
    in the same order.
    """
    todo = []
    for cert, info in zip(certs, info_results):
        if info.get('failed') or 'valid_at' not in info:
            todo.append(cert)  # missing or unreadable
            continue
        if not info['valid_at'].get('renew', False):
            todo.append(cert)  # expires within the renew window
            continue
        if (info.get('subject') or {}).get('commonName') != cert.get('cn'):
            todo.append(cert)
            continue
        if sorted(info.get('subject_alt_name') or []) != sorted(cert.get('sans') or []):
            todo.append(cert)
            continue
        if _norm_eku(info.get('extended_key_usage')) != _norm_eku(cert.get('eku')):
            todo.append(cert)
    return todo


class FilterModule(object):
    def filters(self):
        return {'cert_todo': cert_todo}
