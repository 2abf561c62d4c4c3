import json

import pytest

from keras_unsup import cli
from keras_unsup.ablation import ablate, cell_name, markdown_tables


@pytest.mark.parametrize("kwargs, match", [
    ({"queue_sizes": [16, 0]}, r"`queue` must be an integer >= 1. Received: queue=0"),
    ({"momenta": [0.9, 1.0]}, r"`momentum` must be a number in \[0, 1\). Received: momentum=1.0"),
    ({"momenta": []}, "at least one value"),
    ({"method": "simclr"}, r"`method` must be one of \['moco'\]"),
    ({"train_images": 0}, "train_images"),
])
def test_rejects_bad_grids_before_any_work(kwargs, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        ablate(**{"out_dir": tmp_path / "abl", **kwargs})
    assert not (tmp_path / "abl").exists()


def test_cli_reports_a_bad_list_in_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["ablate", "moco", "--queue", "16,abc"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "`--queue` must be comma-separated numbers" in err and "Traceback" not in err


def test_markdown_table_layout():
    summary = {"method": "moco", "dataset": "digits", "n_train": 10, "n_test": 5, "seed": 0,
               "queue_sizes": [16, 256], "momenta": [0.9, 0.999],
               "rows": [{"queue_size": 16, "momentum": 0.9, "linear_probe_acc": 0.5},
                        {"queue_size": 256, "momentum": 0.999, "linear_probe_acc": 0.75}]}
    text = markdown_tables(summary)
    assert "| queue \\ momentum | 0.9 | 0.999 |" in text
    assert "| 16 | 0.500 | – |" in text and "| 256 | – | 0.750 |" in text
    assert cell_name(16, 0.999) == "queue_16-momentum_0.999"


@pytest.mark.slow
def test_cli_ablation_on_a_small_grid_writes_tables_and_resumes(tmp_path, capsys):
    out = tmp_path / "abl"
    argv = ["ablate", "moco", "--queue", "4,64", "--momentum", "0.9,0.999", "--dataset",
            "digits", "--epochs", "1", "--train-images", "300", "--test-images", "100",
            "--out", str(out)]
    assert cli.main(argv) == 0
    summary = json.loads((out / "ablation.json").read_text())
    assert summary["n_train"] == 300 and summary["n_test"] == 100
    cells = {(r["queue_size"], r["momentum"]) for r in summary["rows"]}
    assert cells == {(4, 0.9), (4, 0.999), (64, 0.9), (64, 0.999)}  # queue 4 < batch 256
    for row in summary["rows"]:
        assert 0.0 <= row["linear_probe_acc"] <= 1.0 and 0.0 <= row["knn_acc"] <= 1.0
        cell = json.loads((out / cell_name(row["queue_size"], row["momentum"]) /
                           "metrics.json").read_text())
        assert cell["queue_size"] == row["queue_size"] and cell["momentum"] == row["momentum"]
    table = (out / "ablation.md").read_text()
    assert "**linear_probe_acc**" in table and "| 64 |" in table
    assert "ablation.md" in capsys.readouterr().out
    # A rerun reads the finished cells back instead of training again.
    stamp = (out / "ablation.json").read_text()
    rows = ablate("moco", [4, 64], [0.9, 0.999], "digits", epochs=1, out_dir=out,
                  train_images=300, test_images=100, progress=False)
    assert [r["linear_probe_acc"] for r in rows] == \
        [r["linear_probe_acc"] for r in json.loads(stamp)["rows"]]
