# -*- coding: utf-8 -*-
# Copyright (c) raftops.etcd contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""dns_record: one etcd member's DNS name, address and SRV name suffix."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def dns_record(hostvars, domain):
    """{name, address, srv_name} of a member from its host variables.

    The name follows the etcd role's default (etcd_dns_name, else
    <etcd_name or inventory_hostname>.<domain>); the address is etcd_address,
    else the IPv4 address of etcd_interface, else the default IPv4 address
    from facts (the etcd role's rule).
    """
    name = hostvars.get('etcd_dns_name') or '%s.%s' % (
        hostvars.get('etcd_name') or hostvars.get('inventory_hostname'), domain)
    facts = hostvars.get('ansible_facts') or {}
    iface = hostvars.get('etcd_interface') or ''
    if iface:
        # Facts name an interface with "-" and ":" as "_".
        nic = facts.get(iface.replace('-', '_').replace(':', '_')) or {}
    else:
        nic = facts.get('default_ipv4') or {}
    ipv4 = nic.get('ipv4', {}) if iface else nic
    address = hostvars.get('etcd_address') or (ipv4 or {}).get('address') or ''
    return dict(name=name, address=address, srv_name=hostvars.get('etcd_dns_srv_name') or '')


class FilterModule(object):
    def filters(self):
        return {'dns_record': dns_record}
