# -*- coding: utf-8 -*-
# Copyright (c) raftops.etcd contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Filters of the restore playbook: a restore an interrupted run left half
done is finished into the same cluster (the markers: module_utils/_restore.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.raftops.etcd.plugins.module_utils._restore import resume_token, restored_same


def etcd_restore_resume(markers, digest, initial_cluster):
    """Token of the half-done restore of this snapshot (sha256 `digest`) into
    this initial cluster that the data markers of the members show, or ''.
    markers: the marker texts read from every member ('' where none)."""
    return resume_token(markers, digest, initial_cluster)


def etcd_restored_same(marker, digest, token, initial_cluster):
    """This member's data is already this restore (same file, token, cluster)."""
    return restored_same(marker, digest, token, initial_cluster)


class FilterModule(object):
    def filters(self):
        return {
            "etcd_restore_resume": etcd_restore_resume,
            "etcd_restored_same": etcd_restored_same,
        }
