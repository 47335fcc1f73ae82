"""One search per storage prefix on s3://: a lease object in the bucket, the object storage's stand-in
for search_lock's file lock, so that two machines starting the same search into one bucket cannot
both write its trials.

The lease is `.NAME.lock` beside the search's storage prefix (s3://bucket/prefix/.NAME.lock for
s3://bucket/prefix/NAME), holding the holder's host, pid and start time. It is created with a
conditional write (If-None-Match: *): of two searches, S3 lets exactly one create it. The holder
rewrites it every HEARTBEAT seconds (If-Match its own last version, so a lease taken over is never
written back) and deletes it when the search ends. A lease the bucket has not seen refreshed for STALE
seconds belongs to a process that is gone (SIGKILL, a lost machine): it is taken over, with a note,
by a write conditional on the stale version, so that of two takers only one wins. The lease's age is
the bucket's own clock (its Date against the object's Last-Modified): no two machines' clocks are
compared.

The client is boto3's, configured as boto3 is (credentials, region, AWS_ENDPOINT_URL for an
S3-compatible store), which pyarrow, and so Ray, reads too.
"""
import json
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Optional, Tuple

from bertclf.errors import UserError

from .lock_holder import me, refused, taken_over

HEARTBEAT = 30.0  # seconds between the holder's refreshes
STALE = 120.0  # seconds without a refresh after which the holder is taken to be gone (four missed beats)
_CONFLICT = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")


@dataclass
class Lease:
    client: object
    bucket: str
    key: str
    etag: str
    record: dict
    stop: threading.Event = field(default_factory=threading.Event)
    beating: Optional[threading.Thread] = None


def lease_place(storage: str) -> Tuple[str, str]:
    """(bucket, key) of the lease of the search stored at `storage` (s3://bucket/prefix/NAME)."""
    bucket, _, path = storage[len("s3://"):].rstrip("/").partition("/")
    parent, _, name = path.rpartition("/")
    if not bucket or not name:
        raise UserError(f"--storage-path {storage}: expected s3://BUCKET/prefix")
    return bucket, f"{parent}/.{name}.lock" if parent else f".{name}.lock"


def take(name: str, storage: str, notes: list) -> Lease:
    """The lease of search `name` stored at `storage`, refreshed until release(); a UserError when a
    living search holds it; a note in `notes` when a stale one is taken over."""
    bucket, key = lease_place(storage)
    client = _client(storage)
    # a token of this lease alone: S3's ETag is the body's MD5, and two bodies alike would match each other's If-Match
    record = dict(me(), lease=uuid.uuid4().hex)
    for _ in range(5):  # each turn loses only to a search that changed the lease meanwhile
        etag = _put(client, bucket, key, record, storage, IfNoneMatch="*")
        if etag:
            return _beating(Lease(client, bucket, key, etag, record))
        held = _read(client, bucket, key, storage)
        if held is None:  # released between our write and our read
            continue
        holder, held_etag, age = held
        if age < STALE:
            raise refused(name, holder)
        etag = _put(client, bucket, key, record, storage, IfMatch=held_etag)
        if etag:
            notes.append(taken_over(name, holder, f"a search not heard from for {age:.0f} s"))
            return _beating(Lease(client, bucket, key, etag, record))
    raise refused(name, (_read(client, bucket, key, storage) or (None,))[0])


def release(lease: Lease) -> None:
    """Stop refreshing `lease` and delete it, unless another search has taken it over."""
    lease.stop.set()
    if lease.beating:
        lease.beating.join()
    try:
        lease.client.delete_object(Bucket=lease.bucket, Key=lease.key, IfMatch=lease.etag)
    except Exception:  # taken over, or the bucket unreachable: a lease left behind goes stale
        pass


def _client(storage: str):
    try:
        import boto3  # the search extra has it; a local search never needs it
    except ImportError:
        raise UserError(f"--storage-path {storage}: the lease that keeps one search per storage prefix needs "
                        f"boto3; pip install 'bert-hpo[search]'") from None
    return boto3.client("s3")


def _put(client, bucket: str, key: str, record: dict, storage: str, **condition) -> Optional[str]:
    """The new ETag of the lease written under `condition`, or None when the condition failed."""
    body = json.dumps(dict(record, refreshed=time.strftime("%Y-%m-%d %H:%M:%S"))).encode()
    try:
        return client.put_object(Bucket=bucket, Key=key, Body=body, **condition)["ETag"]
    except Exception as error:
        if _conflict(error):
            return None
        raise _unreachable(storage, error) from None


def _read(client, bucket: str, key: str, storage: str):
    """(holder, etag, seconds since its last refresh by the bucket's clock) of the lease, or None."""
    try:
        got = client.get_object(Bucket=bucket, Key=key)
    except Exception as error:
        if getattr(error, "response", {}).get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise _unreachable(storage, error) from None
    try:
        holder = json.loads(got["Body"].read().decode() or "null")
    except ValueError:
        holder = None
    now = parsedate_to_datetime(got["ResponseMetadata"]["HTTPHeaders"]["date"])
    return holder, got["ETag"], (now - got["LastModified"]).total_seconds()


def _beating(lease: Lease) -> Lease:
    def beat():
        while not lease.stop.wait(HEARTBEAT):
            try:
                etag = _put(lease.client, lease.bucket, lease.key, lease.record, "", IfMatch=lease.etag)
            except UserError:  # the bucket unreachable for a moment: the next beat tries again
                continue
            if etag is None:
                print(f"warning: the lease s3://{lease.bucket}/{lease.key} was taken over by another search "
                      f"(this one was not heard from for {STALE:.0f} s); both now write into its storage",
                      file=sys.stderr)
                return
            lease.etag = etag
    lease.beating = threading.Thread(target=beat, name="search-lease", daemon=True)
    lease.beating.start()
    return lease


def _conflict(error: Exception) -> bool:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code")) in _CONFLICT


def _unreachable(storage: str, error: Exception) -> UserError:
    return UserError(f"--storage-path {storage}: cannot hold the search's lease there: {error}")
