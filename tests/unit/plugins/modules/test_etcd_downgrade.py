"""etcd_downgrade decisions over etcd's own answers.

The endpoint_status_downgrade_*.json fixtures of 3.7.3 were captured with
etcdctl 3.7.3 from a 3-member cluster on loopback (m1, m2, m3 on
127.0.0.1:24791-24793) taken from 3.7.3 to 3.6.16 by hand, the way etcd's
guide does it: before (3.7.3), enabled (right after `downgrade enable 3.6`,
storage versions not migrated yet), ready (storage versions 3.6.0), one_down
(m1 stopped), mixed (m1 back on 3.6.16), done (all on 3.6.16, the leader
ended the job) and cancelled (`downgrade cancel` on a 3.7.3 cluster, after
etcd raised the cluster version again). The /version answers below and the
3.6.16 -> 3.5.35 answers are from the same clusters. Where a state was not
captured, it is derived from a captured one by the helpers below, which say
what they change.
"""
import copy
import json

import pytest

from ansible_collections.raftops.etcd.plugins.module_utils import _etcdctl as u
from ansible_collections.raftops.etcd.plugins.modules import etcd_downgrade as ed

from conftest import FIXTURES

MEMBERS = [("m1", 4649962009431823240, "http://127.0.0.1:24791"),
           ("m2", 17471517224004945404, "http://127.0.0.1:24792"),
           ("m3", 10585371219325149716, "http://127.0.0.1:24793")]
URL = dict((n, url) for n, _i, url in MEMBERS)

# 3.6.16 -> 3.5.35 on the same loopback cluster: m2 on 3.5.35 during the
# downgrade (3.5 reports neither storageVersion nor downgradeInfo), then all
# on 3.5.35.
STATUS_35_MIXED = (
    '[{"Endpoint":"http://127.0.0.1:24791","Status":{"header":{"cluster_id":10306528224151774436,"member_id":4649962009431823240,'
    '"revision":2,"raft_term":3},"version":"3.6.16","dbSize":20480,"leader":4649962009431823240,"raftIndex":22,"raftTerm":3,'
    '"raftAppliedIndex":22,"dbSizeInUse":16384,"storageVersion":"3.5.0","dbSizeQuota":2147483648,'
    '"downgradeInfo":{"enabled":true,"targetVersion":"3.5.0"}}},'
    '{"Endpoint":"http://127.0.0.1:24792","Status":{"header":{"cluster_id":10306528224151774436,"member_id":17471517224004945404,'
    '"revision":2,"raft_term":3},"version":"3.5.35","dbSize":20480,"leader":4649962009431823240,"raftIndex":22,"raftTerm":3,'
    '"raftAppliedIndex":22,"dbSizeInUse":16384}},'
    '{"Endpoint":"http://127.0.0.1:24793","Status":{"header":{"cluster_id":10306528224151774436,"member_id":10585371219325149716,'
    '"revision":2,"raft_term":3},"version":"3.6.16","dbSize":24576,"leader":4649962009431823240,"raftIndex":22,"raftTerm":3,'
    '"raftAppliedIndex":22,"dbSizeInUse":16384,"storageVersion":"3.5.0","dbSizeQuota":2147483648,'
    '"downgradeInfo":{"enabled":true,"targetVersion":"3.5.0"}}}]')
STATUS_35_DONE = (
    '[{"Endpoint":"http://127.0.0.1:24791","Status":{"header":{"cluster_id":10306528224151774436,"member_id":4649962009431823240,'
    '"revision":2,"raft_term":4},"version":"3.5.35","dbSize":20480,"leader":17471517224004945404,"raftIndex":32,"raftTerm":4,'
    '"raftAppliedIndex":32,"dbSizeInUse":16384}},'
    '{"Endpoint":"http://127.0.0.1:24792","Status":{"header":{"cluster_id":10306528224151774436,"member_id":17471517224004945404,'
    '"revision":2,"raft_term":4},"version":"3.5.35","dbSize":20480,"leader":17471517224004945404,"raftIndex":32,"raftTerm":4,'
    '"raftAppliedIndex":32,"dbSizeInUse":16384}},'
    '{"Endpoint":"http://127.0.0.1:24793","Status":{"header":{"cluster_id":10306528224151774436,"member_id":10585371219325149716,'
    '"revision":2,"raft_term":4},"version":"3.5.35","dbSize":24576,"leader":17471517224004945404,"raftIndex":32,"raftTerm":4,'
    '"raftAppliedIndex":32,"dbSizeInUse":16384}}]')

