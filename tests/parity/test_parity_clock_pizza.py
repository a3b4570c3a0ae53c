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

import torch

from bilmod_reference import (Failures, check_final_tensors, check_step_losses, check_threads_bitwise, differing_tensors,
                              read_safetensors, run_bilmod, step_losses, tempdir, train_run)
from pizza_reference import Transformer, cross_entropy_high_precision, inputs

torch.set_num_threads(1)
P, D_MODEL, HEADS, EPOCHS, WARMUP = 17, 32, 4, 30, 10
LR, WD, BETAS = 1e-3, 2.0, (0.9, 0.98)


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
        data, labels, vocab = inputs(train_pairs, P, diff_vocab, eqn_sign)
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
