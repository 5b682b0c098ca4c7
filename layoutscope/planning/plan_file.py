"""``plan.json``: a verified plan, written by ``plan -o`` and re-verified by ``eval --plan``.

The file names the model it was made for by a fingerprint of the tensor
table (every tensor's name, type and extents, and the architecture): a plan
read for another model, or a file that is not a plan, is refused in one line
that says where and why. The data bytes are not hashed, so the check costs
nothing on a board; a re-quantized file with the same table passes the check,
and ``eval --plan`` measures it afresh anyway.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from typing import Optional

from layoutscope.errors import UsageError, clipped, printable

#: The ``format`` value of a plan file, and the version this code writes and reads.
FORMAT = "layoutscope-plan"
VERSION = 1


class PlanFileError(UsageError):
    """A plan file that cannot be used: unreadable, not a plan, corrupt, or made for another model."""


def model_fingerprint(model) -> str:
    """A SHA-256 of the architecture and every tensor's name, type and extents (the tensor table)."""
    digest = hashlib.sha256(str(model.architecture or "").encode())
    for t in model.tensors:
        digest.update(f"\n{t.name}\t{t.type_name}\t{','.join(str(n) for n in t.ne)}".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class PlanFile:
    """What a plan file holds: the model it is for, the weights' pipelines, the settings, and the measurement."""

    model: str
    fingerprint: str
    assignment: dict
    settings: dict = field(default_factory=dict)
    budget: float = 0.01
    measured: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The JSON object written to the file."""
        return {"format": FORMAT, "version": VERSION, "model": self.model, "fingerprint": self.fingerprint,
                "kld_budget": self.budget, "settings": self.settings, "assignment": self.assignment,
                "measured": self.measured, **self.details}


def read_plan(path: str, model) -> PlanFile:
    """The plan at ``path``, checked against ``model``; :class:`PlanFileError` saying what is wrong otherwise."""
    from layoutscope.backend.community.pipelines import PIPELINES

    where = printable(path)
    try:
        with open(path, "rb") as stream:
            raw = stream.read()
    except FileNotFoundError:
        raise PlanFileError(f"--plan {where}: no such file (make one with layoutscope plan MODEL -o {where})") \
            from None
    except OSError as exc:
        raise PlanFileError(f"--plan {where}: cannot read it ({exc.strerror or exc})") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PlanFileError(f"--plan {where}: not a plan: byte {exc.start} is not UTF-8 "
                            "(a plan file is the JSON that layoutscope plan -o writes)") from None
    except json.JSONDecodeError as exc:
        offset = len(exc.doc[:exc.pos].encode("utf-8"))
        raise PlanFileError(f"--plan {where}: corrupt JSON at byte {offset} (line {exc.lineno}, column "
                            f"{exc.colno}): {exc.msg}; write it again with layoutscope plan -o") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PlanFileError(f"--plan {where}: not a layoutscope plan (no \"format\": \"{FORMAT}\"); "
                            "make one with layoutscope plan MODEL -o FILE")
    if data.get("version") != VERSION:
        raise PlanFileError(f"--plan {where}: plan version {clipped(repr(data.get('version')))} is not {VERSION}, "
                            "the one this layoutscope reads; make the plan again")
    fingerprint = model_fingerprint(model)
    if data.get("fingerprint") != fingerprint:
        made_for = clipped(str(data.get("model") or "an unnamed model"))
        raise PlanFileError(f"--plan {where} was made for {printable(made_for)}, whose tensor table differs from "
                            f"{printable(os.path.basename(model.path))}'s; run layoutscope plan on this model")
    assignment = data.get("assignment")
    if not isinstance(assignment, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                   for k, v in assignment.items()):
        raise PlanFileError(f"--plan {where}: corrupt: \"assignment\" must map weight names to pipeline names")
    for name, pipeline in assignment.items():
        if name not in model:
            raise PlanFileError(f"--plan {where}: corrupt: weight {clipped(repr(name))} is not in the model")
        if pipeline not in PIPELINES:
            raise PlanFileError(f"--plan {where}: corrupt: {clipped(repr(pipeline))} (for {clipped(name)}) is no "
                                f"pipeline; choose from {', '.join(PIPELINES)}")
    budget = data.get("kld_budget")
    if not isinstance(budget, (int, float)) or isinstance(budget, bool) or not math.isfinite(budget) or budget <= 0:
        raise PlanFileError(f"--plan {where}: corrupt: \"kld_budget\" must be a positive number")
    settings = data.get("settings") if isinstance(data.get("settings"), dict) else {}
    measured = data.get("measured") if isinstance(data.get("measured"), dict) else {}
    return PlanFile(str(data.get("model", "")), fingerprint, dict(assignment), settings, float(budget), measured)


def plan_settings(settings) -> dict:
    """The pipeline options a plan was measured under (seed, calibrations, fork options), for the file."""
    options = settings.npu_options()
    return {k: v for k, v in options.items() if k not in ("pipeline", "platform", "mm", "weight_quant", "act_quant")}


def settings_from_plan(plan: PlanFile, settings, path: str = "plan.json"):
    """``settings`` with the plan's pipeline options, each checked by its option's own validator."""
    known = set(plan_settings(settings))
    changes = {}
    for name, value in plan.settings.items():
        if name not in known:
            continue
        declaration = type(settings).declaration(name)
        try:
            changes[name] = declaration.parse(str(value), declaration.flag)
        except UsageError as exc:
            raise PlanFileError(f"--plan {printable(path)}: corrupt setting {name}: {exc}") from None
    return settings.with_changes(**changes)


def plan_for(model, assignment: dict, settings, budget: float, measured: dict,
             details: Optional[dict] = None) -> PlanFile:
    """A plan file for ``model``: the assignment and the measurement that verified it."""
    return PlanFile(os.path.basename(model.path), model_fingerprint(model), dict(assignment),
                    plan_settings(settings), budget, measured, details or {})
