"""Scan a whole model: every matmul weight through the NPU path and llama.cpp's CPU path.

:func:`scan_targets` splits a model's tensors into matmul weights (2-D,
``ggml_mul_mat``'s first operand) and the rest, each skipped with its reason.
:class:`Scanner` measures each weight — the requantization error of the
weight alone, and one matmul against the CPU reference — in a thread pool,
and calls back per finished row so a progress bar (or the TUI) can follow and
a Ctrl-C keeps what is done. With several weight schemes it also says which
scheme each tensor needs to be "ok".

Tensors with a zero dimension are skipped with their reason. NaN and inf are
findings: a row's metrics cover the positions where both sides are finite,
any one-sided non-finite output makes it broken, and its ``findings`` (also
FINDING notices) say which array held how many, from where. They cost
nothing on a clean weight: only a non-finite sum starts the detailed pass.
"""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, fields
from typing import Callable, Optional, Sequence

import numpy as np

from layoutscope.measure.metrics import DEFAULT_BANDS, VERDICTS, ErrorAccumulator, compare
from layoutscope.measure.jsonable import jsonable
from layoutscope.measure.settings import RunSettings
from layoutscope.errors import UsageError
from layoutscope.measure.nonfinite import find_nonfinite
from layoutscope.gguf.name_filter import compile_filter
from layoutscope.errors import printable, quoted

#: Tensors read by ``ggml_get_rows`` (an embedding lookup), never by ``ggml_mul_mat``.
EMBEDDING_ROLES = ("token_embd.weight", "position_embd.weight", "token_types.weight", "pos_embd.weight")


@dataclass(frozen=True)
class Skipped:
    """A tensor that is not a matmul weight, and why."""

    tensor: str
    reason: str


@dataclass
class ScanRow:
    """One weight under one weight scheme: the weight's own error and the matmul's."""

    tensor: str
    layer: Optional[int]
    role: str
    type: str
    K: int
    N: int
    weight_quant: str
    weight_nmse: float
    weight_snr_db: float
    weight_max_abs: float
    nmse: float
    snr_db: float
    cosine: float
    max_abs: float
    mean_abs: float
    verdict: str
    seconds: float
    needs: str = ""
    #: True for token_embd.weight when it doubles as the output head (no output.weight in the model).
    tied_output: bool = False
    mismatched: int = 0
    excluded: int = 0
    findings: list = field(default_factory=list)

    @property
    def effective_nmse(self) -> float:
        """The NMSE for ranking and layer sums: infinite when an output is non-finite on one side only."""
        return float("inf") if self.mismatched or np.isnan(self.nmse) else self.nmse

    def to_dict(self) -> dict:
        """Plain data (non-finite numbers as strings)."""
        return jsonable(self.__dict__)


@dataclass(frozen=True)
class ScanOptions(RunSettings):
    """What to scan and how: the run settings, and which tensors (``filter``, a regex on names).

    A ``weight_quant`` comma list is a scheme sweep (:attr:`weight_quants`; the
    first is primary); the threshold is the ok bound of the verdicts
    (:attr:`bands`), so "over the threshold" means the same in the table, the
    layer summary and the TUI's ``n``.
    """

    filter: Optional[str] = None

    @classmethod
    def of(cls, settings: RunSettings, filter: Optional[str] = None) -> "ScanOptions":
        """A scan of every matmul weight (or those ``filter`` matches) with ``settings``."""
        return cls(**{f.name: getattr(settings, f.name) for f in fields(RunSettings)}, filter=filter)

    def reported(self) -> dict:
        """The options as a scan's JSON report has always listed them (schemes as a list, the bands spelled out)."""
        data = {name: getattr(self, name) for name in ("backend", "reference", "platform", "mm")}
        data.update(weight_quants=self.weight_quants, act_quant=self.act_quant, input=self.input, rows=self.rows,
                    threads=self.threads, npu_core=self.npu_core, filter=self.filter, bands=self.bands)
        if self.pipeline != "classic":  # a community pipeline and its options (classic reports keep their keys)
            data.update({s.name: getattr(self, s.name) for s in self.declared("pipeline")
                         if s.name not in ("platform", "mm", "weight_quant", "act_quant")})
        return data


@dataclass
class LayerSummary:
    """One layer's weights: worst verdict and NMSE; with ``--end-to-end``, the measured whole-model figures.

    ``kld_mean`` and ``top1_agreement`` are measured by running the model with
    the layers up to this one on the NPU side (the eval sweep's point k = index + 1).
    """

    layer: str
    index: Optional[int]
    tensors: int
    worst_verdict: str
    worst_tensor: str
    max_nmse: float
    mean_nmse: float
    over_threshold: int
    kld_mean: Optional[float] = None
    top1_agreement: Optional[float] = None


