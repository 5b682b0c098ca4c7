"""Benchmark: the TUI's whole-process start in a real terminal, then Pilot (headless) figures.

* Whole-process start, as a user sees it: ``python -m layoutscope FILE`` is
  launched in a pseudo-terminal (80×24, ``TERM=xterm-256color``, the pty as
  its controlling terminal), timed from the spawn until the frame that shows
  the tree with the file's tensors has been handed to the terminal, and then
  the frame with the first tensor's panel. The app reports both frames through
  the marker of :mod:`layoutscope.tui.start_marker` (a file descriptor named
  by ``LAYOUTSCOPE_TREE_DRAWN_FD``). The anchor, ``python -c "import
  textual.app"``, is spawned the same way in the same run, timed to its exit.
  Both write bytecode caches as a user's Python does (a temporary
  PYTHONPYCACHEPREFIX, filled by an untimed first round). On the bundled
  sample and on a 262,144-token vocabulary; best and median of ``--runs``,
  interleaved. Target: the tree ≤ 2× the anchor.
* First paint on a file with a 262,144-token vocabulary: a fresh process,
  from before ``import layoutscope.tui`` to the first frame the app renders;
  also to the frame that shows the opened model. Target ≤ 1.0 s.
* ``]`` (next layer) to the next rendered frame on a sparse LLaMA-2-7B-shaped
  Q8_0 file, with the Layout panel and with the (windowed) Values panel
  showing. Target p95 ≤ 50 ms.
* Peak RSS of that process after stepping through every layer in both
  panels. Target < 250 MB.
* Cancel latency on a 262,144×640 Q8_0 output head: ``esc`` pressed while
  the Matmul panel's worker (and then the Scan screen's) is busy on it, to
  the moment its thread stops computing. Target ≤ 1 s (printed, not asserted).

A frame counts as rendered when Textual hands the compositor's update to the
driver (``App._display``), i.e. after every visible line was rendered.

    python benchmarks/tui.py [--vocab 262144] [--steps 31] [--runs 7] [--only start|cancel]
"""

from __future__ import annotations

import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import asyncio  # noqa: E402
import atexit  # noqa: E402
import fcntl  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import select  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import termios  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")


