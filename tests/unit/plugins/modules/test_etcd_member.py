"""Every decision branch of etcd_member and etcd_cluster_info."""
import json

import pytest

from ansible_collections.raftops.etcd.plugins.module_utils import _etcdctl as u
from ansible_collections.raftops.etcd.plugins.modules import etcd_member as em
from ansible_collections.raftops.etcd.plugins.modules import etcd_cluster_info as eci

from conftest import FIXTURES


def member(i, name=None, learner=False, started=True, healthy=True, leader=False):
    name = f"etcd-{i}" if name is None else name
    return dict(id=i, id_hex="%x" % i, name=name if started else "",
                peer_urls=[f"https://10.0.0.{i}:2380"],
                client_urls=[f"https://10.0.0.{i}:2379"] if started else [],
                is_learner=learner, started=started, healthy=healthy and started,
                is_leader=leader, status={"raft_index": 100 + i})


def cluster(*members):
    return dict(members=list(members), leader=next((m["id_hex"] for m in members if m["is_leader"]), None))


URL4 = ["https://10.0.0.4:2380"]


# ---------------------------------------------------------------- present
def test_present_same_name_same_urls_is_noop():
    action, m = em.plan_present([member(1), member(2)], "etcd-2", ["https://10.0.0.2:2380"], True, False)
    assert action == "none" and m["name"] == "etcd-2"


def test_present_absent_member_is_added():
    assert em.plan_present([member(1), member(2), member(3)], "etcd-4", URL4, True, False) == ("add", None)


def test_present_unstarted_same_url_is_already_added():
    members = [member(1), member(2), member(4, started=False, learner=True)]
    action, m = em.plan_present(members, "etcd-4", URL4, True, False)
    assert action == "none" and m["id"] == 4


def test_present_same_name_other_urls_is_update():
    action, m = em.plan_present([member(1), member(2)], "etcd-2", ["https://10.9.9.2:2380"], True, False)
    assert action == "update" and m["id"] == 2


def test_present_update_refused_when_urls_belong_to_another_member():
    with pytest.raises(em.Refused, match="already belong to member etcd-1"):
        em.plan_present([member(1), member(2)], "etcd-2", ["https://10.0.0.1:2380"], True, False)


def test_present_learner_promoted_when_voter_wanted():
    members = [member(1), member(4, learner=True)]
    assert em.plan_present(members, "etcd-4", URL4, False, False)[0] == "promote"
    assert em.plan_present(members, "etcd-4", URL4, True, False)[0] == "none"


def test_add_refused_while_another_member_unstarted():
    members = [member(1), member(2), member(3), member(5, started=False)]
    with pytest.raises(em.Refused, match="never started"):
        em.plan_present(members, "etcd-4", URL4, True, False)
    assert em.plan_present(members, "etcd-4", URL4, True, True)[0] == "add"


def test_add_refused_at_learner_limit():
    members = [member(1), member(2), member(3), member(5, learner=True)]
    with pytest.raises(em.Refused, match="learner is already in the cluster"):
        em.plan_present(members, "etcd-4", URL4, True, False)
    # A voter add is not limited by learners.
    assert em.plan_present(members, "etcd-4", URL4, False, False)[0] == "add"


def test_add_needs_name_and_urls():
    with pytest.raises(em.Refused, match="needs its name"):
        em.plan_present([member(1)], None, URL4, True, False)
    with pytest.raises(em.Refused, match="needs peer_urls"):
        em.plan_present([member(1)], "etcd-4", None, True, False)


# ---------------------------------------------------------------- absent
def test_remove_healthy_follower_of_five_is_allowed():
    view = cluster(*(member(i, leader=(i == 1)) for i in range(1, 6)))
    em.plan_absent(view, view["members"][4], False)


