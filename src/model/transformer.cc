#include "model/transformer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>

#include <Eigen/Dense>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "model/kernels.h"
#include "model/model.h"
#include "model/network.h"

namespace bilmod {

namespace {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatMap = Eigen::Map<RowMat>;
using ConstMatMap = Eigen::Map<const RowMat>;
using StridedMap = Eigen::Map<const RowMat, 0, Eigen::OuterStride<>>;
using VecMap = Eigen::Map<Eigen::VectorXf>;
using ConstVecMap = Eigen::Map<const Eigen::VectorXf>;

// Examples per block of the per-example products. Blocks are fixed whatever the thread count, so every number is
// computed by the same operations on any number of threads.
constexpr int64_t kExampleBlock = 64;
// Rows (or columns) per block of the products that sum over examples or table rows: fixed likewise.
constexpr int64_t kRowBlock = 32;

// sum a[k] b[k] over 16 interleaved lanes combined in a fixed tree: vectorised (one serial chain of fused
// multiply-adds would wait on each add's latency), and the same order for any thread count.
inline float dot_lanes(const float* __restrict a, const float* __restrict b, int64_t n) {
  float lane[16] = {};
  int64_t k = 0;
  for (; k + 16 <= n; k += 16)
    for (int j = 0; j < 16; ++j) lane[j] = std::fma(a[k + j], b[k + j], lane[j]);
  for (int j = 0; k < n; ++k, ++j) lane[j] = std::fma(a[k], b[k], lane[j]);
  for (int w = 8; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) lane[j] += lane[j + w];
  return lane[0];
}

struct Dims {
  int64_t P, V, d, heads, dh, M, R1, R;  // R1 = 2P + 1 table rows per head: (pos 0, a), (pos 1, b), (pos 2, '=')
  bool bilinear;
  explicit Dims(const ModelSpec& s)
      : P(s.mod_basis),
        V(s.mod_basis + 1),
        d(s.d_model),
        heads(s.num_heads),
        dh(s.d_model / s.num_heads),
        M(s.d_mlp),
        R1(2 * s.mod_basis + 1),
        R(s.num_heads * (2 * s.mod_basis + 1)),
        bilinear(s.mlp == TransformerMlp::kBilinear) {}
};

struct Weights {
  const float *W_E, *W_pos, *W_K, *W_Q, *W_V, *W_O, *W_in, *b_in, *W_in2 = nullptr, *b_in2 = nullptr, *W_out, *b_out,
                                                                  *W_U;
};
struct Grads {
  float *W_E, *W_pos, *W_K, *W_Q, *W_V, *W_O, *W_in, *b_in, *W_in2 = nullptr, *b_in2 = nullptr, *W_out, *b_out, *W_U;
};
template <typename T, typename F>
T views(const ParameterLayout& layout, F* buffer) {
  auto at = [&](const char* name) -> F* {
    const ParameterInfo* info = layout.find(name);
    return info ? buffer + info->offset : nullptr;
  };
  T w;
  w.W_E = at("embed.W_E");
  w.W_pos = at("pos_embed.W_pos");
  w.W_K = at("blocks.0.attn.W_K");
  w.W_Q = at("blocks.0.attn.W_Q");
  w.W_V = at("blocks.0.attn.W_V");
  w.W_O = at("blocks.0.attn.W_O");
  w.W_in = at("blocks.0.mlp.W_in");
  w.b_in = at("blocks.0.mlp.b_in");
  w.W_in2 = at("blocks.0.mlp.W_in2");
  w.b_in2 = at("blocks.0.mlp.b_in2");
  w.W_out = at("blocks.0.mlp.W_out");
  w.b_out = at("blocks.0.mlp.b_out");
  w.W_U = at("unembed.W_U");
  return w;
}

// Everything that depends on one (position, token) or on the parameters alone: built once per parameter state.
// Row r = h * R1 + i of the per-head tables: i = a (position 0, token a), P + b (position 1, token b), 2P ('=').
struct Tables final : PreparedParameters {
  std::vector<float> X;        // (R1, d) x_p(t) = W_E[:, t] + W_pos[p]; row 2P is x_2, the '=' position's residual
  std::vector<float> K;        // (heads, R1, dh) keys
  std::vector<float> Vv;       // (heads, R1, dh) values
  std::vector<float> Q;        // (heads, dh) the query of position 2 (the same for every example)
  std::vector<float> score;    // (R) k.q / sqrt(d_head)
  std::vector<float> T;        // (R, d) W_O^(h) v: row r's contribution to the residual per unit of attention
  std::vector<float> U, U2;    // (R, M) W_in T (and W_in2 T)
  std::vector<float> zc, zc2;  // (M) W_in x_2 + b_in (and W_in2 x_2 + b_in2)
};

std::shared_ptr<const Tables> build_tables(const ModelSpec& spec, const ParameterLayout& layout, const float* params) {
  const Dims D(spec);
  const Weights w = views<Weights>(layout, params);
  auto t = std::make_shared<Tables>();
  t->X.resize(static_cast<size_t>(D.R1 * D.d));
  for (int64_t i = 0; i < D.R1; ++i) {
    const int64_t tok = i < 2 * D.P ? i % D.P : D.P, pos = i < D.P ? 0 : (i < 2 * D.P ? 1 : 2);
    for (int64_t k = 0; k < D.d; ++k) t->X[i * D.d + k] = w.W_E[k * D.V + tok] + w.W_pos[pos * D.d + k];
  }
  t->K.resize(static_cast<size_t>(D.heads * D.R1 * D.dh));
  t->Vv.resize(t->K.size());
  t->Q.resize(static_cast<size_t>(D.heads * D.dh));
  t->score.resize(static_cast<size_t>(D.R));
  t->T.resize(static_cast<size_t>(D.R * D.d));
  const ConstMatMap X(t->X.data(), D.R1, D.d);
  const float inv_scale_div = std::sqrt(static_cast<float>(D.dh));
  for_blocks(D.heads, D.R1 * D.d * D.dh * 6, [&](int64_t h) {
    const ConstMatMap WK(w.W_K + h * D.dh * D.d, D.dh, D.d), WQ(w.W_Q + h * D.dh * D.d, D.dh, D.d),
        WV(w.W_V + h * D.dh * D.d, D.dh, D.d);
    MatMap K(t->K.data() + h * D.R1 * D.dh, D.R1, D.dh), Vv(t->Vv.data() + h * D.R1 * D.dh, D.R1, D.dh);
    K.noalias() = X * WK.transpose();
    Vv.noalias() = X * WV.transpose();
    VecMap q(t->Q.data() + h * D.dh, D.dh);
    q.noalias() = WQ * X.row(2 * D.P).transpose();
    for (int64_t i = 0; i < D.R1; ++i) {
      t->score[h * D.R1 + i] = dot_lanes(&K(i, 0), q.data(), D.dh) / inv_scale_div;
    }
    const StridedMap WO(w.W_O + h * D.dh, D.d, D.dh, Eigen::OuterStride<>(D.heads * D.dh));
    MatMap T(t->T.data() + h * D.R1 * D.d, D.R1, D.d);
    T.noalias() = Vv * WO.transpose();
  });
  // U = T W_in^T: the big one, in fixed blocks of rows.
  auto fold_in = [&](const float* W_in, const float* b_in, std::vector<float>* U, std::vector<float>* zc) {
    U->resize(static_cast<size_t>(D.R * D.M));
    const ConstMatMap Win(W_in, D.M, D.d), T(t->T.data(), D.R, D.d);
    const int64_t blocks = (D.R + kRowBlock - 1) / kRowBlock;
    for_blocks(blocks, D.R * D.M * D.d, [&](int64_t b) {
      const int64_t r0 = b * kRowBlock, rows = std::min(kRowBlock, D.R - r0);
      MatMap(U->data() + r0 * D.M, rows, D.M).noalias() = T.middleRows(r0, rows) * Win.transpose();
    });
    zc->resize(static_cast<size_t>(D.M));
    VecMap z(zc->data(), D.M);
    z.noalias() = Win * X.row(2 * D.P).transpose();
    for (int64_t k = 0; k < D.M; ++k) z[k] += b_in[k];
  };
  fold_in(w.W_in, w.b_in, &t->U, &t->zc);
  if (D.bilinear) fold_in(w.W_in2, w.b_in2, &t->U2, &t->zc2);
  return t;
}

}  // namespace

std::shared_ptr<const PreparedParameters> transformer_tables(const ModelSpec& spec, const ParameterLayout& layout,
                                                             const float* params) {
  return build_tables(spec, layout, params);
}

namespace {

inline float gelu(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }
inline float gelu_grad(float x) {
  const float cdf = 0.5f * (1.0f + std::erf(x * 0.70710678118654752f));
  const float pdf = 0.39894228040143268f * std::exp(-0.5f * x * x);
  return cdf + x * pdf;
}

}  // namespace

struct TransformerActivations {
  int64_t capacity = 0;
  std::shared_ptr<const Tables> tables;  // those of the forward pass, for its backward
  std::vector<float> attn;               // (n, heads, 3) attention of position 2 over (a, b, '=')
  std::vector<float> z, z2;              // (n, M) MLP pre-activations (z2: the bilinear MLP's second)
  std::vector<float> hid;                // (n, M) MLP hidden values
  std::vector<float> resid;              // (n, d) residual stream after the MLP (the unembedding's input)
  // Backward scratch.
  std::vector<float> dresid;  // (n, d)
  std::vector<float> dhid;    // (n, M) dL/dhid, then dL/dz in place
  std::vector<float> dhid2;   // (n, M) bilinear: dL/dz2
  std::vector<float> dscore;  // (n, heads, 3) dL/d(raw score q.k)
  void reserve(const Dims& D, int64_t n) {
    if (n <= capacity) return;
    capacity = n;
    attn.resize(static_cast<size_t>(n * D.heads * 3));
    dscore.resize(attn.size());
    z.resize(static_cast<size_t>(n * D.M));
    z2.resize(D.bilinear ? z.size() : 0);
    hid.resize(z.size());
    dhid.resize(z.size());
    dhid2.resize(z2.size());
    resid.resize(static_cast<size_t>(n * D.d));
    dresid.resize(resid.size());
  }
};

namespace {

// Attention, residual mix and MLP of examples [e0, e0 + count): table lookups and axpys only.
void forward_rows(const Dims& D, const ModelSpec& spec, const Tables& t, const int64_t* pairs, int64_t e0,
                  int64_t count, TransformerActivations* a, float* y_scratch) {
  for (int64_t e = e0; e < e0 + count; ++e) {
    const int64_t pa = pairs[e] / D.P, pb = pairs[e] % D.P;
    float* A = a->attn.data() + e * D.heads * 3;
    float* y = y_scratch + (e - e0) * D.d;
    float* z = a->z.data() + e * D.M;
    float* z2 = D.bilinear ? a->z2.data() + e * D.M : nullptr;
    std::copy(t.X.data() + 2 * D.P * D.d, t.X.data() + (2 * D.P + 1) * D.d, y);
    std::copy(t.zc.begin(), t.zc.end(), z);
    if (z2) std::copy(t.zc2.begin(), t.zc2.end(), z2);
    for (int64_t h = 0; h < D.heads; ++h) {
      const int64_t rows[3] = {h * D.R1 + pa, h * D.R1 + D.P + pb, h * D.R1 + 2 * D.P};
      const float s0 = t.score[rows[0]], s1 = t.score[rows[1]], s2 = t.score[rows[2]];
      const float mx = std::max(std::max(s0, s1), s2);
      const float x0 = std::exp(s0 - mx), x1 = std::exp(s1 - mx), x2 = std::exp(s2 - mx);
      const float sum = (x0 + x1) + x2;
      A[h * 3 + 0] = x0 / sum;
      A[h * 3 + 1] = x1 / sum;
      A[h * 3 + 2] = x2 / sum;
      for (int j = 0; j < 3; ++j) {
        const float w = A[h * 3 + j];
        axpy(y, w, t.T.data() + rows[j] * D.d, D.d);
        axpy(z, w, t.U.data() + rows[j] * D.M, D.M);
        if (z2) axpy(z2, w, t.U2.data() + rows[j] * D.M, D.M);
      }
    }
    float* hid = a->hid.data() + e * D.M;
    switch (spec.mlp) {
      case TransformerMlp::kRelu:
        for (int64_t k = 0; k < D.M; ++k) hid[k] = z[k] > 0.0f ? z[k] : 0.0f;
        break;
      case TransformerMlp::kGelu:
        for (int64_t k = 0; k < D.M; ++k) hid[k] = gelu(z[k]);
        break;
      case TransformerMlp::kBilinear:
        for (int64_t k = 0; k < D.M; ++k) hid[k] = z[k] * z2[k];
        break;
      case TransformerMlp::kTanh:  // not this model's (Transformer::mlps)
        break;
    }
  }
}

}  // namespace

void transformer_forward(const ModelSpec& spec, const ParameterLayout& layout, const float* params,
                         const std::shared_ptr<const PreparedParameters>& tables, const int64_t* pairs, int64_t n,
                         std::shared_ptr<TransformerActivations>* act_ptr, float* logits) {
  const Dims D(spec);
  if (!*act_ptr) *act_ptr = std::make_shared<TransformerActivations>();
  TransformerActivations* a = act_ptr->get();
  a->reserve(D, n);
  a->tables = std::static_pointer_cast<const Tables>(tables);
  const Tables& t = *a->tables;
  const Weights w = views<Weights>(layout, params);
  const ConstMatMap Wout(w.W_out, D.d, D.M), WU(w.W_U, D.d, D.V);
  const int64_t blocks = (n + kExampleBlock - 1) / kExampleBlock;
  for_blocks(blocks, n * D.M * D.d * 2, [&](int64_t b) {
    const int64_t e0 = b * kExampleBlock, count = std::min(kExampleBlock, n - e0);
    thread_local std::vector<float> y;  // (block, d) residual after attention
    y.resize(static_cast<size_t>(kExampleBlock * D.d));
    forward_rows(D, spec, t, pairs, e0, count, a, y.data());
    MatMap resid(a->resid.data() + e0 * D.d, count, D.d);
    resid.noalias() = ConstMatMap(a->hid.data() + e0 * D.M, count, D.M) * Wout.transpose();
    for (int64_t e = 0; e < count; ++e)
      for (int64_t k = 0; k < D.d; ++k) resid(e, k) = y[e * D.d + k] + (resid(e, k) + w.b_out[k]);
    MatMap(logits + e0 * D.V, count, D.V).noalias() = resid * WU;
  });
}

namespace {

// What every stage of the backward reads: the sizes, the forward's tables and activations, the weights and the
// gradients' views.
struct Backward {
  const Dims& D;
  const ModelSpec& spec;
  const Tables& t;
  TransformerActivations* a;
  const Weights& w;
  const Grads& g;
  const int64_t* pairs;
  int64_t n;
  const float* dlogits;
};

// The sums over examples that the '=' row, the biases and the tables' backward need.
struct ExampleSums {
  std::vector<float> dzsum, dz2sum, drsum;  // dL/dz, dL/dz2 and dL/dresid summed over examples, in example order
};

// 1. Per example: dL/dresid, dL/dz, and the attention's score gradients (through the tables).
void backward_examples(const Backward& bw) {
  const Dims& D = bw.D;
  const ModelSpec& spec = bw.spec;
  const Tables& t = bw.t;
  TransformerActivations* a = bw.a;
  const int64_t* pairs = bw.pairs;
  const int64_t n = bw.n;
  const float* dlogits = bw.dlogits;
  const ConstMatMap Wout(bw.w.W_out, D.d, D.M), WU(bw.w.W_U, D.d, D.V);
  const float sqrt_dh = std::sqrt(static_cast<float>(D.dh));
  const int64_t blocks = (n + kExampleBlock - 1) / kExampleBlock;
  for_blocks(blocks, n * D.M * D.d * 2, [&](int64_t b) {
    const int64_t e0 = b * kExampleBlock, count = std::min(kExampleBlock, n - e0);
    MatMap dresid(a->dresid.data() + e0 * D.d, count, D.d);
    dresid.noalias() = ConstMatMap(dlogits + e0 * D.V, count, D.V) * WU.transpose();
    MatMap dhid(a->dhid.data() + e0 * D.M, count, D.M);
    dhid.noalias() = dresid * Wout;
    for (int64_t e = e0; e < e0 + count; ++e) {
      float* dz = a->dhid.data() + e * D.M;
      const float* z = a->z.data() + e * D.M;
      switch (spec.mlp) {
        case TransformerMlp::kRelu:
          for (int64_t k = 0; k < D.M; ++k) dz[k] = z[k] > 0.0f ? dz[k] : 0.0f;
          break;
        case TransformerMlp::kGelu:
          for (int64_t k = 0; k < D.M; ++k) dz[k] = dz[k] * gelu_grad(z[k]);
          break;
        case TransformerMlp::kBilinear: {
          const float* z2 = a->z2.data() + e * D.M;
          float* dz2 = a->dhid2.data() + e * D.M;
          for (int64_t k = 0; k < D.M; ++k) {
            dz2[k] = dz[k] * z[k];
            dz[k] = dz[k] * z2[k];
          }
          break;
        }
        case TransformerMlp::kTanh:  // not this model's (Transformer::mlps)
          break;
      }
      // dL/dA of table row r = dL/dy . T[r] with dL/dy = W_in^T dz (+ W_in2^T dz2) + dresid: through U, U2, T.
      const int64_t pa = pairs[e] / D.P, pb = pairs[e] % D.P;
      const float* dr = a->dresid.data() + e * D.d;
      const float* dz2 = D.bilinear ? a->dhid2.data() + e * D.M : nullptr;
      const float* A = a->attn.data() + e * D.heads * 3;
      float* ds = a->dscore.data() + e * D.heads * 3;
      for (int64_t h = 0; h < D.heads; ++h) {
        const int64_t rows[3] = {h * D.R1 + pa, h * D.R1 + D.P + pb, h * D.R1 + 2 * D.P};
        float dA[3];
        for (int j = 0; j < 3; ++j) {
          const float* u = t.U.data() + rows[j] * D.M;
          const float* tr = t.T.data() + rows[j] * D.d;
          float s = dot_lanes(dz, u, D.M) + dot_lanes(dr, tr, D.d);
          if (dz2) s += dot_lanes(dz2, t.U2.data() + rows[j] * D.M, D.M);
          dA[j] = s;
        }
        // softmax backward, then the division by sqrt(d_head)
        const float* Ah = A + h * 3;
        const float dot = (Ah[0] * dA[0] + Ah[1] * dA[1]) + Ah[2] * dA[2];
        for (int j = 0; j < 3; ++j) ds[h * 3 + j] = Ah[j] * (dA[j] - dot) / sqrt_dh;
      }
    }
  });
}

// 2. The weight gradients that sum over examples (W_U, W_out, the biases), and the sums the '=' row needs.
ExampleSums backward_output(const Backward& bw) {
  const Dims& D = bw.D;
  TransformerActivations* a = bw.a;
  const Grads& g = bw.g;
  const int64_t n = bw.n;
  const float* dlogits = bw.dlogits;
  const ConstMatMap resid(a->resid.data(), n, D.d), dL(dlogits, n, D.V), dresid(a->dresid.data(), n, D.d),
      hid(a->hid.data(), n, D.M);
  {
    const int64_t row_blocks = (D.d + kRowBlock - 1) / kRowBlock;
    for_blocks(row_blocks, n * D.d * (D.V + D.M), [&](int64_t b) {
      const int64_t r0 = b * kRowBlock, rows = std::min(kRowBlock, D.d - r0);
      MatMap(g.W_U + r0 * D.V, rows, D.V).noalias() += resid.middleCols(r0, rows).transpose() * dL;
      MatMap(g.W_out + r0 * D.M, rows, D.M).noalias() += dresid.middleCols(r0, rows).transpose() * hid;
    });
  }
  // Bias gradients and the sums the '=' row needs, in example order.
  ExampleSums sums;
  std::vector<float>&dzsum = sums.dzsum, &dz2sum = sums.dz2sum, &drsum = sums.drsum;
  dzsum.assign(static_cast<size_t>(D.M), 0.0f);
  dz2sum.assign(D.bilinear ? static_cast<size_t>(D.M) : 0, 0.0f);
  drsum.assign(static_cast<size_t>(D.d), 0.0f);
  for (int64_t e = 0; e < n; ++e) {
    add_into(dzsum.data(), a->dhid.data() + e * D.M, D.M);
    if (D.bilinear) add_into(dz2sum.data(), a->dhid2.data() + e * D.M, D.M);
    add_into(drsum.data(), a->dresid.data() + e * D.d, D.d);
  }
  add_into(g.b_out, drsum.data(), D.d);
  add_into(g.b_in, dzsum.data(), D.M);
  if (D.bilinear) add_into(g.b_in2, dz2sum.data(), D.M);
  return sums;
}

// 3. Per table row: S[r] = sum A dz, S2[r] = sum A dz2, Rm[r] = sum A dresid, G[r] = sum dscore, over the examples
// whose token selects row r. Each row is owned by one thread, which adds its examples in order.
struct RowSums {
  std::vector<float> S, S2, Rm, G;
};
void backward_rows(const Backward& bw, RowSums* sums) {
  const Dims& D = bw.D;
  TransformerActivations* a = bw.a;
  const int64_t* pairs = bw.pairs;
  const int64_t n = bw.n;
  std::vector<float>&S = sums->S, &S2 = sums->S2, &Rm = sums->Rm, &G = sums->G;
  S.assign(static_cast<size_t>(D.R * D.M), 0.0f);
  S2.assign(D.bilinear ? S.size() : 0, 0.0f);
  Rm.assign(static_cast<size_t>(D.R * D.d), 0.0f);
  G.assign(static_cast<size_t>(D.R), 0.0f);
  float *Sp = S.data(), *S2p = S2.data(), *Rmp = Rm.data(), *Gp = G.data();
#ifdef _OPENMP
#pragma omp parallel if (n * D.heads * 3 * D.M > kParallelWorkThreshold && !omp_in_parallel())
#endif
  {
    const Share mine = my_share(D.R);
    for (int64_t e = 0; e < n; ++e) {
      const int64_t pa = pairs[e] / D.P, pb = pairs[e] % D.P;
      const float* A = a->attn.data() + e * D.heads * 3;
      const float* ds = a->dscore.data() + e * D.heads * 3;
      for (int64_t h = 0; h < D.heads; ++h) {
        const int64_t rows[3] = {h * D.R1 + pa, h * D.R1 + D.P + pb, h * D.R1 + 2 * D.P};
        for (int j = 0; j < 3; ++j) {
          const int64_t r = rows[j];
          if (r < mine.first || r >= mine.last) continue;
          const float wgt = A[h * 3 + j];
          axpy(Sp + r * D.M, wgt, a->dhid.data() + e * D.M, D.M);
          if (D.bilinear) axpy(S2p + r * D.M, wgt, a->dhid2.data() + e * D.M, D.M);
          axpy(Rmp + r * D.d, wgt, a->dresid.data() + e * D.d, D.d);
          Gp[r] += ds[h * 3 + j];
        }
      }
    }
  }
}

// 4. The tables' backward. dT = S W_in (+ S2 W_in2) + Rm; dW_in += S^T T + dzsum x_2^T.
std::vector<float> backward_tables(const Backward& bw, const RowSums& row_sums, const ExampleSums& sums) {
  const Dims& D = bw.D;
  const Tables& t = bw.t;
  const Weights& w = bw.w;
  const Grads& g = bw.g;
  const float *Sp = row_sums.S.data(), *S2p = row_sums.S2.data();
  const std::vector<float>&dzsum = sums.dzsum, &dz2sum = sums.dz2sum;
  std::vector<float> dT(row_sums.Rm);
  const ConstMatMap Tm(t.T.data(), D.R, D.d), X(t.X.data(), D.R1, D.d);
  const ConstMatMap Sm(Sp, D.R, D.M);
  auto unfold_in = [&](const float* W_in, const float* Sdata, float* gW_in, const std::vector<float>& zsum) {
    const ConstMatMap Win(W_in, D.M, D.d), Sx(Sdata, D.R, D.M);
    const int64_t row_blocks = (D.R + kRowBlock - 1) / kRowBlock;
    for_blocks(row_blocks, D.R * D.M * D.d, [&](int64_t b) {
      const int64_t r0 = b * kRowBlock, rows = std::min(kRowBlock, D.R - r0);
      MatMap(dT.data() + r0 * D.d, rows, D.d).noalias() += Sx.middleRows(r0, rows) * Win;
    });
    const int64_t col_blocks = (D.M + kRowBlock - 1) / kRowBlock;
    const auto x2 = X.row(2 * D.P);
    for_blocks(col_blocks, D.R * D.M * D.d, [&](int64_t b) {
      const int64_t m0 = b * kRowBlock, rows = std::min(kRowBlock, D.M - m0);
      MatMap gW(gW_in + m0 * D.d, rows, D.d);
      gW.noalias() += Sx.middleCols(m0, rows).transpose() * Tm;
      gW.noalias() += ConstVecMap(zsum.data() + m0, rows) * x2;
    });
  };
  unfold_in(w.W_in, Sp, g.W_in, dzsum);
  if (D.bilinear) unfold_in(w.W_in2, S2p, g.W_in2, dz2sum);
  (void)Sm;
  return dT;
}

// 5. dL/dx_p(t) through the '=' row's residual and, per head, W_O, the values, the keys and the query; then into W_E
// and W_pos.
void backward_embedding(const Backward& bw, const RowSums& row_sums, const ExampleSums& sums,
                        const std::vector<float>& dT) {
  const Dims& D = bw.D;
  const Tables& t = bw.t;
  const Weights& w = bw.w;
  const Grads& g = bw.g;
  const float* Gp = row_sums.G.data();
  const std::vector<float>&dzsum = sums.dzsum, &dz2sum = sums.dz2sum, &drsum = sums.drsum;
  const ConstMatMap X(t.X.data(), D.R1, D.d);
  std::vector<float> dX(static_cast<size_t>(D.R1 * D.d), 0.0f);
  MatMap dXm(dX.data(), D.R1, D.d);
  {
    Eigen::VectorXf dc = ConstMatMap(w.W_in, D.M, D.d).transpose() * ConstVecMap(dzsum.data(), D.M);
    if (D.bilinear) dc.noalias() += ConstMatMap(w.W_in2, D.M, D.d).transpose() * ConstVecMap(dz2sum.data(), D.M);
    dc += ConstVecMap(drsum.data(), D.d);
    dXm.row(2 * D.P) += dc.transpose();
  }
  // Per head: through W_O, the values, the keys and the query back to x_p(t). Heads write disjoint gradient
  // blocks; dX is summed over heads in head order afterwards.
  std::vector<float> dXh(static_cast<size_t>(D.heads * D.R1 * D.d), 0.0f);
  for_blocks(D.heads, D.R1 * D.d * D.dh * 8, [&](int64_t h) {
    const ConstMatMap dTh(dT.data() + h * D.R1 * D.d, D.R1, D.d);
    const ConstMatMap Vv(t.Vv.data() + h * D.R1 * D.dh, D.R1, D.dh), K(t.K.data() + h * D.R1 * D.dh, D.R1, D.dh);
    const StridedMap WO(w.W_O + h * D.dh, D.d, D.dh, Eigen::OuterStride<>(D.heads * D.dh));
    Eigen::Map<RowMat, 0, Eigen::OuterStride<>> gWO(g.W_O + h * D.dh, D.d, D.dh, Eigen::OuterStride<>(D.heads * D.dh));
    gWO.noalias() += dTh.transpose() * Vv;
    const RowMat dV = dTh * WO;  // (R1, dh)
    const ConstMatMap WV(w.W_V + h * D.dh * D.d, D.dh, D.d), WK(w.W_K + h * D.dh * D.d, D.dh, D.d),
        WQ(w.W_Q + h * D.dh * D.d, D.dh, D.d);
    MatMap(g.W_V + h * D.dh * D.d, D.dh, D.d).noalias() += dV.transpose() * X;
    MatMap dXhm(dXh.data() + h * D.R1 * D.d, D.R1, D.d);
    dXhm.noalias() = dV * WV;
    // score[r] = K[r] . q / sqrt(dh); Gp holds dL/d(K[r] . q) summed over examples.
    const ConstVecMap Gh(Gp + h * D.R1, D.R1);
    const ConstVecMap q(t.Q.data() + h * D.dh, D.dh);
    const Eigen::VectorXf XtG = X.transpose() * Gh;  // (d)
    MatMap(g.W_K + h * D.dh * D.d, D.dh, D.d).noalias() += q * XtG.transpose();
    const Eigen::VectorXf WKq = WK.transpose() * q;  // (d)
    dXhm.noalias() += Gh * WKq.transpose();
    const Eigen::VectorXf dq = K.transpose() * Gh;  // (dh)
    MatMap(g.W_Q + h * D.dh * D.d, D.dh, D.d).noalias() += dq * X.row(2 * D.P);
    dXhm.row(2 * D.P) += (WQ.transpose() * dq).transpose();
  });
  for (int64_t h = 0; h < D.heads; ++h) dXm += ConstMatMap(dXh.data() + h * D.R1 * D.d, D.R1, D.d);
  // x_p(t) = W_E[:, t] + W_pos[p].
  for (int64_t i = 0; i < D.R1; ++i) {
    const int64_t tok = i < 2 * D.P ? i % D.P : D.P, pos = i < D.P ? 0 : (i < 2 * D.P ? 1 : 2);
    for (int64_t k = 0; k < D.d; ++k) {
      g.W_E[k * D.V + tok] += dX[i * D.d + k];
      g.W_pos[pos * D.d + k] += dX[i * D.d + k];
    }
  }
}

}  // namespace

void transformer_backward(const ModelSpec& spec, const ParameterLayout& layout, const float* params,
                          const int64_t* pairs, int64_t n, std::shared_ptr<TransformerActivations>* act_ptr,
                          const float* dlogits, float* grads) {
  const Dims D(spec);
  TransformerActivations* a = act_ptr->get();
  const Weights w = views<Weights>(layout, params);
  const Grads g = views<Grads>(layout, grads);
  const Backward k{D, spec, *a->tables, a, w, g, pairs, n, dlogits};
  backward_examples(k);
  const ExampleSums sums = backward_output(k);
  thread_local RowSums rows;  // reused across steps: (R, M) each, allocated once
  backward_rows(k, &rows);
  const std::vector<float> dT = backward_tables(k, rows, sums);
  backward_embedding(k, rows, sums, dT);
}

namespace {
std::vector<int64_t> all_pairs(int64_t P) {
  std::vector<int64_t> pairs(static_cast<size_t>(P * P));
  for (int64_t i = 0; i < P * P; ++i) pairs[i] = i;
  return pairs;
}
}  // namespace

std::vector<float> transformer_attention_pattern(const ModelSpec& spec, const ParameterLayout& layout,
                                                 const float* params) {
  const Dims D(spec);
  const std::vector<int64_t> pairs = all_pairs(D.P);
  std::shared_ptr<TransformerActivations> act;
  std::vector<float> logits(static_cast<size_t>(D.P * D.P * D.V));
  transformer_forward(spec, layout, params, transformer_tables(spec, layout, params), pairs.data(), D.P * D.P, &act,
                      logits.data());
  return std::vector<float>(act->attn.begin(), act->attn.begin() + D.P * D.P * D.heads * 3);
}

std::vector<float> transformer_neuron_activations(const ModelSpec& spec, const ParameterLayout& layout,
                                                  const float* params) {
  const Dims D(spec);
  const std::vector<int64_t> pairs = all_pairs(D.P);
  std::shared_ptr<TransformerActivations> act;
  std::vector<float> logits(static_cast<size_t>(D.P * D.P * D.V));
  transformer_forward(spec, layout, params, transformer_tables(spec, layout, params), pairs.data(), D.P * D.P, &act,
                      logits.data());
  return std::vector<float>(act->hid.begin(), act->hid.begin() + D.P * D.P * D.M);
}

namespace {

using RowMatD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

inline double gelu_grad_d(double x) {
  return 0.5 * (1.0 + std::erf(x * 0.70710678118654752)) + x * 0.39894228040143268 * std::exp(-0.5 * x * x);
}

// What the token gradients of every pair share, in double. The logits read position 2 alone, whose query is fixed
// ('=' at position 2), so positions 0 and 1 reach them only through their keys (scores) and values.
struct TokenGradientShared {
  // W_V stacked over heads (d', d), row h d_head + i; W_O (d, d'); W_in and W_in2 (M, d).
  RowMatD WV, WO, Win, Win2;
  // The biases (M); x_2 = W_E['='] + W_pos[2] (d), its values (d') and its scores (heads).
  Eigen::VectorXd b_in, b_in2, x2, v2, s2;
  // (heads, d) W_K^h^T q_h / sqrt(d_head), q_h the one query: score_h(x) = kq_h . x.
  RowMatD kq;
  // (P, M) d logit_c / d hid = W_U[:, c]^T W_out, column-major (a ReLU gathers its active columns).
  Eigen::MatrixXd dhid;
  // (P, d') W_U[:, c]^T W_O: d logit_c / d z_attn along the residual; (M, d') W_in W_O (and W_in2 W_O).
  RowMatD C0, WinO, WinO2;
};

TokenGradientShared token_gradient_shared(const Dims& D, const Weights& w) {
  auto matrix = [](const float* p, int64_t rows, int64_t cols) {
    return Eigen::Map<const RowMat>(p, rows, cols).cast<double>().eval();
  };
  TokenGradientShared s;
  const int64_t dp = D.heads * D.dh;
  s.WV = matrix(w.W_V, dp, D.d);
  s.WO = matrix(w.W_O, D.d, dp);
  s.Win = matrix(w.W_in, D.M, D.d);
  s.b_in = Eigen::Map<const Eigen::VectorXf>(w.b_in, D.M).cast<double>();
  if (D.bilinear) {
    s.Win2 = matrix(w.W_in2, D.M, D.d);
    s.b_in2 = Eigen::Map<const Eigen::VectorXf>(w.b_in2, D.M).cast<double>();
  }
  s.x2.resize(D.d);
  for (int64_t k = 0; k < D.d; ++k) s.x2[k] = double(w.W_E[k * D.V + D.P]) + double(w.W_pos[2 * D.d + k]);
  const RowMatD WK = matrix(w.W_K, dp, D.d), WQ = matrix(w.W_Q, dp, D.d);
  s.v2 = s.WV * s.x2;
  s.kq.resize(D.heads, D.d);
  s.s2.resize(D.heads);
  const double sqrt_dh = std::sqrt(static_cast<double>(D.dh));
  for (int64_t h = 0; h < D.heads; ++h) {
    const Eigen::VectorXd q = WQ.middleRows(h * D.dh, D.dh) * s.x2;
    s.kq.row(h) = (WK.middleRows(h * D.dh, D.dh).transpose() * q).transpose() / sqrt_dh;
    s.s2[h] = s.kq.row(h).dot(s.x2);
  }
  const RowMatD WU = matrix(w.W_U, D.d, D.V);
  const RowMatD dresid = WU.leftCols(D.P).transpose();  // (P, d): d logit_c / d resid_2
  s.dhid = dresid * matrix(w.W_out, D.d, D.M);
  s.C0 = dresid * s.WO;
  s.WinO = s.Win * s.WO;
  if (D.bilinear) s.WinO2 = s.Win2 * s.WO;
  return s;
}

// One pair's forward (position 2's attention over the three tokens, and its MLP) and the backward of all P logits to
// x_0 and x_1 (out: (P, 2, d)).
void pair_token_gradients(const Dims& D, const ModelSpec& spec, const Weights& w, const TokenGradientShared& s,
                          int64_t pair, double* out) {
  const int64_t dp = D.heads * D.dh, tokens[2] = {pair / D.P, pair % D.P};
  // Forward: x_j = W_E[:, t_j] + W_pos[j]; per head the scores of (a, b, '='), the softmax and the mix of values.
  Eigen::VectorXd x[2], v[2];
  for (int j = 0; j < 2; ++j) {
    x[j].resize(D.d);
    for (int64_t k = 0; k < D.d; ++k) x[j][k] = double(w.W_E[k * D.V + tokens[j]]) + double(w.W_pos[j * D.d + k]);
    v[j] = s.WV * x[j];
  }
  RowMatD A(D.heads, 3);
  Eigen::VectorXd zattn(dp);
  for (int64_t h = 0; h < D.heads; ++h) {
    const double sc[3] = {s.kq.row(h).dot(x[0]), s.kq.row(h).dot(x[1]), s.s2[h]};
    const double mx = std::max(std::max(sc[0], sc[1]), sc[2]);
    double e[3], sum = 0;
    for (int j = 0; j < 3; ++j) sum += (e[j] = std::exp(sc[j] - mx));
    for (int j = 0; j < 3; ++j) A(h, j) = e[j] / sum;
    zattn.segment(h * D.dh, D.dh) = A(h, 0) * v[0].segment(h * D.dh, D.dh) + A(h, 1) * v[1].segment(h * D.dh, D.dh) +
                                    A(h, 2) * s.v2.segment(h * D.dh, D.dh);
  }
  const Eigen::VectorXd y = s.x2 + s.WO * zattn;  // the residual after attention at position 2
  const Eigen::VectorXd z = s.Win * y + s.b_in;
  // Backward, all P logits at once (the rows): d logit / d z_attn = C0 + (d logit / d z) W_in W_O.
  RowMatD dz_attn = s.C0;
  switch (spec.mlp) {
    case TransformerMlp::kRelu: {  // only the active units pass a gradient: gather them
      std::vector<int64_t> active;
      for (int64_t m = 0; m < D.M; ++m)
        if (z[m] > 0) active.push_back(m);
      const int64_t na = static_cast<int64_t>(active.size());
      Eigen::MatrixXd dz(D.P, na);
      RowMatD WinO(na, dp);
      for (int64_t i = 0; i < na; ++i) {
        dz.col(i) = s.dhid.col(active[i]);
        WinO.row(i) = s.WinO.row(active[i]);
      }
      dz_attn.noalias() += dz * WinO;
      break;
    }
    case TransformerMlp::kGelu: {
      Eigen::VectorXd slope(D.M);
      for (int64_t m = 0; m < D.M; ++m) slope[m] = gelu_grad_d(z[m]);
      dz_attn.noalias() += (s.dhid * slope.asDiagonal()) * s.WinO;
      break;
    }
    case TransformerMlp::kBilinear: {  // hid = z z2: d hid / d z = z2, d hid / d z2 = z
      const Eigen::VectorXd z2 = s.Win2 * y + s.b_in2;
      dz_attn.noalias() += (s.dhid * z2.asDiagonal()) * s.WinO;
      dz_attn.noalias() += (s.dhid * z.asDiagonal()) * s.WinO2;
      break;
    }
    case TransformerMlp::kTanh:  // not this model's (Transformer::mlps)
      break;
  }
  // Per head: d logit / d A_j = d logit / d z_attn_h . v_j, through the softmax to the scores; the values and the
  // scores carry it back to x_j.
  RowMatD G[2] = {RowMatD(D.P, dp), RowMatD(D.P, dp)};  // A_j-weighted d logit / d z_attn: d logit / d v_j
  RowMatD dscore[2] = {RowMatD(D.P, D.heads), RowMatD(D.P, D.heads)};
  for (int64_t h = 0; h < D.heads; ++h) {
    const auto dzh = dz_attn.middleCols(h * D.dh, D.dh);
    const Eigen::VectorXd dA0 = dzh * v[0].segment(h * D.dh, D.dh), dA1 = dzh * v[1].segment(h * D.dh, D.dh),
                          dA2 = dzh * s.v2.segment(h * D.dh, D.dh);
    const Eigen::VectorXd mean = A(h, 0) * dA0 + A(h, 1) * dA1 + A(h, 2) * dA2;
    dscore[0].col(h) = A(h, 0) * (dA0 - mean);
    dscore[1].col(h) = A(h, 1) * (dA1 - mean);
    for (int j = 0; j < 2; ++j) G[j].middleCols(h * D.dh, D.dh) = A(h, j) * dzh;
  }
  for (int j = 0; j < 2; ++j) {
    const RowMatD dx = G[j] * s.WV + dscore[j] * s.kq;  // (P, d)
    for (int64_t c = 0; c < D.P; ++c)
      std::copy(dx.data() + c * D.d, dx.data() + (c + 1) * D.d, out + (c * 2 + j) * D.d);
  }
}

}  // namespace

void transformer_token_gradients(const ModelSpec& spec, const ParameterLayout& layout, const float* params,
                                 const int64_t* pairs, int64_t n, double* out) {
  const Dims D(spec);
  const Weights w = views<Weights>(layout, params);
  const TokenGradientShared s = token_gradient_shared(D, w);
  // Pairs are independent and each is computed by the same operations on any thread: bitwise the same results for
  // any thread count.
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic) if (n > 1 && !omp_in_parallel())
#endif
  for (int64_t e = 0; e < n; ++e) pair_token_gradients(D, spec, w, s, pairs[e], out + e * D.P * 2 * D.d);
}