def _frames(app) -> list[float]:
    """Record the time of every rendered frame of ``app``."""
    frames: list[float] = []
    display = app._display

    def timed(screen, renderable):
        display(screen, renderable)
        if renderable is not None:
            frames.append(time.perf_counter())

    app._display = timed
    return frames


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size in MB."""
    current = peak = 0.0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                current = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return current, peak


# -- whole-process start in a pseudo-terminal ------------------------------------------------------

#: The terminal the start is measured in (columns, lines).
START_SIZE = (80, 24)
#: Seconds a launched process may take before the run counts as failed.
START_TIMEOUT = 60.0
#: The marker's environment variable (layoutscope.tui.start_marker.ENV, spelled out: no layoutscope import here).
TREE_DRAWN_ENV = "LAYOUTSCOPE_TREE_DRAWN_FD"


#: Bytecode caches of the launched processes. A user's Python writes them (pip compiles on install, imports
#: cache what they compile); a sandbox's PYTHONDONTWRITEBYTECODE would make every start recompile
#: layoutscope (the anchor's textual stays cached). Kept out of the source tree, filled by the warm-up round.
PYCACHE = tempfile.mkdtemp(prefix="layoutscope-bench-pycache-")
atexit.register(shutil.rmtree, PYCACHE, True)


def _terminal_env(**extra: str) -> dict:
    """The benchmark's environment as a user's terminal would have it: no test switches, bytecode cached."""
    dropped = ("NO_COLOR", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTUAL") and k not in dropped}
    env.update(TERM="xterm-256color", PYTHONPYCACHEPREFIX=PYCACHE, **extra)
    return env


def _spawn_in_pty(argv: list[str], env: dict, pass_fds=()) -> tuple:
    """Launch ``argv`` on a fresh pty of START_SIZE; returns (process, master fd, monotonic time of the spawn)."""
    master, slave = os.openpty()
    cols, rows = START_SIZE
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def controlling_terminal() -> None:  # in the child: a session of its own, led by the pty, as a login shell's
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, pass_fds=pass_fds,
                            preexec_fn=controlling_terminal)
    os.close(slave)
    return proc, master, t0


def _read_master(master: int, tail: bytearray) -> bool:
    """Drain what the child wrote (a full pty would block it); False once the child closed the terminal."""
    try:
        data = os.read(master, 65536)
    except OSError:  # EIO: every descriptor of the pty's other end is closed, i.e. the child exited
        return False
    if not data:
        return False
    tail.extend(data)
    del tail[:-4096]
    return True


def _anchor_once() -> float:
    """Seconds from spawning ``python -c "import textual.app"`` on a pty to its exit."""
    proc, master, t0 = _spawn_in_pty([sys.executable, "-c", "import textual.app"], _terminal_env())
    tail = bytearray()
    try:
        while True:
            ready, _, _ = select.select([master], [], [], START_TIMEOUT)
            if not ready:
                raise RuntimeError("the anchor did not exit")
            if not _read_master(master, tail):
                break
        proc.wait(START_TIMEOUT)
        elapsed = time.monotonic() - t0
    finally:
        os.close(master)
    if proc.returncode != 0:
        raise RuntimeError(f"the anchor failed: {bytes(tail).decode(errors='replace')}")
    return elapsed


def _start_once(path: str) -> dict:
    """Seconds from spawning ``python -m layoutscope PATH`` on a pty to the tree drawn, and to the first tensor's
    panel drawn (``{"tree": s, "panel": s}``); then ``q`` quits it."""
    marker_r, marker_w = os.pipe()
    env = _terminal_env(**{TREE_DRAWN_ENV: str(marker_w)})
    proc, master, t0 = _spawn_in_pty([sys.executable, "-m", "layoutscope", path], env, pass_fds=(marker_w,))
    os.close(marker_w)
    tail, markers = bytearray(), b""
    try:
        deadline = t0 + START_TIMEOUT
        while b"panel-drawn" not in markers or not markers.endswith(b"\n"):
            ready, _, _ = select.select([master, marker_r], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise RuntimeError(f"no start markers within {START_TIMEOUT:g} s (got {markers!r}); the screen "
                                   f"ended with: {bytes(tail[-400:]).decode(errors='replace')!r}")
            if marker_r in ready:
                chunk = os.read(marker_r, 256)
                if not chunk:
                    raise RuntimeError(f"the app closed the marker descriptor after {markers!r}")
                markers += chunk
            if master in ready and not _read_master(master, tail):
                raise RuntimeError(f"the app exited before its start markers ({markers!r}): "
                                   f"{bytes(tail[-400:]).decode(errors='replace')!r}")
        drawn = {line.split()[0].removesuffix(b"-drawn").decode(): float(line.split()[1])
                 for line in markers.splitlines()}
        os.write(master, b"q")
        while _read_master(master, tail):
            pass
        proc.wait(START_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
        os.close(marker_r)
    return {moment: t - t0 for moment, t in drawn.items()}


def measure_start(files: dict, runs: int) -> dict:
    """{"anchor": [s...], label: {"tree": [s...], "panel": [s...]}} over ``runs`` interleaved rounds, after
    one untimed warm-up round (it fills the page cache and the bytecode caches)."""
    times: dict = {"anchor": [], **{label: {"tree": [], "panel": []} for label in files}}
    for round_ in range(runs + 1):
        anchor = _anchor_once()
        starts = {label: _start_once(path) for label, path in files.items()}
        if round_:
            times["anchor"].append(anchor)
            for label, moments in starts.items():
                for moment, t in moments.items():
                    times[label][moment].append(t)
    return times


def print_start(times: dict) -> bool:
    """Print best and median of each figure and its ratio to the anchor's; True when every tree ratio is ≤ 2."""
    anchor = times["anchor"]
    best_a, median_a = min(anchor), statistics.median(anchor)
    cols, rows = START_SIZE
    print(f"whole-process start in a {cols}×{rows} pty, from the spawn (best / median of {len(anchor)} interleaved "
          "runs):")
    print(f"  anchor: python -c 'import textual.app', to its exit        {best_a:6.3f} s / {median_a:6.3f} s")
    ok = True
    for label, moments in times.items():
        if label == "anchor":
            continue
        print(f"  {label}:")
        for moment, what in (("tree", "the tensor tree drawn"), ("panel", "the first tensor's panel drawn")):
            t = moments[moment]
            best, median = min(t), statistics.median(t)
            ratios = f"×{best / best_a:.2f} / ×{median / median_a:.2f} the anchor"
            if moment == "tree":
                met = max(best / best_a, median / median_a) <= 2.0
                ok &= met
                ratios += f" (target <= 2×: {'met' if met else 'NOT met'})"
            print(f"    to {what:<32}{best:6.3f} s / {median:6.3f} s   {ratios}")
    return ok