def test_remove_refused_when_quorum_would_be_lost():
    # 5 members, 2 already down: removing a healthy one leaves 4 voters, 2 healthy < 3.
    view = cluster(member(1, leader=True), member(2), member(3, healthy=False),
                   member(4, healthy=False), member(5))
    with pytest.raises(em.Refused, match="quorum needs 3"):
        em.plan_absent(view, view["members"][4], False)
    em.plan_absent(view, view["members"][4], True)  # forced


def test_remove_down_member_of_three_is_allowed_but_leaves_two_refused():
    view = cluster(member(1, leader=True), member(2), member(3, healthy=False))
    with pytest.raises(em.Refused, match="2-member cluster"):
        em.plan_absent(view, view["members"][2], False)
    em.plan_absent(view, view["members"][2], True)


def test_remove_last_member_refused_even_forced():
    view = cluster(member(1, leader=True))
    with pytest.raises(em.Refused, match="last member"):
        em.plan_absent(view, view["members"][0], True)


def test_remove_learner_is_always_quorum_safe():
    view = cluster(member(1, leader=True), member(2), member(3), member(4, learner=True))
    em.plan_absent(view, view["members"][3], False)


def test_find_member_by_id_url_name():
    members = [member(1), member(2)]
    assert em.find_member(members, member_id="2")[0]["id"] == 2
    assert em.find_member(members, peer_urls=["https://10.0.0.1:2380"])[1] == "peer_urls"
    assert em.find_member(members, name="etcd-2")[1] == "name"
    assert em.find_member(members, name="nope") == (None, None)


# ---------------------------------------------------------------- cluster info
def test_assess_healthy_and_problems():
    ok = cluster(member(1, leader=True), member(2), member(3))
    assert eci.assess(ok) == []
    assert eci.assess(ok, expected_members=5) == ["cluster has 3 members, expected 5"]
    bad = cluster(member(1), member(2, healthy=False), member(3, learner=True), member(4, started=False))
    problems = eci.assess(bad)
    assert any("added but not started" in p for p in problems)
    assert any("etcd-2 is unhealthy" in p for p in problems)
    assert any("still a learner" in p for p in problems)
    assert "no leader" in problems


# ---------------------------------------------------------------- retries
class FakeCtl:
    """member add answers with the given errors first, then succeeds."""

    def __init__(self, errors, committed_after=None):
        self.errors = list(errors)
        self.adds = 0
        self.listed = [member(1), member(2), member(3)]
        self.committed_after = committed_after

    def member_add(self, name, urls, learner):
        self.adds += 1
        if self.committed_after is not None and self.adds > self.committed_after:
            self.listed = self.listed + [member(4, started=False, learner=learner)]
        if self.errors:
            raise em.EtcdError("member add", 1, "", self.errors.pop(0))
        self.listed = self.listed + [member(4, started=False, learner=learner)]

    def retry(self, func, **kw):
        return func()

    def member_list(self):
        return self.listed


class FakeModule:
    def __init__(self, **params):
        self.params = dict(name="etcd-4", peer_urls=URL4, learner=True, wait_timeout=60, **params)


def manager(ctl):
    return em.MemberManager(FakeModule(), ctl)


def test_add_waits_out_unhealthy_cluster(monkeypatch):
    monkeypatch.setattr(em.time, "sleep", lambda s: None)
    ctl = FakeCtl(["etcdserver: unhealthy cluster", "etcdserver: unhealthy cluster"])
    after = manager(ctl).add(ctl.listed)
    assert ctl.adds == 3
    assert [m["id"] for m in after] == [1, 2, 3, 4]


def test_add_gives_up_on_unhealthy_after_wait_timeout(monkeypatch):
    monkeypatch.setattr(em.time, "sleep", lambda s: None)
    clock = iter(range(0, 1000, 10))
    monkeypatch.setattr(em.time, "time", lambda: next(clock))
    ctl = FakeCtl(["etcdserver: unhealthy cluster"] * 100)
    with pytest.raises(em.EtcdError, match="unhealthy cluster"):
        manager(ctl).add(ctl.listed)
    assert 1 < ctl.adds < 10


