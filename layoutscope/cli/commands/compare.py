"""``layoutscope compare``: one weight's matmul on the NPU path against llama.cpp's CPU."""

from __future__ import annotations

from layoutscope.measure.metrics import fails
from layoutscope.errors import EXIT_VERDICT
from layoutscope.gguf import Model
from layoutscope.errors import printable_lines

from layoutscope.cli.outputs import Outputs


def run(args) -> int:
    """Compare, print (text or JSON), export CSV, and apply --fail-on."""
    from layoutscope.measure.comparison import run_comparison
    from layoutscope.report.csv_tables import write_comparison_csv

    from layoutscope.backend import npu_backend, reference_backend
    from layoutscope.measure.settings import RunSettings

    settings = RunSettings.from_args(args)
    backend, notice = npu_backend(settings.backend, core=settings.npu_core, **settings.npu_options())
    reference, ref_notice = reference_backend(settings.reference, settings.threads)
    with Model(args.file) as model:
        outputs = Outputs(args, models=model.paths, inputs=existing_files(settings.input))
        weight = model.tensor(args.tensor)
        weight.require_data("compare")
        if weight.n_dims != 2:
            raise ValueError(f"{weight.name} is not a 2-D weight (ne = {list(weight.ne)}); compare needs a matmul weight")
        x, described, graph_y, input_notice = real_or_synthetic(settings, model, weight)
        result = run_comparison(weight, x, backend, reference, described, bands=settings.bands, graph_y=graph_y)
        notices = [n for n in (notice, ref_notice, input_notice) if n]
        outputs.export("--csv", lambda stream: write_comparison_csv(stream, result))
        data = result.to_dict()
        data["notices"] = notices + outputs.notices
        outputs.export_json(data)
        outputs.print_report(lambda: as_text(result, weight, notices + outputs.notices), lambda: data)
    outputs.finish()
    if fails(result.metrics.verdict, args.fail_on):
        return EXIT_VERDICT
    return 0


def real_or_synthetic(settings, model, weight):
    """``(X, description, llama.cpp's Y or None, notice)``: the weight's real rows where the input setting gives
    some (one capture, or an activations file), else the synthetic input with a notice saying why."""
    from layoutscope.inference.real_input import plan_inputs
    from layoutscope.measure.inputs import load_input

    plan = plan_inputs(settings.input, model, [weight.name], settings.rows)
    captured = plan.rows_for(weight)
    if captured is not None:
        return captured.x, plan.acts.describe(weight.name), captured.y, ""
    x, described = load_input(plan.synthetic, model, weight.ne[0], settings.rows, n=weight.ne[1])
    return x, described, None, plan.fallback_notice(weight.name)


def existing_files(*paths: str) -> list:
    """The ``paths`` that name existing files (``--input`` may be ``random`` or ``tokens:...``)."""
    import os

    return [p for p in paths if os.path.isfile(p)]


def as_text(result, weight, notices) -> str:
    """The comparison as readable text."""
    from layoutscope.report.numbers import float_text

    d = result.details["backend"]
    m = result.metrics
    lines = [
        f"{result.tensor} ({weight.type.name}, ne = [{weight.ne[0]}, {weight.ne[1]}]): "
        f"{result.backend} vs {result.reference}",
    ]
    lines += [f"  note: {n}" for n in notices]
    if "pipeline" in d:
        lines += pipeline_lines(d)
    else:
        lines.append(f"  NPU: {d['platform']}, {d['rknn_matmul_type']}, weights {d['weight_quant']}, "
                     f"activations {d['act_quant']}")
    if "runtime" in d:
        lines.append(f"  runtime: {d['runtime']}, NPU core {d['npu_core']}")
    lines += [f"  FINDING: {f}" for f in result.findings]
    calls = "" if d.get("calls", 1) == 1 else f" in {d['calls']} NPU calls"
    if "pipeline" in d:
        shapes = (f"  shapes: M={d['M']} K={d['K']} N={d['N']} (M_op={d['M_op']} K_op={d['K_op']}); K segments "
                  f"{d['k_segments']}, N per core {d['n_segments']}")
    else:
        shapes = (f"  shapes: M={d['M']} K={d['K']} N={d['N']} (padded K={d['K_padded']} N={d['N_padded']}){calls}; "
                  "native " + "  ".join(f"{k} {tuple(v)}" for k, v in d["native_shapes"].items()))
    lines += [
        f"  input: {result.input}",
        shapes,
        "",
        f"  matmul:       NMSE {m.nmse:.3e}  SNR {m.snr_db:.1f} dB  cosine {m.cosine:.6f}  "
        f"max|err| {m.max_abs:.4g}  mean|err| {m.mean_abs:.4g}  verdict {m.verdict.upper()}",
    ]
    if m.excluded:
        lines.append(f"  measured over the {m.measured} of {result.y.size} positions finite on both sides, "
                     f"{m.excluded_text}")
    s = result.standalone_vs_graph
    if s is not None:
        same = " (bit-identical)" if s["bit_identical"] else ""
        lines.append(f"  standalone ggml {s['standalone']} vs llama.cpp's graph: max|err| {s['max_abs']:.4g}  "
                     f"NMSE {s['nmse']:.3e}{same}")
    if m.exact_fraction is not None:
        lines.append(f"  exact int32 matches: {m.exact_fraction:.2%}")
    if result.weight_error is not None:
        w = result.weight_error
        lines.append(
            f"  weight alone: NMSE {w.nmse:.3e}  SNR {w.snr_db:.1f} dB  max|err| {w.max_abs:.4g}  "
            f"(W requantized {d.get('pipeline') or d['weight_quant']} vs W dequantized: the scheme's own error)"
        )
        if w.excluded_text:
            lines.append(f"  weight alone measured over its {w.measured} positions finite on both sides, {w.excluded_text}")
    lines += ["", "  worst elements:", f"  {'m':>6} {'n':>6} {'reference':>14} {result.backend:>14} {'|err|':>12}"]
    for w in m.worst[:8]:
        lines.append(f"  {w.m:>6} {w.n:>6} {float_text(w.reference):>14} {float_text(w.value):>14} {w.abs_err:>12.4g}")
    notes = [n for n in [*d.get("notes", []), *result.details.get("reference", {}).get("notes", [])] if n]
    if notes:
        lines += ["", "  notes:"] + [f"  - {n}" for n in notes]
    return printable_lines(lines)


def pipeline_lines(d: dict) -> list:
    """A community pipeline's NPU lines: pipeline, types, the fork options that differ from ORG, UNCONFIRMED."""
    from layoutscope.backend.community.options import CommunityOptions

    orig = CommunityOptions().to_dict()
    forks = [f"{k.replace('_', '-')} {v}" for k, v in d["options"].items() if k != "seed" and v != orig.get(k)]
    types = d["types"]
    lines = [f"  NPU: {d['backend']} {d['pipeline']} on {d['platform']} (cores {','.join(map(str, d['cores']))}): "
             f"A {types['A']} B {types['B']} C {types['C']}, {d['rknn_matmul_type']}, seed {d['seed']}"]
    if forks:
        lines.append(f"  forks: {', '.join(forks)}")
    if d.get("int16_overflows"):
        lines.append(f"  int16 C overflowed at {d['int16_overflows']} outputs ({d['options']['int4_overflow']}d)")
    lines += [f"  UNCONFIRMED: {u}" for u in d.get("unconfirmed", [])]
    return lines