ERR_IN_PROGRESS = 'Error: etcdserver: cluster has a downgrade job in progress\n'
ERR_INVALID = 'Error: etcdserver: invalid downgrade target version\n'


def status(name):
    return (FIXTURES / "3.7.3" / ("endpoint_status_downgrade_%s.json" % name)).read_text()


def served(server, cluster, storage=None):
    return dict(server=server, cluster=cluster, storage=storage, error=None)


def state(status_json, **versions):
    """One moment of the cluster: endpoint status JSON and each member's /version."""
    return dict(status=status_json, served=dict((URL[n], v) for n, v in versions.items()))


def everyone(server, cluster, storage=None):
    return dict((n, served(server, cluster, storage)) for n in URL)


def without(status_json, endpoint):
    """Derived: a captured status less one member's entry (that member is down)."""
    return json.dumps([s for s in json.loads(status_json) if s["Endpoint"] != endpoint])


def no_job(status_json):
    """Derived: a captured status with the downgrade job over (downgradeInfo {})."""
    data = json.loads(status_json)
    for s in data:
        s["Status"]["downgradeInfo"] = {}
    return json.dumps(data)


BEFORE = state(status("before"), **everyone("3.7.3", "3.7.0", "3.7.0"))
# Right after the enable the leader had not lowered the cluster version yet.
ENABLED = state(status("enabled"), **everyone("3.7.3", "3.7.0", "3.7.0"))
READY = state(status("ready"), **everyone("3.7.3", "3.6.0", "3.6.0"))
MIXED = state(status("mixed"), **dict(everyone("3.7.3", "3.6.0", "3.6.0"), m1=served("3.6.16", "3.6.0", "3.6.0")))
DONE = state(status("done"), **everyone("3.6.16", "3.6.0", "3.6.0"))
CANCELLED = state(status("cancelled"), **everyone("3.7.3", "3.7.0", "3.7.0"))
MIXED_35 = state(STATUS_35_MIXED, m1=served("3.6.16", "3.5.0", "3.5.0"), m2=served("3.5.35", "3.5.0"),
                 m3=served("3.6.16", "3.5.0", "3.5.0"))
DONE_35 = state(STATUS_35_DONE, **everyone("3.5.35", "3.5.0"))


class Cluster(u.EtcdCtl):
    """The real parsing of EtcdCtl over canned answers: each read takes the
    next state, the last one repeats. Records the downgrade commands."""

    def __init__(self, *states, etcdctl=(3, 7, 3), errors=None):
        self.states = [copy.deepcopy(s) for s in states]
        self.now = self.states[0]
        self.calls = []
        self._version = etcdctl
        self.etcdctl = "/opt/etcd/v%d.%d.%d/etcdctl" % etcdctl
        self.errors = dict(errors or {})

    def member_list(self, endpoints=None):
        return [dict(id=i, id_hex="%x" % i, name=n, client_urls=[url], peer_urls=[], is_learner=False, started=True)
                for n, i, url in MEMBERS]

    def version_view(self, members=None):
        self.now = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return u.EtcdCtl.version_view(self, members)

    def run(self, args, endpoints=None, **kw):
        if args[:2] == ["endpoint", "status"]:
            return self._loads(self.now["status"], "endpoint status", 0, "")
        assert args[0] == "downgrade", args
        self.calls.append(" ".join(args))
        err = self.errors.get(" ".join(args[1:]))
        if err:
            raise u.EtcdError("downgrade " + args[1], 1, "", err)
        return {"version": "3.7"}

    def served_versions(self, endpoint):
        return self.now["served"].get(endpoint) or dict(server=None, cluster=None, storage=None,
                                                        error="GET %s/version: connection refused" % endpoint)