async def _first_paint(path: str) -> dict:
    from layoutscope.tui.app import LayoutscopeApp

    t_imported = time.perf_counter()
    app = LayoutscopeApp(path)
    frames = _frames(app)
    async with app.run_test(size=(80, 24)) as pilot:
        while not frames:
            await pilot.pause(0.005)
        first = frames[0]
        while app.main_screen.model is None:
            await pilot.pause(0.005)
        n = len(frames)
        while len(frames) == n:
            await pilot.pause(0.005)
        shown = frames[-1]
    return {"import": t_imported - T_START, "first_paint": first - T_START, "model_shown": shown - T_START}


async def _step_layers(path: str, steps: int) -> dict:
    from layoutscope.tui.app import LayoutscopeApp

    app = LayoutscopeApp(path)
    frames = _frames(app)
    out = {}
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
        main = app.main_screen
        for panel, key in (("layout", "1"), ("values", "2")):
            main.select_tensor("blk.0.ffn_down.weight")
            await pilot.press(key)
            await pilot.pause()
            times = []
            for _ in range(steps):
                n = len(frames)
                t0 = time.perf_counter()
                await pilot.press("right_square_bracket")
                while len(frames) == n:
                    await pilot.pause(0)
                times.append(frames[n] - t0)
            assert main.current == f"blk.{steps}.ffn_down.weight", main.current
            times.sort()
            out[panel] = {"p50": times[len(times) // 2], "p95": times[min(len(times) - 1, int(len(times) * 0.95))],
                          "max": times[-1]}
    out["rss"], out["peak_rss"] = rss_mb()
    return out


#: Seconds into the work at which esc is pressed (prepare, requantize, the NPU calls, the reference).
CANCEL_AT = (0.3, 1.0, 2.0, 3.0)


def _scan_threads_busy() -> bool:
    import threading

    return any(t.name.startswith("layoutscope-scan") and t.is_alive() for t in threading.enumerate())


async def _cancel_latency(path: str) -> dict:
    """Seconds from esc to the end of the busy thread, for a matmul and a scan of ``output.weight``."""
    from layoutscope.measure.session import MatmulSettings
    from layoutscope.tui import messages as msg
    from layoutscope.tui.app import LayoutscopeApp
    from layoutscope.tui.screens.main import MainScreen

    # The matmul worker's last act is posting its outcome: that is when its thread stops computing.
    ended: list[float] = []
    post = MainScreen.post_message

    def timed_post(self, message):
        if isinstance(message, (msg.MatmulFailed, msg.MatmulFinished)):
            ended.append(time.perf_counter())
        return post(self, message)

    MainScreen.post_message = timed_post
    out: dict = {"matmul": [], "scan": []}
    app = LayoutscopeApp(path, settings=MatmulSettings(backend="npu-sim"))
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
        main = app.main_screen
        main.select_tensor("output.weight")
        await pilot.pause()
        for delay in CANCEL_AT:
            ended.clear()
            # The actions directly, as m and esc run them: Pilot's press waits for the screen to settle,
            # which a running worker delays.
            main.action_matmul()
            await asyncio.sleep(delay)
            busy = not ended
            t0 = time.perf_counter()
            main.action_cancel()
            while not ended:
                await asyncio.sleep(0.01)
            out["matmul"].append((delay, max(0.0, ended[0] - t0), busy))
            await app.workers.wait_for_complete()
            await pilot.pause()
        await pilot.press("S")
        scan = app.screen
        for delay in CANCEL_AT:
            # Wait out the previous run's background thread, if any, before timing the next one.
            while _scan_threads_busy():
                await pilot.pause(0.05)
            # The actions directly: Pilot's press waits for the screen to settle, which a running scan delays.
            scan.action_start()
            await asyncio.sleep(delay)
            busy = _scan_threads_busy()
            if not scan.running:  # finished before esc: nothing to time
                out["scan"].append((delay, 0.0, False))
                continue
            t0 = time.perf_counter()
            scan.action_escape()
            while _scan_threads_busy():
                await asyncio.sleep(0.01)
            out["scan"].append((delay, time.perf_counter() - t0, busy))
            await app.workers.wait_for_complete()
            await pilot.pause()
    return out


def write_random_head(path: str, k: int = 640, n: int = 262_144) -> None:
    """A model whose ``output.weight`` is a K×N Q8_0 head of random codes (real work, unlike a sparse hole)."""
    import numpy as np
    from ggufwrite import STRING, GGUFBuilder

    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 256, size=(n * k // 32, 34), dtype=np.uint8)
    blocks[:, :2] = np.frombuffer(np.float16(0.01).tobytes(), np.uint8)  # every block's scale d
    (GGUFBuilder().add("general.architecture", STRING, "llama")
     .add_tensor("token_embd.weight", (k, 16), 0, np.ones(16 * k, np.float32).tobytes())
     .add_tensor("output.weight", (k, n), 8, blocks.tobytes())
     .write(path))


def _child(argv: list[str]) -> int:
    kind, path = argv[0], argv[1]
    if kind == "first-paint":
        result = asyncio.run(_first_paint(path))
    elif kind == "cancel":
        result = asyncio.run(_cancel_latency(path))
    else:
        result = asyncio.run(_step_layers(path, int(argv[2])))
    print(json.dumps(result, allow_nan=False))
    return 0


def _run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", *args],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return _child(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=262_144)
    parser.add_argument("--steps", type=int, default=31, help="] presses per panel (the 7B file has 32 layers)")
    parser.add_argument("--repeat", type=int, default=3, help="first-paint runs (best and worst are printed)")
    parser.add_argument("--runs", type=int, default=7, help="whole-process start runs (best and median are printed)")
    parser.add_argument("--only", choices=("all", "start", "cancel"), default="all", help="run one measurement only")
    args = parser.parse_args()

    from _models import llama_tensors, vocab_builder, write_sparse_model

    with tempfile.TemporaryDirectory() as tmp:
        vocab_path = os.path.join(tmp, "vocab.gguf")
        if args.only in ("all", "start"):
            write_sparse_model(vocab_path, vocab_builder(args.vocab), llama_tensors(2, 640, 2048, args.vocab))
            sample = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "samples", "tiny-llama-q8_0.gguf")
            print_start(measure_start({"bundled sample (tiny-llama-q8_0.gguf)": os.path.abspath(sample),
                                       f"{args.vocab:,}-token vocabulary": vocab_path}, args.runs))
            if args.only == "start":
                return 0
        head = os.path.join(tmp, "head.gguf")
        write_random_head(head)
        if args.only == "cancel":
            _print_cancel(_run_child("cancel", head))
            return 0
        seven_b = os.path.join(tmp, "llama-2-7b-q8_0-sparse.gguf")
        size = write_sparse_model(seven_b, vocab_builder(32_000), llama_tensors(32, 4096, 11008, 32_000))

        runs = [_run_child("first-paint", vocab_path) for _ in range(args.repeat)]
        best = min(runs, key=lambda r: r["first_paint"])
        worst = max(runs, key=lambda r: r["first_paint"])
        print(f"first paint, {args.vocab}-token vocabulary (fresh process, from before `import layoutscope.tui`; "
              f"{args.repeat} runs):")
        print(f"  imports {best['import']:.3f} s · first frame {best['first_paint']:.3f} s (worst {worst['first_paint']:.3f} s)"
              f" · model shown {best['model_shown']:.3f} s (worst {worst['model_shown']:.3f} s)")
        ok = worst["first_paint"] <= 1.0
        print(f"  target first paint <= 1.0 s: {'met' if ok else 'NOT met'}")

        step = _run_child("step", seven_b, str(args.steps))
        print(f"] to rendered, LLaMA-2-7B-shaped Q8_0 file ({size / 2**30:.2f} GiB sparse), {args.steps} steps of "
              "blk.N.ffn_down (K = 11008):")
        for panel in ("layout", "values"):
            t = step[panel]
            verdict = "met" if t["p95"] <= 0.050 else "NOT met"
            print(f"  {panel:<7} p50 {t['p50'] * 1000:6.1f} ms  p95 {t['p95'] * 1000:6.1f} ms  max {t['max'] * 1000:6.1f} ms"
                  f"  (target p95 <= 50 ms: {verdict})")
        print(f"RSS after stepping every layer in both panels: {step['rss']:.0f} MB now, peak {step['peak_rss']:.0f} MB "
              f"(target < 250 MB: {'met' if step['peak_rss'] < 250 else 'NOT met'})")
        _print_cancel(_run_child("cancel", head))
    return 0


def _print_cancel(result: dict) -> None:
    print("esc to the worker's thread stopping, 262,144×640 Q8_0 output.weight (npu-sim), "
          f"esc at {', '.join(f'{d:g}' for d in CANCEL_AT)} s into the work:")
    for what in ("matmul", "scan"):
        runs = result[what]
        worst = max(latency for _, latency, _ in runs)
        idle = [f"{d:g} s" for d, _, busy in runs if not busy]
        note = f" (already finished at {', '.join(idle)})" if idle else ""
        print(f"  {what:<6} " + "  ".join(f"{latency * 1000:6.0f} ms" for _, latency, _ in runs)
              + f"   worst {worst * 1000:.0f} ms (target <= 1 s: {'met' if worst <= 1.0 else 'NOT met'}){note}")


if __name__ == "__main__":
    sys.exit(main())
