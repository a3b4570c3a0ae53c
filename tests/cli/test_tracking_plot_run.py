"""bilmod plot-run: the grokking figure of tracked runs, as docs/FORMATS.md's "Figures" asks: PNG and SVG with the data
and the gnuplot script beside them, and an index.html; the data holds every evaluation of every run."""
import os
import shutil

from tracking_helpers import skipping  # noqa: F401 (tests/skipping.py)
from tracking_helpers import SMALL, Checks, bilmod

EPOCHS = 3


def test_plot_run_writes_the_figure_with_its_data(tmp):
    td = os.path.join(tmp, "td")
    for name in ("first-run", "second-run"):
        bilmod("train", *SMALL, "--epochs", str(EPOCHS), "--checkpoint-dir", os.path.join(tmp, name), "--tracking-dir",
               td, "--project", "plots", "--run-name", name)
    out = os.path.join(tmp, "figures", "grokking.png")
    bilmod("plot-run", "first-run", "second-run", "--output", out, "--tracking-dir", td, "--project", "plots")
    for ext in ("png", "svg", "dat", "gp"):
        path = os.path.join(tmp, "figures", "grokking." + ext)
        assert os.path.getsize(path) > 0, f"{path} is empty"
    assert open(os.path.join(tmp, "figures", "grokking.png"), "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in open(os.path.join(tmp, "figures", "grokking.svg")).read(2000)
    assert "grokking" in open(os.path.join(tmp, "figures", "index.html")).read()
    data = open(os.path.join(tmp, "figures", "grokking.dat")).read()
    for name in ("first-run", "second-run"):
        assert name in data, f"{name} not in the figure's data"
    # 2 runs x 4 series (train/val accuracy and loss), each with the epochs 1..EPOCHS (epoch 0 has no place on
    # the log axis).
    rows = [line for line in data.splitlines() if line.strip() and not line.startswith("#")]
    assert len(rows) == 2 * 4 * EPOCHS, f"{len(rows)} data rows, want {2 * 4 * EPOCHS}"
    bad = bilmod("plot-run", "first-run", "--output", os.path.join(tmp, "x.pdf"), "--tracking-dir", td, "--project",
                 "plots", check=False)
    assert bad.returncode == 2 and ".png or .svg" in bad.stderr, bad.stderr
    bad = bilmod("plot-run", "nobody", "--output", out, "--tracking-dir", td, "--project", "plots", check=False)
    assert bad.returncode == 1 and "no run 'nobody'" in bad.stderr, bad.stderr


if __name__ == "__main__":
    checks = Checks()
    if not shutil.which("gnuplot"):
        skipping.skip("gnuplot not found (Debian: gnuplot-nox); plot-run cannot draw")
    checks.run(test_plot_run_writes_the_figure_with_its_data)
    shutil.rmtree(checks.tmp, ignore_errors=True)
    checks.finish()
