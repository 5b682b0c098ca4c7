"""Atomic replacement: all of the new content or none of it, the final mode before the first byte, no leftovers."""

from __future__ import annotations

import os
import stat

import pytest

from layoutscope.report import atomic


def _temporaries(directory) -> list[str]:
    return [p for p in os.listdir(directory) if p.endswith(".tmp")]


def test_the_content_lands_whole_with_the_asked_mode(tmp_path):
    target = tmp_path / "out.csv"
    with atomic.atomic_text_writer(str(target), mode=0o640) as stream:
        stream.write("a,b\n1,2\n")
        assert not target.exists()  # nothing is visible until the block succeeds
        assert len(_temporaries(tmp_path)) == 1
    assert target.read_text() == "a,b\n1,2\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert _temporaries(tmp_path) == []


def test_a_failure_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError, match="half way"):
        with atomic.atomic_text_writer(str(target)) as stream:
            stream.write("new, but never finished\n")
            raise RuntimeError("half way")
    assert target.read_text() == "old\n"
    assert _temporaries(tmp_path) == [] and not atomic._live


def test_an_interrupt_is_cleaned_up_too(tmp_path):
    # Ctrl-C (and SIGTERM/SIGHUP, which the CLI turns into KeyboardInterrupt subclasses) unwind the same way.
    target = tmp_path / "out.csv"
    with pytest.raises(KeyboardInterrupt):
        with atomic.atomic_text_writer(str(target)) as stream:
            stream.write("x")
            raise KeyboardInterrupt
    assert not target.exists() and _temporaries(tmp_path) == []


def test_new_file_mode_follows_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        assert atomic.current_umask() == 0o027
        assert atomic.new_file_mode() == 0o640
        target = tmp_path / "new.txt"
        with atomic.atomic_text_writer(str(target)) as stream:
            stream.write("x")
        assert stat.S_IMODE(target.stat().st_mode) == 0o640
    finally:
        os.umask(old)


def test_the_backstop_removes_registered_temporaries(tmp_path):
    stray = tmp_path / ".left.tmp"
    stray.write_text("x")
    with atomic._live_lock:
        atomic._live.add(str(stray))
    atomic.remove_temporaries()
    assert not stray.exists() and not atomic._live


def test_probe_directory_says_whether_a_file_can_be_made(tmp_path):
    atomic.probe_directory(str(tmp_path))  # a writable directory: no error, nothing left
    assert os.listdir(tmp_path) == []
    with pytest.raises(OSError):
        atomic.probe_directory(str(tmp_path / "missing"))
    with pytest.raises(OSError):
        atomic.probe_directory("/proc")  # refused even for root
