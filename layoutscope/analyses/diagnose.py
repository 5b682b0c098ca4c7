"""Which known layout bug explains an output captured from a real NPU backend.

The user brings Y observed on a backend under development (say a ggml RKNPU2
backend) and the X it was given. :func:`diagnose` re-runs the ``npu-sim``
pipeline once per known bug, each a :class:`Hypothesis` in :data:`HYPOTHESES`,
and ranks them by NMSE against the observed Y, best first (NMSE uses the
observed Y as its reference, so every hypothesis is measured on one scale).

A hypothesis injects its bug at one point of the pipeline, described by an
:class:`Injection`: the weight codes the backend really used, the buffer it
handed the runtime as native B, the C it read back, or the scales it dropped.
The injected backend is ``npu-sim`` with its executor wrapped, so
requantization (of W once per diagnosis), the plan, the per-call packing, the
emulator and the CPU rescale are the real pipeline's own code, and ``none`` is
``npu-sim`` itself, bit for bit. ``act-scale-mismatch`` has a free parameter
instead: a per-row gain fitted to the observed Y by least squares.

A buffer of the wrong size is zero-padded or truncated to the size the runtime
expects, as the runtime reads exactly ``io_attr.B.size`` bytes. Hypotheses
that cannot occur in this configuration, or that would give exactly the
``none`` output on this input, are reported as not applicable, with the
reason, after every applicable one.

An observed output with a few NaN or inf values is ranked on its finite part
(the metrics leave the other positions out, see :mod:`layoutscope.measure.metrics`),
and the diagnosis says how many there were and where the first one is.

Everything here is a pure function of its arguments (no global state), so the
TUI can run :func:`diagnose` from a worker thread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from layoutscope.backend.npu_sim import NpuSimBackend
from layoutscope.backend.rknpu2 import layout
from layoutscope.backend.rknpu2.plan import Call
from layoutscope.backend.rknpu2.platforms import DEFAULT_PLATFORM, PLATFORMS
from layoutscope.backend.rknpu2.requantize import CODE_BITS, parse_scheme, requantize
from layoutscope.measure.metrics import Metrics, compare
from layoutscope.measure.jsonable import jsonable
from layoutscope.measure.nonfinite import NonFinite, find_nonfinite

#: Above this NMSE even the best hypothesis does not explain the observed output.
EXPLAINED_MAX = 1e-2
#: Fitted per-row gains closer to 1 than this are no evidence of an activation-scale mismatch.
GAIN_TOLERANCE = 0.01
#: Integer matmul types: the ones whose codes carry scales.
_INTEGER_MM = ("int8", "int8-fp32", "int8-int8", "int4")
_INT8_B_MM = ("int8", "int8-fp32", "int8-int8")
_CODE_DTYPES = {"int8": np.int8, "int4": np.uint8, "fp16": np.float16}


# -- the shared state of one diagnosis ----------------------------------------------------------
class Context:
    """One weight, one X and one set of NPU options: what every hypothesis reuses.

    W is dequantized and requantized once, here; the correct (``none``)
    result is computed once, on first use.
    """

    def __init__(self, weight, x: np.ndarray, platform: str = DEFAULT_PLATFORM, mm: str = "int8",
                 weight_quant: str = "per-channel", act_quant: str = "per-tensor",
                 values: Optional[np.ndarray] = None):
        self.options = dict(platform=platform, mm=mm, weight_quant=str(weight_quant), act_quant=str(act_quant))
        self.backend = NpuSimBackend(**self.options)  # validates the options (ValueError explains)
        weight.require_data("diagnose")
        if weight.n_dims != 2:
            raise ValueError(f"{weight.name} is not a 2-D weight (ne = {list(weight.ne)}); diagnose needs a matmul weight")
        x = np.asarray(x)
        if x.dtype != np.float32 or x.ndim != 2 or x.shape[1] != weight.ne[0]:
            raise ValueError(f"X must be float32 (M, {weight.ne[0]}) for {weight.name}, got {x.dtype} {x.shape}")
        self.weight, self.x = weight, x
        self.platform, self.mm = self.backend.platform, self.backend.mm
        self.M, self.K = x.shape
        self.N = weight.n_rows
        self.prepared = self.backend.prepare(weight, values)
        self.plan = self.backend.plan(self.M, self.K, self.N)
        self._none = None

    @property
    def none(self):
        """The correct pipeline's :class:`MatmulResult` (``npu-sim``), computed once."""
        if self._none is None:
            self._none = self.backend.matmul_prepared(self.prepared, self.x)
        return self._none

    def run(self, injection: "Injection") -> np.ndarray:
        """Y of the pipeline with ``injection``'s bug in it."""
        prepared = self.prepared
        if injection.codes is not None:
            rw = dataclasses.replace(prepared.requantized, codes=injection.codes(self))
            prepared = dataclasses.replace(prepared, requantized=rw)
        return _BuggySim(self, injection, prepared).matmul_prepared(prepared, self.x).y


