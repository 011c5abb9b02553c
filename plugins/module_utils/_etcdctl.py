# -*- coding: utf-8 -*-
# Copyright (c) raftops.etcd contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Private helpers of raftops.etcd: NOT a public API, may change without notice.

One place builds etcdctl/etcdutl argv and environment, runs them through
``module.run_command`` with a list (never a shell), parses ``-w json`` output,
and maps etcd's own error messages to classes the modules can act on.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import re
import socket
import time

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.urls import open_url

CONNECTION_ARGSPEC = dict(
    endpoints=dict(type='list', elements='str',
                   fallback=(env_fallback, ['ETCDCTL_ENDPOINTS'])),
    cacert=dict(type='path', fallback=(env_fallback, ['ETCDCTL_CACERT'])),
    cert=dict(type='path', fallback=(env_fallback, ['ETCDCTL_CERT'])),
    key=dict(type='path', no_log=False, fallback=(env_fallback, ['ETCDCTL_KEY'])),
    user=dict(type='str', fallback=(env_fallback, ['ETCDCTL_USERNAME'])),
    password=dict(type='str', no_log=True, fallback=(env_fallback, ['ETCDCTL_PASSWORD'])),
    etcdctl_path=dict(type='path'),
    etcdutl_path=dict(type='path'),
    dial_timeout=dict(type='str', default='5s'),
    command_timeout=dict(type='str', default='15s'),
)

DEFAULT_ENDPOINTS = ['https://127.0.0.1:2379']
SEARCH_PATHS = ['/usr/local/bin', '/opt/etcd/current', '/usr/bin']

# Error classes: etcd's own messages (server and client side) -> what to do.
ERROR_PATTERNS = [
    # Downgrades (etcdserver/version/errors.go and etcdserver/errors, 3.5-3.7):
    # a target other than the cluster version minus one minor, or malformed.
    ('invalid_downgrade_target', r'(invalid downgrade target version|wrong downgrade target version format)'),
    ('downgrade_in_progress', r'cluster has a downgrade job in progress'),
    # 3.5 servers answer a cancel without a job with this; 3.6+ only log it
    # and answer success.
    ('no_downgrade_job', r'no inflight downgrade job'),
    ('downgrade_unsupported', r'unknown command "downgrade"'),
    ('not_enough_started', r'not enough started members'),
    ('unhealthy', r'unhealthy cluster'),
    # A second add of the same peer URL: etcd derives the member ID from the
    # URLs, so 3.4/3.5 answer "member ID already exist".
    ('peer_url_exists', r'(Peer URLs already exists|peerURL exists|member ID already exist)'),
    ('member_not_found', r'member not found'),
    ('too_many_learners', r'too many learner members'),
    ('learner_not_ready', r'(learner member which is in sync|not in sync with leader|'
                          r'learner is not ready)'),
    ('not_learner', r'can only promote a learner member'),
    ('not_leader', r'(not leader|leader changed|no leader)'),
    ('timeout', r'(request timed out|context deadline exceeded|DeadlineExceeded|'
                r'timed out|connection refused|transport is closing)'),
    ('auth', r'(authentication failed|permission denied|user name is empty|'
             r'certificate signed by unknown authority|bad certificate)'),
    ('env_conflict', r'conflicting environment variable'),
]
# `etcdutl check v2store` (etcdutl/etcdutl/check_command.go, 3.5.18+; WAL
# records from 3.5.32): what it prints -> what it means. Order matters: the
# "both" message also contains the words of the other two.
V2STORE_RESULTS = [
    ('both', r'custom v2 content in both v2store and WAL'),
    ('store', r'detected custom content in v2store'),
    ('wal', r'detected custom v2 content in WAL'),
    ('clean', r'No custom content found'),
    ('unsupported', r'unknown command "check"|unknown command "v2store"'),
]
# Why a member does not answer, when the cause is clear: the dial errors of
# Go's net package as gRPC and etcdctl print them (etcdctl logs them at warn
# level while it retries, e.g. "transport: Error while dialing: dial tcp
# 10.0.0.12:2379: connect: connection refused"; its answer itself then only
# says "context deadline exceeded", which a slow member gives too).
#   refused      nothing listens on the port: the etcd process is down
#   unreachable  no route to the host, or the connection attempt times out:
#                the member is cut off from the network (or its host is down)
DIAL_CAUSES = [
    ('refused', r'(connect: connection refused|ECONNREFUSED|\[Errno %d\])' % errno.ECONNREFUSED),
    ('unreachable', r'(connect: no route to host|connect: network is unreachable|connect: host is unreachable|'
                    r'dial tcp [^ ]+: (connect: )?(i/o timeout|connection timed out|operation timed out)|'
                    r'EHOSTUNREACH|ENETUNREACH|\[Errno (%d|%d|%d)\])'
                    % (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT)),
]
# What each clear cause means for the operator.
CAUSE_MEANING = {
    'refused': 'etcd does not listen there: its process is down (`systemctl status etcd` and '
               '`journalctl -u etcd` on its host)',
    'unreachable': 'the member is cut off from the network (or its host is down): restore its network',
}
RETRYABLE = frozenset(['not_leader', 'timeout', 'unhealthy'])
# etcdserverpb.AlarmType
ALARM_NAMES = {0: 'NONE', 1: 'NOSPACE', 2: 'CORRUPT'}


