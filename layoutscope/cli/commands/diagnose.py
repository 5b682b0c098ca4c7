"""``layoutscope diagnose``: which known layout bug explains an output captured from a real backend."""

from __future__ import annotations


from layoutscope.errors import UsageError
from layoutscope.gguf import Model
from layoutscope.errors import printable_lines
from layoutscope.cli.outputs import Outputs


def run(args) -> int:
    """Load the weight, X and the observed Y, rank the hypotheses, print text or JSON."""
    from layoutscope.analyses.diagnose import diagnose
    from layoutscope.measure.jsonable import jsonable

    with Model(args.file) as model:
        weight = model.tensor(args.tensor)
        weight.require_data("diagnose")
        if weight.n_dims != 2:
            raise ValueError(f"{weight.name} is not a 2-D weight (ne = {list(weight.ne)}); diagnose needs a matmul weight")
        k, n = weight.ne[0], weight.n_rows
        outputs = Outputs(args, models=model.paths, inputs=(args.observed, args.input))
        x = load_input(args.input, k, weight.name)
        observed = load_observed(args.observed, x.shape[0], n, weight.name)
        result = diagnose(weight, x, observed, platform=args.platform, mm=args.mm,
                          weight_quant=args.weight_quant, act_quant=args.act_quant)
        data = result.to_dict()
        data = jsonable({"tensor": data.pop("tensor"), "type": weight.type.name, "ne": list(weight.ne),
                         "observed": args.observed, "input": args.input, **data})
        outputs.export_json(data)
        outputs.print_report(lambda: as_text(result, weight, args.observed, args.input), lambda: data)
    outputs.finish()
    return 0


def _load_npy(path: str, flag: str):
    import numpy as np

    try:
        return np.load(path, allow_pickle=False)
    except IsADirectoryError:
        raise UsageError(f"{flag} {path}: is a directory, not a .npy file") from None
    except FileNotFoundError:
        raise  # classified as "no such file" with its name
    except (OSError, ValueError, EOFError) as exc:
        raise UsageError(f"{flag} {path}: cannot read it as .npy ({exc})") from None


def load_input(path: str, k: int, tensor: str):
    """X from ``path``: float32 (M, K); UsageError names the file and the expected shape."""
    import numpy as np

    x = _load_npy(path, "--input")
    want = f"expected float32 (M, {k}) for {tensor}: the activations the backend was given"
    if x.dtype != np.float32:
        raise UsageError(f"--input {path}: dtype is {x.dtype}, {want} (save with x.astype(np.float32))")
    if x.ndim != 2 or x.shape[1] != k or x.shape[0] < 1:
        raise UsageError(f"--input {path}: shape is {x.shape}, {want}")
    return np.ascontiguousarray(x)


def load_observed(path: str, m: int, n: int, tensor: str):
    """Y from ``path``: real numbers (M, N); UsageError names the file and the expected shape."""
    import numpy as np

    y = _load_npy(path, "--observed")
    want = f"expected (M, N) = ({m}, {n}): one row per row of --input, one column per output channel of {tensor}"
    if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
        raise UsageError(f"--observed {path}: dtype is {y.dtype}, not real numbers; {want}")
    if y.shape != (m, n):
        raise UsageError(f"--observed {path}: shape is {y.shape}, {want}")
    return y


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
