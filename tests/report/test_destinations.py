"""Output destinations: how a path is resolved, what is refused before work, and how each kind is written."""

from __future__ import annotations

import errno
import os
import stat
import threading

import pytest

from layoutscope.report import atomic
from layoutscope.report.destinations import DestinationError, GuardedStream, prepare, resolve
from layoutscope.errors import OutputError, classify


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def write(destination, text: str = "new\n") -> None:
    with destination.open() as stream:
        stream.write(text)


def no_temporaries(directory) -> bool:
    return not [p for p in os.listdir(directory) if p.endswith(".tmp")]


def test_dash_is_stdout(capsys):
    d = resolve("-", "--csv")
    assert d.is_stdout and d.kind == "stdout"
    write(d, "a,b\n")
    assert capsys.readouterr().out == "a,b\n"


def test_a_new_file_gets_the_umask_mode(tmp_path, umask_022):
    d = resolve(str(tmp_path / "new.csv"), "--csv")
    assert d.kind == "file" and d.mode == 0o644
    write(d)
    assert (tmp_path / "new.csv").read_text() == "new\n"
    assert stat.S_IMODE(os.stat(tmp_path / "new.csv").st_mode) == 0o644
    assert no_temporaries(tmp_path)


def test_the_umask_is_read_without_changing_it(umask_022):
    assert atomic.current_umask() == 0o022
    assert atomic.new_file_mode() == 0o644
    assert os.umask(0o022) == 0o022


def test_an_existing_file_keeps_its_mode(tmp_path, umask_022):
    target = tmp_path / "kept.csv"
    target.write_text("old\n")
    target.chmod(0o640)
    write(resolve(str(target), "--csv"))
    assert target.read_text() == "new\n" and stat.S_IMODE(os.stat(target).st_mode) == 0o640


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path):
    (tmp_path / "real.csv").write_text("old\n")
    (tmp_path / "link.csv").symlink_to("real.csv")
    d = resolve(str(tmp_path / "link.csv"), "--csv")
    assert d.kind == "file" and d.target == str(tmp_path / "real.csv")
    write(d)
    assert os.readlink(tmp_path / "link.csv") == "real.csv"
    assert (tmp_path / "real.csv").read_text() == "new\n"


def test_a_dangling_symlink_creates_its_target(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.csv").symlink_to("sub/made.csv")
    write(resolve(str(tmp_path / "link.csv"), "--csv"))
    assert (tmp_path / "sub" / "made.csv").read_text() == "new\n" and (tmp_path / "link.csv").is_symlink()
    assert no_temporaries(tmp_path / "sub")


def test_the_temporary_file_sits_beside_the_resolved_target(tmp_path):
    (tmp_path / "far").mkdir()
    (tmp_path / "link.csv").symlink_to("far/real.csv")
    with resolve(str(tmp_path / "link.csv"), "--csv").open() as stream:
        stream.write("x")
        stream.flush()
        assert [p for p in os.listdir(tmp_path / "far") if p.endswith(".tmp")]
        assert no_temporaries(tmp_path)


def test_a_failed_export_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with resolve(str(target), "--csv").open() as stream:
            stream.write("half")
            raise RuntimeError("the work failed")
    assert target.read_text() == "old\n" and no_temporaries(tmp_path)


def test_an_oserror_of_the_work_inside_the_block_keeps_its_meaning(tmp_path):
    with pytest.raises(FileNotFoundError):
        with resolve(str(tmp_path / "out.csv"), "--csv").open():
            open(tmp_path / "missing.npy", "rb")


def test_devices_are_written_directly_and_stay_devices():
    d = resolve("/dev/null", "--csv")
    assert d.kind == "stream"
    write(d)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_dev_full_is_one_line_exit_1_and_stays_a_device():
    with pytest.raises(OutputError) as caught:
        write(resolve("/dev/full", "--csv"), "x" * 100_000)
    assert classify(caught.value) == (1, "--csv '/dev/full': write failed, no space left on device; "
                                         "free some space or choose another path")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_fifo_is_written_through(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    d = resolve(str(fifo), "--csv")
    assert d.kind == "stream"
    write(d, "through\n")
    reader.join(timeout=30)
    assert got == ["through\n"] and stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_file_descriptor_aliases_are_streams_not_resolved():
    d = resolve("/dev/stdout", "--csv")
    assert d.kind == "stream" and d.target == "/dev/stdout"


@pytest.mark.parametrize("path,words", [
    ("", ("--csv ''", "empty")),
    ("a\0b", ("NUL",)),
    ("/proc/x.csv", ("cannot create a file", "'/proc'")),
    ("/sys/x.csv", ("cannot create a file", "'/sys'")),
])
def test_unusable_paths_are_refused(path, words):
    with pytest.raises(DestinationError) as caught:
        resolve(path, "--csv")
    line = str(caught.value)
    assert "\n" not in line and all(w in line for w in words), line


def test_a_directory_is_refused_by_the_users_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "existing_dir").mkdir()
    with pytest.raises(DestinationError, match=r"^--csv 'existing_dir': is a directory; give a file path"):
        resolve("existing_dir", "--csv")


def test_a_missing_directory_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DestinationError, match=r"^--csv 'no/such/x\.csv': directory 'no/such' does not exist"):
        resolve("no/such/x.csv", "--csv")


