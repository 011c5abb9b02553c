# -*- coding: utf-8 -*-
# Copyright (c) raftops.etcd contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""live_members: the hosts whose member etcd itself reports as started, healthy voters.

The one place that decides which hosts a playbook may work through (the seed
of a join, where a health gate runs). It trusts only what etcd returned in
the last etcd_cluster_info read, never facts set during this run: in check
mode a simulated join exists only in facts and must never become a seed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def _member_name(hv):
    member = hv.get('__etcd_member') or {}
    return member.get('name') or hv.get('etcd_name') or hv.get('inventory_hostname')


def live_members(hosts, hostvars, cluster, voters=True):
    """Hosts (in the order given) whose member etcd reports started and healthy.

    hosts: candidate inventory host names; hostvars: Ansible's hostvars;
    cluster: an etcd_cluster_info result (its members list). With voters,
    learners are left out. A member counts only when etcd lists it with its
    name, as started, healthy, and with the client URL this host advertises.
    """
    members = dict((m.get('name'), m) for m in (cluster or {}).get('members') or []
                   if m.get('name') and m.get('started') and m.get('healthy')
                   and not (voters and m.get('is_learner')))
    found = []
    for host in hosts or []:
        hv = hostvars[host] if host in hostvars else {}
        m = members.get(_member_name(hv))
        if m is None:
            continue
        url = (hv.get('__etcd_member') or {}).get('client_url')
        if url and m.get('client_urls') and url not in m['client_urls']:
            continue
        found.append(host)
    return found


class FilterModule(object):
    def filters(self):
        return {'live_members': live_members}
