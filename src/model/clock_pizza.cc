// Zhong et al.'s transformer ("The Clock and the Pizza", NeurIPS 2023; github fjzzq2002/pizza code/train-main.py),
// --model clock-pizza: tokens (a, b), or (a, b, '=') with --eqn-sign, b's tokens shifted by P with --diff-vocab;
// num_layers blocks of attention then an MLP of width d_mlp (ReLU, GELU or tanh), no LayerNorm, logits over the
// whole vocabulary at the last position. Its attention is bidirectional (the paper builds a causal mask and never
// applies it) and mixes with a constant at the attention rate alpha:
//   attn = alpha * softmax(q.k / sqrt(d_head)) + (1 - alpha)    (1 - alpha added to every entry, not divided out)
// docs/MODELS.md "clock-pizza".
//
// Parameters are stored in PyTorch's order and shapes under the paper's names, so its model_<id>.pt loads as it is.
// The passes are written plainly, every position of every block through row-major products over the batch's
// positions (n x positions rows). Every reduction over examples (the weight gradients) runs over fixed blocks of output
// rows, each one product over all examples, so the numbers do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <Eigen/Dense>

#include "model/kernels.h"
#include "model/model.h"
#include "model/network.h"

namespace bilmod {
namespace {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatMap = Eigen::Map<RowMat>;
using ConstMatMap = Eigen::Map<const RowMat>;

constexpr int64_t kExampleBlock = 64;  // examples per block of the per-example work (fixed: see above)
constexpr int64_t kRowBlock = 32;      // output rows per block of a weight gradient

struct Dims {
  int64_t P, V, S, d, heads, dh, M, L;
  float alpha, rest;  // alpha and 1 - alpha as float32, as the paper's tensors see them
  TransformerMlp act;
  bool diff_vocab;
  explicit Dims(const ModelSpec& s)
      : P(s.mod_basis),
        V(s.mod_basis * (s.diff_vocab ? 2 : 1) + (s.eqn_sign ? 1 : 0)),
        S(s.eqn_sign ? 3 : 2),
        d(s.d_model),
        heads(s.num_heads),
        dh(s.d_model / s.num_heads),
        M(s.d_mlp),
        L(s.num_layers),
        alpha(static_cast<float>(s.attention_rate)),
        rest(static_cast<float>(1.0 - s.attention_rate)),
        act(s.mlp),
        diff_vocab(s.diff_vocab) {}
  // The token at position p of pair index a * P + b.
  int64_t token(int64_t pair, int64_t p) const {
    if (p == 0) return pair / P;
    if (p == 1) return pair % P + (diff_vocab ? P : 0);
    return V - 1;  // '='
  }
};

std::string block_name(int64_t l, const char* rest) { return "blocks." + std::to_string(l) + "." + rest; }

template <typename F>
struct Block {
  F *W_K, *W_Q, *W_V, *W_O, *W_in, *b_in, *W_out, *b_out;
};
template <typename F>
struct Weights {
  F *W_E, *W_pos, *W_U;
  std::vector<Block<F>> blocks;
};
template <typename F>
Weights<F> views_of(const ParameterLayout& layout, int64_t L, F* buffer) {
  auto at = [&](const std::string& name) -> F* { return buffer + layout.find(name)->offset; };
  Weights<F> w{at("embed.W_E"), at("pos_embed.W_pos"), at("unembed.W_U"), {}};
  for (int64_t l = 0; l < L; ++l)
    w.blocks.push_back({at(block_name(l, "attn.W_K")), at(block_name(l, "attn.W_Q")), at(block_name(l, "attn.W_V")),
                        at(block_name(l, "attn.W_O")), at(block_name(l, "mlp.W_in")), at(block_name(l, "mlp.b_in")),
                        at(block_name(l, "mlp.W_out")), at(block_name(l, "mlp.b_out"))});
  return w;
}

float activate(TransformerMlp act, float x) {
  switch (act) {
    case TransformerMlp::kGelu:
      return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
    case TransformerMlp::kTanh:
      return std::tanh(x);
    default:
      return x > 0.0f ? x : 0.0f;
  }
}
// d act / d x at pre-activation x with activation value y.
float activate_grad(TransformerMlp act, float x, float y) {
  switch (act) {
    case TransformerMlp::kGelu:
      return 0.5f * (1.0f + std::erf(x * 0.70710678118654752f)) + x * 0.39894228040143268f * std::exp(-0.5f * x * x);
    case TransformerMlp::kTanh:
      return 1.0f - y * y;
    default:
      return x > 0.0f ? 1.0f : 0.0f;
  }
}

// A block's activations over a batch: rows e * S + p.
struct LayerActivations {
  std::vector<float> q, k, v;    // (rows, heads * dh), head-major columns
  std::vector<float> soft;       // (n, heads, S, S) softmax of the scores (query, key)
  std::vector<float> z;          // (rows, heads * dh) attention-weighted values
  std::vector<float> mid;        // (rows, d) residual after attention
  std::vector<float> pre, post;  // (rows, M) MLP pre- and post-activation
};

struct Activations final : ModelActivations {
  int64_t capacity = 0;
  std::vector<std::vector<float>> resid;  // L + 1 of (rows, d): the input of each block, then the output
  std::vector<LayerActivations> layers;
  // Backward scratch.
  std::vector<float> dx, dmid, dpost, dz, dq, dk, dv;
  void reserve(const Dims& D, int64_t n) {
    if (n <= capacity && static_cast<int64_t>(layers.size()) == D.L) return;
    capacity = n;
    const size_t rows = static_cast<size_t>(n * D.S), hd = static_cast<size_t>(D.heads * D.dh);
    resid.assign(static_cast<size_t>(D.L + 1), std::vector<float>(rows * static_cast<size_t>(D.d)));
    layers.resize(static_cast<size_t>(D.L));
    for (LayerActivations& a : layers) {
      a.q.resize(rows * hd);
      a.k.resize(rows * hd);
      a.v.resize(rows * hd);
      a.z.resize(rows * hd);
      a.soft.resize(static_cast<size_t>(n * D.heads * D.S * D.S));
      a.mid.resize(rows * static_cast<size_t>(D.d));
      a.pre.resize(rows * static_cast<size_t>(D.M));
      a.post.resize(a.pre.size());
    }
    dx.resize(rows * static_cast<size_t>(D.d));
    dmid.resize(dx.size());
    dpost.resize(rows * static_cast<size_t>(D.M));
    dz.resize(rows * hd);
    dq.resize(rows * hd);
    dk.resize(rows * hd);
    dv.resize(rows * hd);
  }
};

using StridedMap = Eigen::Map<RowMat, 0, Eigen::OuterStride<>>;

// The rows of a block's positions that reach the logits, for examples [e0, e0 + count) of an (n x S, cols) array:
// every position, except in the last block, where only the last position's query, attention output and MLP reach
// the logits (its keys and values are every position's).
struct Rows {
  int64_t S, first;  // first position of each example taken: 0 (all of them) or S - 1 (the last)
  Rows(const Dims& D, int64_t l) : S(D.S), first(l == D.L - 1 ? D.S - 1 : 0) {}
  StridedMap of(const float* base, int64_t cols, int64_t e0, int64_t count) const {
    const int64_t per = S - first;
    return StridedMap(const_cast<float*>(base) + (e0 * S + first) * cols, count * per, cols,
                      Eigen::OuterStride<>(per == S ? cols : S * cols));
  }
};
StridedMap all_rows(const float* base, int64_t cols, int64_t S, int64_t e0, int64_t count) {
  return StridedMap(const_cast<float*>(base) + e0 * S * cols, count * S, cols, Eigen::OuterStride<>(cols));
}

// Y = X W^T (+ bias), W (out, in) row-major.
void linear(const StridedMap& X, const float* W, const float* bias, StridedMap Y) {
  Y.noalias() = X * ConstMatMap(W, Y.cols(), X.cols()).transpose();
  if (bias)
    for (int64_t r = 0; r < Y.rows(); ++r)
      for (int64_t j = 0; j < Y.cols(); ++j) Y(r, j) += bias[j];
}

void run_forward(const Dims& D, const Weights<const float>& w, const int64_t* pairs, int64_t n, Activations* a,
                 float* logits) {
  const int64_t hd = D.heads * D.dh, blocks = (n + kExampleBlock - 1) / kExampleBlock;
  const float sqrt_dh = std::sqrt(static_cast<float>(D.dh));
  for_blocks(blocks, n * D.S * D.L * D.d * (3 * hd + 2 * D.M), [&](int64_t b) {
    const int64_t e0 = b * kExampleBlock, count = std::min(kExampleBlock, n - e0);
    float* x0 = a->resid[0].data();
    for (int64_t e = e0; e < e0 + count; ++e)
      for (int64_t p = 0; p < D.S; ++p) {
        const int64_t tok = D.token(pairs[e], p);
        float* x = x0 + (e * D.S + p) * D.d;
        for (int64_t k = 0; k < D.d; ++k) x[k] = w.W_E[k * D.V + tok] + w.W_pos[p * D.d + k];
      }
    for (int64_t l = 0; l < D.L; ++l) {
      const Block<const float>& W = w.blocks[static_cast<size_t>(l)];
      LayerActivations& A = a->layers[static_cast<size_t>(l)];
      const float* x = a->resid[static_cast<size_t>(l)].data();
      const Rows R(D, l);
      linear(R.of(x, D.d, e0, count), W.W_Q, nullptr, R.of(A.q.data(), hd, e0, count));
      linear(all_rows(x, D.d, D.S, e0, count), W.W_K, nullptr, all_rows(A.k.data(), hd, D.S, e0, count));
      linear(all_rows(x, D.d, D.S, e0, count), W.W_V, nullptr, all_rows(A.v.data(), hd, D.S, e0, count));
      for (int64_t e = e0; e < e0 + count; ++e)
        for (int64_t h = 0; h < D.heads; ++h)
          for (int64_t qp = R.first; qp < D.S; ++qp) {
            float* s = A.soft.data() + ((e * D.heads + h) * D.S + qp) * D.S;
            const float* q = A.q.data() + (e * D.S + qp) * hd + h * D.dh;
            float mx = -INFINITY;
            for (int64_t kp = 0; kp < D.S; ++kp) {
              const float* k = A.k.data() + (e * D.S + kp) * hd + h * D.dh;
              float dot = 0;
              for (int64_t j = 0; j < D.dh; ++j) dot += q[j] * k[j];
              s[kp] = dot / sqrt_dh;
              mx = std::max(mx, s[kp]);
            }
            float sum = 0;
            for (int64_t kp = 0; kp < D.S; ++kp) sum += (s[kp] = std::exp(s[kp] - mx));
            for (int64_t kp = 0; kp < D.S; ++kp) s[kp] /= sum;
            float* z = A.z.data() + (e * D.S + qp) * hd + h * D.dh;
            std::fill(z, z + D.dh, 0.0f);
            for (int64_t kp = 0; kp < D.S; ++kp) {
              const float weight = s[kp] * D.alpha + D.rest;
              const float* v = A.v.data() + (e * D.S + kp) * hd + h * D.dh;
              for (int64_t j = 0; j < D.dh; ++j) z[j] += weight * v[j];
            }
          }
      StridedMap mid = R.of(A.mid.data(), D.d, e0, count);
      linear(R.of(A.z.data(), hd, e0, count), W.W_O, nullptr, mid);
      mid += R.of(x, D.d, e0, count);
      StridedMap pre = R.of(A.pre.data(), D.M, e0, count), post = R.of(A.post.data(), D.M, e0, count);
      linear(mid, W.W_in, W.b_in, pre);
      for (int64_t r = 0; r < pre.rows(); ++r)
        for (int64_t j = 0; j < D.M; ++j) post(r, j) = activate(D.act, pre(r, j));
      StridedMap out = R.of(a->resid[static_cast<size_t>(l + 1)].data(), D.d, e0, count);
      linear(post, W.W_out, W.b_out, out);
      out = mid + out;
    }
    // Logits at the last position: resid (d) times W_U (d, V).
    const float* last = a->resid[static_cast<size_t>(D.L)].data();
    MatMap(logits + e0 * D.V, count, D.V).noalias() =
        Rows(D, D.L - 1).of(last, D.d, e0, count) * ConstMatMap(w.W_U, D.d, D.V);
  });
}

// dW (out, in) += dY^T X over all rows, in fixed blocks of output rows; db (out) += column sums of dY, in row order.
void weight_grad(const StridedMap& dY, const StridedMap& X, float* dW, float* db) {
  const int64_t out = dY.cols(), in = X.cols(), blocks = (out + kRowBlock - 1) / kRowBlock;
  for_blocks(blocks, dY.rows() * out * in, [&](int64_t b) {
    const int64_t o0 = b * kRowBlock, count = std::min(kRowBlock, out - o0);
    MatMap(dW + o0 * in, count, in).noalias() += dY.middleCols(o0, count).transpose() * X;
    if (db)
      for (int64_t o = o0; o < o0 + count; ++o) {
        float sum = 0;
        for (int64_t r = 0; r < dY.rows(); ++r) sum += dY(r, o);
        db[o] += sum;
      }
  });
}

// Given dlogits (n, V), adds dL/dparams into g; with g null, leaves in a->dx dL/d(block 0's input) instead (each
// position's token embedding plus its positional embedding).
void run_backward(const Dims& D, const Weights<const float>& w, const Weights<float>* g, const int64_t* pairs,
                  int64_t n, Activations* a, const float* dlogits) {
  const int64_t hd = D.heads * D.dh, rows_all = n * D.S, blocks = (n + kExampleBlock - 1) / kExampleBlock;
  const float sqrt_dh = std::sqrt(static_cast<float>(D.dh));
  const Rows last(D, D.L - 1);
  // The unembedding: dx at the last position, zero elsewhere.
  std::fill(a->dx.begin(), a->dx.begin() + rows_all * D.d, 0.0f);
  for_blocks(blocks, n * D.V * D.d, [&](int64_t b) {
    const int64_t e0 = b * kExampleBlock, count = std::min(kExampleBlock, n - e0);
    last.of(a->dx.data(), D.d, e0, count).noalias() =
        ConstMatMap(dlogits + e0 * D.V, count, D.V) * ConstMatMap(w.W_U, D.d, D.V).transpose();
  });
  if (g) {
    // dW_U (d, V) = sum over examples of x_last^T dlogits: as dW^T, rows of W_U^T = the vocabulary.
    const StridedMap X = last.of(a->resid[static_cast<size_t>(D.L)].data(), D.d, 0, n);
    const int64_t vblocks = (D.V + kRowBlock - 1) / kRowBlock;
    for_blocks(vblocks, n * D.V * D.d, [&](int64_t b) {
      const int64_t v0 = b * kRowBlock, count = std::min(kRowBlock, D.V - v0);
      StridedMap dWU(g->W_U + v0, D.d, count, Eigen::OuterStride<>(D.V));
      dWU.noalias() += X.transpose() * ConstMatMap(dlogits, n, D.V).middleCols(v0, count);
    });
  }
  for (int64_t l = D.L - 1; l >= 0; --l) {
    const Block<const float>& W = w.blocks[static_cast<size_t>(l)];
    LayerActivations& A = a->layers[static_cast<size_t>(l)];
    const float* x = a->resid[static_cast<size_t>(l)].data();
    const Rows R(D, l);
    if (g) {
      const Block<float>& G = g->blocks[static_cast<size_t>(l)];
      weight_grad(R.of(a->dx.data(), D.d, 0, n), R.of(A.post.data(), D.M, 0, n), G.W_out, G.b_out);
    }
    // Per example: through the MLP (dpost, dpre in place), the attention output, the attention itself.
    for_blocks(blocks, n * D.S * D.d * (2 * D.M + 4 * hd), [&](int64_t b) {
      const int64_t e0 = b * kExampleBlock, count = std::min(kExampleBlock, n - e0);
      StridedMap dx_in = R.of(a->dx.data(), D.d, e0, count);
      StridedMap dpost = R.of(a->dpost.data(), D.M, e0, count);
      dpost.noalias() = dx_in * ConstMatMap(W.W_out, D.d, D.M);
      const StridedMap pre = R.of(A.pre.data(), D.M, e0, count), post = R.of(A.post.data(), D.M, e0, count);
      for (int64_t r = 0; r < dpost.rows(); ++r)
        for (int64_t j = 0; j < D.M; ++j) dpost(r, j) *= activate_grad(D.act, pre(r, j), post(r, j));
      StridedMap dmid = R.of(a->dmid.data(), D.d, e0, count);
      dmid.noalias() = dpost * ConstMatMap(W.W_in, D.M, D.d);
      dmid += dx_in;
      R.of(a->dz.data(), hd, e0, count).noalias() = dmid * ConstMatMap(W.W_O, D.d, hd);
      for (int64_t e = e0; e < e0 + count; ++e)
        for (int64_t h = 0; h < D.heads; ++h) {
          auto at = [&](std::vector<float>& m, int64_t p) { return m.data() + (e * D.S + p) * hd + h * D.dh; };
          for (int64_t p = 0; p < D.S; ++p) {
            std::fill(at(a->dq, p), at(a->dq, p) + D.dh, 0.0f);
            std::fill(at(a->dk, p), at(a->dk, p) + D.dh, 0.0f);
            std::fill(at(a->dv, p), at(a->dv, p) + D.dh, 0.0f);
          }
          for (int64_t qp = R.first; qp < D.S; ++qp) {
            const float* s = A.soft.data() + ((e * D.heads + h) * D.S + qp) * D.S;
            const float* dz = at(a->dz, qp);
            float ds[3], dot = 0;
            for (int64_t kp = 0; kp < D.S; ++kp) {
              const float* v = at(A.v, kp);
              float* dv = at(a->dv, kp);
              const float weight = s[kp] * D.alpha + D.rest;
              float dattn = 0;
              for (int64_t j = 0; j < D.dh; ++j) {
                dattn += dz[j] * v[j];
                dv[j] += weight * dz[j];
              }
              ds[kp] = dattn * D.alpha;  // d / d softmax
              dot += s[kp] * ds[kp];
            }
            for (int64_t kp = 0; kp < D.S; ++kp) {
              const float dscore = s[kp] * (ds[kp] - dot) / sqrt_dh;
              const float *q = at(A.q, qp), *k = at(A.k, kp);
              float *dq = at(a->dq, qp), *dk = at(a->dk, kp);
              for (int64_t j = 0; j < D.dh; ++j) {
                dq[j] += dscore * k[j];
                dk[j] += dscore * q[j];
              }
            }
          }
        }
      // dL/d(this block's input): the residual and the query where the block's output is read (dmid and dq are
      // zero at the other positions), the keys and values at every position.
      if (R.first > 0)
        for (int64_t e = e0; e < e0 + count; ++e)
          std::fill(a->dmid.begin() + e * D.S * D.d, a->dmid.begin() + (e * D.S + R.first) * D.d, 0.0f);
      StridedMap dx = all_rows(a->dx.data(), D.d, D.S, e0, count);
      dx = all_rows(a->dmid.data(), D.d, D.S, e0, count);
      dx.noalias() += all_rows(a->dq.data(), hd, D.S, e0, count) * ConstMatMap(W.W_Q, hd, D.d);
      dx.noalias() += all_rows(a->dk.data(), hd, D.S, e0, count) * ConstMatMap(W.W_K, hd, D.d);
      dx.noalias() += all_rows(a->dv.data(), hd, D.S, e0, count) * ConstMatMap(W.W_V, hd, D.d);
    });
    if (g) {
      const Block<float>& G = g->blocks[static_cast<size_t>(l)];
      weight_grad(R.of(a->dpost.data(), D.M, 0, n), R.of(A.mid.data(), D.d, 0, n), G.W_in, G.b_in);
      weight_grad(R.of(a->dmid.data(), D.d, 0, n), R.of(A.z.data(), hd, 0, n), G.W_O, nullptr);
      weight_grad(R.of(a->dq.data(), hd, 0, n), R.of(x, D.d, 0, n), G.W_Q, nullptr);
      weight_grad(all_rows(a->dk.data(), hd, D.S, 0, n), all_rows(x, D.d, D.S, 0, n), G.W_K, nullptr);
      weight_grad(all_rows(a->dv.data(), hd, D.S, 0, n), all_rows(x, D.d, D.S, 0, n), G.W_V, nullptr);
    }
  }
  if (!g) return;
  // The embeddings: every row's gradient into its token's column and its position's row, in row order.
  for (int64_t e = 0; e < n; ++e)
    for (int64_t p = 0; p < D.S; ++p) {
      const int64_t tok = D.token(pairs[e], p);
      const float* dx = a->dx.data() + (e * D.S + p) * D.d;
      for (int64_t k = 0; k < D.d; ++k) {
        g->W_E[k * D.V + tok] += dx[k];
        g->W_pos[p * D.d + k] += dx[k];
      }
    }
}

Activations* activations_of(BatchActivations* act) {
  auto* a = dynamic_cast<Activations*>(act->own.get());
  if (!a) {
    act->own = std::make_shared<Activations>();
    a = static_cast<Activations*>(act->own.get());
  }
  return a;
}

class ClockPizza final : public Model {
 public:
  const char* name() const override { return "clock-pizza"; }

