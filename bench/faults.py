#!/usr/bin/env python
"""The machine's faults on `launch.py --search imdb --smoke-test`, each tried as a user meets it, and
what the user saw: the exit status and the console's last lines. One JSON object per fault.

  python bench/faults.py                          every fault, this checkout
  python bench/faults.py --fault sigterm-trials   one of them
  python bench/faults.py --root /path/to/checkout   the same faults on another checkout (before/after)

Faults: sigterm-trials (SIGTERM to the driver while trials run, then --resume), sigint-test and
sigterm-test (the signal while the best model is scored on a larger test file), second-sigterm
(two SIGTERMs a second apart, then --resume), sigkill-trials (SIGKILL to the driver's process group
mid-trials, then --resume), raylet-killed (the search's raylet SIGKILLed after the first trial, as
the OOM killer picks it, then --resume), twice (the same command while the first runs), disk-full (the output
folder on a 1.2 MB tmpfs, as in issue 25), disk-preflight (a 2 MB one), disk-filled (a 12 MB one that another file fills
after the first trial, removed before --resume), disk-filled-start (filled as the Tuner is made); the disk faults need root and mount, and are
skipped otherwise.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
           RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0")
LONG = ["--max-concurrent", "1", "--set", "smoke.num_samples=4", "--set", "smoke.fixed.n_epochs=8",
        "--set", "smoke.space.mode.choice=[finetune]"]


def command(root: Path, out: Path, *extra):
    return [sys.executable, str(root / "launch.py"), "--search", "imdb", "--smoke-test", "--output-dir", str(out),
            "--num-cpus", "2", *extra]


def start(cmd):
    """The command, run from its checkout (Ray's workers import the checkout their driver runs in)."""
    return subprocess.Popen(cmd, cwd=Path(cmd[1]).parent, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def until(proc, lines: list, marker: str, timeout: float = 400) -> bool:
    """Read the console into `lines` until a line holds `marker` (True) or the process ends (False)."""
    deadline = time.time() + timeout
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if marker in line:
            return True
        if time.time() > deadline:
            break
    return False


def finish(proc, lines: list, timeout: float = 300) -> dict:
    try:
        rest = proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        rest = proc.communicate()[0]
    lines += rest.splitlines()
    return {"exit": proc.returncode, "last_lines": lines[-6:], "console_lines": len(lines),
            "traceback": any("Traceback" in line for line in lines),
            "ray_stack_dump": any("*** SIGTERM received" in line or "PC: @" in line for line in lines)}


def resumed(cmd) -> dict:
    done = subprocess.run(cmd + ["--resume"], cwd=Path(cmd[1]).parent, env=ENV, capture_output=True, text=True, timeout=600)
    lines = (done.stdout + done.stderr).splitlines()
    return {"exit": done.returncode, "last_lines": lines[-3:]}


def signal_at(root, out, marker, signals, extra=(), resume=True) -> dict:
    """Send each of `signals` (one a second) to the driver once the console shows `marker`."""
    cmd = command(root, out, *extra)
    proc, lines = start(cmd), []
    seen = until(proc, lines, marker)
    for i, number in enumerate(signals):
        if seen and proc.poll() is None:
            time.sleep(1.0 if i else 0.0)
            os.kill(proc.pid, number)
    seen_at = len(lines)
    result = finish(proc, lines)
    result["signalled_after"] = lines[seen_at - 1] if seen else f"(never saw {marker!r})"
    if resume:
        result["resume"] = resumed(cmd)
    return result


def big_test(root: Path, folder: Path) -> list:
    """--set options that score the best model on 3,000 test rows (slow enough to be interrupted)."""
    sys.path.insert(0, str(root))
    from tests.helpers import write_imdb_like  # noqa: E402
    write_imdb_like(folder, n_train=300, n_test=3000)
    return ["--data-dir", str(folder), "--set", "smoke.max_test_samples=null"]


def killed_after_a_trial(root, out, kill) -> dict:
    """The search's console and exit when kill(proc) strikes once a trial has finished, then --resume."""
    cmd = command(root, out, *LONG)
    proc, lines = start(cmd), []
    until(proc, lines, "trial 1/4")
    kill(proc)
    result = finish(proc, lines)
    result["resume"] = resumed(cmd)
    return result


def sigkill_trials(root, out) -> dict:
    """The driver's process group killed (SIGKILL) mid-trials, then --resume."""
    def kill(proc):
        time.sleep(2)
        os.killpg(proc.pid, signal.SIGKILL)
    return killed_after_a_trial(root, out, kill)


def raylet_killed(root, out) -> dict:
    """The search's raylet killed (as the OOM killer picks it) once a trial has finished, then --resume."""
    def kill(proc):
        table = subprocess.run(["ps", "-eo", "pid=,sid=,comm="], capture_output=True, text=True).stdout
        for pid, sid, name in (line.split(None, 2) for line in table.splitlines()):
            if int(sid) == proc.pid and name.strip() == "raylet":
                os.kill(int(pid), signal.SIGKILL)
    return killed_after_a_trial(root, out, kill)


def twice(root, out) -> dict:
    """The same command a second after the first (two terminals, a retried job)."""
    cmd = command(root, out, *LONG)
    first, lines = start(cmd), []
    time.sleep(1)
    started = time.perf_counter()
    second = subprocess.run(cmd, cwd=Path(cmd[1]).parent, env=ENV, capture_output=True, text=True, timeout=600)
    result = {"exit": second.returncode, "last_lines": (second.stdout + second.stderr).splitlines()[-3:],
              "seconds": round(time.perf_counter() - started, 1), "first": finish(first, lines, timeout=600)}
    result["first"]["last_lines"] = result["first"]["last_lines"][-2:]
    return result


def tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True).returncode == 0


def disk(root, out, size: str, fill_at=None) -> dict:
    """The search with its output folder on a tmpfs of `size`; with fill_at, a ballast file fills the
    disk once the console shows that marker (another job filling it), and is removed before --resume."""
    if not tmpfs(out, size):
        return {"skipped": "mount -t tmpfs failed here (needs root)"}
    try:
        cmd = command(root, out, *LONG)
        proc, lines = start(cmd), []
        if fill_at and until(proc, lines, fill_at):
            fill(out / "ballast")
        result = finish(proc, lines, timeout=600)
        if fill_at:
            (out / "ballast").unlink(missing_ok=True)
            result["resume"] = resumed(cmd)
        return result
    finally:
        subprocess.run(["umount", "-l", str(out)], capture_output=True)


def fill(path: Path) -> None:
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


FAULTS = {
    "sigterm-trials": lambda root, out, _: signal_at(root, out, "trial 1/4", [signal.SIGTERM], LONG),
    "second-sigterm": lambda root, out, _: signal_at(root, out, "trial 1/4", [signal.SIGTERM, signal.SIGTERM], LONG),
    "sigint-test": lambda root, out, data: signal_at(root, out, "test: scoring", [signal.SIGINT],
                                                     big_test(root, data), resume=True),
    "sigterm-test": lambda root, out, data: signal_at(root, out, "test: scoring", [signal.SIGTERM],
                                                      big_test(root, data), resume=True),
    "sigkill-trials": lambda root, out, _: sigkill_trials(root, out),
    "raylet-killed": lambda root, out, _: raylet_killed(root, out),
    "twice": lambda root, out, _: twice(root, out),
    "disk-full": lambda root, out, _: disk(root, out, "1200k"),
    "disk-filled": lambda root, out, _: disk(root, out, "12m", fill_at="trial 1/4"),
    "disk-filled-start": lambda root, out, _: disk(root, out, "12m", fill_at="first trial(s)"),
    "disk-preflight": lambda root, out, _: disk(root, out, "2m"),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fault", action="append", choices=sorted(FAULTS), help="run only these (repeatable)")
    parser.add_argument("--root", type=Path, default=HERE, help="the checkout whose launch.py is run (default: this one)")
    args = parser.parse_args(argv)
    for name in args.fault or list(FAULTS):
        work = Path(tempfile.mkdtemp(prefix=f"faults-{name}-"))
        try:
            started = time.perf_counter()
            result = FAULTS[name](args.root.resolve(), work / "out", work / "data")
            result["seconds"] = round(time.perf_counter() - started, 1)
            print(json.dumps({"fault": name, **result}), flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