def test_a_file_in_the_way_of_the_directory_is_refused(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(DestinationError, match="not a directory"):
        resolve(str(tmp_path / "file" / "x.csv"), "--csv")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files")
def test_a_read_only_file_is_refused(tmp_path):
    target = tmp_path / "ro.csv"
    target.write_text("")
    target.chmod(0o444)
    with pytest.raises(DestinationError, match="read-only"):
        resolve(str(target), "--csv")


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF model bytes")
    return path


def test_the_model_itself_is_refused(model):
    with pytest.raises(DestinationError) as caught:
        prepare({"--csv": str(model)}, models=[str(model)])
    assert str(caught.value) == (f"--csv '{model}': refused, it is the input model '{model}' and layoutscope "
                                 "never writes its inputs; choose another path")


def test_a_symlink_to_the_model_is_refused(model):
    link = model.parent / "link.csv"
    link.symlink_to(model.name)
    with pytest.raises(DestinationError, match="input model .* through a symlink"):
        prepare({"--csv": str(link)}, models=[str(model)])


def test_a_hard_link_to_the_model_is_refused(model):
    os.link(model, model.parent / "hard.csv")
    with pytest.raises(DestinationError, match=r"input model .*\(a hard link to it\)"):
        prepare({"--json-file": str(model.parent / "hard.csv")}, models=[str(model)])


def test_a_shard_is_refused_and_other_inputs_too(tmp_path, model):
    shard = tmp_path / "model-00002-of-00002.gguf"
    shard.write_bytes(b"x")
    with pytest.raises(DestinationError, match="input model"):
        prepare({"--csv": str(shard)}, models=[str(model), str(shard)])
    with pytest.raises(DestinationError, match="input file"):
        prepare({"--csv": str(tmp_path / "x.npy")}, inputs=[str(tmp_path / "x.npy")])


def test_the_input_check_comes_before_the_permission_check(model):
    model.chmod(0o444)
    with pytest.raises(DestinationError, match="input model"):
        prepare({"--csv": str(model)}, models=[str(model)])
    assert model.read_bytes() == b"GGUF model bytes" and stat.S_IMODE(os.stat(model).st_mode) == 0o444


def test_two_outputs_on_one_file_or_on_stdout_are_refused(tmp_path):
    with pytest.raises(DestinationError, match="same file"):
        prepare({"--csv": str(tmp_path / "r"), "--json-file": str(tmp_path / "r")})
    with pytest.raises(DestinationError, match="both print to stdout"):
        prepare({"--csv": "-", "--json-file": "-"})
    with pytest.raises(DestinationError, match="--csv '-' and --json both print to stdout"):
        prepare({"--csv": "-"}, stdout_taken_by="--json")
    assert prepare({"--csv": "/dev/null", "--json-file": "/dev/null"})["--csv"].kind == "stream"


def test_stdout_can_be_ruled_out():
    with pytest.raises(DestinationError, match="stdout is not available here"):
        prepare({"export path": "-"}, allow_stdout=False)


def test_nothing_is_created_by_prepare(tmp_path):
    prepare({"--csv": str(tmp_path / "a.csv"), "--json-file": str(tmp_path / "b.json")})
    assert os.listdir(tmp_path) == []


def test_live_temporary_files_are_removed_by_the_backstop(tmp_path):
    writer = atomic.atomic_text_writer(str(tmp_path / "x.csv"))
    writer.__enter__()
    assert not no_temporaries(tmp_path)
    atomic.remove_temporaries()
    assert os.listdir(tmp_path) == []


def test_guarded_stream_translates_only_its_own_errors():
    class Failing:
        def write(self, text):
            raise OSError(errno.EIO, "Input/output error")

        def flush(self):
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    stream = GuardedStream(Failing(), lambda exc: OutputError(f"failed: {exc.strerror}"))
    with pytest.raises(OutputError, match="failed: Input/output error"):
        stream.write("x")
    with pytest.raises(BrokenPipeError):
        stream.flush()