  std::string describe(const ModelSpec& spec) const override {
    char alpha[32];
    std::snprintf(alpha, sizeof alpha, "%g", spec.attention_rate);
    return "clock-pizza model with P = " + std::to_string(spec.mod_basis) + ", " + std::to_string(spec.num_layers) +
           (spec.num_layers == 1 ? " block" : " blocks") + ", d_model = " + std::to_string(spec.d_model) + ", " +
           std::to_string(spec.num_heads) + " heads, attention rate " + alpha + ", " + transformer_mlp_name(spec.mlp) +
           " MLP" + (spec.eqn_sign ? ", '=' token" : "") + (spec.diff_vocab ? ", b's tokens shifted by P" : "");
  }

  int64_t num_logits(const ModelSpec& spec) const override { return Dims(spec).V; }
  std::vector<ModelFlag> flags() const override {
    return {{"d_model", "residual width"},
            {"num_heads", "attention heads (d_head = d_model / heads)"},
            {"d_mlp", "MLP width (0: 4 x d_model, the paper's)"},
            {"mlp", "relu, gelu (exact erf) or tanh"},
            {"num_layers", "blocks (the paper's saved models have 1 to 4)"},
            {"attention_rate", "alpha in [0, 1]: attention = alpha softmax + (1 - alpha); 0 is uniform"},
            {"eqn_sign", "append an '=' token: three positions, vocabulary + 1"},
            {"diff_vocab", "b's tokens shifted by P: a vocabulary of 2P"}};
  }
  std::vector<TransformerMlp> mlps() const override {
    return {TransformerMlp::kRelu, TransformerMlp::kGelu, TransformerMlp::kTanh};
  }
  int64_t max_mod_basis() const override { return 4096; }