@dataclass(frozen=True)
class Injection:
    """Where a bug enters the pipeline; each hook replaces one step, None keeps it.

    ``codes(ctx)``: W's codes (N, K) the backend really used. ``b(ctx, codes,
    call)``: the buffer handed to the runtime as native B, from the call's
    codes block (n, k), any size (fitted to the runtime's). ``c(ctx, c_native,
    call)``: the C (M, n) the backend read from the runtime's native C.
    ``unscaled``: codes were used without any of their scales.
    """

    codes: Optional[Callable] = None
    b: Optional[Callable] = None
    c: Optional[Callable] = None
    unscaled: bool = False


class _BuggySim(NpuSimBackend):
    """``npu-sim`` whose executor sees the buffers a buggy backend would hand the runtime."""

    def __init__(self, ctx: Context, injection: Injection, prepared):
        super().__init__(**ctx.options)
        self._ctx, self._inj, self._codes = ctx, injection, prepared.requantized.codes

    @contextlib.contextmanager
    def session(self):
        inj, ctx, p, t = self._inj, self._ctx, self.platform, self.mm
        with super().session() as execute:
            def buggy(call: Call, a_native, b_native, scales):
                if inj.b is not None:
                    block = np.ascontiguousarray(self._codes[call.n0:call.n1, call.k0:call.k1])
                    b_native = _runtime_buffer(inj.b(ctx, block, call), ctx, call)
                out = execute(call, a_native, b_native, scales)
                if inj.c is not None:
                    # Re-pack what the backend read, so the pipeline's own unpack returns exactly it.
                    read = inj.c(ctx, out.c_native, call)
                    out = dataclasses.replace(out, c_native=layout.pack_c(read, p, t.c_dtype))
                return out

            yield buggy

    def runtime_scales(self, rw, rx, call: Call) -> dict:
        if not self._inj.unscaled:
            return super().runtime_scales(rw, rx, call)
        # No quant params: the runtime's defaults (scale 1), which the pipeline's int8-C step reads back.
        return {"c_scale": 1.0} if self.mm.c_dtype == "int8" else {}

    def rescale(self, acc, weight_scale, act_scale, runtime_scales):
        return acc if self._inj.unscaled else super().rescale(acc, weight_scale, act_scale, runtime_scales)


def _runtime_buffer(buf: np.ndarray, ctx: Context, call: Call) -> np.ndarray:
    """``buf`` zero-padded or truncated to the native B the runtime reads for ``call``."""
    d = ctx.mm.b_dtype
    count = int(np.prod(layout.native_shape("B", ctx.platform, d, call.m, call.k, call.n)))
    count = count // 2 if d == "int4" else count  # int4: two codes a byte
    flat = np.asarray(buf).reshape(-1)
    out = np.zeros(count, dtype=_CODE_DTYPES[d])
    out[: min(count, flat.size)] = flat[:count]
    return out


# -- the bugs, one function each ------------------------------------------------------------------
def _q8_raw_codes(ctx: Context) -> np.ndarray:
    # The whole tensor's bytes read as N×K contiguous int8: with 34-byte Q8_0 blocks every row
    # starts K/16 bytes further on than the one before, so rows run into each other.
    n, k = ctx.N, ctx.K
    return np.asarray(ctx.weight.raw()).reshape(-1)[: n * k].view(np.int8).reshape(n, k)


def _b_normal(ctx: Context, codes: np.ndarray, call: Call) -> np.ndarray:
    b = codes.T.reshape(-1)  # normal B (k, n), row-major
    return layout.pack_int4(b) if ctx.mm.b_dtype == "int4" else b