namespace {

class Transformer final : public Model {
 public:
  const char* name() const override { return "transformer"; }

  std::string describe(const ModelSpec& spec) const override {
    return "transformer model with P = " + std::to_string(spec.mod_basis) +
           ", d_model = " + std::to_string(spec.d_model) + ", " + std::to_string(spec.num_heads) +
           " heads, d_mlp = " + std::to_string(spec.d_mlp) + ", " + transformer_mlp_name(spec.mlp) + " MLP";
  }

  int64_t num_logits(const ModelSpec& spec) const override { return spec.mod_basis + 1; }  // the vocabulary holds '='
  std::vector<ModelFlag> flags() const override {
    return {{"d_model", "residual width"},
            {"num_heads", "attention heads (d_head = d_model / heads)"},
            {"d_mlp", "MLP width (0: 4 x d_model)"},
            {"mlp", "relu, gelu (exact erf) or bilinear (Pearce et al.; no activation)"}};
  }
  std::vector<TransformerMlp> mlps() const override {
    return {TransformerMlp::kRelu, TransformerMlp::kGelu, TransformerMlp::kBilinear};
  }
  int64_t max_mod_basis() const override { return 4096; }  // its tables grow with P

  // The paper's module: torch order and shapes as they are; randn / sqrt(fan) or zeros.
  void add_parameters(const ModelSpec& spec, ParameterLayout* layout) const override {
    const int64_t d = spec.d_model, heads = spec.num_heads, dh = d / heads, m = spec.d_mlp, v = spec.mod_basis + 1;
    const double sd = 1.0 / std::sqrt(static_cast<double>(d));
    add_normal_parameter(layout, "embed.W_E", {d, v}, sd);
    add_normal_parameter(layout, "pos_embed.W_pos", {3, d}, sd);
    add_normal_parameter(layout, "blocks.0.attn.W_K", {heads, dh, d}, sd);
    add_normal_parameter(layout, "blocks.0.attn.W_Q", {heads, dh, d}, sd);
    add_normal_parameter(layout, "blocks.0.attn.W_V", {heads, dh, d}, sd);
    add_normal_parameter(layout, "blocks.0.attn.W_O", {d, heads * dh}, sd);
    add_normal_parameter(layout, "blocks.0.mlp.W_in", {m, d}, sd);
    add_normal_parameter(layout, "blocks.0.mlp.b_in", {m}, 0);
    if (spec.mlp == TransformerMlp::kBilinear) {
      add_normal_parameter(layout, "blocks.0.mlp.W_in2", {m, d}, sd);
      add_normal_parameter(layout, "blocks.0.mlp.b_in2", {m}, 0);
    }
    add_normal_parameter(layout, "blocks.0.mlp.W_out", {d, m}, sd);
    add_normal_parameter(layout, "blocks.0.mlp.b_out", {d}, 0);
    add_normal_parameter(layout, "unembed.W_U", {d, v}, 1.0 / std::sqrt(static_cast<double>(v)));
  }