class Refused(Exception):
    """An operation the modules will not do (unsafe, or the cluster is unfit)."""


class EtcdError(Exception):
    """A failed etcdctl/etcdutl call with etcd's own message and its class."""

    def __init__(self, action, rc, stdout, stderr):
        self.action = action
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.kind = classify(stderr or stdout)
        self.message = clean_message(stderr or stdout)
        Exception.__init__(self, '%s failed (rc=%s): %s' % (action, rc, self.message))

    @property
    def retryable(self):
        return self.kind in RETRYABLE


def clean_message(text):
    """etcdctl's own message without the client's JSON log lines around it.

    etcdctl logs at warn level (an unrecognized ETCDCTL_* variable, each
    retried gRPC call) before it prints ``Error: ...``; those lines repeat
    the error or say nothing about it. Error and fatal log lines are kept:
    some failures are only logged (a flag shadowed by its variable).
    """
    text = (text or '').strip()
    kept = []
    for line in text.splitlines():
        if line.startswith('{'):
            try:
                level = json.loads(line).get('level')
            except (ValueError, AttributeError):
                level = None
            if level in ('debug', 'info', 'warn'):
                continue
        kept.append(line)
    return '\n'.join(kept).strip() or text


def classify(message):
    for kind, pattern in ERROR_PATTERNS:
        if re.search(pattern, message or '', re.IGNORECASE):
            return kind
    return 'unknown'


def dial_cause(text):
    """'refused', 'unreachable' or None from a dial error's text (DIAL_CAUSES)."""
    for kind, pattern in DIAL_CAUSES:
        if re.search(pattern, text or '', re.IGNORECASE):
            return kind
    return None


def dial_error(text):
    """The dial error line of etcdctl's gRPC retries ('dial tcp ...: connect:
    connection refused'), without the JSON around it; None when there is none."""
    m = re.search(r'dial tcp [^"\\]+', text or '')
    return m.group(0).strip() if m else None