def _b_rk356x_tile(ctx: Context, codes: np.ndarray, call: Call) -> np.ndarray:
    return layout.pack_b(codes.T, PLATFORMS["rk3566"], ctx.mm.b_dtype)


def _b_given_w(ctx: Context, codes: np.ndarray, call: Call) -> np.ndarray:
    # W (n, k) where B (k, n) was expected: the packer tiles it as a B with K = n rows and N = k columns.
    return layout.pack_b(codes, ctx.platform, ctx.mm.b_dtype)


def _b_kn_swapped(ctx: Context, codes: np.ndarray, call: Call) -> np.ndarray:
    # A W-rows-to-native transform called with (k=n, n=k): it reads the source as k rows of
    # stride n and tiles them as if each were one output channel of n codes.
    rows = codes.reshape(call.k, call.n)
    return layout.pack_b(rows.T, ctx.platform, ctx.mm.b_dtype)


def _b_nibble_swap(ctx: Context, codes: np.ndarray, call: Call) -> np.ndarray:
    packed = layout.pack_b(codes.T, ctx.platform, ctx.mm.b_dtype)
    return (packed >> 4) | (packed << 4)  # uint8: the shifts drop the other nibble


def _c_read_normal(ctx: Context, c_native: np.ndarray, call: Call) -> np.ndarray:
    return np.asarray(c_native).reshape(-1)[: call.m * call.n].reshape(call.m, call.n)


# -- applicability ------------------------------------------------------------------------------
def _always(ctx: Context) -> Optional[str]:
    return None


def _rk3588_tiles(ctx: Context) -> Optional[str]:
    if ctx.platform.b_tile["int8"] == PLATFORMS["rk3566"].b_tile["int8"]:
        return f"{ctx.platform.name} uses the RK356x tiles itself"
    if ctx.mm.b_dtype not in PLATFORMS["rk3566"].b_tile:
        return f"RK356x has no {ctx.mm.b_dtype} B tile"
    return None


def _not_square(ctx: Context) -> Optional[str]:
    if all(c.k == c.n for c in ctx.plan.calls):
        return f"every NPU call is square (K = N = {ctx.plan.calls[0].k}): the swapped transform packs the same buffer"
    return None


def _raw_bytes_fit(ctx: Context) -> Optional[str]:
    t = ctx.weight.type
    if not t.is_quantized:
        return f"{t.name} is not block-quantized: its bytes hide no scales"
    if ctx.weight.nbytes < ctx.N * ctx.K:
        return (f"{t.name} stores fewer than 8 bits per weight: N·K bytes would run past the tensor "
                "(the trap this models is Q8_0's 34-byte blocks)")
    return None


def _several_rows(ctx: Context) -> Optional[str]:
    return "with M = 1 native and normal C are the same bytes" if ctx.M == 1 else None


# -- the registry ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prediction:
    """What a hypothesis says the backend output: ``y`` (M, N) and any fitted parameters.

    ``no_evidence``: the fit found no evidence for the bug, so the
    hypothesis must not outrank ``none``.
    """

    y: np.ndarray
    params: dict = field(default_factory=dict)
    note: str = ""
    no_evidence: bool = False


@dataclass(frozen=True)
class Hypothesis:
    """One known bug: its id, what it means, what to fix, where it applies and how it is predicted.

    ``mm_types`` lists the matmul types it can occur with (None: all), and
    ``why_mm`` says why. ``applies(ctx)`` returns None or the reason it does
    not apply. ``predict(ctx, observed)`` returns a :class:`Prediction`;
    ``observed`` is None when simulating the bug rather than fitting it.
    ``fitted``: the prediction has free parameters fitted to the observed Y.
    ``refuted_by(observed)`` returns None or why the observed output alone
    rules the bug out (a bug whose every output looks the same).
    """

    id: str
    meaning: str
    fix: str
    predict: Callable[[Context, Optional[np.ndarray]], Prediction]
    mm_types: Optional[tuple] = None
    why_mm: str = ""
    applies: Callable[[Context], Optional[str]] = _always
    fitted: bool = False
    refuted_by: Optional[Callable[[np.ndarray], Optional[str]]] = None

    def reason(self, ctx: Context) -> Optional[str]:
        """None when the bug can occur with ``ctx``'s weight and options, else why not."""
        if self.mm_types is not None and ctx.mm.name not in self.mm_types:
            return f"applies to --mm {', '.join(self.mm_types)} only ({self.why_mm}); this run is {ctx.mm.name}"
        return self.applies(ctx)

    def fix_for(self, ctx: Context) -> str:
        """The fix, worded for ``ctx``'s weight type and platform."""
        t = ctx.weight.type
        blocks = " + ".join(f"{f.name} ({f.size} B)" for f in t.fields) if t.is_quantized else "plain values"
        return self.fix.format(type=t.name, block_bytes=t.type_size, fields=blocks, platform=ctx.platform.name)


