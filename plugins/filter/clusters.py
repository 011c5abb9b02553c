# -*- coding: utf-8 -*-
# Copyright (c) raftops.etcd contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""site_clusters: which clusters one site.yml run converges, and in what batches.

An inventory may hold several clusters. site.yml converges every cluster whose
hosts are in its first play (the cluster groups below group etcd_clusters, or
the one group etcd_cluster_group names), one serial batch per cluster: the
etcd role decides cluster-wide things (the CA, the token, who founds the
cluster, the health gate) once per batch, so a batch must be one whole
cluster and never two.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def site_clusters(hosts, members, groups):
    """{clusters, hosts, batches, problems} of a site run.

    hosts: the hosts of the run in play order (ansible_play_hosts_all);
    members: for each of them {group, name}, its etcd_cluster_group and
    etcd_cluster_name; groups: Ansible's groups. `hosts` comes back grouped
    by cluster (clusters in order of first appearance, hosts in play order),
    `batches` the size of each cluster (empty for a single cluster: no
    serial play). `problems` is empty or says what to fix; nothing may run
    then.
    """
    clusters = []
    for host in hosts:
        group = (members.get(host) or {}).get('group') or ''
        if group not in clusters:
            clusters.append(group)
    problems = []
    for host in hosts:
        group = (members.get(host) or {}).get('group') or ''
        if group not in groups or host not in groups[group]:
            problems.append('%s is not in the group its etcd_cluster_group names (%s): set etcd_cluster_group '
                            'in the vars of the cluster group that holds it' % (host, group or 'empty'))
    names = {}
    for host in hosts:
        member = members.get(host) or {}
        names.setdefault(member.get('name') or '', set()).add(member.get('group') or '')
    for name, owners in sorted(names.items()):
        if len(owners) > 1:
            problems.append('clusters %s share etcd_cluster_name=%s: their certificates, tokens and backups would mix; '
                            'give each cluster its own etcd_cluster_name' % (', '.join(sorted(owners)), name))
    if len(clusters) > 1:
        in_run = set(hosts)
        for group in clusters:
            for host in groups.get(group) or []:
                other = (members.get(host) or {}).get('group')
                if host in in_run and other != group:
                    problems.append('%s is in two clusters (%s and %s): a host runs one etcd member; remove it from '
                                    'one of the groups' % (host, group, other))
            left_out = [h for h in groups.get(group) or [] if h not in in_run]
            if left_out:
                problems.append('cluster %s is only partly in this run (%s left out, e.g. by --limit): converge whole '
                                'clusters, or one cluster with -e etcd_cluster_group=%s' % (group, ', '.join(left_out), group))
    ordered = [h for group in clusters for h in hosts if ((members.get(h) or {}).get('group') or '') == group]
    batches = [len([h for h in ordered if (members.get(h) or {}).get('group') == group]) for group in clusters]
    return dict(clusters=clusters, hosts=ordered, batches=batches if len(clusters) > 1 else [], problems=problems)


class FilterModule(object):
    def filters(self):
        return {'site_clusters': site_clusters}