@dataclass
class ScanReport:
    """Everything a scan found, ready for text, JSON and CSV."""

    file: str
    options: ScanOptions
    backend: str
    reference: str
    inputs: dict
    rows: list = field(default_factory=list)
    #: With ``--end-to-end``: the eval sweep's points ``{"k", "kld_mean", "top1_agreement", ...}`` and its bound.
    end_to_end: list = field(default_factory=list)
    kld_ok: Optional[float] = None
    skipped: list = field(default_factory=list)
    total: int = 0
    interrupted: bool = False
    notices: list = field(default_factory=list)
    seconds: float = 0.0

    def ranked(self) -> list:
        """Every row (all schemes), worst first."""
        return sorted(self.rows, key=_badness, reverse=True)

    @property
    def primary(self) -> list:
        """Rows of the primary (first) scheme, worst first."""
        scheme = self.options.weight_quants[0]
        return sorted((r for r in self.rows if r.weight_quant == scheme), key=_badness, reverse=True)

    def layers(self) -> list[LayerSummary]:
        """Per-layer summary in layer order (measured end to end with ``--end-to-end``); non-layer tensors last."""
        return summarize_layers(self.primary, self.options.bands, self.end_to_end)

    def to_dict(self) -> dict:
        """The whole report as plain data."""
        layers = self.layers()
        return {
            "file": self.file,
            "backend": self.backend,
            "reference": self.reference,
            "options": jsonable(self.options.reported()),
            "inputs": self.inputs,
            "interrupted": self.interrupted,
            "scanned": len({r.tensor for r in self.rows}),
            "total": self.total,
            "rows": [r.to_dict() for r in self.ranked()],
            "layers": jsonable([s.__dict__ for s in layers]),
            "offload": offload_advice(layers, self.options.bands, self.end_to_end, self.kld_ok),
            **({"end_to_end": self.end_to_end} if self.end_to_end else {}),
            "skipped": [s.__dict__ for s in self.skipped],
            "notices": self.notices,
            "seconds": self.seconds,
        }


def _badness(row: ScanRow) -> tuple:
    return (row.effective_nmse, 0.0 if np.isnan(row.nmse) else row.nmse)


def scan_targets(model, pattern: Optional[str] = None) -> tuple[list, list[Skipped]]:
    """``(matmul weights, skipped)`` of ``model``, in file order; ``pattern`` is a regex on names."""
    name_filter = compile_filter(pattern)
    tied = model.output_head == "token_embd.weight"
    targets, skipped = [], []
    selected = [t for t in model.tensors if name_filter is None or name_filter.matches(t.name)]
    if name_filter is not None and not selected:
        raise UsageError(f"{name_filter.option} {quoted(pattern)} matches none of the {len(model.tensors)} tensors of "
                         f"{printable(model.path)}; check the pattern (a regular expression searched in each name)")
    for t in selected:
        reason = _skip_reason(t, tied)
        if reason:
            skipped.append(Skipped(t.name, reason))
        else:
            targets.append(t)
    return targets, skipped


def _skip_reason(t, tied_output: bool) -> str:
    if t.empty_reason:
        return t.empty_reason
    if t.n_dims == 1 or (t.n_dims == 2 and 1 in t.ne[:2]):
        return "1-D (a norm, bias or scale): applied element-wise, not a matmul"
    if t.n_dims > 2:
        return f"{t.n_dims}-D (ne = {list(t.ne)}): expert stacks and convolutions are not plain mul_mat weights"
    if t.type.vec_dot_type is None or not t.type.is_weight_type:
        return f"{t.type.name} has no CPU matmul in ggml, so it is never mul_mat's weight"
    if t.role in EMBEDDING_ROLES and not (t.role == "token_embd.weight" and tied_output):
        return "an embedding table: read by ggml_get_rows, not a matmul"
    return ""


class ScanCancelled(Exception):
    """The scan was cancelled while a weight was being measured; that weight's rows are dropped."""