def test_add_that_timed_out_but_committed_is_not_repeated(monkeypatch):
    monkeypatch.setattr(em.time, "sleep", lambda s: None)
    ctl = FakeCtl(["context deadline exceeded"], committed_after=0)
    after = manager(ctl).add(ctl.listed)
    assert ctl.adds == 1 and len(after) == 4


def test_add_refusal_is_not_retried(monkeypatch):
    monkeypatch.setattr(em.time, "sleep", lambda s: None)
    ctl = FakeCtl(["etcdserver: too many learner members in cluster"])
    with pytest.raises(em.EtcdError, match="too many learner"):
        manager(ctl).add(ctl.listed)
    assert ctl.adds == 1


# ---------------------------------------------------------------- interrupted joins
# Which unstarted members and learners are the joins of which host, from
# member lists and health answers captured from real etcd (fixtures/capture.py):
# node1 runs; node2 (http://127.0.0.1:23802) was added with --learner, then
# either never started or started and never promoted.
ALL_VERSIONS = ["3.4.23", "3.5.30", "3.6.16", "3.7.3"]
NODE1 = "http://127.0.0.1:23801"
NODE2 = "http://127.0.0.1:23802"


class ReplayModule:
    """AnsibleModule enough for EtcdCtl.cluster_view: answers each etcdctl
    call with what that etcd version answered to it (endpoint health per
    endpoint: node1 healthy, node2 a learner)."""

    def __init__(self, version, member_list):
        self.version = version
        self.member_list = member_list
        self.params = dict(endpoints=["http://127.0.0.1:23791"], cacert=None, cert=None, key=None,
                           user=None, password=None, etcdctl_path="/usr/local/bin/etcdctl",
                           etcdutl_path=None, dial_timeout="5s", command_timeout="15s")

    def fixture(self, name):
        return (FIXTURES / self.version / name).read_text()

    def run_command(self, argv, environ_update=None, check_rc=False):
        args = " ".join(argv[1:3])
        endpoint = (environ_update or {}).get("ETCDCTL_ENDPOINTS")
        if args == "version":
            return 0, self.fixture("version.txt"), ""
        if args == "member list":
            return 0, self.fixture(self.member_list), ""
        if args == "endpoint health":
            if endpoint == "http://127.0.0.1:23792":
                return 1, self.fixture("endpoint_health_learner.json"), "Error: unhealthy cluster"
            return 0, self.fixture("endpoint_health.json"), ""
        if args == "endpoint status":
            return 0, self.fixture("endpoint_status.json"), ""
        if args == "alarm list":
            return 0, self.fixture("alarm_list.json"), ""
        raise AssertionError(argv)


def real_view(version, member_list):
    return eci.gather(u.EtcdCtl(ReplayModule(version, member_list)))


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_unstarted_member_is_the_join_of_the_host_with_its_peer_url(version):
    view = real_view(version, "member_list_unstarted_learner.json")
    problems, pending, holding = eci.evaluate(view, {"etcd-1": NODE1, "etcd-2": NODE2})
    assert [(p["host"], p["started"], p["is_learner"], p["name"]) for p in pending] == [("etcd-2", False, True, "")]
    assert pending[0]["peer_urls"] == [NODE2]
    assert pending[0]["problem"] == "member %s (%s), the join of host etcd-2, was added but never started" \
        % (pending[0]["id_hex"], NODE2)
    # Not a degraded cluster, and the gate does not wait for a join its caller finishes.
    assert problems == [] and holding == []
    # Without the inventory it is what it always was: a problem.
    problems, pending, holding = eci.evaluate(view)
    assert pending == [] and any("is added but not started" in p for p in problems) and holding == problems


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_started_learner_is_the_join_of_its_host(version):
    view = real_view(version, "member_list_started_learner.json")
    learner = next(m for m in view["members"] if m["is_learner"])
    # What etcd answers to a health check of a learner: unhealthy.
    assert learner["started"] and not learner["healthy"]
    assert "rpc not supported for learner" in learner["health_error"]
    problems, pending, holding = eci.evaluate(view, {"etcd-1": NODE1, "etcd-2": [NODE2]}, max_raft_lag=1000)
    assert [(p["host"], p["started"], p["name"]) for p in pending] == [("etcd-2", True, "node2")]
    assert pending[0]["problem"] == "member node2 (%s), the join of host etcd-2, is a learner, not yet promoted" % NODE2
    assert problems == [] and holding == []
    problems, pending, holding = eci.evaluate(view)
    assert any("node2 is unhealthy: " in p and "rpc not supported for learner" in p for p in problems)


