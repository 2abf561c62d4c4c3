"""One resume mechanism, no lost work: real signals sent to `keras-unsup run` in each
phase, and what the rerun trains (optimizer steps) and reports (metrics) checked
against an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow

EPOCHS = 6
SCORES = ("recon_mse", "neg_elbo", "acc", "nmi", "ari")


def _command(out, *extra):
    return [sys.executable, "-m", "keras_unsup.cli", "run", "vae", "--quick", "--epochs",
            str(EPOCHS), "--out", str(out), *extra]


def _env():
    # PYTHONFAULTHANDLER: a crash of the child prints its Python stack into `err`
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
            "PYTHONFAULTHANDLER": "1"}


def _run(out, *extra):
    proc = subprocess.run(_command(out, *extra), capture_output=True, text=True, timeout=300,
                          env=_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def _state(out):
    try:
        return json.loads((out / "run_state.json").read_text())
    except (OSError, ValueError):
        return {}


def _interrupt_when(out, ready, sig):
    """Starts the run, sends `sig` once `ready(state)` holds; returns the state then."""
    proc = subprocess.Popen(_command(out), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env())
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            state = _state(out)
            if ready(state):
                proc.send_signal(sig)
                break
            if proc.poll() is not None:
                pytest.fail(f"the run ended before the phase was reached: {proc.stderr.read()}")
            time.sleep(0.02)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "rerun the same command to resume" in err
    return state


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    _run(out)
    return json.loads((out / "metrics.json").read_text())


def _epochs_done(state):
    return state.get("fits", {}).get("fit", {}).get("epochs_done", 0)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_training_loses_at_most_the_epoch_in_flight(tmp_path, uninterrupted, sig):
    total = uninterrupted["optimizer_steps"]
    steps_per_epoch = total // EPOCHS
    _interrupt_when(tmp_path, lambda s: _epochs_done(s) >= 2, sig)
    done = _epochs_done(_state(tmp_path))
    assert 2 <= done < EPOCHS
    _run(tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    # only the epochs that had not finished are trained again
    assert metrics["optimizer_steps_this_call"] == (EPOCHS - done) * steps_per_epoch
    assert metrics["optimizer_steps"] == total
    assert metrics["epochs_trained"] == EPOCHS
    # the resumed run reaches what the uninterrupted one reached (the batch order after a
    # resume differs, so the scores agree closely rather than exactly)
    assert metrics["recon_mse"] == pytest.approx(uninterrupted["recon_mse"], rel=0.1)


# The phases after training can be shorter than any polling interval (saving three small
# models takes milliseconds), so the run signals itself as it enters the phase: a real
# SIGINT, delivered while the phase is under way, with no race against the parent.
_SIGNAL_AT_PHASE = """
import os, signal, sys
from keras_unsup import cli
from keras_unsup.recipes.base import RunDir

target, argv = sys.argv[1], sys.argv[2:]
enter = RunDir.phase

def phase(self, name):
    enter(self, name)
    if name == target:
        os.kill(os.getpid(), signal.SIGINT)