def probe_endpoint(url, timeout):
    """Open a TCP connection to a client URL's host and port and close it.

    Returns {'cause': 'reachable' | 'refused' | 'unreachable' | None,
    'detail': text}. The kernel answers a connect, not etcd, so a refusal
    means nothing listens and a timeout or a missing route means the host
    cannot be reached, however busy etcd is; None: the URL could not be
    probed (no host, or the name does not resolve).
    """
    m = re.match(r'^(?:([a-z+]+)://)?(\[[^\]]+\]|[^:/\[\]]+)(?::(\d+))?(?:/.*)?$', url or '')
    if not m or (m.group(1) or 'http') not in ('http', 'https'):
        return dict(cause=None, detail='cannot probe %s' % url)
    host, port = m.group(2).strip('[]'), int(m.group(3) or (443 if m.group(1) == 'https' else 80))
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except socket.timeout:
        return dict(cause='unreachable', detail='dial tcp %s:%d: i/o timeout (no answer within %ss)'
                    % (host, port, timeout))
    except socket.gaierror as e:
        return dict(cause=None, detail='cannot resolve %s: %s' % (host, e))
    except OSError as e:
        cause = {errno.ECONNREFUSED: 'refused', errno.EHOSTUNREACH: 'unreachable',
                 errno.ENETUNREACH: 'unreachable', errno.ETIMEDOUT: 'unreachable'}.get(e.errno)
        what = {errno.ECONNREFUSED: 'connection refused', errno.EHOSTUNREACH: 'no route to host',
                errno.ENETUNREACH: 'network is unreachable',
                errno.ETIMEDOUT: 'connection timed out'}.get(e.errno, e.strerror or str(e))
        return dict(cause=cause, detail='dial tcp %s:%d: connect: %s' % (host, port, what))
    sock.close()
    return dict(cause='reachable', detail='dial tcp %s:%d: connected' % (host, port))


def member_finding(member):
    """Why a started member of a cluster_view(probe=True) is unfit, and how
    clear that is: None for a healthy (or alarmed, or never started) member,
    else {'cause', 'detail', 'clear'}. cause: 'refused' and 'unreachable'
    (DIAL_CAUSES, clear: waiting will not help unless someone acts), or
    'unhealthy' (it answers a connection but not in time or not well: slow,
    catching up, no leader; not clear, worth the full wait)."""
    if not member.get('started') or member.get('healthy') or member.get('alarmed'):
        return None
    url = (member.get('client_urls') or ['?'])[0]
    error = member.get('health_error') or ''
    reach = member.get('reachability') or {}
    cause = reach.get('cause') if reach.get('cause') in ('refused', 'unreachable') else None
    cause = cause or dial_cause(error)
    if cause:
        detail = reach.get('detail') if reach.get('cause') == cause else (dial_error(error) or error)
        return dict(cause=cause, clear=True, detail='%s on %s: %s' % (
            'connection refused' if cause == 'refused' else 'unreachable', url, detail))
    return dict(cause='unhealthy', clear=False,
                detail='reachable on %s but not healthy: %s' % (url, error or '?'))


class ClearCauses(object):
    """Counts, per member, the consecutive failed polls that gave the same
    clear cause (member_finding). A poll where the member is fine, or unfit
    for another or an unclear reason, starts its count again. held() lists
    the members whose count reached `polls` (0: never)."""

    def __init__(self, polls):
        self.polls = polls or 0
        self.streaks = {}

    def update(self, findings):
        """findings: {member label: member_finding(...) or None}."""
        streaks = {}
        for label, f in findings.items():
            if not f or not f['clear']:
                continue
            prev = self.streaks.get(label)
            count = prev['count'] + 1 if prev and prev['cause'] == f['cause'] else 1
            streaks[label] = dict(f, member=label, count=count)
        self.streaks = streaks
        return self.held()

    def held(self):
        if self.polls <= 0:
            return []
        return [s for _label, s in sorted(self.streaks.items()) if s['count'] >= self.polls]

    @staticmethod
    def describe(streak):
        return 'member %s: %s, for %d consecutive checks: %s' % (
            streak['member'], streak['detail'], streak['count'], CAUSE_MEANING[streak['cause']])


def downgrade_info(status):
    """{'enabled': bool, 'target': 'X.Y.Z' or None} from a 3.6+ status, else None.

    A 3.6+ server always sends ``downgradeInfo`` (``{}`` when no downgrade
    job runs: protobuf JSON leaves out false and empty fields); 3.5 servers
    and 3.5 etcdctl have no such field, so nothing is known then.
    """
    if 'downgradeInfo' not in status:
        return None
    info = status.get('downgradeInfo') or {}
    return dict(enabled=bool(info.get('enabled')), target=info.get('targetVersion') or None)


