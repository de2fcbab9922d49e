"""Split-test assignment: sticky per visitor and step, and a change of weights moves only whom it must."""

import uuid
from dataclasses import dataclass

from funnels.splits import BUCKETS, variant_for, variant_ranges, visitor_bucket


@dataclass(frozen=True)
class Arm:
    pk: int
    weight: int


VISITORS = [uuid.UUID(int=n * 7919 + 13) for n in range(20_000)]


def assign(arms, step_id=5):
    chosen = {v: variant_for(visitor_id=v, step_id=step_id, variants=arms) for v in VISITORS}
    return {v: arm.pk for v, arm in chosen.items() if arm is not None}


def test_proportional_weights_move_nobody():
    assert assign([Arm(1, 1), Arm(2, 1)]) == assign([Arm(1, 50), Arm(2, 50)])
    assert assign([Arm(1, 1), Arm(2, 3)]) == assign([Arm(1, 25), Arm(2, 75)])


def test_one_to_one_becoming_one_to_two_moves_only_the_share_that_must_move():
    before, after = assign([Arm(1, 1), Arm(2, 1)]), assign([Arm(1, 1), Arm(2, 2)])
    moved = {v for v in VISITORS if before[v] != after[v]}
    # Exactly the buckets between the old border (1/2) and the new one (1/3), all from the first arm to the second.
    assert moved == {v for v in VISITORS if BUCKETS // 3 <= visitor_bucket(visitor_id=v, step_id=5) < BUCKETS // 2}
    assert all(before[v] == 1 and after[v] == 2 for v in moved)
    assert abs(len(moved) / len(VISITORS) - 1 / 6) < 0.01


def test_shares_follow_the_weights_and_ranges_cover_every_bucket_once():
    arms = [Arm(3, 1), Arm(1, 2), Arm(2, 7)]
    ranges = variant_ranges(arms)
    assert [(arm.pk, start, end) for arm, start, end in ranges] == [(1, 0, 2000), (2, 2000, 9000), (3, 9000, 10000)]
    counts = {pk: list(assign(arms).values()).count(pk) for pk in (1, 2, 3)}
    assert abs(counts[1] / len(VISITORS) - 0.2) < 0.015
    assert abs(counts[2] / len(VISITORS) - 0.7) < 0.015


def test_a_paused_arm_gets_nobody_and_no_arm_means_no_variant():
    assert set(assign([Arm(1, 0), Arm(2, 1)]).values()) == {2}
    assert variant_for(visitor_id=VISITORS[0], step_id=5, variants=[Arm(1, 0)]) is None


def test_the_same_visitor_gets_independent_buckets_on_different_steps():
    same = sum(visitor_bucket(visitor_id=v, step_id=1) == visitor_bucket(visitor_id=v, step_id=2) for v in VISITORS)
    assert same < 20