@pytest.mark.parametrize("member_list", ["member_list_unstarted_learner.json", "member_list_started_learner.json"])
@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_member_of_no_host_holds_the_gate(version, member_list):
    """Its host left the group: not degraded, but no run finishes it."""
    view = real_view(version, member_list)
    problems, pending, holding = eci.evaluate(view, {"etcd-1": NODE1, "etcd-3": "http://127.0.0.1:23803"})
    assert [p["host"] for p in pending] == [None]
    assert pending[0]["problem"].endswith("and no host of the group has its peer URLs")
    assert problems == [] and holding == [pending[0]["problem"]]


def test_voters_are_never_unfinished_and_degraded_members_still_are_problems():
    members = [member(1, leader=True), member(2, healthy=False), member(3), member(4, learner=True, healthy=False),
               member(5, started=False, learner=True)]
    hosts = {f"h{i}": f"https://10.0.0.{i}:2380" for i in (1, 2, 3, 4)}
    problems, pending, holding = eci.evaluate(cluster(*members), hosts)
    assert [(p["host"], p["id_hex"]) for p in pending] == [("h4", "4"), (None, "5")]
    assert problems == ["member etcd-2 is unhealthy: ?"]
    assert holding == problems + [pending[1]["problem"]]
    # Matched on the whole set of peer URLs, not on a name.
    assert [p["host"] for p in eci.unfinished(members, {"etcd-4": "https://10.9.9.4:2380"})] == [None, None]


def test_unfinished_learner_not_counted_for_raft_lag():
    members = [member(1, leader=True), member(2), member(3, learner=True)]
    members[2]["status"] = {"raft_applied_index": 5}
    for m in members[:2]:
        m["status"] = {"raft_applied_index": 5000}
    assert any("lags" in p for p in eci.assess(cluster(*members), max_raft_lag=1000))
    assert not any("lags" in p for p in eci.assess(cluster(*members), max_raft_lag=1000, skip=["3"]))


def test_never_started_member_is_removed_without_quorum_refusal():
    # 2 started voters + 1 never-started voter: removing it leaves a
    # 2-member cluster, refused for a voter that ran, but this one never voted.
    view = cluster(member(1, leader=True), member(2), member(3, started=False))
    em.plan_absent(view, view["members"][2], False)
    with pytest.raises(em.Refused, match="quorum needs 2"):
        em.plan_absent(view, view["members"][1], False)
    with pytest.raises(em.Refused, match="last member"):
        only = cluster(member(3, started=False))
        em.plan_absent(only, only["members"][0], False)


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_interrupted_add_is_finished_not_repeated(version):
    """The re-run's add finds the never-started member by its peer URL and
    returns the membership to start with, including this host's name."""
    members = [u.normalize_member(m) for m in
               json.loads((FIXTURES / version / "member_list_unstarted_learner.json").read_text())["members"]]
    action, found = em.plan_present(members, "node2", [NODE2], True, False)
    assert action == "none" and found["name"] == "" and not found["started"]
    assert u.initial_cluster(members, "node2", [NODE2]) == f"node1={NODE1},node2={NODE2}"


