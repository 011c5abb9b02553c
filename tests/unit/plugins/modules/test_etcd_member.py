"""Every decision branch of etcd_member and etcd_cluster_info."""
import pytest

from ansible_collections.raftops.etcd.plugins.modules import etcd_member as em
from ansible_collections.raftops.etcd.plugins.modules import etcd_cluster_info as eci


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
