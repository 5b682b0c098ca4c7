"""``layoutscope diagnose``: which known layout bug explains an output captured from a real backend."""

from __future__ import annotations


from layoutscope.gguf import Model
from layoutscope.errors import printable_lines
from layoutscope.cli.outputs import Outputs


def run(args) -> int:
    """Load the weight, X and the observed Y, rank the hypotheses, print text or JSON."""
    from layoutscope.analyses.diagnose import diagnose
    from layoutscope.measure.inputs import load_npy, load_observed
    from layoutscope.measure.jsonable import jsonable
    from layoutscope.measure.settings import RunSettings

    with Model(args.file) as model:
        weight = model.tensor(args.tensor)
        weight.require_data("diagnose")
        if weight.n_dims != 2:
            raise ValueError(f"{weight.name} is not a 2-D weight (ne = {list(weight.ne)}); diagnose needs a matmul weight")
        k, n = weight.ne[0], weight.n_rows
        outputs = Outputs(args, models=model.paths, inputs=(args.observed, args.input))
        x, _ = load_npy(args.input, k, label="--input")
        observed = load_observed(args.observed, x.shape[0], n, weight.name)
        result = diagnose(weight, x, observed, **RunSettings.from_args(args).npu_options())
        data = result.to_dict()
        data = jsonable({"tensor": data.pop("tensor"), "type": weight.type.name, "ne": list(weight.ne),
                         "observed": args.observed, "input": args.input, **data})
        outputs.export_json(data)
        outputs.print_report(lambda: as_text(result, weight, args.observed, args.input), lambda: data)
    outputs.finish()
    return 0


def as_text(result, weight, observed_path: str, input_path: str) -> str:
    """The ranked table, the best match with its fix, and the hypotheses that do not apply."""
    from layoutscope.backend.rknpu2.platforms import MATMUL_TYPES

    o = result.options
    t = MATMUL_TYPES[o["mm"]]
    m, k, n = result.shape
    applicable = [f for f in result.findings if f.applicable]
    width = max(len(f.id) for f in result.findings)
    lines = [
        f"{result.tensor} ({weight.type.name}, ne = [{weight.ne[0]}, {weight.ne[1]}]): "
        "which known bug explains the observed output?",
        f"  observed: {observed_path} ({m}×{n})   input: {input_path} ({m}×{k})",
        f"  NPU model: {o['platform']}, {t.rknn_name} ({t.rknn_value}), weights {o['weight_quant']}, "
        f"activations {o['act_quant']}; npu-sim re-run with each bug injected",
        "",
        f"  {'rank':>4}  {'hypothesis':<{width}}  {'NMSE':>9}  {'SNR dB':>7}  {'cosine':>9}  meaning",
    ]
    for rank, f in enumerate(applicable, 1):
        mt = f.metrics
        lines.append(f"  {rank:>4}  {f.id:<{width}}  {mt.nmse:>9.3e}  {mt.snr_db:>7.1f}  {mt.cosine:>9.6f}  {f.meaning}")
        if f.note:
            lines.append(f"  {'':>4}  {'':<{width}}  {f.note}")
    rest = [f for f in result.findings if not f.applicable]
    if rest:
        lines += ["", "  not applicable here:"]
        lines += [f"  {'-':>4}  {f.id:<{width}}  {f.reason}" for f in rest]
    lines += ["", f"  {result.summary()}"]
    best, second = result.best, result.runner_up
    if best is not None and best.id != "none":
        lines.append(f"  fix: {best.fix}")
    if second is not None:
        lines.append(f"  but {second.id} (NMSE {second.nmse:.3g}) explains it about as well: "
                     "this input cannot tell them apart; try another input")
    if best is None:
        lines.append("  check --platform, --mm, --weight-quant and --act-quant against the backend's settings, "
                     "and that --input is exactly what it was given")
    lines += [f"  note: {note}" for note in result.notes]
    return printable_lines(lines)