def _injected(injection: Injection) -> Callable[[Context, Optional[np.ndarray]], Prediction]:
    return lambda ctx, observed: Prediction(ctx.run(injection))


def _correct(ctx: Context, observed: Optional[np.ndarray]) -> Prediction:
    return Prediction(ctx.none.y)


def _zeros(ctx: Context, observed: Optional[np.ndarray]) -> Prediction:
    return Prediction(np.zeros((ctx.M, ctx.N), np.float32))


def _not_all_zeros(observed: np.ndarray) -> Optional[str]:
    with np.errstate(invalid="ignore"):  # NaN compares unequal to 0: the finite part decides
        nonzero = int(np.count_nonzero((observed != 0) & np.isfinite(observed)))
    return f"the observed output is not all zeros ({nonzero} non-zero values)" if nonzero else None


def _act_scale_mismatch(ctx: Context, observed: Optional[np.ndarray]) -> Prediction:
    y = ctx.none.y.astype(np.float64)
    if observed is None:
        # A concrete instance of the bug: X quantized with its own scheme's scales and the
        # result rescaled with another scheme's (per-token ↔ per-tensor).
        other = "per-tensor" if ctx.backend.act_quant.kind == "per-token" else "per-token"
        bits = CODE_BITS[ctx.mm.a_dtype]
        right = requantize(ctx.x, ctx.backend.act_quant, bits).scale.astype(np.float64)
        wrong = requantize(ctx.x, parse_scheme(other), bits).scale.astype(np.float64)
        gains = np.broadcast_to(wrong / right, (ctx.M, 1)).reshape(-1)
        return Prediction((y * gains[:, None]).astype(np.float32), {"gains": gains.tolist()},
                          f"rescaled with {other} scales")
    obs = np.asarray(observed, dtype=np.float64)
    # The fit uses the positions finite on both sides: a NaN there says nothing about the gain.
    finite = np.isfinite(obs) & np.isfinite(y)
    if not finite.all():
        obs, y = np.where(finite, obs, 0.0), np.where(finite, y, 0.0)
    with np.errstate(over="ignore", invalid="ignore"):  # an observed .npy may hold anything; inf gains are unfit
        power = np.einsum("mn,mn->m", y, y)
        # Least squares per row: g = <obs, y> / <y, y>; a row the pipeline computes as zero has no gain to fit.
        gains = np.divide(np.einsum("mn,mn->m", obs, y), power, out=np.ones(ctx.M), where=power > 0)
    # A ratio of two scales is positive: a row that fits no positive gain (zero or anti-correlated)
    # is no rescaled correct row, so it keeps gain 1 and its whole error counts against the hypothesis.
    unfit = ~(np.isfinite(gains) & (gains > 0))
    gains[unfit] = 1.0
    flat = bool(np.all(np.abs(gains - 1) <= GAIN_TOLERANCE))
    note = f"fitted per-row gains {_gain(gains.min())} .. {_gain(gains.max())}"
    if unfit.any():
        note += f"; {int(unfit.sum())} of {ctx.M} rows fit no positive gain"
    elif flat:
        note += f": all within {GAIN_TOLERANCE:.0%} of 1, no evidence of a mismatch"
    params = {"gains": gains.tolist(), "gain_min": float(gains.min()), "gain_max": float(gains.max()),
              "unfit_rows": np.flatnonzero(unfit).tolist()}
    with np.errstate(over="ignore"):  # a gain fitted to a huge observed output overflows float32 to inf
        predicted = (ctx.none.y.astype(np.float64) * gains[:, None]).astype(np.float32)
    return Prediction(predicted, params, note, no_evidence=flat)