  // The grokking demo's HookedTransformer (one layer, no LayerNorm): W_E (V, d), W_Q|K|V (heads, d, d_head),
  // W_O (heads, d_head, d), W_in (d, d_mlp), W_out (d_mlp, d), the biases b_Q, b_K, b_V, b_O, b_U, which the demo
  // keeps at zero, and its buffers. No bilinear MLP.
  LensLayout transformer_lens_layout(const ModelSpec& spec) const override {
    if (spec.mlp == TransformerMlp::kBilinear) return {};
    const int64_t d = spec.d_model, heads = spec.num_heads, dh = d / heads, m = spec.d_mlp, v = spec.mod_basis + 1;
    const std::string a = "blocks.0.attn.", f = "blocks.0.mlp.";
    return {{{"embed.W_E", {v, d}, {1, 0}},
             {"pos_embed.W_pos", {3, d}, {}},
             {a + "W_K", {heads, d, dh}, {0, 2, 1}},
             {a + "W_Q", {heads, d, dh}, {0, 2, 1}},
             {a + "W_V", {heads, d, dh}, {0, 2, 1}},
             {a + "W_O", {heads, dh, d}, {2, 0, 1}},
             {f + "W_in", {d, m}, {1, 0}},
             {f + "b_in", {m}, {}},
             {f + "W_out", {m, d}, {1, 0}},
             {f + "b_out", {d}, {}},
             {"unembed.W_U", {d, v}, {}}},
            {a + "b_Q", a + "b_K", a + "b_V", a + "b_O", "unembed.b_U"},
            {a + "mask", a + "IGNORE"}};
  }

