"""The router: shadow scores both and returns the champion; a canary takes its share (within a
binomial bound over 10,000 ids) by a stable hash, so the same id always routes the same, in any
process; the flags' text parses, and bad text or a bad configuration is refused in words."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from driftline.errors import InputError, NotFoundError
from serving.routing import Route, Router, RouteSpec, bucket, parse_route_flag

ROOT = Path(__file__).resolve().parents[2]


def test_without_a_challenger_the_champion_or_the_pinned_ref_answers() -> None:
    router = Router({"churn": "champion", "billing": "3"})
    assert router.plan("churn", "r1") == (Route("churn", "champion", "champion", True),)
    assert router.plan("billing", "r1") == (Route("billing", "3", "pinned", True),)


def test_a_shadow_scores_every_request_and_only_the_champion_is_returned() -> None:
    router = Router({"churn": "champion"}, [parse_route_flag("churn@challenger", "shadow")])
    for rid in ("a", "b", "c"):
        assert router.plan("churn", rid) == (Route("churn", "champion", "champion", True),
                                             Route("churn", "challenger", "challenger", False))


def test_a_canary_takes_its_share_within_a_binomial_bound_over_10000_ids() -> None:
    router = Router({"churn": "champion"}, [parse_route_flag("churn@challenger=10", "canary")])
    n, p = 10_000, 0.10
    plans = [router.plan("churn", f"req-{i}") for i in range(n)]
    assert all(len(routes) == 1 and routes[0].returned for routes in plans)
    canary = sum(routes[0].role == "challenger" for routes in plans)
    # 5 standard deviations of Binomial(10000, 0.1): 150 requests
    assert abs(canary - n * p) <= 5 * math.sqrt(n * p * (1 - p))


def test_the_same_id_always_routes_the_same_and_retries_land_on_the_same_side() -> None:
    router = Router({"churn": "champion"}, [RouteSpec("churn", "challenger", "canary", 50)])
    again = Router({"churn": "champion"}, [RouteSpec("churn", "challenger", "canary", 50)])
    for i in range(500):
        assert router.plan("churn", f"id-{i}") == router.plan("churn", f"id-{i}") == again.plan("churn", f"id-{i}")


def test_the_hash_is_stable_across_processes_and_hash_seeds() -> None:
    # Pinned values: a salted hash() would change them per process and split retries.
    assert bucket("churn", "req-1") == pytest.approx(23.120681983098375)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "12345"}
    code = "from serving.routing import bucket; print(repr(bucket('churn', 'req-2')))"
    out = subprocess.run([sys.executable, "-c", code],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=True).stdout
    assert float(out) == bucket("churn", "req-2")


@pytest.mark.parametrize("text, mode, spec", [
    ("churn@challenger", "shadow", RouteSpec("churn", "challenger", "shadow", 100)),
    ("churn@challenger", None, RouteSpec("churn", "challenger", "shadow", 100)),
    (" churn@challenger=10 ", "canary", RouteSpec("churn", "challenger", "canary", 10)),
    ("churn@next=2.5%", None, RouteSpec("churn", "next", "canary", 2.5)),
    ("billing@v2=100", "canary", RouteSpec("billing", "v2", "canary", 100))])
def test_the_flags_text_parses(text: str, mode, spec: RouteSpec) -> None:
    assert parse_route_flag(text, mode) == spec


@pytest.mark.parametrize("text, mode, needle", [
    ("churn", "shadow", "model and an alias"), ("@challenger", "shadow", "model and an alias"),
    ("churn@", "canary", "model and an alias"), ("churn@a@b", "shadow", "model and an alias"),
    ("churn@challenger=10", "shadow", "gives a share"), ("churn@challenger", "canary", "no share"),
    ("churn@challenger=ten", "canary", "not a number"), ("churn@challenger=0", "canary", "share"),
    ("churn@challenger=101", "canary", "share"), ("churn@challenger=-5", "canary", "share"),
    ("churn@challenger=nan", "canary", "share"), ("ch urn@challenger", "shadow", "not a name"),
    ("churn@../x", "shadow", "not a name"), ("churn@challenger", "mirror", "mode")])
def test_bad_flag_text_is_refused_naming_the_form(text: str, mode, needle: str) -> None:
    with pytest.raises(InputError, match=needle) as raised:
        parse_route_flag(text, mode)
    assert raised.value.hint


def test_a_bad_configuration_or_request_is_refused() -> None:
    shadow = RouteSpec("churn", "challenger", "shadow")
    with pytest.raises(InputError, match="not served"):
        Router({"billing": "champion"}, [shadow])
    with pytest.raises(InputError, match="two challengers"):
        Router({"churn": "champion"}, [shadow, RouteSpec("churn", "next", "canary", 5)])
    with pytest.raises(InputError, match="already served"):
        Router({"churn": "challenger"}, [shadow])
    router = Router({"churn": "champion"}, [shadow])
    with pytest.raises(NotFoundError, match="not served"):
        router.plan("billing", "r1")
    with pytest.raises(InputError, match="without an id"):
        router.plan("churn", "")
    assert router.challenger("churn") == shadow


def test_the_server_flags_build_the_router_in_one_call() -> None:
    router = Router.from_flags({"churn": "champion", "billing": "champion"}, shadow=["churn@challenger"],
                               canary=["billing@next=100"])
    assert router.challenger("churn") == RouteSpec("churn", "challenger", "shadow")
    assert router.plan("billing", "any") == (Route("billing", "next", "challenger", True),)
    with pytest.raises(InputError, match="gives a share"):
        Router.from_flags({"churn": "champion"}, shadow=["churn@challenger=5"])
