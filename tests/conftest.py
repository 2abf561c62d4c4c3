"""Shared test settings."""

import os

# Figures are drawn off-screen in tests, whatever display the machine has.
os.environ["MPLBACKEND"] = "Agg"


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    # Tests that check a callback closes its figures must not see ones an earlier test left.
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


@pytest.fixture
def dec_cut_and_resume(monkeypatch):
    """`cut_and_resume(run)`: calls `run()` interrupted when DEC's third update interval
    starts (an exception from `TargetDistributionRefresh.on_epoch_begin`), then again to
    the end; returns the second call's result and the intervals that call trained."""
    from keras_unsup.callbacks.target_distribution_refresh import TargetDistributionRefresh

    class Cut(Exception):
        """Stands for an interruption in the middle of the DEC phase."""

    begin = TargetDistributionRefresh.on_epoch_begin

    def cut_and_resume(run):
        def cut_at_2(self, epoch, logs=None):
            if epoch == 2:
                raise Cut
            begin(self, epoch, logs)

        monkeypatch.setattr(TargetDistributionRefresh, "on_epoch_begin", cut_at_2)
        with pytest.raises(Cut):
            run()
        trained = []

        def record(self, epoch, logs=None):
            trained.append(epoch)
            begin(self, epoch, logs)

        monkeypatch.setattr(TargetDistributionRefresh, "on_epoch_begin", record)
        return run(), trained

    return cut_and_resume