class FakeModule:
    def __init__(self, check=False, **params):
        self.check_mode = check
        self.params = dict(target_version=None, state="enabled", wait=False, timeout=30)
        self.params.update(params)


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(ed.time, "sleep", lambda s: None)


@pytest.mark.parametrize("text,minor", [("3.6", (3, 6)), ("3.6.16", (3, 6)), ("v3.5.0", (3, 5)), (None, None)])
def test_target_is_a_minor(text, minor):
    assert ed.parse_target(text) == minor


def test_target_must_be_a_version():
    with pytest.raises(u.Refused, match="not a version"):
        ed.parse_target("latest")


# ---------------------------------------------------------------- enabled
def test_enable_validates_enables_and_waits_for_the_storage_versions():
    ctl = Cluster(BEFORE, ENABLED, ENABLED, READY)
    result = ed.run(FakeModule(target_version="3.6.16", wait=True), ctl)
    assert ctl.calls == ["downgrade validate 3.6", "downgrade enable 3.6"]
    assert result["changed"] and result["action"] == "enable"
    assert result["commands"] == ["etcdctl downgrade validate 3.6", "etcdctl downgrade enable 3.6"]
    assert result["cluster_version"] == "3.6" and result["pending"] == []
    assert result["downgrade"] == dict(enabled=True, target="3.6")
    assert result["storage_versions"] == dict(m1="3.6.0", m2="3.6.0", m3="3.6.0")
    assert result["server_versions"] == dict(m1="3.7.3", m2="3.7.3", m3="3.7.3")
    assert "downgrade: not enabled" in result["diff"]["before"]
    assert "downgrade: enabled, target 3.6" in result["diff"]["after"]


def test_check_mode_asks_etcd_to_validate_but_enables_nothing():
    ctl = Cluster(BEFORE)
    result = ed.run(FakeModule(check=True, target_version="3.6", wait=True), ctl)
    assert ctl.calls == ["downgrade validate 3.6"]
    assert result["changed"] and result["commands"][-1] == "etcdctl downgrade enable 3.6"
    assert result["downgrade"] == dict(enabled=False, target=None) and result["cluster_version"] == "3.7"
    assert "downgrade: enabled, target 3.6" in result["diff"]["after"]
    assert result["pending"] == ["the downgrade is not enabled (check mode)"]


@pytest.mark.parametrize("moment", [ENABLED, READY, MIXED])
def test_enabled_again_sends_nothing(moment):
    ctl = Cluster(moment)
    result = ed.run(FakeModule(target_version="3.6"), ctl)
    assert not result["changed"] and ctl.calls == [] and result["commands"] == []
    assert result["msg"] == "a downgrade to 3.6 is enabled already"


def test_nothing_to_downgrade_when_every_member_runs_the_target():
    ctl = Cluster(DONE)
    result = ed.run(FakeModule(target_version="3.6.16", wait=True), ctl)
    assert not result["changed"] and ctl.calls == [] and result["pending"] == []
    assert result["msg"] == "every member runs 3.6: nothing to downgrade"
    assert result["downgrade"] == dict(enabled=False, target=None)


@pytest.mark.parametrize("target,message", [
    ("3.5", "one minor at a time and cannot go from 3.7 to 3.5: downgrade to 3.6 first"),
    ("3.4.23", "etcd cannot downgrade to 3.4"),
    ("3.8.0", "3.8 is not below the cluster version 3.7: not a downgrade"),
])
def test_targets_etcd_would_refuse_are_refused_before_asking(target, message):
    ctl = Cluster(BEFORE)
    with pytest.raises(u.Refused, match=message):
        ed.run(FakeModule(target_version=target), ctl)
    assert ctl.calls == []


