"""Zhong et al.'s Transformer and loss as fjzzq2002/pizza code/train-main.py writes them (its hook points left out:
they return their input), for the clock-pizza tests to compute against."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


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


def inputs(pairs, p, diff_vocab, eqn_sign):
    """MyAddDataSet's rows for pair indices a * p + b: [a, b (+ p), ('=' = vocab - 1)], labels (a + b) % p, vocab."""
    vocab = p * (2 if diff_vocab else 1) + (1 if eqn_sign else 0)
    rows = []
    for x in pairs:
        s = [x // p, x % p + (p if diff_vocab else 0)]
        if eqn_sign:
            s.append(vocab - 1)
        rows.append(s)
    return torch.tensor(rows), torch.tensor([(x // p + x % p) % p for x in pairs]), vocab
