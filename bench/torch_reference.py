"""The PyTorch side of bilmod's benchmark (bench/run.sh): the models of README's benchmark section, trained as the
seed trains them, timed per epoch.

  dense     the seed's code: nn.Bilinear(P, P, H) on one-hot vectors -> ReLU -> nn.Linear(H, P)
  gather    the same function written as an index gather: z = W[:, a, b] + bias (W of shape (H, P, P))
  factored  two bias-free nn.Linear(2P, H) on the concatenated one-hot input, h = l * r, bias-free nn.Linear(H, P)
  mlp       nn.Linear(2P, H) on the concatenated one-hot input -> ReLU -> nn.Linear(H, P)

Every epoch: a fresh shuffle of the train pairs, AdamW (lr 3e-3, wd 0.5) steps over mini-batches (or one full batch),
then loss and accuracy on all train and all validation pairs (no_grad). Prints one JSON object per line:
{"impl": "torch", "model": ..., "epoch_seconds": [...], "epoch_cpu_seconds": [...], ...} (wall clock and
process CPU time). The first epoch is timed too; run.sh drops it as warm-up.
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Dense(nn.Module):
    def __init__(self, p, h):
        super().__init__()
        self.p = p
        self.bilinear = nn.Bilinear(p, p, h)
        self.output = nn.Linear(h, p)

    def forward(self, a, b):
        x1 = F.one_hot(a, self.p).float()
        x2 = F.one_hot(b, self.p).float()
        return self.output(F.relu(self.bilinear(x1, x2)))


class Gather(nn.Module):
    def __init__(self, p, h):
        super().__init__()
        bound = 1 / p ** 0.5
        self.weight = nn.Parameter(torch.empty(h, p, p).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(h).uniform_(-bound, bound))
        self.output = nn.Linear(h, p)

    def forward(self, a, b):
        return self.output(F.relu(self.weight[:, a, b].t() + self.bias))


class Factored(nn.Module):
    def __init__(self, p, h):
        super().__init__()
        self.p = p
        self.left = nn.Linear(2 * p, h, bias=False)
        self.right = nn.Linear(2 * p, h, bias=False)
        self.output = nn.Linear(h, p, bias=False)

    def forward(self, a, b):
        x = torch.cat([F.one_hot(a, self.p), F.one_hot(b, self.p)], dim=1).float()
        return self.output(self.left(x) * self.right(x))


class Mlp(nn.Module):
    def __init__(self, p, h):
        super().__init__()
        self.p = p
        self.hidden = nn.Linear(2 * p, h)
        self.output = nn.Linear(h, p)

    def forward(self, a, b):
        x = torch.cat([F.one_hot(a, self.p), F.one_hot(b, self.p)], dim=1).float()
        return self.output(F.relu(self.hidden(x)))


MODELS = {"dense": Dense, "gather": Gather, "factored": Factored, "mlp": Mlp}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=sorted(MODELS), required=True)
    ap.add_argument("--mod-basis", type=int, default=113)
    ap.add_argument("--hidden-dim", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--train-frac", type=float, default=0.8)
    ap.add_argument("--full-batch", action="store_true")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    p = args.mod_basis
    pairs = torch.arange(p * p)
    a_all, b_all = pairs // p, pairs % p
    labels_all = (a_all + b_all) % p
    perm = torch.randperm(p * p)
    n_train = int(args.train_frac * p * p)  # floor, as the seed's data module
    train_idx, val_idx = perm[:n_train], perm[n_train:]
    model = MODELS[args.model](p, args.hidden_dim)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.5)
    batch = n_train if args.full_batch else args.batch_size

    def evaluate(idx):
        with torch.no_grad():
            logits = model(a_all[idx], b_all[idx])
            loss = F.cross_entropy(logits, labels_all[idx]).item()
            acc = (logits.argmax(dim=1) == labels_all[idx]).float().mean().item()
        return loss, acc

    seconds, cpu_seconds, metrics = [], [], {}
    for _ in range(args.epochs):
        start, cpu_start = time.perf_counter(), time.process_time()
        model.train()
        order = train_idx[torch.randperm(n_train)]
        for begin in range(0, n_train, batch):
            idx = order[begin:begin + batch]
            loss = F.cross_entropy(model(a_all[idx], b_all[idx]), labels_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        train_loss, train_acc = evaluate(train_idx)
        val_loss, val_acc = evaluate(val_idx)
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu_start)
        metrics = dict(train_loss=train_loss, train_acc=train_acc, val_loss=val_loss, val_acc=val_acc)
    print(json.dumps(dict(impl="torch", model=args.model, threads=args.threads, torch=torch.__version__,
                          steps_per_epoch=(n_train + batch - 1) // batch, epoch_seconds=seconds,
                          epoch_cpu_seconds=cpu_seconds, final=metrics)))


if __name__ == "__main__":
    main()