  // The paper's registration order (embed, pos_embed, unembed, then the blocks) and initialisation.
  void add_parameters(const ModelSpec& spec, ParameterLayout* layout) const override {
    const Dims D(spec);
    const double sd = 1.0 / std::sqrt(static_cast<double>(D.d));
    add_normal_parameter(layout, "embed.W_E", {D.d, D.V}, sd);
    add_normal_parameter(layout, "pos_embed.W_pos", {D.S, D.d}, sd);
    add_normal_parameter(layout, "unembed.W_U", {D.d, D.V}, 1.0 / std::sqrt(static_cast<double>(D.V)));
    for (int64_t l = 0; l < D.L; ++l) {
      add_normal_parameter(layout, block_name(l, "attn.W_K"), {D.heads, D.dh, D.d}, sd);
      add_normal_parameter(layout, block_name(l, "attn.W_Q"), {D.heads, D.dh, D.d}, sd);
      add_normal_parameter(layout, block_name(l, "attn.W_V"), {D.heads, D.dh, D.d}, sd);
      add_normal_parameter(layout, block_name(l, "attn.W_O"), {D.d, D.heads * D.dh}, sd);
      add_normal_parameter(layout, block_name(l, "mlp.W_in"), {D.M, D.d}, 1.0 / std::sqrt(static_cast<double>(D.M)));
      add_normal_parameter(layout, block_name(l, "mlp.b_in"), {D.M}, 0);
      add_normal_parameter(layout, block_name(l, "mlp.W_out"), {D.d, D.M}, sd);
      add_normal_parameter(layout, block_name(l, "mlp.b_out"), {D.d}, 0);
    }
  }