def test_the_running_minor_is_nothing_to_downgrade():
    ctl = Cluster(BEFORE)
    result = ed.run(FakeModule(target_version="3.7"), ctl)
    assert not result["changed"] and ctl.calls == [] and "nothing to downgrade" in result["msg"]


def test_another_target_in_progress_is_refused():
    with pytest.raises(u.Refused, match="a downgrade to 3.6 is in progress, not to 3.5"):
        ed.run(FakeModule(target_version="3.5"), Cluster(READY))


def test_a_member_that_does_not_answer_blocks_the_enable():
    down = state(without(status("before"), URL["m1"]), m2=BEFORE["served"][URL["m2"]], m3=BEFORE["served"][URL["m3"]])
    ctl = Cluster(down)
    with pytest.raises(u.Refused, match="members m1 do not answer"):
        ed.run(FakeModule(target_version="3.6"), ctl)
    assert ctl.calls == []


def test_cluster_version_already_at_the_target_needs_no_job():
    """After a cancel with m1 downgraded already the cluster version stays
    3.6 (the lowest member): members on 3.7 can take 3.6, nothing to enable."""
    after_cancel = dict(MIXED, status=no_job(status("mixed")))
    ctl = Cluster(after_cancel)
    result = ed.run(FakeModule(target_version="3.6", wait=True), ctl)
    assert not result["changed"] and ctl.calls == [] and result["pending"] == []
    assert "the cluster version is 3.6 already" in result["msg"]


def test_wait_gives_up_with_what_is_pending():
    ctl = Cluster(BEFORE, ENABLED)
    with pytest.raises(ed.Pending) as exc:
        ed.run(FakeModule(target_version="3.6", wait=True, timeout=0), ctl)
    result = exc.value.result
    assert result["changed"] and result["downgrade"] == dict(enabled=True, target="3.6")
    assert "member m1 (3.7.3) has storage version 3.7.0, not 3.6 yet" in result["pending"]
    assert "the cluster version is 3.7, not 3.6 yet" in result["pending"]
    assert "state=cancelled" in str(exc.value)


def test_enable_racing_another_enable_of_the_same_target_is_no_change():
    ctl = Cluster(BEFORE, ENABLED, ENABLED, errors={"enable 3.6": ERR_IN_PROGRESS})
    result = ed.run(FakeModule(target_version="3.6"), ctl)
    assert not result["changed"] and result["msg"] == "a downgrade to 3.6 is enabled already"


def test_etcd_refusing_the_target_says_which_one_it_takes():
    ctl = Cluster(BEFORE, errors={"validate 3.6": ERR_INVALID})
    with pytest.raises(u.Refused, match="etcd refuses 3.6 as the downgrade target"):
        ed.run(FakeModule(target_version="3.6"), ctl)
    assert ctl.calls == ["downgrade validate 3.6"]


def test_a_35_etcdctl_cannot_enable():
    with pytest.raises(u.Refused, match="no downgrade command"):
        ed.run(FakeModule(target_version="3.6"), Cluster(BEFORE, etcdctl=(3, 5, 30)))


# ---------------------------------------------------------------- completed
def test_completed_waits_until_every_member_runs_the_target_and_the_job_is_over():
    ctl = Cluster(MIXED, MIXED, DONE)
    result = ed.run(FakeModule(target_version="3.6.16", state="completed"), ctl)
    assert not result["changed"] and result["pending"] == [] and ctl.calls == []
    assert result["server_versions"] == dict(m1="3.6.16", m2="3.6.16", m3="3.6.16")
    assert result["downgrade"] == dict(enabled=False, target=None) and result["cluster_version"] == "3.6"