  void reserve(const ModelSpec& spec, int64_t n, BatchActivations* act) const override {
    if (n <= act->capacity) return;  // its own activations live in act->transformer, sized by its forward
    act->capacity = n;
    act->logits.resize(static_cast<size_t>(n * num_logits(spec)));
  }

  void forward(const ModelSpec& spec, const ParameterLayout& layout, const float* params, const int64_t* pairs,
               int64_t n, BatchActivations* act) const override {
    transformer_forward(spec, layout, params, act->prepared, pairs, n, &act->transformer, act->logits.data());
  }

  void backward(const ModelSpec& spec, const ParameterLayout& layout, const float* params, const int64_t* pairs,
                int64_t n, BatchActivations* act, float* grads) const override {
    transformer_backward(spec, layout, params, pairs, n, &act->transformer, act->logits.data(), grads);
  }

  std::shared_ptr<const PreparedParameters> prepare(const ModelSpec& spec, const ParameterLayout& layout,
                                                    const float* params) const override {
    return transformer_tables(spec, layout, params);
  }

  // The paper's causal mask, tril(ones(n_ctx, n_ctx)): a buffer of its module, so its state dict holds it.
  std::vector<ModelBuffer> buffers(const ModelSpec&) const override {
    return {{"blocks.0.attn.mask", {3, 3}, {1, 0, 0, 1, 1, 0, 1, 1, 1}}};
  }

