"""Parity of --model clock-pizza with Zhong et al.'s module (fjzzq2002/pizza code/train-main.py: Embed, PosEmbed,
Attention with the attention rate attn_coeff and its unused mask buffer, MLP of width 4 d_model with ReLU/GeLU/Tanh,
TransformerBlock, Transformer; no LayerNorm), transcribed here, and its training loop: full batch, AdamW with betas
(0.9, 0.98), LambdaLR(lambda step: min(step / 10, 1)) stepped after each step, cross_entropy_high_precision (float64
log-softmax over the whole vocabulary at the last position).

Cases cover alpha in {0, 0.5, 1}, one and two blocks, each input option (plain (a, b), eqn_sign, diff_vocab, both) and
each activation. Per case: bilmod's epoch-0 checkpoint loads into the module with load_state_dict(strict=True); both
take the same steps; per-step losses within 1e-5 relative, final parameters within 1e-4 of their largest value. Then
bitwise: --threads 1 against 2, and a run stopped and resumed. And --preset zhong2023 records the paper's recipe (its
epoch count in the unit test Preset.Zhong2023ResolvesThePapersRecipeWithTheGivenAttentionRate).
"""
import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from bilmod_reference import (Failures, check_final_tensors, check_step_losses, check_threads_bitwise, differing_tensors,
                              read_safetensors, run_bilmod, step_losses, tempdir, train_run)

torch.set_num_threads(1)
P, D_MODEL, HEADS, EPOCHS, WARMUP = 17, 32, 4, 30, 10
LR, WD, BETAS = 1e-3, 2.0, (0.9, 0.98)


# --- the paper's module, as train-main.py writes it (hook points left out: they return their input) ---------------
class Embed(nn.Module):
    def __init__(self, d_vocab, d_model):
        super().__init__()
        self.W_E = nn.Parameter(torch.randn(d_model, d_vocab) / np.sqrt(d_model))

    def forward(self, x):
        return torch.einsum("dbp -> bpd", self.W_E[:, x])


class Unembed(nn.Module):
    def __init__(self, d_vocab, d_model):
        super().__init__()
        self.W_U = nn.Parameter(torch.randn(d_model, d_vocab) / np.sqrt(d_vocab))

    def forward(self, x):
        return x @ self.W_U


class PosEmbed(nn.Module):
    def __init__(self, max_ctx, d_model):
        super().__init__()
        self.W_pos = nn.Parameter(torch.randn(max_ctx, d_model) / np.sqrt(d_model))

    def forward(self, x):
        return x + self.W_pos[:x.shape[-2]]


class Attention(nn.Module):
    def __init__(self, d_model, num_heads, d_head, n_ctx, attn_coeff):
        super().__init__()
        self.W_K = nn.Parameter(torch.randn(num_heads, d_head, d_model) / np.sqrt(d_model))
        self.W_Q = nn.Parameter(torch.randn(num_heads, d_head, d_model) / np.sqrt(d_model))
        self.W_V = nn.Parameter(torch.randn(num_heads, d_head, d_model) / np.sqrt(d_model))
        self.W_O = nn.Parameter(torch.randn(d_model, d_head * num_heads) / np.sqrt(d_model))
        self.attn_coeff = attn_coeff
        self.register_buffer("mask", torch.tril(torch.ones((n_ctx, n_ctx))))
        self.d_head = d_head

    def forward(self, x):
        k = torch.einsum("ihd,bpd->biph", self.W_K, x)
        q = torch.einsum("ihd,bpd->biph", self.W_Q, x)
        v = torch.einsum("ihd,bpd->biph", self.W_V, x)
        attn_scores_pre = torch.einsum("biph,biqh->biqp", k, q)
        normalized = F.softmax(attn_scores_pre / np.sqrt(self.d_head), dim=-1)
        attn_matrix = normalized * self.attn_coeff + (1 - self.attn_coeff)
        z = torch.einsum("biph,biqp->biqh", v, attn_matrix)
        z_flat = z.permute(0, 2, 1, 3).reshape(z.shape[0], z.shape[2], -1)  # 'b i q h -> b q (i h)'
        return torch.einsum("df,bqf->bqd", self.W_O, z_flat)


