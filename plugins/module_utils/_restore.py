# -*- coding: utf-8 -*-
# Copyright (c) raftops.etcd contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The marker a restore leaves in a member's data directory, shared by the
etcd_snapshot module (which writes it and skips a restore it already did) and
the etcd_restore_resume filter (which finds a restore an interrupted run left
half done, so that a re-run finishes it into the same cluster)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

MARKER = '.raftops-restored-from'


def _cluster_sum(initial_cluster):
    return hashlib.sha256((initial_cluster or '').encode('utf-8')).hexdigest()[:16]


def marker_text(digest, token, initial_cluster):
    """`<sha256 of the snapshot> <cluster token> <sum of the initial cluster>`.

    The token and the initial cluster decide the cluster and member IDs etcd
    derives at the restore: a member restored from the same file with another
    token belongs to another cluster."""
    return '%s %s %s\n' % (digest, token or '-', _cluster_sum(initial_cluster))


def parse_marker(text):
    """(digest, token, cluster sum) of a marker; token and sum are None in the
    markers of older releases (the digest alone)."""
    parts = (text or '').split()
    if not parts:
        return None, None, None
    return parts[0], (parts[1] if len(parts) > 1 else None), (parts[2] if len(parts) > 2 else None)


def restored_same(text, digest, token, initial_cluster):
    """This data directory holds exactly this restore: same file, token and
    initial cluster (so the same cluster ID and member IDs)."""
    return (text or '') == marker_text(digest, token, initial_cluster)


def resume_token(markers, digest, initial_cluster):
    """The token of a restore of this file into this initial cluster that an
    interrupted run left half done: found in the data markers of the members
    it reached (any order; the most frequent token, then the smallest, should
    two interrupted runs have left two). '' when there is none: a new restore
    takes a new token."""
    want = _cluster_sum(initial_cluster)
    counts = {}
    for text in markers or []:
        d, token, csum = parse_marker(text)
        if d == digest and token and token != '-' and csum == want:
            counts[token] = counts.get(token, 0) + 1
    if not counts:
        return ''
    return sorted(counts, key=lambda t: (-counts[t], t))[0]