  void reserve(const ModelSpec& spec, int64_t n, BatchActivations* act) const override {
    activations_of(act)->reserve(Dims(spec), n);
    if (n <= act->capacity) return;
    act->capacity = n;
    act->logits.resize(static_cast<size_t>(n * num_logits(spec)));
  }

  void forward(const ModelSpec& spec, const ParameterLayout& layout, const float* params, const int64_t* pairs,
               int64_t n, BatchActivations* act) const override {
    const Dims D(spec);
    Activations* a = activations_of(act);
    a->reserve(D, n);
    run_forward(D, views_of<const float>(layout, D.L, params), pairs, n, a, act->logits.data());
  }

  void backward(const ModelSpec& spec, const ParameterLayout& layout, const float* params, const int64_t* pairs,
                int64_t n, BatchActivations* act, float* grads) const override {
    const Dims D(spec);
    const Weights<float> g = views_of<float>(layout, D.L, grads);
    run_backward(D, views_of<const float>(layout, D.L, params), &g, pairs, n, activations_of(act), act->logits.data());
  }

  // Each block's unused causal mask, tril(ones(n_ctx, n_ctx)).
  std::vector<ModelBuffer> buffers(const ModelSpec& spec) const override {
    const Dims D(spec);
    std::vector<float> mask(static_cast<size_t>(D.S * D.S));
    for (int64_t i = 0; i < D.S; ++i)
      for (int64_t j = 0; j <= i; ++j) mask[static_cast<size_t>(i * D.S + j)] = 1;
    std::vector<ModelBuffer> out;
    for (int64_t l = 0; l < D.L; ++l) out.push_back({block_name(l, "attn.mask"), {D.S, D.S}, mask});
    return out;
  }