class MLP(nn.Module):
    def __init__(self, d_model, d_mlp, act_type):
        super().__init__()
        self.W_in = nn.Parameter(torch.randn(d_mlp, d_model) / np.sqrt(d_mlp))
        self.b_in = nn.Parameter(torch.zeros(d_mlp))
        self.W_out = nn.Parameter(torch.randn(d_model, d_mlp) / np.sqrt(d_model))
        self.b_out = nn.Parameter(torch.zeros(d_model))
        self.act_type = act_type

    def forward(self, x):
        x = torch.einsum("md,bpd->bpm", self.W_in, x) + self.b_in
        x = {"ReLU": F.relu, "GeLU": F.gelu, "Tanh": torch.tanh}[self.act_type](x)
        return torch.einsum("dm,bpm->bpd", self.W_out, x) + self.b_out


class TransformerBlock(nn.Module):
    def __init__(self, d_model, d_head, num_heads, n_ctx, act_type, attn_coeff):
        super().__init__()
        self.attn = Attention(d_model, num_heads, d_head, n_ctx, attn_coeff=attn_coeff)
        self.mlp = MLP(d_model, d_model * 4, act_type)

    def forward(self, x):
        x = x + self.attn(x)
        return x + self.mlp(x)


class Transformer(nn.Module):
    def __init__(self, num_layers, d_vocab, d_model, d_head, num_heads, n_ctx, act_type, attn_coeff):
        super().__init__()
        self.embed = Embed(d_vocab, d_model)
        self.pos_embed = PosEmbed(n_ctx, d_model)
        self.unembed = Unembed(d_vocab, d_model)
        self.blocks = nn.ModuleList([TransformerBlock(d_model, d_head, num_heads, n_ctx, act_type, attn_coeff)
                                     for _ in range(num_layers)])

    def forward(self, x):
        x = self.pos_embed(self.embed(x))
        for blk in self.blocks:
            x = blk(x)
        return self.unembed(x)


def cross_entropy_high_precision(logits, labels):
    logprobs = F.log_softmax(logits.to(torch.float64), dim=-1)
    return -torch.mean(torch.gather(logprobs, index=labels[:, None], dim=-1))