def test_completed_times_out_naming_the_members_left():
    with pytest.raises(ed.Pending) as exc:
        ed.run(FakeModule(target_version="3.6", state="completed", timeout=0), Cluster(MIXED))
    pending = exc.value.result["pending"]
    assert "member m2 runs 3.7.3" in pending and "member m3 runs 3.7.3" in pending
    assert any("downgrade job is still enabled" in p for p in pending)


def test_completed_refuses_when_no_downgrade_runs():
    with pytest.raises(u.Refused, match="no downgrade to 3.6 is in progress and the cluster version is 3.7"):
        ed.run(FakeModule(target_version="3.6", state="completed"), Cluster(CANCELLED))


def test_completed_in_check_mode_reports_without_waiting_or_failing():
    result = ed.run(FakeModule(check=True, target_version="3.6", state="completed"), Cluster(BEFORE))
    assert not result["changed"] and "member m1 runs 3.7.3" in result["pending"]


def test_completed_on_35_asks_etcd_whether_the_job_is_over():
    """3.5 servers do not report the job: `downgrade validate 3.4` tells."""
    ctl = Cluster(MIXED_35, DONE_35)
    result = ed.run(FakeModule(target_version="3.5", state="completed"), ctl)
    assert result["pending"] == [] and ctl.calls == ["downgrade validate 3.4"]
    assert result["storage_versions"] == dict(m1=None, m2=None, m3=None)
    assert result["downgrade"] == dict(enabled=False, target=None)
    running = Cluster(DONE_35, errors={"validate 3.4": ERR_IN_PROGRESS})
    with pytest.raises(ed.Pending, match="downgrade job is still enabled"):
        ed.run(FakeModule(target_version="3.5", state="completed", timeout=0), running)


def test_completed_on_35_through_a_35_etcdctl_checks_the_versions_only():
    ctl = Cluster(DONE_35, etcdctl=(3, 5, 35))
    result = ed.run(FakeModule(target_version="3.5", state="completed"), ctl)
    assert result["pending"] == [] and ctl.calls == [] and result["downgrade"]["enabled"] is None


def test_storage_of_35_members_needs_no_migration():
    """m2 runs 3.5 already (no storage version): only m1 and m3 count."""
    assert ed.pending_ready(Cluster(MIXED_35).version_view(), (3, 5)) == []


# ---------------------------------------------------------------- cancelled
def test_cancel_only_a_running_job():
    ctl = Cluster(MIXED, CANCELLED)
    result = ed.run(FakeModule(state="cancelled"), ctl)
    assert result["changed"] and ctl.calls == ["downgrade cancel"]
    assert result["downgrade"] == dict(enabled=False, target=None) and result["cluster_version"] == "3.7"
    assert "downgrade: enabled, target 3.6" in result["diff"]["before"]
    idle = Cluster(CANCELLED)
    assert not ed.run(FakeModule(state="cancelled"), idle)["changed"] and idle.calls == []


def test_cancel_in_check_mode_sends_nothing():
    ctl = Cluster(READY)
    result = ed.run(FakeModule(check=True, state="cancelled"), ctl)
    assert result["changed"] and result["commands"] == ["etcdctl downgrade cancel"] and ctl.calls == []


def test_cancel_of_another_target_is_refused():
    with pytest.raises(u.Refused, match="the downgrade in progress is to 3.6, not 3.5"):
        ed.run(FakeModule(state="cancelled", target_version="3.5"), Cluster(READY))


def test_leader_answer_counts_first():
    view = Cluster(MIXED).version_view()
    for m in view["members"]:
        m["cluster_version"] = "3.7.0" if not m["is_leader"] else "3.6.0"
    assert ed.summarize(view)["cluster_version"] == "3.6"


def test_no_cluster_version_no_enable():
    """/version answers nowhere (say, a proxy or TLS problem): nothing is sent."""
    blind = dict(BEFORE, served={})
    ctl = Cluster(blind)
    with pytest.raises(u.Refused, match="no member tells the cluster version: GET http://127.0.0.1:24791/version"):
        ed.run(FakeModule(target_version="3.6"), ctl)
    assert ctl.calls == []
