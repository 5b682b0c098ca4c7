"""``layoutscope doctor``: can this machine run the NPU path, and if not, what to do.

Each :class:`Check` is one line: what was looked at, what was found, and the
next step. The SoC comes from the device tree, the NPU driver version from
debugfs/procfs/sysfs, librknnrt from ``LAYOUTSCOPE_RKNNRT`` or the library
search, and every matmul type the platform should support is probed with a
tiny matmul checked against the emulator. ``LAYOUTSCOPE_SYSROOT`` re-roots
the /proc and /sys reads (for containers and tests).

UNVERIFIED on hardware: the driver-version paths and the SoC strings come
from documentation and community reports, not from a board run here.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from layoutscope.backend.rknpu2.platforms import DEFAULT_PLATFORM

SYSROOT_VAR = "LAYOUTSCOPE_SYSROOT"
_DRIVER_FILES = ("sys/kernel/debug/rknpu/version", "proc/debug/rknpu/version", "sys/module/rknpu/version")
_SOC = re.compile(r"rockchip,(rk\d{4}[a-z]?)")


@dataclass
class Check:
    """One line of the report: ``status`` is ok, warn, fail or info."""

    name: str
    status: str
    found: str
    advice: str = ""

    def line(self) -> str:
        """``[ ok ] name: found — advice``."""
        tail = f" → {self.advice}" if self.advice else ""
        return f"[{self.status:^4}] {self.name}: {self.found}{tail}"


@dataclass
class Report:
    """All checks, the platform used for probing, and whether the NPU is usable."""

    checks: list
    platform: str
    npu_usable: bool

    def to_dict(self) -> dict:
        """Plain data for ``--json``."""
        return {"platform": self.platform, "npu_usable": self.npu_usable, "checks": [asdict(c) for c in self.checks]}


def _root() -> Path:
    return Path(os.environ.get(SYSROOT_VAR, "/"))


def detect_soc(root: Optional[Path] = None) -> tuple[Optional[str], str]:
    """``(soc, compatible)`` from ``/proc/device-tree/compatible`` (soc None when not Rockchip)."""
    path = (root or _root()) / "proc/device-tree/compatible"
    try:
        raw = path.read_bytes()
    except OSError:
        return None, ""
    compatible = ", ".join(s for s in raw.decode("ascii", "replace").split("\0") if s)
    socs = _SOC.findall(compatible)
    return (socs[-1] if socs else None), compatible


def soc_platform(soc: str) -> Optional[str]:
    """The layoutscope platform of a SoC name (rk3588s → rk3588); None when not modelled."""
    from layoutscope.backend.rknpu2.platforms import PLATFORMS

    base = soc.rstrip("abcdefghijklmnopqrstuvwxyz") if soc else ""
    return base if base in PLATFORMS else None


def driver_version(root: Optional[Path] = None) -> tuple[Optional[str], str]:
    """``(version, source)`` of the rknpu kernel driver; version None with a reason when unknown."""
    root = root or _root()
    denied = []
    for rel in _DRIVER_FILES:
        path = root / rel
        try:
            text = path.read_text(errors="replace").strip()
        except PermissionError:
            denied.append("/" + rel)
            continue
        except OSError:
            continue
        match = re.search(r"v?(\d+\.\d+\.\d+)", text)
        return (match.group(1) if match else text or None), "/" + rel
    if denied:
        return None, f"permission denied: {denied[0]}"
    return None, "not found"


def _soc_check(root: Path, requested: Optional[str]) -> tuple[Check, str]:
    soc, compatible = detect_soc(root)
    platform = requested or (soc_platform(soc) if soc else None) or DEFAULT_PLATFORM
    if soc is None:
        found = f"not a Rockchip board (compatible: {compatible})" if compatible else \
            "no /proc/device-tree/compatible (not an ARM board with a device tree)"
        return Check("SoC", "fail", found, "run on an RK3588/RK3576/RK356x board; elsewhere use --backend npu-sim"), platform
    modelled = soc_platform(soc)
    if modelled is None:
        return Check("SoC", "fail", f"{soc} (compatible: {compatible})",
                     f"{soc} has no NPU matmul API layoutscope knows; use --backend npu-sim"), platform
    note = "" if platform == modelled else f"; probing as --platform {platform}"
    return Check("SoC", "ok", f"{soc} → platform {modelled}{note}"), platform


def _driver_check(root: Path) -> Check:
    version, source = driver_version(root)
    if version:
        return Check("NPU driver", "ok", f"rknpu {version} ({source})")
    if source.startswith("permission denied"):
        path = source.split(": ", 1)[1]
        return Check("NPU driver", "warn", f"version unreadable ({source})", f"run `sudo cat {path}` to see it")
    return Check("NPU driver", "fail", "the rknpu kernel driver was not found",
                 "boot a Rockchip vendor kernel with the rknpu driver (0.9.6 or newer)")


def _ggml_check() -> Check:
    from importlib.metadata import PackageNotFoundError, version

    from layoutscope.backend.libggml import LibggmlUnavailable, library_dir, load

    try:
        load()
        where = library_dir()
    except LibggmlUnavailable as exc:
        return Check("libggml", "warn", str(exc),
                     "pip install llama-cpp-python (or set LLAMA_CPP_LIB_PATH); until then compare uses the "
                     "cpu-numpy reference")
    if os.environ.get("LLAMA_CPP_LIB_PATH"):
        release = "your llama.cpp build (LLAMA_CPP_LIB_PATH)"
    else:
        try:
            release = f"llama-cpp-python {version('llama-cpp-python')}"
        except PackageNotFoundError:  # pragma: no cover - loaded from a source tree
            release = "llama-cpp-python"
    return Check("libggml", "ok", f"ggml CPU reference loaded ({release}, {where})")


def diagnose(platform: Optional[str] = None, core: int = 0) -> Report:
    """Run every check; ``platform`` overrides the detected one for the probes."""
    from layoutscope.backend.rknpu2.platforms import get_platform
    from layoutscope.backend.rknpu2.runtime import Runtime, RuntimeUnavailable

    root = _root()
    soc, platform_name = _soc_check(root, platform)
    checks = [soc, _driver_check(root)]
    usable = False
    try:
        runtime = Runtime()
    except RuntimeUnavailable as exc:
        checks.append(Check("librknnrt", "fail", str(exc),
                            "without it only --backend npu-sim runs (the exact emulator)"))
        checks.append(Check("matmul types", "info", "not probed: no librknnrt",
                            f"on the board, {platform_name} should run: {', '.join(get_platform(platform_name).matmul_types)}"))
        runtime = None
    if runtime is not None:
        status = "ok" if runtime.version else "warn"
        advice = "" if runtime.version else "the file has no 'librknnrt version:' string; check it is Rockchip's runtime"
        checks.append(Check("librknnrt", status, runtime.describe(), advice))
        from layoutscope.backend.rknpu2.probe import probe_all

        for probe in probe_all(runtime, get_platform(platform_name), core):
            status = {"ok": "ok", "absent": "info", "wrong": "fail", "refused": "fail"}[probe.status]
            advice = {
                "ok": "",
                "absent": "update librknnrt to use it",
                "wrong": "do not trust this type on this runtime; use another --mm or update librknnrt",
                "refused": f"--mm {probe.mm} will not run here; pick another --mm",
            }[probe.status]
            checks.append(Check(f"matmul {probe.mm}", status, probe.detail, advice))
            checks += [Check(f"matmul {probe.mm}", "warn", f"FINDING: {f}", "please report it") for f in probe.findings]
            if probe.mm == "int8" and probe.ok:
                usable = True
    checks.append(_ggml_check())
    return Report(checks=checks, platform=platform_name, npu_usable=usable)
