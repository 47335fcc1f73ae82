"""Named data sets: every accepted layout is found; downloads are checked, retried and atomic.

Downloads are served by a local HTTP server on 127.0.0.1 from archives the tests build.
"""
import gzip
import hashlib
import http.server
import io
import json
import tarfile
import threading
from functools import partial

import pytest

from bertclf.data import download
from bertclf.data.examples import read_examples
from bertclf.data.datasets import resolve
from bertclf.data.download import Source
from bertclf.errors import UserError


def aclimdb_archive(path, per_class=3):
    with tarfile.open(path, "w:gz") as tar:
        for split in ("train", "test"):
            for label in ("pos", "neg"):
                for i in range(per_class):
                    data = f"{label} review {i} of {split}<br />".encode()
                    info = tarfile.TarInfo(f"aclImdb/{split}/{label}/{i}_{7 if label == 'pos' else 2}.txt")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def server(tmp_path):
    """(base URL, folder it serves, request log); answers 503 to paths listed in `flaky` once."""
    root = tmp_path / "served"
    root.mkdir()
    log, flaky = [], set()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            log.append(self.path)
            if self.path in flaky:
                flaky.discard(self.path)
                self.send_error(503)
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root, log, flaky
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def online(monkeypatch):
    monkeypatch.delenv("BERT_HPO_OFFLINE", raising=False)


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_imdb_download_unpack_and_read(server, online, tmp_path, monkeypatch):
    base, root, log, _ = server
    archive = aclimdb_archive(root / "aclImdb_v1.tar.gz")
    monkeypatch.setitem(download.SOURCES, "imdb", [
        Source(f"{base}/aclImdb_v1.tar.gz", "aclImdb_v1.tar.gz", f"md5:{md5(archive)}", unpack=True)])
    data = tmp_path / "data"
    files = resolve("imdb", str(data), progress=False)
    assert files["train"] == data / "aclImdb" / "train" and files["test"] == data / "aclImdb" / "test"
    assert sorted(read_examples(files["train"]).labels) == ["negative"] * 3 + ["positive"] * 3
    assert not [p for p in data.iterdir() if p.name.startswith(".")]  # no partial file or folder left
    resolve("imdb", str(data), progress=False)
    assert log == ["/aclImdb_v1.tar.gz"]  # found the second time: no second download


def test_bad_checksum_is_rejected_and_leaves_no_file(server, online, tmp_path, monkeypatch):
    base, root, _, _ = server
    aclimdb_archive(root / "aclImdb_v1.tar.gz")
    monkeypatch.setitem(download.SOURCES, "imdb", [
        Source(f"{base}/aclImdb_v1.tar.gz", "aclImdb_v1.tar.gz", "md5:" + "0" * 32, unpack=True)])
    data = tmp_path / "data"
    with pytest.raises(UserError, match="checksum mismatch"):
        resolve("imdb", str(data), progress=False)
    assert list(data.iterdir()) == []


def test_a_failing_server_is_retried(server, online, tmp_path, monkeypatch):
    base, root, log, flaky = server
    (root / "ratings_train.txt").write_text("id\tdocument\tlabel\n1\t좋다\t1\n2\t별로\t0\n", encoding="utf-8")
    (root / "ratings_test.txt").write_text("id\tdocument\tlabel\n3\t최고\t1\n4\t\t0\n", encoding="utf-8")
    sha = {n: hashlib.sha256((root / n).read_bytes()).hexdigest() for n in ("ratings_train.txt", "ratings_test.txt")}
    monkeypatch.setitem(download.SOURCES, "nsmc", [
        Source(f"{base}/{n}", n, f"sha256:{sha[n]}") for n in ("ratings_train.txt", "ratings_test.txt")])
    monkeypatch.setattr(download.time, "sleep", lambda s: None)
    flaky.add("/ratings_train.txt")
    files = resolve("nsmc", str(tmp_path / "data"), progress=False)
    assert log.count("/ratings_train.txt") == 2
    test = read_examples(files["test"])
    assert test.labels == [1, 0] and test.empty_texts == 1


