# -*- coding: utf-8 -*-
# Copyright (c) raftops.etcd contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""cert_todo: which certificates must be (re)issued.

Reads the certificates on the controller with `cryptography` (a dependency of
ansible-core), so a converged cluster costs no module call to decide.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import ipaddress
import os

from ansible.errors import AnsibleFilterError

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover
    HAS_CRYPTOGRAPHY = False
    InvalidSignature = ValueError

EKU = {'serverAuth': 'SERVER_AUTH', 'clientAuth': 'CLIENT_AUTH'}


def _names(cert):
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    out = ['DNS:%s' % n for n in ext.get_values_for_type(x509.DNSName)]
    out += ['IP:%s' % n for n in ext.get_values_for_type(x509.IPAddress)]
    return sorted(out)


def _wanted_names(sans):
    out = []
    for san in sans or []:
        kind, dummy, value = san.partition(':')
        if kind.upper() in ('IP', 'IP ADDRESS'):
            value = str(ipaddress.ip_address(value))
            kind = 'IP'
        out.append('%s:%s' % (kind.upper(), value))
    return sorted(out)


def _ekus(cert):
    try:
        ext = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return []
    return sorted(oid.dotted_string for oid in ext)


def _not_after(cert):
    value = getattr(cert, 'not_valid_after_utc', None)
    if value is None:
        value = cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)
    return value


def _load(path):
    with open(path, 'rb') as f:
        return x509.load_pem_x509_certificate(f.read())


def reason(cert_spec, path, renew_days, now=None):
    """Why the certificate at `path` must be (re)issued, or '' when it is fine."""
    if not os.path.isfile(path):
        return 'missing'
    cert = _load(path)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if _not_after(cert) <= now + datetime.timedelta(days=int(renew_days)):
        return 'expires within %s days' % renew_days
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not cns or cns[0].value != cert_spec.get('cn'):
        return 'common name changed'
    if _names(cert) != _wanted_names(cert_spec.get('sans')):
        return 'subject alternative names changed'
    wanted_eku = sorted(getattr(ExtendedKeyUsageOID, EKU.get(e, e)).dotted_string
                        for e in cert_spec.get('eku') or [])
    if _ekus(cert) != wanted_eku:
        return 'extended key usage changed'
    return ''


def cert_todo(certs, directory, renew_days, ca_path=None):
    """Certificates of `certs` ({name, bundle, cn, sans?, eku}) to (re)issue,
    each with a `reason`; files are <directory>/<bundle>/<name>.crt. With
    `ca_path`, a certificate not signed by that CA is reissued too."""
    if not HAS_CRYPTOGRAPHY:
        raise AnsibleFilterError('cert_todo needs the cryptography library on the controller')
    ca = _load(ca_path) if ca_path and os.path.isfile(ca_path) else None
    todo = []
    for spec in certs:
        path = os.path.join(directory, spec['bundle'], spec['name'] + '.crt')
        why = reason(spec, path, renew_days)
        if not why and ca is not None:
            try:
                _load(path).verify_directly_issued_by(ca)
            except (ValueError, TypeError, InvalidSignature):
                why = 'not signed by the current CA'
        if why:
            item = dict(spec)
            item['reason'] = why
            todo.append(item)
    return todo


class FilterModule(object):
    def filters(self):
        return {'cert_todo': cert_todo}
