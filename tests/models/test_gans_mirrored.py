import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("_mirrored_gans.py")


@pytest.mark.slow
def test_gans_train_under_mirrored_strategy_with_two_cpu_replicas():
    # A subprocess: logical devices must be set before TensorFlow starts, and the
    # pytest process has already started it.
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, str(SCRIPT)],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(row for row in done.stdout.splitlines() if row.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    assert result["replicas"] == 2
    assert result["replica_noise_differs"]  # each replica draws its own noise
    for name, critic_steps in (("GAN", 1), ("InfoGAN", 1), ("WGANGP", 2), ("BEGAN", 1)):
        info = result[name]
        assert info["generator_changed"]
        assert all(v is not None and abs(v) < 1e6 for v in info["losses"].values()), info
        # 32 images, global batch 8, 2 epochs: 8 steps, counted once (not per replica).
        assert info["d_iterations"] == 8 * critic_steps
    # BEGAN: both replicas hold the same k, moved from its start (0.5) by the control
    k_replicas = result["BEGAN"]["k_replicas"]
    assert len(k_replicas) == 2 and k_replicas[0] == k_replicas[1] != 0.5
    assert k_replicas[0] == pytest.approx(result["BEGAN"]["losses"]["k"])