class Scanner:
    """Runs the scan; ``on_row(row, done, total)`` is called from the calling thread as rows finish."""

    def __init__(self, model, options: ScanOptions, jobs: int = 1, real=None):
        """``real`` is an :class:`~layoutscope.inference.real_input.InputPlan`-like object (``rows_for(weight)``,
        ``acts``, ``synthetic``, ``fallback_notice(name)``, ``notices``) giving weights their real rows; without
        it every weight runs on the synthetic ``options.input``."""
        from layoutscope.backend import npu_backend, reference_backend

        self.model, self.options = model, options
        self.jobs = max(1, jobs)
        self.cancelled = threading.Event()
        self.notices: list[str] = []
        self.backends = []
        if options.pipeline != "classic" and len(options.weight_quants) > 1:
            raise ValueError(f"--weight-quant sweeps the classic schemes; pipeline {options.pipeline} takes none "
                             "(scan one pipeline at a time)")
        for scheme in options.weight_quants:
            backend, notice = npu_backend(options.backend, core=options.npu_core,
                                          **{**options.npu_options(), "weight_quant": scheme})
            self.backends.append(backend)
            self._notice(notice)
        if self.backends[0].name == "npu" and self.jobs > 1:
            self.jobs = 1
            self.notices.append("--jobs 1 on the NPU: the matmul API runs one context per core")
        self.reference, notice = reference_backend(options.reference, options.threads)
        self._notice(notice)
        self._inputs: dict[int, tuple[np.ndarray, str]] = {}
        self.real = real
        #: The synthetic input of weights without real rows.
        self.synthetic = real.synthetic if real is not None else options.input
        self._tied = model.output_head == "token_embd.weight"
        #: FINDING lines about the inputs (NaN or inf in an X), one per width K.
        self.input_findings: dict[int, str] = {}
        #: io_attr disagreements the real NPU reported (see ``npu``); shown as FINDING notices.
        self.findings: set[str] = set()

    def _notice(self, notice: str) -> None:
        if notice and notice not in self.notices:
            self.notices.append(notice)

    def input_for(self, k: int) -> tuple[np.ndarray, str]:
        """The activations for weights of width ``k`` (one X per K, built once)."""
        if k not in self._inputs:
            from layoutscope.measure.inputs import load_input

            x, described = load_input(self.synthetic, self.model, k, self.options.rows)
            found = find_nonfinite(x, f"X for K={k} ({described})", ("m", "k"))
            if found is not None:
                self.input_findings[k] = found.text()
            self._inputs[k] = x, described
        return self._inputs[k]

    def real_summary(self, weights: int) -> str:
        """Which real input ran, in words: ``real, 8 rows per weight (29 weights) captured from …``."""
        acts = self.real.acts
        first = next(iter(acts.weights.values()))
        where = f" (read from {printable(acts.source)})" if acts.source else ""
        return (f"real, {len(first.x)} rows per weight ({weights} weights) captured from {acts.text}{where}, "
                f"positions (chunk:token) " + ", ".join(f"{c}:{p}" for c, p in first.positions[:4].tolist())
                + (", …" if len(first.positions) > 4 else "") + "; the reference is llama.cpp's own output")

    def _checkpoint(self) -> None:
        """Called between blocks of a weight's work: a cancel stops even a 262,144-row head within a block."""
        if self.cancelled.is_set():
            raise ScanCancelled("scan cancelled")

    def measure(self, weight) -> list[ScanRow]:
        """All rows of one weight: one per scheme, sharing the dequantized W and the reference Y."""
        t0 = time.perf_counter()
        captured = self.real.rows_for(weight) if self.real is not None else None
        if captured is not None:
            # The reference for a real input is llama.cpp's own output for it (captured from its graph).
            x, y_ref = captured.x, captured.y
        else:
            x, _ = self.input_for(weight.ne[0])
        self._checkpoint()
        if captured is None:
            y_ref = self.reference.matmul(weight, x).y
        rows = []
        for backend, y, alone, requantization in self._npu_side(weight, x):
            m = compare(y, y_ref, k_worst=1, bands=self.options.bands,
                        names=(f"{backend.name} Y", f"{self.reference.name} Y"))
            findings = [f.text() for f in alone.nonfinite] + list(requantization) + [f.text() for f in m.nonfinite]
            if m.excluded_text:
                findings.append(f"matmul measured over {m.measured} positions finite on both sides, {m.excluded_text}")
            rows.append(ScanRow(
                tensor=weight.name, layer=weight.layer, role=weight.role, type=weight.type.name,
                K=weight.ne[0], N=weight.ne[1], weight_quant=str(getattr(backend, "weight_quant", self.options.weight_quants[0])),
                weight_nmse=alone.nmse, weight_snr_db=alone.snr_db, weight_max_abs=alone.max_abs,
                nmse=m.nmse, snr_db=m.snr_db, cosine=m.cosine, max_abs=m.max_abs, mean_abs=m.mean_abs,
                verdict=m.verdict, seconds=0.0, tied_output=self._tied and weight.name == "token_embd.weight",
                mismatched=m.mismatched, excluded=m.excluded, findings=list(dict.fromkeys(findings)),
            ))
        needs = next((r.weight_quant for r in rows if r.verdict == "ok"), "none")
        elapsed = time.perf_counter() - t0
        for r in rows:
            r.needs, r.seconds = (needs if len(rows) > 1 else ""), elapsed
        return rows

    def _npu_side(self, weight, x: np.ndarray) -> list[tuple]:
        """(backend, Y, weight-alone ErrorSummary, requantization findings) per scheme.

        Plain npu-sim with INT8→INT32 streams W in row blocks (``npu_sweep``,
        bit-identical to the pipeline and several times faster); anything
        else runs the whole pipeline on the dequantized W.
        """
        from layoutscope.backend.npu_pipeline import dequantize_checked
        from layoutscope.backend.npu_sweep import can_sweep, sweep
        from layoutscope.backend.rknpu2.requantize import CODE_BITS, code_max, coding_text

        names, axes = ("W requantized", "W dequantized"), ("n", "k")
        if all(can_sweep(b) for b in self.backends):
            errors = [ErrorAccumulator(names, axes) for _ in self.backends]
            ys = sweep(weight, x, self.backends, block_rows=ErrorAccumulator.rows_per_block(weight.ne[0]),
                       on_block=lambda i, start, values, w: errors[i].add(values, w, start),
                       checkpoint=self._checkpoint)
            out = []
            for b, y, e in zip(self.backends, ys, errors):
                alone = e.result()
                # The sweep codes exactly as requantize does; its finding follows from the weight's own.
                coded = [f"{side} {coding_text(f.count, f.first, code_max(CODE_BITS['int8']))}" for side, f in
                         (("W", next((f for f in alone.nonfinite if f.what == names[1]), None)),
                          ("X", find_nonfinite(x, "X", ("m", "k")))) if f is not None]
                out.append((b, y, alone, coded))
            return out
        w = dequantize_checked(weight, self._checkpoint)
        out = []
        for backend in self.backends:
            prepared = backend.prepare(weight, values=w, checkpoint=self._checkpoint)
            result = backend.matmul_prepared(prepared, x, self._checkpoint)
            self.findings.update(result.details.get("findings", ()))
            acc = ErrorAccumulator(names, axes)
            acc.add(prepared.requantized.values, w)
            out.append((backend, result.y, acc.result(), result.details.get("requantization_findings", [])))
        return out

    def run(self, on_row: Optional[Callable] = None) -> ScanReport:
        """Scan every target; a KeyboardInterrupt (or :attr:`cancelled`) ends it with a partial report."""
        t0 = time.perf_counter()
        targets, skipped = scan_targets(self.model, self.options.filter)
        synthetic = [t for t in targets if self.real is None or self.real.rows_for(t) is None]
        for k in sorted({t.ne[0] for t in synthetic}):
            self.input_for(k)  # bad --input fails here, before any work
        notices = list(self.notices)
        if self.real is not None:
            notices += self.real.notices
            fallbacks = [self.real.fallback_notice(t.name) for t in synthetic]
            notices += list(dict.fromkeys(f for f in fallbacks if f))
        if self._tied and any(t.name == "token_embd.weight" for t in targets):
            notices.append("token_embd.weight is used twice: as the embedding lookup and as the output head (tied; "
                           "the model has no output.weight); it is scanned as the output head's matmul weight")
        report = ScanReport(file=str(self.model.path), options=self.options, backend=self.backends[0].name,
                            reference=self.reference.name if len(synthetic) == len(targets) else
                            ("llama.cpp" if not synthetic else f"llama.cpp (real rows), {self.reference.name} (the rest)"),
                            inputs={**{str(k): d for k, (_, d) in self._inputs.items()},
                                    **({"real": self.real_summary(len(targets) - len(synthetic))}
                                       if len(synthetic) < len(targets) else {})},
                            skipped=skipped, total=len(targets), notices=notices)
        limits = contextlib.nullcontext()
        if self.jobs > 1:
            from threadpoolctl import threadpool_limits

            # Parallel tensors, serial BLAS: BLAS's own threads would oversubscribe the cores.
            limits = threadpool_limits(limits=1, user_api="blas")
        with limits:
            self._measure_all(targets, report, on_row)
        report.interrupted = report.interrupted or self.cancelled.is_set()
        report.notices += [f"FINDING: {f}" for f in sorted(self.findings)]
        report.notices += [f"FINDING: {f}" for _, f in sorted(self.input_findings.items())]
        # X's own findings are already there once per K; each row's X-coding line would only repeat them.
        report.notices += [f"FINDING: {r.tensor} ({r.weight_quant}): {f}" for r in report.ranked()
                           for f in r.findings if not f.startswith("X ")]
        report.seconds = time.perf_counter() - t0
        return report

    def _measure_all(self, targets: list, report: ScanReport, on_row: Optional[Callable]) -> None:
        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="layoutscope-scan")
        pending = set()
        queue = list(reversed(targets))  # popped from the end: file order
        if self.jobs > 1:
            # Largest first, so the output head (often a third of the work) does not start last
            # while the other threads sit idle.
            queue.sort(key=lambda t: t.n_elements)
        try:
            while (queue or pending) and not self.cancelled.is_set():
                while queue and len(pending) < 2 * self.jobs:
                    pending.add(pool.submit(self.measure, queue.pop()))
                done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
                for future in done:
                    try:
                        rows = future.result()
                    except ScanCancelled:
                        continue
                    report.rows.extend(rows)
                    if on_row is not None:
                        on_row(rows[0], len({r.tensor for r in report.rows}), report.total)
        except KeyboardInterrupt:
            report.interrupted = True
            self.cancelled.set()  # the weights still running stop at their next block
        finally:
            # Rows still running finish in the background and are dropped: the report holds finished rows only.
            pool.shutdown(wait=False, cancel_futures=True)


