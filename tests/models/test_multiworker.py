"""MultiWorkerMirroredStrategy across two worker processes on 127.0.0.1: MoCo and DEC
end with the weights of one process training on the same global batches."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parents[2]
SCRIPT = Path(__file__).with_name("_multiworker.py")
TIMEOUT_S = 100  # for all the processes together; they take about 20 s on 2 cores
TOLERANCE = 1e-5  # on any weight; seen: 2e-7 (MoCo), 2e-8 (DEC)


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _env(tf_config=None):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return env


def _start(env, log_dir, name):
    out, err = (open(log_dir / f"{name}.{kind}", "w") for kind in ("out", "err"))  # noqa: SIM115
    with out, err:  # the child holds its own copies
        proc = subprocess.Popen([sys.executable, str(SCRIPT)], cwd=ROOT, env=env,
                                stdout=out, stderr=err, text=True)
    return name, proc


def _finish(procs, log_dir, timeout):
    """Waits for every process and returns each one's last stdout line as JSON. A
    timeout or a failed process fails the test at once; every process still running is
    killed (a worker whose peer died waits for it and ignores SIGTERM)."""
    deadline = time.monotonic() + timeout
    try:
        while any(proc.poll() is None for _, proc in procs):
            for name, proc in procs:
                if proc.poll() not in (None, 0):
                    err = (log_dir / f"{name}.err").read_text()
                    pytest.fail(f"{name} failed (exit {proc.returncode}):\n{err[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"not finished within {timeout} s: "
                            + ", ".join(n for n, p in procs if p.poll() is None))
            time.sleep(0.2)
        for name, proc in procs:
            if proc.returncode != 0:
                err = (log_dir / f"{name}.err").read_text()
                pytest.fail(f"{name} failed (exit {proc.returncode}):\n{err[-3000:]}")
        return [json.loads((log_dir / f"{name}.out").read_text().strip().splitlines()[-1])
                for name, _ in procs]
    finally:
        for _, proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)


def _gap(a, b):
    return float(np.abs(np.asarray(a) - np.asarray(b)).max())


@pytest.mark.slow
def test_two_workers_train_moco_and_dec_as_one_process(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = [_start(_env({"cluster": cluster, "task": {"type": "worker", "index": i}}),
                    tmp_path, f"worker{i}") for i in range(2)]
    procs.append(_start(_env(), tmp_path, "single"))
    worker0, worker1, single = _finish(procs, tmp_path, TIMEOUT_S)

    assert worker0["replicas"] == worker1["replicas"] == 2
    for case, steps in (("moco", 4), ("dec", 6)):
        w0, w1, ref = worker0[case], worker1[case], single[case]
        assert w0["steps"] == w1["steps"] == ref["steps"] == steps, case
        assert ref["moved"] > 10 * TOLERANCE, case  # the steps trained something
        if case == "dec":
            assert w0["labels"] == w1["labels"] == ref["labels"]
        assert len(w0["weights"]) == len(ref["weights"])
        assert _gap(w0["weights"], w1["weights"]) == 0.0, case  # the workers hold one model
        # ... and it is the model of one process that trained on the same global batches.
        assert _gap(w0["weights"], ref["weights"]) < TOLERANCE, case