RunDir.phase = phase
sys.exit(cli.main(argv))
"""


def _interrupt_at_phase(out, phase):
    command = [sys.executable, "-c", _SIGNAL_AT_PHASE, phase, *_command(out)[3:]]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, env=_env())
    assert proc.returncode == 130, proc.stderr[-2000:]
    assert "rerun the same command to resume" in proc.stderr
    assert _state(out).get("phase") == phase  # the run stopped in that phase


@pytest.mark.parametrize("phase", ["evaluating", "plotting", "saving"])
def test_interrupt_after_training_trains_nothing_again(tmp_path, uninterrupted, phase):
    _interrupt_at_phase(tmp_path, phase)
    assert _epochs_done(_state(tmp_path)) == EPOCHS
    _run(tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["optimizer_steps_this_call"] == 0
    assert metrics["optimizer_steps"] == uninterrupted["optimizer_steps"]
    for key in SCORES:  # the same weights: the same scores as the uninterrupted run
        assert metrics[key] == pytest.approx(uninterrupted[key], rel=1e-6), key
    for name in ("model.keras", "samples.png", "reconstructions.png"):
        assert (tmp_path / name).is_file()


def test_finished_run_prints_its_metrics_unless_overwrite(tmp_path, uninterrupted):
    _run(tmp_path)
    written = (tmp_path / "metrics.json").stat().st_mtime
    proc = _run(tmp_path)
    assert "holds this finished run" in proc.stdout
    assert f"{uninterrupted['acc']:.4f}" in proc.stdout
    assert (tmp_path / "metrics.json").stat().st_mtime == written  # nothing was trained
    _run(tmp_path, "--overwrite")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["optimizer_steps_this_call"] == uninterrupted["optimizer_steps"]
    for key in SCORES:  # a fresh run with one seed reproduces the first
        assert metrics[key] == pytest.approx(uninterrupted[key], rel=1e-6), key


# --- the clustering family: the pretraining phase and the DEC phase -----------------------

DEC_ARGS = ["--epochs", "6", "--set", "hidden_units=[32, 32]", "--set", "max_iter=60",
            "--set", "update_interval=10", "--set", "dec_batch_size=32", "--set", "n_init=2",
            "--set", "tol=0", "--set", "plot_projection=pca", "--set", "plot_points=100"]


def _dec_command(out):
    return [sys.executable, "-m", "keras_unsup.cli", "run", "dec", "--quick", "--out", str(out),
            *DEC_ARGS]


def _interrupt_dec_when(out, ready):
    proc = subprocess.Popen(_dec_command(out), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env())
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and not ready(out):
            if proc.poll() is not None:
                pytest.fail(f"the run ended before the phase was reached: {proc.stderr.read()}")
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]


def _fit_entry(path, name):
    try:
        return json.loads(path.read_text()).get("fits", {}).get(name, {})
    except (OSError, ValueError):
        return {}


@pytest.fixture(scope="module")
def uninterrupted_dec(tmp_path_factory):
    out = tmp_path_factory.mktemp("dec-whole")
    proc = subprocess.run(_dec_command(out), capture_output=True, text=True, timeout=300,
                          env=_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads((out / "metrics.json").read_text())


def test_interrupt_in_the_dec_phase_resumes_the_same_clustering(tmp_path, uninterrupted_dec):
    _interrupt_dec_when(tmp_path, lambda out: _fit_entry(out / "run_state.json", "dec")
                        .get("epochs_done", 0) >= 2)
    dec_done = _fit_entry(tmp_path / "run_state.json", "dec")["epochs_done"]
    assert 2 <= dec_done < 6
    proc = subprocess.run(_dec_command(tmp_path), capture_output=True, text=True, timeout=300,
                          env=_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    # the pretraining is reused and only the DEC intervals that had not finished train
    assert metrics["pretrain_reused"] is True
    assert metrics["optimizer_steps_this_call"] == (6 - dec_done) * 10
    assert metrics["optimizer_steps"] == uninterrupted_dec["optimizer_steps"]
    # DEC's batches depend on the seed and the interval only: the very same clustering
    for key in ("acc", "nmi", "ari", "dec_iterations"):
        assert metrics[key] == pytest.approx(uninterrupted_dec[key], rel=1e-6), key


def test_interrupt_in_the_pretraining_trains_only_the_rest(tmp_path, uninterrupted_dec):
    state = tmp_path / "pretrain" / "run_state.json"
    _interrupt_dec_when(tmp_path, lambda out: _fit_entry(state, "pretrain")
                        .get("epochs_done", 0) >= 2)
    done = _fit_entry(state, "pretrain")["epochs_done"]
    assert 2 <= done < 6
    proc = subprocess.run(_dec_command(tmp_path), capture_output=True, text=True, timeout=300,
                          env=_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    pretrain_steps = uninterrupted_dec["optimizer_steps"] - 60  # 60 DEC steps
    per_epoch = pretrain_steps // 6
    assert metrics["optimizer_steps_this_call"] == (6 - done) * per_epoch + 60
    assert metrics["optimizer_steps"] == uninterrupted_dec["optimizer_steps"]
    assert metrics["pretrain_epochs"] == 6


def test_phases_are_timed_in_the_metrics(tmp_path, monkeypatch):
    from keras_unsup.recipes import base

    clock = iter(range(0, 1000, 5))  # every reading of the clock is 5 s after the last
    monkeypatch.setattr(base.time, "perf_counter", lambda: float(next(clock)))
    run = base.RunDir(tmp_path)          # reads 0: "training" starts
    run.phase("evaluating")              # reads 5: training took 5 s
    run.phase("plotting")                # reads 10
    run.phase("evaluating")              # reads 15: a phase entered twice adds up
    assert run.phase_times() == {"training": 5.0, "evaluating": 10.0, "plotting": 5.0}
    assert base.RunDir(None).phase_times().keys() == {"training"}  # timed without a folder too


@pytest.mark.slow
def test_a_recipe_reports_the_seconds_of_its_phases(tmp_path):
    from keras_unsup.data import load_dataset
    from keras_unsup.recipes import run_recipe

    data = load_dataset("digits", seed=0).subset(300, 100, seed=0)
    metrics = run_recipe("kmeans", data=data, seed=0, out_dir=tmp_path, verbose=0)
    phases = metrics["phase_seconds"]
    assert {"training", "plotting"} <= phases.keys()
    assert all(seconds >= 0 for seconds in phases.values())
    assert sum(phases.values()) <= metrics["wall_time_s"] + 0.5