def summarize_layers(rows: Sequence[ScanRow], bands: tuple = DEFAULT_BANDS, end_to_end: Sequence[dict] = ()) -> list[LayerSummary]:
    """Per-layer summaries, in layer order; ``end_to_end`` (the eval sweep's points) adds the measured figures.

    Every number is a measurement: per-weight matmul errors, and, with the
    sweep, the whole model's KL divergence and top-1 agreement with the
    layers up to each one on the NPU side. (Earlier versions added the
    layers' mean NMSEs up as an estimate; a real model showed it wrong by far.)
    """
    groups: dict = {}
    for r in rows:
        groups.setdefault(r.layer, []).append(r)
    by_k = {point["k"]: point for point in end_to_end}
    out = []
    for layer in sorted((k for k in groups if k is not None)):
        summary = _layer_summary(f"blk.{layer}", layer, groups[layer], bands)
        point = by_k.get(layer + 1)
        if point is not None:
            summary.kld_mean, summary.top1_agreement = point["kld_mean"], point["top1_agreement"]
        out.append(summary)
    if None in groups:
        out.append(_layer_summary("(not in a layer)", None, groups[None], bands))
    return out


def _layer_summary(label: str, index: Optional[int], members: Sequence[ScanRow], bands: tuple) -> LayerSummary:
    """One layer's figures; a weight whose output is non-finite on one side only counts as infinite NMSE."""
    worst = max(members, key=_badness)
    nmse = [r.effective_nmse for r in members]
    return LayerSummary(
        layer=label, index=index, tensors=len(members),
        worst_verdict=max((r.verdict for r in members), key=VERDICTS.index), worst_tensor=worst.tensor,
        max_nmse=max(nmse), mean_nmse=float(np.mean(nmse)),
        over_threshold=sum(r.verdict != "ok" or n > bands[0] for r, n in zip(members, nmse)),
    )


def offload_advice(layers: Sequence[LayerSummary], bands: tuple = DEFAULT_BANDS, end_to_end: Sequence[dict] = (),
                   kld_ok: Optional[float] = None) -> dict:
    """Which layer crosses the threshold first; with the sweep, the last k leading layers within ``kld_ok``."""
    numbered = [s for s in layers if s.index is not None]
    first_bad = next((s.layer for s in numbered if s.over_threshold), None)
    advice = {"first_layer_over_threshold": first_bad, "layers": len(numbered)}
    if end_to_end and kld_ok is not None:
        last = None
        for point in sorted(end_to_end, key=lambda p: p["k"]):
            if not point["kld_mean"] <= kld_ok:
                break
            last = point["k"]
        advice.update(kld_ok=kld_ok, leading_layers_within_kld_ok=last)
    return advice


def worst_verdict(rows: Sequence[ScanRow]) -> str:
    """The worst verdict among ``rows`` ("ok" when empty)."""
    return max((r.verdict for r in rows), key=VERDICTS.index, default="ok")