  // Per pair, P copies through the backward, copy c seeded with d logit_c: the gradients at positions 0 and 1 of
  // block 0's input are those of the token embeddings (the positional embedding is added to them). The notebook's
  // input is two positions of the literal tokens (W_pos's first two rows; W_E's first P columns).
  bool token_gradients(const ModelSpec& spec, const ParameterLayout& layout, const float* params, const int64_t* pairs,
                       int64_t n, double* out, bool notebook_input) const override {
    if (n == 0) return true;
    Dims D(spec);
    if (notebook_input) {
      D.S = 2;
      D.diff_vocab = false;
    }
    const Weights<const float> w = views_of<const float>(layout, D.L, params);
    Activations a;
    a.reserve(D, D.P);
    std::vector<int64_t> same(static_cast<size_t>(D.P));
    std::vector<float> logits(static_cast<size_t>(D.P * D.V)), seed(logits.size());
    for (int64_t c = 0; c < D.P; ++c) seed[static_cast<size_t>(c * D.V + c)] = 1.0f;
    for (int64_t e = 0; e < n; ++e) {
      std::fill(same.begin(), same.end(), pairs[e]);
      run_forward(D, w, same.data(), D.P, &a, logits.data());
      run_backward(D, w, nullptr, same.data(), D.P, &a, seed.data());
      for (int64_t c = 0; c < D.P; ++c)
        for (int64_t p = 0; p < 2; ++p)
          for (int64_t k = 0; k < D.d; ++k)
            out[((e * D.P + c) * 2 + p) * D.d + k] = a.dx[static_cast<size_t>((c * D.S + p) * D.d + k)];
    }
    return true;
  }
  const ParameterInfo* token_embedding(const ParameterLayout& layout) const override {
    return layout.find("embed.W_E");
  }
  std::string input_weights(const ModelSpec&) const override {
    return "W_E's token columns, over every residual direction";
  }
  std::string analysis_note(const ModelSpec&) const override {
    return "clock-pizza: input weights are W_E's token columns; no interaction matrices over (a, b); tell clock "
           "from pizza by the measures distance_irrelevance and gradient_symmetricity";
  }

  // Per position and block: q, k, v, z, their gradients (7 of heads x d_head), mid, dx, dmid, resid (d_model), pre,
  // post, dpost (d_mlp), the softmax; and the logits.
  int64_t activation_bytes_per_pair(const ModelSpec& spec) const override {
    const Dims D(spec);
    return (D.S * D.L * (7 * D.heads * D.dh + 4 * D.d + 3 * D.M + D.heads * D.S) + D.V) * 4;
  }
};

}  // namespace

const Model& clock_pizza_model() {  // model/registry.cc
  static const ClockPizza model;
  return model;
}

}  // namespace bilmod
