"""One search per s3:// storage prefix: the lease object, against a moto S3 server on loopback (the
endpoint reaches boto3 and pyarrow, so Ray, through AWS_ENDPOINT_URL)."""
import json
import os
import subprocess
import sys
import threading
import time

import boto3
import pytest
from moto.server import ThreadedMotoServer

from bert_hpo_distributed import search_lease, search_lock
from bertclf.errors import UserError
from tests.helpers import ROOT, search_cmd

BUCKET = "searches"
STORAGE = f"s3://{BUCKET}/team/imdb-smoke"
KEY = "team/.imdb-smoke.lock"
HOLDER = ("import sys, time; from bert_hpo_distributed.search_lock import hold; "
          "hold('imdb-smoke', [sys.argv[1]], []); print('held', flush=True); time.sleep(120)")


@pytest.fixture(scope="module")
def server():
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    yield f"http://{host}:{port}"
    moto.stop()


@pytest.fixture
def s3(server, monkeypatch):
    """A client of an empty bucket on the moto server; the environment points boto3 and pyarrow at it."""
    for key, value in dict(AWS_ENDPOINT_URL=server, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                           AWS_DEFAULT_REGION="us-east-1").items():
        monkeypatch.setenv(key, value)
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    yield client
    search_lock.release()
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def _record(s3) -> dict:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read())


def test_the_lease_sits_beside_the_storage_prefix():
    assert search_lease.lease_place("s3://b/a/c/imdb/") == ("b", "a/c/.imdb.lock")
    assert search_lease.lease_place("s3://b/imdb") == ("b", ".imdb.lock")
    with pytest.raises(UserError, match="expected s3://BUCKET/prefix"):
        search_lease.lease_place("s3://b")


def test_a_held_lease_refuses_a_second_search_and_is_deleted_at_the_end(s3):
    notes = []
    search_lock.hold("imdb-smoke", [STORAGE], notes)
    assert _record(s3)["pid"] == os.getpid() and notes == []
    with pytest.raises(UserError, match=rf"^search imdb-smoke is running \(pid {os.getpid()} on .*, since .*\); "
                                        r"wait for it, or use --name$"):
        search_lease.take("imdb-smoke", STORAGE, [])
    search_lock.release()
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0
    search_lease.release(search_lease.take("imdb-smoke", STORAGE, notes))  # free again, no note
    assert notes == []


def test_of_searches_started_at_once_exactly_one_takes_the_lease(s3):
    won, refusals, start = [], [], threading.Barrier(8)

    def contender():
        start.wait()
        try:
            won.append(search_lease.take("imdb-smoke", STORAGE, []))
        except UserError as refusal:
            refusals.append(refusal)
    threads = [threading.Thread(target=contender) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for lease in won:
        search_lease.release(lease)
    assert len(won) == 1 and len(refusals) == 7, (won, refusals)


def test_the_holder_refreshes_its_lease_while_it_runs(s3, monkeypatch):
    monkeypatch.setattr(search_lease, "HEARTBEAT", 0.3)
    lease = search_lease.take("imdb-smoke", STORAGE, [])
    try:
        first = s3.head_object(Bucket=BUCKET, Key=KEY)
        time.sleep(1.6)  # Last-Modified counts whole seconds
        later = s3.head_object(Bucket=BUCKET, Key=KEY)
        assert later["ETag"] == lease.etag != first["ETag"]
        assert later["LastModified"] > first["LastModified"]
    finally:
        search_lease.release(lease)


def test_a_stale_lease_is_taken_over_with_a_note_and_its_holder_writes_nothing_back(s3, monkeypatch, capsys):
    monkeypatch.setattr(search_lease, "HEARTBEAT", 0.3)
    gone = search_lease.take("imdb-smoke", STORAGE, [])  # a search whose machine stops answering
    gone.record = dict(gone.record, pid=-1)
    monkeypatch.setattr(search_lease, "STALE", 0.0)
    notes = []
    mine = search_lease.take("imdb-smoke", STORAGE, notes)
    assert len(notes) == 1 and notes[0].startswith("note: the lock of search imdb-smoke was held by a search not "
                                                   "heard from for "), notes
    assert notes[0].endswith(": taken over")
    time.sleep(1.0)  # the old holder's beats fail: the lease is not its own any more
    search_lease.release(gone)  # and its release leaves the new holder's lease
    assert "was taken over by another search" in capsys.readouterr().err
    assert _record(s3)["pid"] == os.getpid() and s3.head_object(Bucket=BUCKET, Key=KEY)["ETag"] == mine.etag
    search_lease.release(mine)


def test_a_fresh_lease_of_a_living_search_is_not_taken_over(s3):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=json.dumps({"pid": 42, "host": "elsewhere", "since": "t"}))
    with pytest.raises(UserError, match=r"\(pid 42 on elsewhere, since t\)"):
        search_lease.take("imdb-smoke", STORAGE, [])


def test_a_bucket_that_does_not_exist_is_one_line(s3):
    with pytest.raises(UserError, match=r"^--storage-path s3://nobucket/x/imdb: cannot hold the search's lease "
                                        r"there: .*NoSuchBucket"):
        search_lease.take("imdb", "s3://nobucket/x/imdb", [])


def test_s3_storage_without_boto3_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(UserError, match=r"^--storage-path s3://b/imdb: .* needs boto3; pip install 'bert-hpo\[search\]'$"):
        search_lease.take("imdb", "s3://b/imdb", [])


@pytest.mark.parametrize("extra", [[], ["--resume"]])
def test_the_same_search_into_the_same_bucket_is_refused_before_ray(s3, tmp_path, extra):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, f"s3://{BUCKET}/team/imdb-smoke"], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.perf_counter()
        done = subprocess.run(search_cmd(tmp_path / "data", tmp_path / "out", "--storage-path", f"s3://{BUCKET}/team",
                                         *extra), cwd=ROOT, capture_output=True, text=True, timeout=120)
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 2, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: search imdb-smoke is running (pid {holder.pid} on "), lines
    assert time.perf_counter() - started < 60  # refused at once, no Ray started
    assert not (tmp_path / "out" / "imdb-smoke").exists()
