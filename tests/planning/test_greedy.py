"""The greedy planner on a fake session whose end-to-end KL divergence is a known function of the assignment.

The planner must measure the whole plan after every addition (never add up
single-unit figures), isolate a unit that breaks the budget, keep trying the
next ones, stop after PATIENCE failures in a row, and cost one evaluation when
everything fits. Sensitivity runs dearer pipelines only for units whose
cheaper ones exceed the budget alone.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from layoutscope.planning.greedy import PATIENCE, grow, order
from layoutscope.planning.sensitivity import UnitSensitivity, measure
from layoutscope.planning.units import Unit, WeightFacts, make_units


class FakeSession:
    """``evaluate`` returns ``kld(assignment)`` as the mean KL divergence and counts the candidates it ran."""

    def __init__(self, kld):
        self.kld = kld
        self.evaluations = []

    def candidate(self, label, assignment):
        return SimpleNamespace(label=label, assignment=dict(assignment), selected=tuple(assignment))

    def evaluate(self, candidates, progress=lambda *a: None):
        self.evaluations.append([c.assignment for c in candidates])
        return SimpleNamespace(results=[SimpleNamespace(quality=SimpleNamespace(kld_mean=self.kld(c.assignment)))
                                        for c in candidates])


def units(n: int, size: int = 100) -> list[Unit]:
    return [Unit(f"blk.{i}", (WeightFacts(f"blk.{i}.w", "Q8_0", i, size, size),)) for i in range(n)]


def additive(costs: dict, pipeline_factor=None):
    """KLD = Σ cost of each offloaded unit (times a per-pipeline factor)."""
    factor = pipeline_factor or {}
    return lambda assignment: sum(costs[name.split(".w")[0]] * factor.get(p, 1.0) for name, p in assignment.items())


def choices_for(us, klds, pipeline="W8A8_STANDARD", budget=1.0):
    table = [UnitSensitivity(u, {pipeline: SimpleNamespace(kld_mean=k)}) for u, k in zip(us, klds)]
    return order(table, [pipeline], budget, "bytes")


def test_everything_that_fits_costs_one_evaluation():
    us = units(6)
    costs = {u.label: 0.001 for u in us}
    session = FakeSession(additive(costs))
    chosen, over = choices_for(us, [0.001] * 6)
    result = grow(session, chosen, budget=0.01)
    assert len(session.evaluations) == 1
    assert [c.unit.label for c in result.chosen] == [u.label for u in us]
    assert result.quality.kld_mean == pytest.approx(0.006)
    assert not over


def test_a_unit_that_breaks_the_budget_is_left_out_and_the_next_ones_still_tried():
    us = units(5)
    costs = {"blk.0": 0.001, "blk.1": 0.002, "blk.2": 0.009, "blk.3": 0.003, "blk.4": 0.003}
    session = FakeSession(additive(costs))
    # the alone figures order the units; blk.2 is the third least sensitive alone by construction
    chosen, _ = choices_for(us, [0.001, 0.002, 0.0025, 0.003, 0.0031])
    result = grow(session, chosen, budget=0.01)
    assert [c.unit.label for c in result.chosen] == ["blk.0", "blk.1", "blk.3", "blk.4"]
    assert [c.unit.label for c, _ in result.rejected] == ["blk.2"]
    # every accepted step was measured within budget, and the final measurement is the plan's
    assert all(s.quality.kld_mean <= 0.01 for s in result.steps if s.accepted)
    assert result.quality.kld_mean == pytest.approx(0.009)


def test_the_plan_is_measured_not_predicted_from_single_units():
    """Each unit alone is well within budget, but together they interact: the measurement decides."""
    us = units(4)
    session = FakeSession(lambda a: 0.001 * len(a) ** 3)  # 1 → 0.001, 2 → 0.008, 3 → 0.027
    chosen, _ = choices_for(us, [0.001] * 4)
    result = grow(session, chosen, budget=0.01)
    assert len(result.chosen) == 2
    assert result.quality.kld_mean == pytest.approx(0.008)


def test_patience_stops_after_failures_in_a_row():
    us = units(10)
    costs = {u.label: (0.001 if i < 2 else 0.02) for i, u in enumerate(us)}
    session = FakeSession(additive(costs))
    chosen, _ = choices_for(us, [0.001 * (i + 1) for i in range(10)])
    result = grow(session, chosen, budget=0.01)
    assert [c.unit.label for c in result.chosen] == ["blk.0", "blk.1"]
    assert len(result.rejected) == PATIENCE
    assert [c.unit.label for c in result.untried] == [f"blk.{i}" for i in range(2 + PATIENCE, 10)]


def test_order_is_sensitivity_per_objective_unit_and_drops_units_over_budget_alone():
    small = Unit("blk.0", (WeightFacts("blk.0.w", "Q8_0", 0, 100, 100),))
    big = Unit("blk.1", (WeightFacts("blk.1.w", "Q8_0", 1, 1000, 100),))
    hopeless = Unit("blk.2", (WeightFacts("blk.2.w", "Q8_0", 2, 1000, 100),))
    table = [UnitSensitivity(small, {"P": SimpleNamespace(kld_mean=0.001)}),
             UnitSensitivity(big, {"P": SimpleNamespace(kld_mean=0.005)}),
             UnitSensitivity(hopeless, {"P": SimpleNamespace(kld_mean=0.5)})]
    by_bytes, over = order(table, ["P"], 0.01, "bytes")
    assert [c.unit.label for c in by_bytes] == ["blk.1", "blk.0"]  # 5e-6 per byte before 1e-5 per byte
    by_macs, _ = order(table, ["P"], 0.01, "macs")
    assert [c.unit.label for c in by_macs] == ["blk.0", "blk.1"]   # equal MACs: the less sensitive first
    assert [row.unit.label for row in over] == ["blk.2"]


def test_sensitivity_tries_dearer_pipelines_only_where_the_cheaper_ones_exceed_the_budget():
    us = units(3)
    # blk.1 is fragile under INT4 only
    factor = {"W4A4_STANDARD": 1.0, "W8A8_STANDARD": 0.01}
    costs = {"blk.0": 0.001, "blk.1": 0.5, "blk.2": 0.002}
    session = FakeSession(additive(costs, factor))
    pipelines = ["W4A4_STANDARD", "W8A8_STANDARD", "W16A16_STANDARD"]
    table = measure(session, us, pipelines, budget=0.01)
    assert [sorted(row.measured) for row in table] == [["W4A4_STANDARD"], ["W4A4_STANDARD", "W8A8_STANDARD"],
                                                      ["W4A4_STANDARD"]]
    assert len(session.evaluations) == 2 and len(session.evaluations[1]) == 1
    assert table[1].cheapest_within(pipelines, 0.01) == "W8A8_STANDARD"
    full = measure(FakeSession(additive(costs, factor)), us, pipelines, budget=0.01, exhaustive=True)
    assert all(sorted(row.measured) == sorted(pipelines) for row in full)


def test_units_by_layer_keep_the_head_apart():
    facts = [WeightFacts("output.weight", "Q8_0", None, 10, 10), WeightFacts("blk.0.a", "Q8_0", 0, 1, 1),
             WeightFacts("blk.0.b", "Q8_0", 0, 2, 2), WeightFacts("blk.1.a", "Q8_0", 1, 3, 3)]
    layers = make_units(facts, "layer")
    assert [(u.label, u.names, u.size("bytes")) for u in layers] == [
        ("output", ("output.weight",), 10), ("blk.0", ("blk.0.a", "blk.0.b"), 3), ("blk.1", ("blk.1.a",), 3)]
    assert [u.label for u in make_units(facts, "weight")] == [f.name for f in facts]


def test_a_unit_the_plan_refuses_on_int4_goes_as_int8_when_the_plan_takes_that():
    us = units(3)
    factor = {"W4A4_STANDARD": 1.0, "W4A4_HADAMARD": 0.8, "W8A8_STANDARD": 0.01}
    costs = {"blk.0": 0.004, "blk.1": 0.004, "blk.2": 0.004}
    session = FakeSession(additive(costs, factor))
    pipelines = ["W4A4_STANDARD", "W4A4_HADAMARD", "W8A8_STANDARD"]
    table = measure(session, us, pipelines, budget=0.01)  # every unit fits alone on W4A4_STANDARD
    choices, _ = order(table, pipelines, 0.01, "bytes")
    assert [c.fallbacks for c in choices] == [("W4A4_HADAMARD", "W8A8_STANDARD")] * 3
    result = grow(session, choices, 0.01)
    planned = {c.unit.label: c.pipeline for c in result.chosen}
    # two INT4 units use 0.008; the third fits neither as INT4 (0.012) nor as rotated INT4 (0.0112), but as INT8
    assert sorted(planned.values()) == ["W4A4_STANDARD", "W4A4_STANDARD", "W8A8_STANDARD"]
    upgraded = next(c for c in result.chosen if c.pipeline == "W8A8_STANDARD")
    assert upgraded.instead_of == ("W4A4_STANDARD", "W4A4_HADAMARD")
    assert not result.rejected and result.quality.kld_mean == pytest.approx(0.00804)


def test_fallbacks_skip_pipelines_measured_over_budget_alone():
    unit = units(1)[0]
    row = UnitSensitivity(unit, {"A": SimpleNamespace(kld_mean=0.001), "B": SimpleNamespace(kld_mean=0.5)})
    choices, _ = order([row], ["A", "B", "C"], 0.01, "bytes")
    assert choices[0].pipeline == "A" and choices[0].fallbacks == ("C",)