def _gain(g: float) -> str:
    return f"{g:.4f}" if 1e-2 <= g < 1e3 else f"{g:.3e}"


#: Every known bug, by id, in the order ties are broken (``none`` first).
HYPOTHESES: dict[str, Hypothesis] = {
    h.id: h
    for h in (
        Hypothesis("none", "the correct pipeline", "nothing: the output is what the correct pipeline computes",
                   _correct),
        Hypothesis("c-zeros", "C came back all zeros",
                   "a runtime bug, not a layout: librknnrt 2.3.2 and 2.4.2a2 return all zeros for INT8→INT32 with "
                   "per-channel B quant params and for INT8→FP32 with per-group B (airockchip/rknn-toolkit2#550; "
                   "2.2 did it for fp16 too, #154). Check the runtime version (`layoutscope doctor` runs a tiny "
                   "matmul of every type against the emulator), give B per-tensor (per-layer) quant params and "
                   "apply the per-channel scales to C on the CPU, or update librknnrt",
                   _zeros, refuted_by=_not_all_zeros),
        Hypothesis("b-normal-as-native", "B was written in normal layout but declared native",
                   "tile B into the native layout (N/subN, K/subK, subN, subK; subN and subK from io_attr.B.dims) "
                   "before declaring B_layout=NATIVE, or declare B_layout=NORM",
                   _injected(Injection(b=_b_normal))),
        Hypothesis("b-tile-rk356x", "the RK356x N/16 tile was used on rk3588",
                   "on {platform} int8 B is (N/32, K/32, 32, 32), fp16 B (N/16, K/32, 16, 32); RK356x's "
                   "(N/16, K/32, 16, 32) int8 tile is another SoC's: take subN/subK from io_attr.B.dims",
                   _injected(Injection(b=_b_rk356x_tile)), applies=_rk3588_tiles),
        Hypothesis("b-transposed", "W was given where Wᵀ was expected",
                   "B is Wᵀ (K×N): ggml's weight is N rows of K, so transpose it (or tile W's rows directly, "
                   "as native B wants) before packing",
                   _injected(Injection(b=_b_given_w))),
        Hypothesis("kn-swapped", "K and N were exchanged when packing a non-square weight",
                   "call the weight transform with k = ne0 (K, ggml's contiguous dimension) and n = ne1 (N); "
                   "the source row stride is K",
                   _injected(Injection(b=_b_kn_swapped)), applies=_not_square),
        Hypothesis("q8_0-raw-bytes", "Q8_0 row bytes were fed as plain int8: the 34-byte stride trap",
                   "dequantize {type} ({block_bytes}-byte blocks: {fields}) and requantize; do not hand the raw "
                   "row bytes to the NPU",
                   _injected(Injection(codes=_q8_raw_codes)), mm_types=_INT8_B_MM,
                   why_mm="the raw bytes stand in for int8 codes", applies=_raw_bytes_fit),
        Hypothesis("scales-dropped", "codes were used without their scales",
                   "multiply C by the activation scale (per token when per-token) and the weight scale (per "
                   "channel or group), or give the runtime its quant params",
                   _injected(Injection(unscaled=True)), mm_types=_INTEGER_MM,
                   why_mm="fp16 codes carry no scales"),
        Hypothesis("int4-nibble-swap", "the two nibbles of each int4 byte were exchanged",
                   "pack the even element in the low nibble, the order runtime 2.x reads, with the same helper "
                   "for A and B",
                   _injected(Injection(b=_b_nibble_swap)), mm_types=("int4",),
                   why_mm="only int4 packs two codes a byte"),
        Hypothesis("c-native-as-normal", "C was read as normal layout although it was written native",
                   "declare AC_layout=NORM, or unpack native C (N/subN, M, subN) before reading it",
                   _injected(Injection(c=_c_read_normal)), applies=_several_rows),
        Hypothesis("act-scale-mismatch", "the activations were quantized and rescaled with different scales",
                   "rescale C with the very activation scales X was quantized with (per token if quantized "
                   "per token)",
                   _act_scale_mismatch, mm_types=_INTEGER_MM, why_mm="fp16 activations carry no scale",
                   fitted=True),
    )
}