# ---------------------------------------------------------------- never-started removals
def test_never_started_voter_keeps_the_quorum_guard():
    """A voter etcd lists as unstarted may run (its name not yet published, or
    a lagging member list): its removal is refused when the voters that
    remain would not keep quorum, as for any voter."""
    # 5 voters, 2 down; etcd-5 listed as unstarted. Removing it leaves 4 voters
    # of which 2 are healthy: if it in fact runs, the cluster loses quorum.
    view = cluster(member(1, leader=True), member(2), member(3, healthy=False), member(4, healthy=False),
                   member(5, started=False))
    with pytest.raises(em.Refused, match="quorum needs 3"):
        em.plan_absent(view, view["members"][4], False)
    # A cluster that has quorum without it always passes the guard.
    view = cluster(member(1, leader=True), member(2), member(3), member(4, healthy=False), member(5, started=False))
    em.plan_absent(view, view["members"][4], False)
    # A started voter still gets the two-member refusal; a never-started one does not.
    view = cluster(member(1, leader=True), member(2), member(3, healthy=False))
    with pytest.raises(em.Refused, match="2-member cluster"):
        em.plan_absent(view, view["members"][2], False)


@pytest.mark.parametrize("learner", [True, False])
def test_unstarted_only_refuses_a_started_member_even_forced(learner):
    view = cluster(member(1, leader=True), member(2), member(3), member(4, learner=learner))
    for force in (False, True):
        with pytest.raises(em.Refused, match="has started"):
            em.plan_absent(view, view["members"][3], force, unstarted_only=True)
    view = cluster(member(1, leader=True), member(2), member(3), member(4, learner=learner, started=False))
    em.plan_absent(view, view["members"][3], False, unstarted_only=True)


class AbsentCtl:
    """member list answers `listed`; health and status from the members' flags."""

    def __init__(self, listed):
        self.listed = listed
        self.removed = []
        self.endpoints = []

    def retry(self, func, **kw):
        return func()

    def member_list(self):
        return [dict(m) for m in self.listed]

    def cluster_view(self, members):
        by_id = {m["id"]: m for m in self.listed}
        for m in members:
            m.update(healthy=by_id[m["id"]]["healthy"], is_leader=by_id[m["id"]]["is_leader"])
        return dict(members=members, leader=next((m["id_hex"] for m in members if m["is_leader"]), None))

    def member_remove(self, member_id):
        self.removed.append(member_id)
        self.listed = [m for m in self.listed if m["id"] != member_id]


class AbsentModule:
    check_mode = False
    _diff = False

    def __init__(self, **params):
        self.params = dict(state="absent", name=None, peer_urls=None, id=None, learner=True, force=False,
                           allow_two_members=False, unstarted_only=False, wait_timeout=60)
        self.params.update(params)


def test_orphan_removal_reads_the_membership_again():
    """orphans.yml passes the ID of a member read as never started; if it has
    started since, nothing is removed."""
    ctl = AbsentCtl([member(1, leader=True), member(2), member(3), member(4, learner=True)])
    with pytest.raises(em.Refused, match="has started"):
        em.MemberManager(AbsentModule(id="4", unstarted_only=True), ctl).run()
    assert ctl.removed == []
    ctl = AbsentCtl([member(1, leader=True), member(2), member(4, started=False)])
    result = em.MemberManager(AbsentModule(id="4", unstarted_only=True), ctl).run()
    assert ctl.removed == [4] and result["changed"] and result["action"] == "removed"
    # Gone already (a re-run): nothing to do.
    result = em.MemberManager(AbsentModule(id="4", unstarted_only=True), ctl).run()
    assert ctl.removed == [4] and not result["changed"]


def test_removed_ids_leave_members_out_of_the_view():
    """Check mode: a removal only predicted is not seen by the later gates."""
    view = cluster(member(1, leader=True), member(2), member(3), member(5, started=False))
    view = eci.without(view, ["0x5"])
    assert [m["id_hex"] for m in view["members"]] == ["1", "2", "3"] and view["leader"] == "1"
    problems, pending, holding = eci.evaluate(view, {"h1": "https://10.0.0.1:2380"})
    assert problems == pending == holding == []
    assert eci.without(cluster(member(1, leader=True)), None)["members"][0]["id"] == 1
