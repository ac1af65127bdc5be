"""How exact drift detection is: no false drift at any split fleet sets, and what a hand edit must change to be seen.

Both providers' own units are checked exhaustively: HAProxy holds the
percentages themselves, Route53 the 0..255 weights fleet scales them to.
"""

from __future__ import annotations

import random

from fleet.adapters.traffic.route53 import scale
from fleet.domain.model import SlotName, Weights
from fleet.domain.traffic import SlotTraffic, TrafficView, weight_drift


def view(blue: int, green: int) -> TrafficView:
    return TrafficView("p", {SlotName.BLUE: SlotTraffic(blue), SlotName.GREEN: SlotTraffic(green)})


def test_no_split_fleet_sets_reads_back_as_drift() -> None:
    false_drifts = 0
    for percent in range(101):
        recorded = Weights.split(SlotName.GREEN, percent)
        false_drifts += weight_drift(recorded, view(recorded.blue, recorded.green)) is not None
        false_drifts += weight_drift(recorded, view(scale(recorded.blue), scale(recorded.green))) is not None
    assert false_drifts == 0  # of 202 read-backs


def test_a_hand_edit_is_seen_when_it_moves_the_split_by_half_a_percentage_point_or_more() -> None:
    rng = random.Random(12)
    seen = missed_big = 0
    for _ in range(20_000):
        percent = rng.randrange(101)
        recorded = Weights.split(SlotName.GREEN, percent)
        blue, green = scale(recorded.blue), scale(recorded.green)
        blue = min(255, max(0, blue + rng.randint(-40, 40)))
        green = min(255, max(0, green + rng.randint(-40, 40)))
        if blue + green == 0:
            continue
        share = 100 * green / (blue + green)
        drift = weight_drift(recorded, view(blue, green))
        if abs(share - percent) >= 0.5 + 1e-9:
            missed_big += drift is None
        seen += drift is not None
    assert missed_big == 0, "every edit that moves the split by >= 0.5 points is reported"
    assert seen > 15_000