def minor_of(text):
    """(major, minor) of '3.6', '3.6.16', 'v3.6.0-alpha.0'; None when there is none."""
    m = re.match(r'^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?$', (text or '').strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


def seconds(duration, default=15):
    """etcdctl durations ('5s', '1m', '500ms') in seconds."""
    m = re.match(r'^(\d+(?:\.\d+)?)(ms|s|m)?$', (duration or '').strip())
    if not m:
        return default
    value = float(m.group(1))
    return value / 1000 if m.group(2) == 'ms' else value * 60 if m.group(2) == 'm' else value


def id_hex(member_id):
    """etcd JSON carries IDs as decimal uint64; the CLI wants hex."""
    if isinstance(member_id, str):
        member_id = member_id.lower()
        return member_id[2:] if member_id.startswith('0x') else member_id
    return '%x' % member_id


def id_int(member_id):
    if isinstance(member_id, int):
        return member_id
    return int(member_id, 16)


def parse_version(text):
    m = re.search(r'(\d+)\.(\d+)\.(\d+)', text or '')
    if not m:
        return None
    return tuple(int(x) for x in m.groups())


def normalize_member(raw):
    """One member dict from etcd's JSON (3.4/3.5/3.6 share field names)."""
    name = raw.get('name', '')
    return dict(
        id=raw['ID'],
        id_hex=id_hex(raw['ID']),
        name=name,
        peer_urls=sorted(raw.get('peerURLs') or []),
        client_urls=sorted(raw.get('clientURLs') or []),
        is_learner=bool(raw.get('isLearner', False)),
        # An added-but-never-started member has no name and no client URLs.
        started=bool(name),
    )


def initial_cluster(members, self_name=None, self_peer_urls=None):
    """ETCD_INITIAL_CLUSTER for a joining member: every member plus itself."""
    parts = []
    for m in members:
        name = m['name']
        if not name and self_peer_urls and sorted(m['peer_urls']) == sorted(self_peer_urls):
            name = self_name
        if not name:
            continue
        for url in m['peer_urls']:
            parts.append('%s=%s' % (name, url))
    return ','.join(sorted(parts))


def quorum(voters):
    return voters // 2 + 1


class EtcdCtl(object):
    """Thin etcdctl/etcdutl runner bound to an AnsibleModule."""

    def __init__(self, module, endpoints=None):
        self.module = module
        p = module.params
        self.endpoints = endpoints or p.get('endpoints') or DEFAULT_ENDPOINTS
        self.etcdctl = p.get('etcdctl_path') or module.get_bin_path(
            'etcdctl', required=True, opt_dirs=SEARCH_PATHS)
        self._etcdutl = p.get('etcdutl_path')
        self._version = None
        self.last_stderr = ''
        # etcdctl 3.4 and 3.5 use the v3 API when ETCDCTL_API is unset (only
        # "2" selects v2); 3.6+ no longer know the variable and log
        # "unrecognized environment variable ETCDCTL_API=3" on stderr, in
        # every error message. The collection supports etcdctl 3.4+, so the
        # variable is never passed on, also not one inherited by this process.
        os.environ.pop('ETCDCTL_API', None)

    # ---------------------------------------------------------------- plumbing
    def _env(self, endpoints):
        """Connection settings for etcdctl, all through its environment.

        etcdctl refuses to run when an ETCDCTL_* variable and the matching
        flag are both set, so flags are never used for these: setting every
        variable here also overrides whatever the caller's environment holds.
        """
        p = self.module.params
        env = {
            'ETCDCTL_ENDPOINTS': ','.join(endpoints),
            'ETCDCTL_DIAL_TIMEOUT': p.get('dial_timeout') or '5s',
            'ETCDCTL_COMMAND_TIMEOUT': p.get('command_timeout') or '15s',
        }
        for opt in ('cacert', 'cert', 'key'):
            if p.get(opt):
                env['ETCDCTL_%s' % opt.upper()] = p[opt]
        if p.get('user'):
            # ETCDCTL_USER takes "user:password": keeps the password off the
            # process list. (An empty one makes etcdctl warn, so it is left out.)
            env['ETCDCTL_USER'] = '%s:%s' % (p['user'], p.get('password') or '')
        return env

    def run(self, args, endpoints=None, as_json=True, allow_rc=False, action=None):
        argv = [self.etcdctl] + list(args)
        if as_json:
            argv += ['-w', 'json']
        rc, out, err = self.module.run_command(
            argv, environ_update=self._env(endpoints or self.endpoints), check_rc=False)
        # What etcdctl only logged (its gRPC dial errors), for dial_cause().
        self.last_stderr = err or ''
        if rc != 0 and not allow_rc:
            raise EtcdError(action or ' '.join(args[:2]), rc, out, err)
        if not as_json:
            return out
        return self._loads(out, action or ' '.join(args[:2]), rc, err)

    @staticmethod
    def _loads(out, action, rc, err):
        out = (out or '').strip()
        if not out:
            raise EtcdError(action, rc, out, err or 'no output')
        try:
            return json.loads(out)
        except ValueError:
            # `endpoint health/status` print one JSON document; some versions
            # print one per line.
            try:
                return [json.loads(line) for line in out.splitlines() if line.strip()]
            except ValueError:
                raise EtcdError(action, rc, out, err or 'unparsable JSON output')

    def retry(self, func, timeout=30, delay=2, kinds=RETRYABLE):
        """Run func(); retry while etcd answers with a retryable error."""
        deadline = time.time() + timeout
        while True:
            try:
                return func()
            except EtcdError as e:
                if e.kind not in kinds or time.time() >= deadline:
                    raise
                time.sleep(delay)

    # ---------------------------------------------------------------- versions
    def version(self):
        if self._version is None:
            rc, out, err = self.module.run_command([self.etcdctl, 'version'], check_rc=False)
            self._version = parse_version(out) or (3, 5, 0)
        return self._version

    @property
    def etcdutl(self):
        """etcdutl for offline snapshot work (3.5+); None means use etcdctl (3.4)."""
        if self._etcdutl:
            return self._etcdutl
        if self.version() < (3, 5, 0):
            return None
        return self.module.get_bin_path('etcdutl', required=False, opt_dirs=SEARCH_PATHS)

    # ---------------------------------------------------------------- reads
    def member_list(self, endpoints=None):
        args = ['member', 'list']
        if self.version() >= (3, 6, 0):
            # 3.6+ can serve member list linearizably; ask for it explicitly.
            args.append('--consistency=l')
        data = self.run(args, endpoints=endpoints, action='member list')
        return [normalize_member(m) for m in data.get('members') or []]

    def endpoint_status(self, endpoints):
        data = self.run(['endpoint', 'status'], endpoints=endpoints, allow_rc=True,
                        action='endpoint status')
        result = []
        for item in data if isinstance(data, list) else [data]:
            st = item.get('Status') or {}
            header = st.get('header') or {}
            result.append(dict(
                endpoint=item.get('Endpoint'),
                member_id=id_hex(header['member_id']) if 'member_id' in header else None,
                cluster_id=id_hex(header['cluster_id']) if 'cluster_id' in header else None,
                revision=header.get('revision'),
                version=st.get('version'),
                db_size=st.get('dbSize'),
                db_size_in_use=st.get('dbSizeInUse'),
                leader=id_hex(st['leader']) if st.get('leader') else None,
                raft_index=st.get('raftIndex'),
                raft_applied_index=st.get('raftAppliedIndex'),
                raft_term=st.get('raftTerm'),
                is_learner=bool(st.get('isLearner', False)),
                errors=st.get('errors') or [],
                # 3.6+ servers (through a 3.6+ etcdctl) only: None otherwise.
                storage_version=st.get('storageVersion') or None,
                downgrade=downgrade_info(st),
            ))
        return result

    def endpoint_health(self, endpoints):
        """{endpoint: {'health': bool, 'error': str}} for each endpoint, one call each.

        One call per endpoint so a dead member cannot hide the answer of the
        others (etcdctl stops at the first failure on some versions).
        """
        result = {}
        for ep in endpoints:
            try:
                data = self.run(['endpoint', 'health'], endpoints=[ep], allow_rc=True,
                                action='endpoint health')
                item = (data if isinstance(data, list) else [data])[0]
                error = item.get('error') or ''
                # "context deadline exceeded" says nothing of why: add the
                # dial error etcdctl logged while it retried, when there is one.
                dialed = dial_error(getattr(self, 'last_stderr', '')) if not item.get('health') else None
                if dialed and dialed not in error:
                    error = '%s (%s)' % (error, dialed) if error else dialed
                # A member that answers but has an alarm raised (NOSPACE)
                # is unhealthy, yet reachable for the maintenance that
                # clears the alarm.
                result[ep] = dict(health=bool(item.get('health')), error=error, took=item.get('took'),
                                  alarmed=bool(re.match(r'Active Alarm', error)))
            except EtcdError as e:
                result[ep] = dict(health=False, error=str(e), took=None, alarmed=False)
        return result

    def served_versions(self, endpoint):
        """GET <client URL>/version: {'server', 'cluster', 'storage'} as the member serves them.

        The cluster version is in no etcdctl output (``endpoint status``
        carries the server and, 3.6+, the storage version only); etcd's
        downgrade guides read it here. ``storage`` is 3.6+ only. Never
        raises: a member that does not answer gives {'error': ...}.
        """
        p = self.module.params
        url = endpoint if '://' in endpoint else ('https://' if p.get('cacert') else 'http://') + endpoint
        try:
            resp = open_url(url.rstrip('/') + '/version', method='GET', use_proxy=False,
                            timeout=seconds(p.get('command_timeout')), ca_path=p.get('cacert'),
                            client_cert=p.get('cert'), client_key=p.get('key'),
                            follow_redirects='none')
            data = json.loads(resp.read())
        except Exception as e:  # pylint: disable=broad-except
            return dict(server=None, cluster=None, storage=None, error='GET %s/version: %s' % (url, e))
        cluster = data.get('etcdcluster')
        storage = data.get('storage')
        return dict(server=data.get('etcdserver'),
                    cluster=None if cluster in (None, '', 'not_decided') else cluster,
                    storage=None if storage in (None, '', 'unknown') else storage,
                    error=None)

    def version_view(self, members=None):
        """Server, storage and cluster version and downgrade state of every member.

        One ``endpoint status`` over every member's client URL (storageVersion
        and downgradeInfo need a 3.6+ server and etcdctl) plus each member's
        ``/version`` (the cluster version; the storage version where the
        status has none).
        """
        members = members if members is not None else self.member_list()
        urls = [m['client_urls'][0] for m in members if m['client_urls']]
        status = {}
        if urls:
            for st in self.endpoint_status(urls):
                if st.get('member_id'):
                    status[st['member_id']] = st
        leader = next((st['leader'] for st in status.values() if st.get('leader')), None)
        result = []
        for m in members:
            url = (m['client_urls'] or [None])[0]
            st = status.get(m['id_hex']) or {}
            served = self.served_versions(url) if url else dict(error='not started')
            result.append(dict(
                name=m['name'] or m['id_hex'], id_hex=m['id_hex'], endpoint=url,
                started=m['started'], is_learner=m['is_learner'], is_leader=m['id_hex'] == leader,
                server_version=st.get('version') or served.get('server'),
                storage_version=st.get('storage_version') or served.get('storage'),
                cluster_version=served.get('cluster'),
                downgrade=st.get('downgrade'),
                # Why /version did not answer (None when it did).
                error=served.get('error'),
            ))
        return dict(members=result, leader=leader)

    def alarms(self):
        data = self.run(['alarm', 'list'], action='alarm list')
        # etcdctl -w json gives the alarm type as its enum number.
        return [dict(member_id=id_hex(a.get('memberID', 0)), alarm=ALARM_NAMES.get(a.get('alarm'), a.get('alarm')))
                for a in data.get('alarms') or []]

    # ---------------------------------------------------------------- writes
    def member_add(self, name, peer_urls, learner):
        args = ['member', 'add', name or 'new-member', '--peer-urls=%s' % ','.join(peer_urls)]
        if learner:
            args.append('--learner')
        return self.run(args, action='member add')

    def member_remove(self, member_id):
        return self.run(['member', 'remove', id_hex(member_id)], action='member remove')

    def member_update(self, member_id, peer_urls):
        return self.run(['member', 'update', id_hex(member_id),
                         '--peer-urls=%s' % ','.join(peer_urls)], action='member update')

    def member_promote(self, member_id):
        return self.run(['member', 'promote', id_hex(member_id)], action='member promote')

    def move_leader(self, leader_endpoint, transferee_id):
        # move-leader must be sent to the current leader.
        return self.run(['move-leader', id_hex(transferee_id)], endpoints=[leader_endpoint],
                        as_json=False, action='move-leader')

    def defrag(self, endpoint):
        return self.run(['defrag'], endpoints=[endpoint], as_json=False, action='defrag')

    def compact(self, revision):
        return self.run(['compact', str(int(revision)), '--physical'], as_json=False,
                        action='compact')

    def is_compacted(self, revision):
        """True when history at this revision is gone already."""
        try:
            self.run(['get', '', '--from-key', '--rev=%d' % int(revision), '--keys-only',
                      '--limit=1'],
                     as_json=False, action='get')
        except EtcdError as e:
            if 'compacted' in (e.stderr + e.stdout):
                return True
            raise
        return False

    def alarm_disarm(self):
        return self.run(['alarm', 'disarm'], action='alarm disarm')

    # ---------------------------------------------------------------- downgrades
    def downgrade(self, action, target=None):
        """``etcdctl downgrade validate|enable <X.Y>`` or ``downgrade cancel``.

        Needs etcdctl 3.6+ (3.5 has no downgrade command). etcd takes X.Y or
        X.Y.Z and keeps the minor. Returns the cluster version etcd answers
        with (X.Y); a refusal raises EtcdError of kind invalid_downgrade_target,
        downgrade_in_progress or no_downgrade_job.
        """
        if self.version() < (3, 6, 0):
            raise Refused('etcdctl %s (%s) has no downgrade command: set etcdctl_path to the etcdctl '
                          'of 3.6 or later, the one of the version the cluster runs before the downgrade'
                          % ('.'.join(str(x) for x in self.version()), self.etcdctl))
        args = ['downgrade', action] + ([target] if target else [])
        data = self.run(args, action='downgrade %s' % action)
        return (data if isinstance(data, dict) else {}).get('version')

    def downgrade_validate(self, target):
        return self.downgrade('validate', target)

    def downgrade_enable(self, target):
        return self.downgrade('enable', target)

    def downgrade_cancel(self):
        return self.downgrade('cancel')

    # ---------------------------------------------------------------- snapshots
    def snapshot_save(self, endpoint, path):
        return self.run(['snapshot', 'save', path], endpoints=[endpoint], as_json=False,
                        action='snapshot save')

    def snapshot_status(self, path):
        tool = self.etcdutl
        argv = [tool or self.etcdctl, 'snapshot', 'status', path, '-w', 'json']
        rc, out, err = self.module.run_command(argv, check_rc=False)
        if rc != 0:
            raise EtcdError('snapshot status', rc, out, err)
        data = self._loads(out, 'snapshot status', rc, err)
        return dict(hash=data.get('hash'), revision=data.get('revision'),
                    total_keys=data.get('totalKey'), total_size=data.get('totalSize'),
                    version=data.get('version'))

    def check_v2store(self, data_dir):
        """`etcdutl check v2store` on a data directory etcd does not use.

        Returns one of V2STORE_RESULTS' keys. etcdutl before 3.5.18 has no
        such command ('unsupported'); before 3.5.32 it reads the v2 snapshot
        only, not the WAL records after it.
        """
        tool = self.etcdutl
        if not tool:
            return 'unsupported', 'no etcdutl (etcd 3.4)'
        rc, out, err = self.module.run_command([tool, 'check', 'v2store', '--data-dir', data_dir], check_rc=False)
        text = clean_message('%s\n%s' % (out or '', err or ''))
        for kind, pattern in V2STORE_RESULTS:
            if re.search(pattern, text):
                return kind, text
        raise EtcdError('check v2store', rc, out, err)

    def snapshot_restore(self, path, data_dir, name, peer_urls, initial_cluster_, token,
                         bump_revision=None, mark_compacted=False):
        tool = self.etcdutl
        argv = [tool or self.etcdctl, 'snapshot', 'restore', path,
                '--data-dir=%s' % data_dir, '--name=%s' % name,
                '--initial-cluster=%s' % initial_cluster_,
                '--initial-cluster-token=%s' % token,
                '--initial-advertise-peer-urls=%s' % ','.join(peer_urls)]
        if bump_revision:
            argv.append('--bump-revision=%d' % bump_revision)
        if mark_compacted:
            argv.append('--mark-compacted')
        rc, out, err = self.module.run_command(argv, check_rc=False)
        if rc != 0:
            raise EtcdError('snapshot restore', rc, out, err)
        return out + err

    # ---------------------------------------------------------------- views
    def cluster_view(self, members=None, probe=False):
        """Members plus per-member health and status, from every client URL.

        With probe, each client URL is first connected to (probe_endpoint,
        within the dial timeout): a member that refuses the connection or
        cannot be reached is unhealthy for that reason (``reachability``)
        without the etcdctl call that would only time out.
        """
        members = members if members is not None else self.member_list()
        urls = []
        for m in members:
            urls += m['client_urls'][:1]
        reach = {}
        if probe:
            for url in urls:
                reach[url] = probe_endpoint(url, seconds(self.module.params.get('dial_timeout'), 5))
        down = dict((u, dict(health=False, error=r['detail'], took=None, alarmed=False))
                    for u, r in reach.items() if r['cause'] in ('refused', 'unreachable'))
        health = self.endpoint_health([u for u in urls if u not in down]) if urls else {}
        health.update(down)
        status = {}
        if urls:
            answering = [u for u in urls if health.get(u, {}).get('health') or health.get(u, {}).get('alarmed')]
            for st in self.endpoint_status(answering or urls[:1]):
                if st.get('member_id'):
                    status[st['member_id']] = st
        leader = None
        for st in status.values():
            if st.get('leader'):
                leader = st['leader']
                break
        for m in members:
            url = (m['client_urls'] or [None])[0]
            m['healthy'] = bool(url and health.get(url, {}).get('health'))
            m['alarmed'] = bool(url and health.get(url, {}).get('alarmed'))
            m['health_error'] = (health.get(url) or {}).get('error', '') if url else 'unstarted'
            m['status'] = status.get(m['id_hex'])
            m['is_leader'] = (m['id_hex'] == leader)
            if probe:
                m['reachability'] = reach.get(url) or dict(cause=None, detail='not started')
        return dict(members=members, leader=leader)


def move_leadership_away(ctl, view, member, timeout=60):
    """Hand leadership from `member` (the leader) to the most caught-up healthy voter."""
    candidates = [m for m in view['members'] if m['id'] != member['id']
                  and not m['is_learner'] and m.get('healthy')]
    if not candidates:
        raise Refused('member %s leads and no healthy voter can take over'
                      % (member['name'] or member['id_hex']))
    candidates.sort(key=lambda m: -((m.get('status') or {}).get('raft_index') or 0))
    target = candidates[0]
    leader_url = member['client_urls'][0]
    ctl.retry(lambda: ctl.move_leader(leader_url, target['id']), timeout=30)
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = ctl.endpoint_status([target['client_urls'][0]])
        if st and st[0].get('leader') and st[0]['leader'] != member['id_hex']:
            return target
        time.sleep(1)
    raise Refused('leadership did not move away from %s' % member['name'])


def run_module(module, func):
    """Exit the module with func()'s result; refusals and etcd errors fail the same way everywhere."""
    try:
        result = func()
    except Refused as e:
        module.fail_json(msg='Refused: %s' % e, refused=True)
    except EtcdError as e:
        module.fail_json(msg='etcd %s: %s' % (e.action, e.message), error_kind=e.kind, rc=e.rc)
    module.exit_json(**result)