def test_missing_file_on_the_server_is_one_clear_error(server, online, tmp_path, monkeypatch):
    base, _, log, _ = server
    monkeypatch.setitem(download.SOURCES, "nsmc", [Source(f"{base}/nope.txt", "ratings_train.txt", None)])
    with pytest.raises(UserError) as e:
        resolve("nsmc", str(tmp_path / "data"), progress=False)
    assert f"could not download {base}/nope.txt" in str(e.value) and "download it by hand" in str(e.value)
    assert len(log) == 1  # a 404 is not retried


def test_mirror_replaces_the_host(server, online, tmp_path, monkeypatch):
    base, root, log, _ = server
    archive = aclimdb_archive(root / "aclImdb_v1.tar.gz")
    monkeypatch.setitem(download.SOURCES, "imdb", [
        Source("https://example.invalid/aclImdb_v1.tar.gz", "aclImdb_v1.tar.gz", f"md5:{md5(archive)}", True)])
    monkeypatch.setenv("BERT_HPO_MIRROR", base)
    resolve("imdb", str(tmp_path / "data"), progress=False)
    assert log == ["/aclImdb_v1.tar.gz"]


def test_offline_says_what_to_download_and_where(tmp_path):
    with pytest.raises(UserError) as e:
        resolve("korquad", str(tmp_path))
    message = str(e.value)
    assert "KorQuAD_v1.0_train.json" in message and str(tmp_path) in message
    assert "https://korquad.github.io/dataset/KorQuAD_v1.0_dev.json" in message


def test_archive_escaping_its_folder_is_refused(tmp_path):
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("../outside.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    (tmp_path / "data").mkdir()
    with pytest.raises(UserError, match="cannot unpack"):
        download.unpack(evil, tmp_path / "data")
    assert not (tmp_path / "outside.txt").exists()


@pytest.mark.parametrize("name, files, expected", [
    ("imdb", ["imdb_train.csv.gz", "imdb_test.csv.gz"], ("imdb_train.csv.gz", "imdb_test.csv.gz")),
    ("imdb", ["aclImdb/train/pos/0_9.txt", "aclImdb/test/neg/0_1.txt"], ("aclImdb/train", "aclImdb/test")),
    ("nsmc", ["ratings_train.txt", "ratings_test.txt"], ("ratings_train.txt", "ratings_test.txt")),
    ("nsmc", ["nsmc_train.tsv.gz", "nsmc_test.tsv.gz"], ("nsmc_train.tsv.gz", "nsmc_test.tsv.gz")),
    ("korquad", ["KorQuAD_v1.0_train.json", "KorQuAD_v1.0_dev.json.gz"],
     ("KorQuAD_v1.0_train.json", "KorQuAD_v1.0_dev.json.gz")),
])
def test_resolver_finds_each_layout(tmp_path, name, files, expected):
    for f in files:
        path = tmp_path / f
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(b"x") if f.endswith(".gz") else b"x")
    found = resolve(name, str(tmp_path))
    assert (found["train"], found["test"]) == tuple(tmp_path / e for e in expected)


def test_an_archive_already_there_is_unpacked_even_offline(tmp_path):
    aclimdb_archive(tmp_path / "aclImdb_v1.tar.gz")
    files = resolve("imdb", str(tmp_path))  # BERT_HPO_OFFLINE=1 in the tests
    assert files["train"] == tmp_path / "aclImdb" / "train"
    assert len(read_examples(files["test"])) == 6


def test_korquad_dev_only_is_enough_when_asked(tmp_path):
    (tmp_path / "KorQuAD_v1.0_dev.json").write_text(json.dumps({"data": []}))
    assert set(resolve("korquad", str(tmp_path), need=("test",))) == {"test"}


def test_data_dir_comes_from_the_environment(tmp_path, monkeypatch):
    for name in ("imdb_train.csv.gz", "imdb_test.csv.gz"):
        (tmp_path / name).write_bytes(gzip.compress(b"text,label\na,0\nb,1\n"))
    monkeypatch.setenv("BERT_HPO_DATA_DIR", str(tmp_path))
    assert resolve("imdb")["train"] == tmp_path / "imdb_train.csv.gz"
