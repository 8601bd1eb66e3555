import pytest

from cnnstat.atomic import atomic_path, write_atomically


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("crash while writing")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_a_write_replaces_the_file_and_creates_folders(tmp_path):
    target = tmp_path / "run" / "metrics.csv"
    write_atomically(target, "epoch\n1\n")
    assert target.read_text() == "epoch\n1\n" and len(list(target.parent.iterdir())) == 1


def test_bytes_are_written_as_they_are(tmp_path):
    target = tmp_path / "net.png"
    content = bytes(range(256))  # not UTF-8 text
    write_atomically(target, content)
    assert target.read_bytes() == content