# -- ranking --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """One hypothesis judged against the observed output (``metrics`` None when not applicable).

    ``no_evidence``: a fitted hypothesis whose fit found nothing (it ranks no better than ``none``).
    """

    id: str
    meaning: str
    fix: str
    applicable: bool
    reason: str = ""
    metrics: Optional[Metrics] = None
    params: dict = field(default_factory=dict)
    note: str = ""
    no_evidence: bool = False

    @property
    def nmse(self) -> float:
        """NMSE against the observed output (inf when not applicable or not finite)."""
        if self.metrics is None or math.isnan(self.metrics.nmse):
            return math.inf
        return self.metrics.nmse

    def to_dict(self) -> dict:
        """Plain data for JSON: the metrics are null when not applicable."""
        m = self.metrics.to_dict() if self.metrics is not None else {}
        out = {"id": self.id, "meaning": self.meaning, "applicable": self.applicable}
        out.update({key: m.get(key) for key in ("nmse", "snr_db", "cosine", "max_abs", "mean_abs", "verdict")})
        out.update({"fix": self.fix, "reason": self.reason or None, "note": self.note or None,
                    "no_evidence": self.no_evidence, "params": self.params})
        return jsonable(out)


@dataclass(frozen=True)
class Diagnosis:
    """Every hypothesis, ranked best first; ``best`` is None when no known bug explains the output."""

    tensor: str
    options: dict
    shape: tuple
    findings: tuple
    notes: tuple = ()
    observed_nonfinite: Optional[NonFinite] = None

    @property
    def ranked(self) -> tuple:
        """The findings, best first (the order they are stored in)."""
        return self.findings

    @property
    def best(self) -> Optional[Finding]:
        """The best applicable finding if its NMSE is within :data:`EXPLAINED_MAX`, else None."""
        top = self.findings[0] if self.findings else None
        return top if top is not None and top.applicable and top.nmse <= EXPLAINED_MAX else None

    @property
    def runner_up(self) -> Optional[Finding]:
        """A second hypothesis that explains the output about as well as the best (an ambiguity), or None."""
        best = self.best
        others = [f for f in self.findings[1:] if f.applicable and not f.no_evidence]
        if best is None or not others:
            return None
        return others[0] if others[0].nmse <= 2 * best.nmse + 1e-9 else None

    def summary(self) -> str:
        """One line: what the ranking says."""
        top = self.findings[0]
        if self.best is None:
            return (f"no known bug explains this output: the closest hypothesis, {top.id}, is at NMSE "
                    f"{top.nmse:.3g} (> {EXPLAINED_MAX:g})")
        if self.best.id == "none":
            return f"the output matches the correct pipeline (NMSE {self.best.nmse:.3g}): no known layout bug"
        return f"best match: {self.best.id} (NMSE {self.best.nmse:.3g}): {self.best.meaning}"

    def to_dict(self) -> dict:
        """Plain data for JSON, hypotheses ranked best first."""
        m, k, n = self.shape
        best, second = self.best, self.runner_up
        return jsonable({
            "tensor": self.tensor, **self.options, "M": m, "K": k, "N": n,
            "explained_max_nmse": EXPLAINED_MAX,
            "best": best.id if best else None,
            "fix": best.fix if best else None,
            "ambiguous_with": second.id if second else None,
            "summary": self.summary(),
            "notes": list(self.notes),
            "observed_nonfinite": self.observed_nonfinite.to_dict() if self.observed_nonfinite else None,
            "hypotheses": [f.to_dict() for f in self.findings],
        })


def diagnose(weight, x: np.ndarray, observed: np.ndarray, *, platform: str = DEFAULT_PLATFORM, mm: str = "int8",
             weight_quant: str = "per-channel", act_quant: str = "per-tensor",
             values: Optional[np.ndarray] = None,
             progress: Optional[Callable[[int, int, str], None]] = None,
             pipeline: str = "classic", **community) -> Diagnosis:
    """Rank every hypothesis in :data:`HYPOTHESES` by how well it reproduces ``observed``.

    ``weight`` is a 2-D tensor (ne = [K, N]), ``x`` float32 (M, K), ``observed``
    a real (M, N) array. ``values`` optionally gives W dequantized already.
    ``progress(done, total, id)`` is called before each hypothesis (a worker
    can raise from it to cancel). ValueError explains bad shapes or options.
    The bugs are injected into the classic NPU path: a community ``pipeline``
    is refused (its other options, ``community``, are not used).
    """
    if pipeline != "classic":
        raise ValueError(f"diagnose injects layout bugs into the classic NPU path; pipeline {pipeline} has none to "
                         "inject (compare runs it)")
    ctx = Context(weight, x, platform, mm, weight_quant, act_quant, values)
    obs = np.asarray(observed)
    if obs.ndim != 2 or obs.shape != (ctx.M, ctx.N):
        raise ValueError(f"the observed output must be (M, N) = ({ctx.M}, {ctx.N}), got {obs.shape}")
    if not (np.issubdtype(obs.dtype, np.integer) or np.issubdtype(obs.dtype, np.floating)):
        raise ValueError(f"the observed output must be real numbers, got dtype {obs.dtype}")
    findings = []
    for i, h in enumerate(HYPOTHESES.values()):
        if progress is not None:
            progress(i, len(HYPOTHESES), h.id)
        findings.append(_judge(h, ctx, obs))
    nonfinite = find_nonfinite(obs, "the observed output", ("m", "n"))
    return Diagnosis(weight.name, dict(ctx.options), (ctx.M, ctx.K, ctx.N), _rank(findings), _notes(nonfinite),
                     nonfinite)


def _judge(h: Hypothesis, ctx: Context, obs: np.ndarray) -> Finding:
    fix = h.fix_for(ctx)
    reason = h.reason(ctx)
    if reason is None and h.refuted_by is not None:
        reason = h.refuted_by(obs)
    if reason is None:
        pred = h.predict(ctx, obs)
        if h.id != "none" and not h.fitted and np.array_equal(pred.y, ctx.none.y):
            reason = "gives exactly the none output for this weight and input, so they cannot be told apart"
    if reason is not None:
        return Finding(h.id, h.meaning, fix, False, reason)
    metrics = compare(pred.y, obs, k_worst=3)
    return Finding(h.id, h.meaning, fix, True, "", metrics, pred.params, pred.note, pred.no_evidence)


def _rank(findings: list) -> tuple:
    """Applicable findings by NMSE (registry order breaks ties), then the rest in registry order."""
    none_nmse = next(f.nmse for f in findings if f.id == "none")

    def key(item):
        i, f = item
        # A fit that found no evidence for its bug ranks no better than the correct pipeline.
        nmse = max(f.nmse, none_nmse) if f.no_evidence else f.nmse
        return (not f.applicable, nmse if f.applicable else 0.0, i)

    return tuple(f for _, f in sorted(enumerate(findings), key=key))


def _notes(nonfinite: Optional[NonFinite]) -> tuple:
    if nonfinite is None:
        return ()
    if nonfinite.count == nonfinite.size:
        return (f"{nonfinite.text()}: nothing finite is left to rank the hypotheses on",)
    return (f"{nonfinite.text()}: the hypotheses are ranked on the {nonfinite.size - nonfinite.count} finite "
            "values, and no hypothesis reproduces the others",)


def simulate(weight, x: np.ndarray, hypothesis: str, *, platform: str = DEFAULT_PLATFORM, mm: str = "int8",
             weight_quant: str = "per-channel", act_quant: str = "per-tensor") -> np.ndarray:
    """The float32 (M, N) output a backend with bug ``hypothesis`` would produce.

    For ``act-scale-mismatch`` that is one concrete instance: the output
    rescaled with the other activation scheme's scales (per-token ↔
    per-tensor). ValueError when the bug cannot occur with these options.
    """
    if hypothesis not in HYPOTHESES:
        raise ValueError(f"unknown hypothesis {hypothesis!r}; choose from {', '.join(HYPOTHESES)}")
    h = HYPOTHESES[hypothesis]
    ctx = Context(weight, x, platform, mm, weight_quant, act_quant)
    reason = h.reason(ctx)
    if reason is not None:
        raise ValueError(f"{hypothesis} does not apply: {reason}")
    return h.predict(ctx, None).y


__all__ = ["Context", "Diagnosis", "EXPLAINED_MAX", "Finding", "GAIN_TOLERANCE", "HYPOTHESES", "Hypothesis",
           "Injection", "Prediction", "diagnose", "simulate"]
