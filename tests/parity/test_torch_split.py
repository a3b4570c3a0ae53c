"""The seed's code's and its upstream's split, bit for bit (issue 14): torch.randperm(N,
generator=torch.Generator().manual_seed(seed)), the first int(N * train_frac) train. `bilmod dataset --split torch`
writes it; here it is compared with torch's own for several P (N = P^2) and seeds, a seed above 2^32 included (torch
seeds mt19937 with its low 32 bits)."""
import os

import numpy as np
import torch

from bilmod_reference import Failures, read_safetensors, run_bilmod, tempdir


def main():
    failures = Failures()
    with tempdir() as d:
        for p, seed, frac in [(2, 0, 0.8), (7, 1, 0.8), (23, 42, 0.8), (97, 12345, 0.8), (113, 0, 0.8),
                              (113, 2**32 + 7, 0.8), (59, 3, 0.3)]:
            out = os.path.join(d, f"split-{p}-{seed}.safetensors")
            run_bilmod("dataset", "--mod-basis", p, "--seed", seed, "--train-frac", frac, "--split", "torch", "--output", out)
            got, _ = read_safetensors(out)
            perm = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))
            k = int(p * p * frac)
            failures.check(np.array_equal(got["data.train_indices"], perm[:k].numpy()) and
                           np.array_equal(got["data.val_indices"], perm[k:].numpy()),
                           f"P = {p} (N = {p * p}), seed {seed}, train fraction {frac}: torch.randperm's split, bit for bit")
    failures.finish()


if __name__ == "__main__":
    main()
