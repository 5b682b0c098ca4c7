"""Tensors with a zero dimension open, are listed with a warning, and every consumer refuses them with the reason."""

from __future__ import annotations

import numpy as np
import pytest

import layoutscope
from layoutscope.backend import get_backend
from layoutscope.gguf import EmptyTensorError
from layoutscope.samples.ggufwrite import STRING, GGUFBuilder

EMPTY = {"n0.weight": ((64, 0), 0), "k0.weight": ((0, 32), 8), "both.weight": ((0, 0), 1), "flat.weight": ((0,), 0),
         "cube.weight": ((32, 4, 0), 0)}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("degenerate") / "zero.gguf"
    b = GGUFBuilder().add("general.architecture", STRING, "llama")
    for name, (ne, type_id) in EMPTY.items():
        b.add_tensor(name, ne, type_id, b"")
    b.add_tensor("blk.0.ffn_up.weight", (64, 8), 0, np.ones((8, 64), np.float32).tobytes())
    b.write(path)
    with layoutscope.open(path) as m:
        yield m


def test_a_zero_dimension_opens_with_a_warning_and_a_reason(model):
    for name, (ne, _) in EMPTY.items():
        t = model.tensor(name)
        text = f"ne = [{', '.join(map(str, ne))}] has a zero dimension, so it holds no elements"
        assert t.empty_reason == text and t.n_elements == 0 and t.raw().size == 0
        assert f"tensor '{name}': {text}; commands skip it" in model.warnings
    assert model.tensor("blk.0.ffn_up.weight").empty_reason is None
    model.tensor("blk.0.ffn_up.weight").require_data("compare")  # a tensor with data passes


def test_require_data_names_the_tensor_its_record_and_ne(model):
    t = model.tensor("k0.weight")
    with pytest.raises(EmptyTensorError) as err:
        t.require_data("compare")
    message = str(err.value)
    assert message == (f"cannot compare tensor 'k0.weight' (info record at byte {t.info_offset} of {t.path}): "
                       "ne = [0, 32] has a zero dimension, so it holds no elements; choose another tensor "
                       "(`layoutscope info` lists every tensor's ne)")
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("backend", ["cpu", "cpu-numpy", "npu-sim"])
@pytest.mark.parametrize("name", ["n0.weight", "k0.weight", "both.weight"])
def test_every_backend_refuses_an_empty_weight_before_any_work(model, backend, name):
    t = model.tensor(name)
    x = np.ones((2, t.ne[0]), np.float32)
    with pytest.raises(EmptyTensorError, match="has a zero dimension"):
        get_backend(backend).matmul(t, x)


def test_comparison_diagnose_and_npu_prepare_refuse_an_empty_weight(model):
    from layoutscope.measure.comparison import run_comparison
    from layoutscope.analyses.diagnose import diagnose

    t = model.tensor("n0.weight")
    x = np.ones((2, 64), np.float32)
    with pytest.raises(EmptyTensorError, match="cannot compare tensor 'n0.weight'"):
        run_comparison(t, x, get_backend("npu-sim"), get_backend("cpu"))
    with pytest.raises(EmptyTensorError, match="cannot diagnose tensor 'n0.weight'"):
        diagnose(t, x, np.zeros((2, 0), np.float32))
    with pytest.raises(EmptyTensorError, match="cannot requantize tensor 'n0.weight'"):
        get_backend("npu-sim").prepare(t)


def test_activations_without_rows_are_refused(model):
    t = model.tensor("blk.0.ffn_up.weight")
    for backend in ("cpu", "cpu-numpy", "npu-sim"):
        with pytest.raises(ValueError, match="M >= 1"):
            get_backend(backend).matmul(t, np.ones((0, 64), np.float32))


def test_scan_skips_every_empty_tensor_with_its_reason(model):
    from layoutscope.analyses.scan import ScanOptions, Scanner, scan_targets

    targets, skipped = scan_targets(model)
    assert [t.name for t in targets] == ["blk.0.ffn_up.weight"]
    reasons = {s.tensor: s.reason for s in skipped}
    assert reasons == {name: model.tensor(name).empty_reason for name in EMPTY}
    for jobs in (1, 2):
        report = Scanner(model, ScanOptions(backend="npu-sim"), jobs=jobs).run()
        assert [r.tensor for r in report.rows] == ["blk.0.ffn_up.weight"] and len(report.skipped) == len(EMPTY)
