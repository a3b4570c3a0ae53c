"""Learning, sized for CI (issue 2): with the seed's settings, --model factored at --train-frac 0.3 generalises
(validation accuracy >= 99 %), and --model bilinear memorises: train accuracy 1.0 while validation stays below 3/P."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "parity"))
from bilmod_reference import Failures, read_safetensors, run_bilmod, tempdir  # noqa: E402


def final_metrics(d, epochs):
    _, meta = read_safetensors(os.path.join(d, f"checkpoint_epoch_{epochs}.safetensors"))
    return json.loads(meta["metrics"])


def main():
    failures = Failures()
    p = 113
    with tempdir() as d:
        epochs = 300
        run_bilmod("train", "--model", "factored", "--train-frac", 0.3, "--epochs", epochs, "--eval-every", 10,
                   "--checkpoint-dir", d, "--checkpoint-every", 0, "--no-progress", "--no-track")
        m = final_metrics(d, epochs)
        failures.check(m["val/accuracy"] >= 0.99,
                       f"factored, 30% train, {epochs} epochs: validation accuracy {m['val/accuracy']:.4f} (>= 0.99)")
    with tempdir() as d:
        epochs = 60
        run_bilmod("train", "--model", "bilinear", "--train-frac", 0.3, "--epochs", epochs, "--eval-every", 10,
                   "--checkpoint-dir", d, "--checkpoint-every", 0, "--no-progress", "--no-track")
        m = final_metrics(d, epochs)
        failures.check(m["train/accuracy"] == 1.0, f"bilinear: train accuracy {m['train/accuracy']:.4f} (== 1.0)")
        failures.check(m["val/accuracy"] < 3 / p,
                       f"bilinear: validation accuracy {m['val/accuracy']:.4f} (< 3/P = {3 / p:.4f}): it memorises")
    failures.finish()


if __name__ == "__main__":
    main()
