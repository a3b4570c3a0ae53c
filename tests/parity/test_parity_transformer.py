"""Parity of --model transformer with a PyTorch transcription of Nanda et al.'s module (progress-measures-paper,
transformers.py: Embed, PosEmbed, Attention with its mask buffer, MLP, Unembed; no LayerNorm), computed here.

For each MLP (relu, gelu, bilinear): bilmod trains 50 full-batch AdamW steps with warm-up; its epoch-0 checkpoint
loads into the module with load_state_dict(strict=True); the module takes the same 50 steps with torch.optim.AdamW and
the float32 log-softmax over all P + 1 logits of the last position (the paper's cross_entropy_high_precision as its
helpers.py computes it). Per-step losses within 1e-5 relative, final parameters within 1e-4 of their largest value.
Then: the same run at 2 threads, and one stopped at epoch 20 and resumed, end in bitwise the same checkpoint.

The papers' schedule: `--warmup-convention lambdalr` (what `--preset nanda2023` sets) against
torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(step / 10, 1)) itself, stepped after each optimiser step as the
paper's train loop does (its first step at lr 0): losses and final parameters within the same limits; and bilmod's own
convention (one step ahead) measurably apart from it, so the comparison can tell the two.
"""
import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from bilmod_reference import (PARAM_RTOL, Failures, check_final_tensors, check_step_losses, read_safetensors,
                              relative_difference, run_bilmod, step_losses, tempdir)
from pizza_reference import Embed, PosEmbed, Unembed  # the Clock and the Pizza's code took them from Nanda et al.'s

torch.set_num_threads(1)
P, D_MODEL, HEADS, D_MLP, EPOCHS, WARMUP = 23, 32, 4, 64, 50, 10
LR, WD, BETAS = 1e-3, 1.0, (0.9, 0.98)


class Attention(nn.Module):
    def __init__(self, d_model, num_heads, d_head, n_ctx):
        super().__init__()
        self.W_K = nn.Parameter(torch.randn(num_heads, d_head, d_model) / np.sqrt(d_model))
        self.W_Q = nn.Parameter(torch.randn(num_heads, d_head, d_model) / np.sqrt(d_model))
        self.W_V = nn.Parameter(torch.randn(num_heads, d_head, d_model) / np.sqrt(d_model))
        self.W_O = nn.Parameter(torch.randn(d_model, d_head * num_heads) / np.sqrt(d_model))
        self.register_buffer("mask", torch.tril(torch.ones((n_ctx, n_ctx))))
        self.d_head = d_head

    def forward(self, x):
        k = torch.einsum("ihd,bpd->biph", self.W_K, x)
        q = torch.einsum("ihd,bpd->biph", self.W_Q, x)
        v = torch.einsum("ihd,bpd->biph", self.W_V, x)
        scores = torch.einsum("biph,biqh->biqp", k, q)
        n = x.shape[-2]
        masked = torch.tril(scores) - 1e10 * (1 - self.mask[:n, :n])
        attn = F.softmax(masked / np.sqrt(self.d_head), dim=-1)
        z = torch.einsum("biph,biqp->biqh", v, attn)
        z_flat = z.permute(0, 2, 1, 3).reshape(z.shape[0], n, -1)  # 'b i q h -> b q (i h)'
        return torch.einsum("df,bqf->bqd", self.W_O, z_flat)


class MLP(nn.Module):
    def __init__(self, d_model, d_mlp, act):
        super().__init__()
        self.W_in = nn.Parameter(torch.randn(d_mlp, d_model) / np.sqrt(d_model))
        self.b_in = nn.Parameter(torch.zeros(d_mlp))
        if act == "bilinear":  # Pearce et al.'s bilinear layer: (W_in x + b_in) * (W_in2 x + b_in2), no activation
            self.W_in2 = nn.Parameter(torch.randn(d_mlp, d_model) / np.sqrt(d_model))
            self.b_in2 = nn.Parameter(torch.zeros(d_mlp))
        self.W_out = nn.Parameter(torch.randn(d_model, d_mlp) / np.sqrt(d_model))
        self.b_out = nn.Parameter(torch.zeros(d_model))
        self.act = act

    def forward(self, x):
        pre = torch.einsum("md,bpd->bpm", self.W_in, x) + self.b_in
        if self.act == "relu":
            h = F.relu(pre)
        elif self.act == "gelu":
            h = F.gelu(pre)
        else:
            h = pre * (torch.einsum("md,bpd->bpm", self.W_in2, x) + self.b_in2)
        return torch.einsum("dm,bpm->bpd", self.W_out, h) + self.b_out