def inputs(pairs, diff_vocab, eqn_sign):
    """MyAddDataSet's rows for pair indices a * P + b: [a, b (+ P), ('=' = vocab - 1)]."""
    vocab = P * (2 if diff_vocab else 1) + (1 if eqn_sign else 0)
    rows = []
    for x in pairs:
        s = [x // P, x % P + (P if diff_vocab else 0)]
        if eqn_sign:
            s.append(vocab - 1)
        rows.append(s)
    return torch.tensor(rows), torch.tensor([(x // P + x % P) % P for x in pairs]), vocab


def reference_losses(model, data, labels):
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WD, betas=BETAS)
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(step / WARMUP, 1))
    losses = []
    for _ in range(EPOCHS):
        loss = cross_entropy_high_precision(model(data)[:, -1, :], labels)
        loss.backward()
        opt.step()
        scheduler.step()
        opt.zero_grad()
        losses.append(loss.item())
    return losses


# (attention rate, blocks, diff_vocab, eqn_sign, activation)
CASES = [(0.0, 1, False, False, "ReLU"), (0.5, 2, False, True, "GeLU"), (1.0, 1, True, False, "Tanh"),
         (0.5, 2, True, True, "ReLU"), (1.0, 2, False, False, "ReLU"), (0.0, 1, True, True, "GeLU")]


def bilmod_args(alpha, layers, diff_vocab, eqn_sign, act, epochs):
    return ["--model", "clock-pizza", "--mod-basis", P, "--d-model", D_MODEL, "--num-heads", HEADS, "--num-layers",
            layers, "--attention-rate", alpha, "--mlp", act.lower(), *(["--diff-vocab"] if diff_vocab else []),
            *(["--eqn-sign"] if eqn_sign else []), "--train-frac", 0.8, "--full-batch", "--learning-rate", LR,
            "--weight-decay", WD, "--beta1", BETAS[0], "--beta2", BETAS[1], "--warmup-steps", WARMUP,
            "--warmup-convention", "lambdalr", "--loss-precision", "float64", "--epochs", epochs, "--seed", 5,
            "--checkpoint-every", 10]


def model_state(tensors):
    return {k: torch.from_numpy(v) for k, v in tensors.items() if not k.startswith(("optimizer.", "data."))}


def check_case(failures, case):
    alpha, layers, diff_vocab, eqn_sign, act = case
    label = f"alpha {alpha}, {layers} block(s), diff_vocab {diff_vocab}, eqn_sign {eqn_sign}, {act}"
    with tempdir() as d:
        log = os.path.join(d, "log.jsonl")
        train_run(d, *bilmod_args(*case, EPOCHS), "--threads", 1, "--log-level", "DEBUG", "--log-file", log)
        first, _ = read_safetensors(os.path.join(d, "checkpoint_epoch_0.safetensors"))
        train_pairs = [int(x) for x in first["data.train_indices"]]
        data, labels, vocab = inputs(train_pairs, diff_vocab, eqn_sign)
        model = Transformer(layers, vocab, D_MODEL, D_MODEL // HEADS, HEADS, data.shape[1], act, alpha)
        try:
            model.load_state_dict(model_state(first), strict=True)
        except RuntimeError as e:
            failures.check(False, f"{label}: bilmod's epoch-0 checkpoint loads into the paper's module (strict): {e}")
            return
        theirs = reference_losses(model, data, labels)
        check_step_losses(failures, label, step_losses(log), theirs, f"; loss {theirs[0]:.4f} -> {theirs[-1]:.4f}")
        final, _ = read_safetensors(os.path.join(d, f"checkpoint_epoch_{EPOCHS}.safetensors"))
        check_final_tensors(failures, label, final, {k: v.detach().numpy() for k, v in model.state_dict().items()})


def check_bitwise(failures):
    case = CASES[3]
    check_threads_bitwise(failures, bilmod_args(*case, 20), 20, "clock-pizza, two blocks")
    with tempdir() as whole, tempdir() as parts:
        train_run(whole, *bilmod_args(*case, 20))
        train_run(parts, *bilmod_args(*case, 10))
        run_bilmod("train", "--resume-from", parts, "--epochs", 20, "--no-progress", "--no-track")
        name = "checkpoint_epoch_20.safetensors"
        x, _ = read_safetensors(os.path.join(whole, name))
        y, _ = read_safetensors(os.path.join(parts, name))
        diff = differing_tensors(x, y)
        failures.check(not diff, f"stopped at 10 and resumed: bitwise the same at 20 (differing: {diff})")


def check_preset(failures):
    with tempdir() as d:
        train_run(d, "--preset", "zhong2023", "--attention-rate", 0.25, "--epochs", 0)
        _, meta = read_safetensors(os.path.join(d, "checkpoint_epoch_0.safetensors"))
        c = json.loads(meta["config"])
        want = {"model": "clock-pizza", "mod_basis": 59, "d_model": 128, "num_heads": 4, "num_layers": 1,
                "full_batch": True, "learning_rate": 1e-3, "weight_decay": 2.0, "beta1": 0.9, "beta2": 0.98,
                "warmup_steps": 10, "warmup_convention": "lambdalr", "loss_precision": "float64", "train_frac": 0.8,
                "attention_rate": 0.25, "eqn_sign": False, "diff_vocab": False}
        wrong = {k: (c.get(k), v) for k, v in want.items() if c.get(k) != v}
        failures.check(not wrong, f"--preset zhong2023 is the paper's recipe (wrong: {wrong})")


def main():
    failures = Failures()
    for case in CASES:
        check_case(failures, case)
    check_bitwise(failures)
    check_preset(failures)
    failures.finish()


if __name__ == "__main__":
    main()