  bool has_attention() const override { return true; }
  bool token_gradients(const ModelSpec& spec, const ParameterLayout& layout, const float* params, const int64_t* pairs,
                       int64_t n, double* out,
                       bool /*notebook_input: its input is always (a, b, '=')*/) const override {
    if (n > 0) transformer_token_gradients(spec, layout, params, pairs, n, out);
    return true;
  }
  const ParameterInfo* token_embedding(const ParameterLayout& layout) const override {
    return layout.find("embed.W_E");
  }
  std::string input_weights(const ModelSpec&) const override {
    return "W_E's token columns, over every residual direction";
  }
  std::string analysis_note(const ModelSpec&) const override {
    return "transformer: input weights are W_E's token columns; no interaction matrices over (a, b) (the attention and "
           "MLP are not one quadratic form); its own measures follow the logit measures";
  }

  // attention and its gradient (heads x 3 each), z, z2, hid, dhid, dhid2 (d_mlp each), resid and dresid (d_model
  // each), the P + 1 logits.
  int64_t activation_bytes_per_pair(const ModelSpec& spec) const override {
    return (6 * spec.num_heads + 5 * spec.d_mlp + 2 * spec.d_model + num_logits(spec)) * 4;
  }
};

}  // namespace

const Model& transformer_model() {  // model/registry.cc
  static const Transformer model;
  return model;
}

}  // namespace bilmod
