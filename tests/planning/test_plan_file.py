"""``plan.json``: written, read back equal, and refused in one line when corrupt or made for another model."""

from __future__ import annotations

import json

import pytest

from layoutscope.gguf import open_model
from layoutscope.measure.settings import RunSettings
from layoutscope.planning.plan_file import FORMAT, PlanFileError, model_fingerprint, plan_for, read_plan, \
    settings_from_plan


@pytest.fixture(scope="module")
def tiny(tiny_llama_path):
    with open_model(str(tiny_llama_path)) as model:
        yield model


@pytest.fixture
def written(tmp_path, tiny):
    settings = RunSettings().with_changes(seed=7, w8_calib="mse")
    plan = plan_for(tiny, {"blk.0.ffn_up.weight": "W8A8_STANDARD", "blk.1.attn_q.weight": "W4A4_HADAMARD"},
                    settings, 0.02, {"kld": {"mean": 0.001}, "chunks": 1, "ctx": 64})
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan.to_dict()))
    return path


def test_round_trip_keeps_the_assignment_budget_settings_and_measurement(written, tiny):
    plan = read_plan(str(written), tiny)
    assert plan.assignment == {"blk.0.ffn_up.weight": "W8A8_STANDARD", "blk.1.attn_q.weight": "W4A4_HADAMARD"}
    assert plan.budget == 0.02 and plan.measured["kld"]["mean"] == 0.001
    settings = settings_from_plan(plan, RunSettings())
    assert (settings.seed, settings.w8_calib) == (7, "mse")
    assert json.loads(written.read_text())["format"] == FORMAT


def test_the_fingerprint_is_the_tensor_table(tiny, all_types_path):
    with open_model(str(all_types_path)) as other:
        assert model_fingerprint(tiny) != model_fingerprint(other)
    assert model_fingerprint(tiny) == model_fingerprint(tiny)


def edit(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("mutate, words", [
    (lambda d: d.update(fingerprint="0" * 64), "whose tensor table differs"),
    (lambda d: d.update(format="something-else"), "not a layoutscope plan"),
    (lambda d: d.update(version=99), "plan version 99"),
    (lambda d: d["assignment"].update({"blk.9.nope.weight": "W8A8_STANDARD"}), "is not in the model"),
    (lambda d: d["assignment"].update({"blk.0.ffn_up.weight": "W9A9"}), "is no pipeline"),
    (lambda d: d.update(assignment=["blk.0.ffn_up.weight"]), "must map weight names"),
    (lambda d: d.update(kld_budget=-1), "kld_budget"),
    (lambda d: d.update(kld_budget="0.01"), "kld_budget"),
])
def test_a_corrupt_or_foreign_plan_is_refused_in_one_line(written, tiny, mutate, words):
    edit(written, mutate)
    with pytest.raises(PlanFileError) as caught:
        read_plan(str(written), tiny)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_broken_json_is_refused_with_its_byte_offset(tmp_path, tiny):
    path = tmp_path / "plan.json"
    path.write_bytes(b'{"format": "layoutscope-plan", "version": 1,, }')
    with pytest.raises(PlanFileError, match=r"corrupt JSON at byte 44 \(line 1, column 45\)"):
        read_plan(str(path), tiny)
    path.write_bytes(b'{"format": "\xff"}')
    with pytest.raises(PlanFileError, match="byte 12 is not UTF-8"):
        read_plan(str(path), tiny)
    with pytest.raises(PlanFileError, match="no such file"):
        read_plan(str(tmp_path / "missing.json"), tiny)


def test_a_bad_setting_in_the_plan_is_refused_by_its_own_validator(written, tiny):
    edit(written, lambda d: d["settings"].update(w8_calib="median"))
    plan = read_plan(str(written), tiny)
    with pytest.raises(PlanFileError, match="corrupt setting w8_calib"):
        settings_from_plan(plan, RunSettings(), str(written))