class Block(nn.Module):
    def __init__(self, d_model, d_mlp, d_head, num_heads, n_ctx, act):
        super().__init__()
        self.attn = Attention(d_model, num_heads, d_head, n_ctx)
        self.mlp = MLP(d_model, d_mlp, act)

    def forward(self, x):
        x = x + self.attn(x)
        return x + self.mlp(x)


class Transformer(nn.Module):
    def __init__(self, p, d_model, num_heads, d_mlp, act):
        super().__init__()
        self.embed = Embed(p + 1, d_model)
        self.pos_embed = PosEmbed(3, d_model)
        self.blocks = nn.ModuleList([Block(d_model, d_mlp, d_model // num_heads, num_heads, 3, act)])
        self.unembed = Unembed(p + 1, d_model)

    def forward(self, x):
        x = self.pos_embed(self.embed(x))
        for block in self.blocks:
            x = block(x)
        return self.unembed(x)


def full_loss(model, data, labels):
    logits = model(data)[:, -1]
    logprobs = F.log_softmax(logits.to(torch.float32), dim=-1)
    return -torch.gather(logprobs, index=labels[:, None], dim=-1).mean()


def reference_losses(model, train_pairs, lambdalr=False):
    pairs = torch.tensor(train_pairs)
    a, b = pairs // P, pairs % P
    data = torch.stack([a, b, torch.full_like(a, P)], dim=1)
    labels = (a + b) % P
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WD, betas=BETAS)
    # The paper's: LambdaLR scales the base rate by f(number of scheduler steps so far), stepped after opt.step().
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(step / WARMUP, 1)) if lambdalr else None
    losses = []
    for t in range(1, EPOCHS + 1):
        if not lambdalr:
            for g in opt.param_groups:  # bilmod's convention: step t uses lr * min(t / N, 1)
                g["lr"] = LR * min(t / WARMUP, 1.0)
        opt.zero_grad()
        loss = full_loss(model, data, labels)
        loss.backward()
        opt.step()
        if scheduler:
            scheduler.step()
        losses.append(loss.item())
    return losses


def check_lambdalr(failures):
    """--warmup-convention lambdalr against LambdaLR itself; the default convention must be told apart from it."""
    for convention in ["lambdalr", "bilmod"]:
        with tempdir() as d:
            log = os.path.join(d, "log.jsonl")
            run_bilmod(*bilmod_args("relu", d, EPOCHS, 1), "--warmup-convention", convention, "--log-level", "DEBUG",
                       "--log-file", log)
            first, _ = read_safetensors(os.path.join(d, "checkpoint_epoch_0.safetensors"))
            model = Transformer(P, D_MODEL, HEADS, D_MLP, "relu")
            model.load_state_dict(model_state(first), strict=True)
            theirs = reference_losses(model, [int(x) for x in first["data.train_indices"]], lambdalr=True)
            final, _ = read_safetensors(os.path.join(d, f"checkpoint_epoch_{EPOCHS}.safetensors"))
            reference = {k: v.detach().numpy() for k, v in model.state_dict().items()}
            if convention == "lambdalr":
                check_step_losses(failures, "LambdaLR", step_losses(log), theirs)
                check_final_tensors(failures, "LambdaLR", final, reference)
            else:
                apart = max(relative_difference(final[k], v) for k, v in reference.items())
                failures.check(apart > 100 * PARAM_RTOL, f"bilmod's convention is one step ahead of LambdaLR: final "
                                                         f"parameters {apart:.3g} apart (more than {100 * PARAM_RTOL})")
    with tempdir() as d:  # the preset is the paper's recipe: its config records the papers' convention
        run_bilmod("train", "--preset", "nanda2023", "--mod-basis", P, "--epochs", 0, "--checkpoint-dir", d, "--no-progress",
                   "--no-track")
        _, meta = read_safetensors(os.path.join(d, "checkpoint_epoch_0.safetensors"))
        config = json.loads(meta["config"])
        failures.check(config["warmup_convention"] == "lambdalr" and config["warmup_steps"] == 10,
                       f"--preset nanda2023 warms up as LambdaLR does ({config['warmup_convention']}, "
                       f"{config['warmup_steps']} steps)")


def bilmod_args(mlp, d, epochs, threads):
    return ["train", "--model", "transformer", "--mlp", mlp, "--mod-basis", P, "--d-model", D_MODEL, "--num-heads",
            HEADS, "--d-mlp", D_MLP, "--train-frac", 0.3, "--full-batch", "--learning-rate", LR, "--weight-decay", WD,
            "--beta1", BETAS[0], "--beta2", BETAS[1], "--warmup-steps", WARMUP, "--epochs", epochs, "--seed", 3,
            "--checkpoint-dir", d, "--checkpoint-every", 10, "--no-progress", "--threads", threads, "--no-track"]


def model_state(tensors):
    return {k: torch.from_numpy(v) for k, v in tensors.items() if not k.startswith(("optimizer.", "data."))}


def tensors_equal(x, y):
    return x.keys() == y.keys() and all(np.array_equal(x[k].view(np.uint8), y[k].view(np.uint8)) for k in x)


def main():
    failures = Failures()
    check_lambdalr(failures)
    for mlp in ["relu", "gelu", "bilinear"]:
        with tempdir() as d:
            log = os.path.join(d, "log.jsonl")
            run_bilmod(*bilmod_args(mlp, d, EPOCHS, 1), "--log-level", "DEBUG", "--log-file", log)
            first, _ = read_safetensors(os.path.join(d, "checkpoint_epoch_0.safetensors"))
            model = Transformer(P, D_MODEL, HEADS, D_MLP, mlp)
            try:
                model.load_state_dict(model_state(first), strict=True)
                loaded = True
            except RuntimeError as e:
                print(e)
                loaded = False
            failures.check(loaded, f"{mlp}: bilmod's epoch-0 checkpoint loads into the paper's module (strict)")
            if not loaded:
                continue
            train_pairs = [int(x) for x in first["data.train_indices"]]
            theirs = reference_losses(model, train_pairs)
            ours = step_losses(log)
            check_step_losses(failures, mlp, ours, theirs, f"; loss {theirs[0]:.4f} -> {theirs[-1]:.4f}")
            final, _ = read_safetensors(os.path.join(d, f"checkpoint_epoch_{EPOCHS}.safetensors"))
            check_final_tensors(failures, mlp, final, {k: v.detach().numpy() for k, v in model.state_dict().items()})

            # Bitwise: two threads, and a run stopped at epoch 20 then resumed.
            with tempdir() as d2, tempdir() as d3:
                run_bilmod(*bilmod_args(mlp, d2, EPOCHS, 2))
                two, _ = read_safetensors(os.path.join(d2, f"checkpoint_epoch_{EPOCHS}.safetensors"))
                failures.check(tensors_equal(final, two), f"{mlp}: 2 threads end in bitwise the same checkpoint")
                run_bilmod(*bilmod_args(mlp, d3, 20, 1))
                run_bilmod("train", "--resume-from", d3, "--epochs", EPOCHS, "--no-progress", "--no-track")
                resumed, _ = read_safetensors(os.path.join(d3, f"checkpoint_epoch_{EPOCHS}.safetensors"))
                failures.check(tensors_equal(final, resumed), f"{mlp}: stopped at 20, resumed: bitwise the same")
    failures.finish()


if __name__ == "__main__":
    main()
