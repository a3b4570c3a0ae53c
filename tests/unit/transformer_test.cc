// The transformer (model/transformer.h) against an independent double-precision forward pass written from the
// paper's module (every position's keys and values, the causal softmax of the last query, the MLP and the
// unembedding, nothing tabulated), its gradients against central finite differences of that reference, and its
// folded passes bitwise the same for any thread count.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "model/cross_entropy.h"
#include "model/model.h"
#include "model/model_spec.h"
#include "model/network.h"

namespace bilmod {
namespace {

using TorchParams = std::vector<std::vector<double>>;

TorchParams to_torch(const ParameterLayout& layout, const std::vector<float>& stored) {
  TorchParams out;
  for (const auto& info : layout.parameters) {
    std::vector<float> t(info.size);
    to_torch_order(info, stored.data() + info.offset, t.data());
    out.emplace_back(t.begin(), t.end());
  }
  return out;
}

const std::vector<double>& param(const ParameterLayout& layout, const TorchParams& w, const std::string& name) {
  for (size_t i = 0; i < layout.parameters.size(); ++i)
    if (layout.parameters[i].name == name) return w[i];
  ADD_FAILURE() << "no parameter " << name;
  static const std::vector<double> none;
  return none;
}

// The paper's forward for tokens (a, b, P), in double: logits of the last position, all P + 1.
std::vector<double> reference_logits(const ModelSpec& spec, const ParameterLayout& layout, const TorchParams& w,
                                     int64_t a, int64_t b) {
  const int64_t P = spec.mod_basis, V = P + 1, d = spec.d_model, H = spec.num_heads, dh = d / H, M = spec.d_mlp;
  const auto& WE = param(layout, w, "embed.W_E");
  const auto& Wpos = param(layout, w, "pos_embed.W_pos");
  const auto& WK = param(layout, w, "blocks.0.attn.W_K");
  const auto& WQ = param(layout, w, "blocks.0.attn.W_Q");
  const auto& WV = param(layout, w, "blocks.0.attn.W_V");
  const auto& WO = param(layout, w, "blocks.0.attn.W_O");
  const auto& Win = param(layout, w, "blocks.0.mlp.W_in");
  const auto& bin = param(layout, w, "blocks.0.mlp.b_in");
  const auto& Wout = param(layout, w, "blocks.0.mlp.W_out");
  const auto& bout = param(layout, w, "blocks.0.mlp.b_out");
  const auto& WU = param(layout, w, "unembed.W_U");
  const int64_t tokens[3] = {a, b, P};
  std::vector<std::vector<double>> x(3, std::vector<double>(d));
  for (int p = 0; p < 3; ++p)
    for (int64_t k = 0; k < d; ++k) x[p][k] = WE[k * V + tokens[p]] + Wpos[p * d + k];
  // z_flat: per head, attention of the query at position 2 over positions 0..2 (the mask allows all three).
  std::vector<double> z(H * dh, 0.0);
  for (int64_t h = 0; h < H; ++h) {
    auto proj = [&](const std::vector<double>& W, const std::vector<double>& v, int64_t i) {
      double s = 0;
      for (int64_t k = 0; k < d; ++k) s += W[(h * dh + i) * d + k] * v[k];
      return s;
    };
    double score[3], m = -1e300;
    for (int p = 0; p < 3; ++p) {
      double s = 0;
      for (int64_t i = 0; i < dh; ++i) s += proj(WK, x[p], i) * proj(WQ, x[2], i);
      score[p] = s / std::sqrt(static_cast<double>(dh));
      m = std::max(m, score[p]);
    }
    double sum = 0, A[3];
    for (int p = 0; p < 3; ++p) sum += (A[p] = std::exp(score[p] - m));
    for (int p = 0; p < 3; ++p)
      for (int64_t i = 0; i < dh; ++i) z[h * dh + i] += A[p] / sum * proj(WV, x[p], i);
  }
  std::vector<double> resid(x[2]);
  for (int64_t k = 0; k < d; ++k)
    for (int64_t f = 0; f < H * dh; ++f) resid[k] += WO[k * H * dh + f] * z[f];
  std::vector<double> hid(M);
  const std::vector<double>* Win2 = nullptr;
  const std::vector<double>* bin2 = nullptr;
  if (spec.mlp == TransformerMlp::kBilinear)
    Win2 = &param(layout, w, "blocks.0.mlp.W_in2"), bin2 = &param(layout, w, "blocks.0.mlp.b_in2");
  for (int64_t j = 0; j < M; ++j) {
    double pre = bin[j], pre2 = Win2 ? (*bin2)[j] : 0.0;
    for (int64_t k = 0; k < d; ++k) {
      pre += Win[j * d + k] * resid[k];
      if (Win2) pre2 += (*Win2)[j * d + k] * resid[k];
    }
    switch (spec.mlp) {
      case TransformerMlp::kRelu:
        hid[j] = std::max(0.0, pre);
        break;
      case TransformerMlp::kGelu:
        hid[j] = 0.5 * pre * (1.0 + std::erf(pre / std::sqrt(2.0)));
        break;
      case TransformerMlp::kBilinear:
        hid[j] = pre * pre2;
        break;
      case TransformerMlp::kTanh:
        hid[j] = std::tanh(pre);
        break;
    }
  }
  std::vector<double> post(resid);
  for (int64_t k = 0; k < d; ++k) {
    post[k] += bout[k];
    for (int64_t j = 0; j < M; ++j) post[k] += Wout[k * M + j] * hid[j];
  }
  std::vector<double> logits(V, 0.0);
  for (int64_t c = 0; c < V; ++c)
    for (int64_t k = 0; k < d; ++k) logits[c] += post[k] * WU[k * V + c];
  return logits;
}

struct Batch {
  std::vector<int64_t> pairs;
  std::vector<int32_t> labels;
};

double reference_loss(const ModelSpec& spec, const ParameterLayout& layout, const TorchParams& w, const Batch& batch) {
  double total = 0;
  for (size_t e = 0; e < batch.pairs.size(); ++e) {
    const auto logits =
        reference_logits(spec, layout, w, batch.pairs[e] / spec.mod_basis, batch.pairs[e] % spec.mod_basis);
    double m = logits[0];
    for (double l : logits) m = std::max(m, l);
    double s = 0;
    for (double l : logits) s += std::exp(l - m);
    total += std::log(s) + m - logits[batch.labels[e]];
  }
  return total / static_cast<double>(batch.pairs.size());
}

ModelSpec small_spec(TransformerMlp mlp) {
  ModelSpec spec;
  spec.kind = ModelKind::kTransformer;
  spec.mod_basis = 5;
  spec.d_model = 8;
  spec.num_heads = 2;
  spec.d_mlp = 12;
  spec.mlp = mlp;
  return spec;
}

Batch random_batch(const ModelSpec& spec, int count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Batch batch;
  for (int i = 0; i < count; ++i) {
    const int64_t a = static_cast<int64_t>(rng() % spec.mod_basis), b = static_cast<int64_t>(rng() % spec.mod_basis);
    batch.pairs.push_back(a * spec.mod_basis + b);
    batch.labels.push_back(static_cast<int32_t>(rng() % spec.mod_basis));
  }
  return batch;
}

// Parameters larger than the init, and nonzero biases, so that attention, MLP and loss are far from uniform.
std::vector<float> far_from_uniform(const ModelSpec& spec, const ParameterLayout& layout, uint64_t seed,
                                    uint64_t noise_seed) {
  std::vector<float> params(layout.total);
  init_parameters(spec, layout, seed, params.data());
  std::mt19937_64 rng(noise_seed);
  for (float& x : params) x = x * 2.0f + 0.05f * static_cast<float>(static_cast<int64_t>(rng() % 21) - 10);
  return params;
}

void check_gradients(TransformerMlp mlp) {
  const ModelSpec spec = small_spec(mlp);
  SCOPED_TRACE(transformer_mlp_name(mlp));
  const ParameterLayout layout = make_parameter_layout(spec);
  const std::vector<float> params = far_from_uniform(spec, layout, 17, 9);
  const Batch batch = random_batch(spec, 11, 5);
  const auto n = static_cast<int64_t>(batch.pairs.size());
  const int64_t V = spec.num_logits();

  BatchActivations act;
  network_forward(spec, layout, params.data(), batch.pairs.data(), n, &act);
  const TorchParams w = to_torch(layout, params);
  double worst_logit = 0, largest = 0;
  for (int64_t e = 0; e < n; ++e) {
    const auto ref =
        reference_logits(spec, layout, w, batch.pairs[e] / spec.mod_basis, batch.pairs[e] % spec.mod_basis);
    for (int64_t c = 0; c < V; ++c) {
      worst_logit = std::max(worst_logit, std::fabs(ref[c] - act.logits[e * V + c]));
      largest = std::max(largest, std::fabs(ref[c]));
    }
  }
  // float32 sums of a few hundred terms: a few ulps of the largest logit
  EXPECT_LT(worst_logit, 2e-6 * largest + 1e-6)
      << "forward logits differ from the double reference by " << worst_logit << " (largest logit " << largest << ")";

  std::vector<double> loss(n);
  cross_entropy(act.logits.data(), batch.labels.data(), n, V, static_cast<float>(1.0 / n), act.logits.data(),
                loss.data(), nullptr);
  std::vector<float> grads(layout.total, 0.0f);
  network_backward(spec, layout, params.data(), batch.pairs.data(), n, &act, grads.data());
  const TorchParams g = to_torch(layout, grads);

  int checked = 0, skipped = 0;
  double worst = 0;
  for (size_t p = 0; p < layout.parameters.size(); ++p) {
    for (size_t i = 0; i < layout.parameters[p].size; ++i) {
      auto fd = [&](double h) {
        TorchParams plus = w, minus = w;
        plus[p][i] += h;
        minus[p][i] -= h;
        return (reference_loss(spec, layout, plus, batch) - reference_loss(spec, layout, minus, batch)) / (2 * h);
      };
      const double d1 = fd(1e-6), d2 = fd(1e-7);
      if (std::fabs(d1 - d2) > 1e-6 + 1e-4 * std::fabs(d1)) {  // a ReLU kink inside the stencil
        ++skipped;
        continue;
      }
      const double err = std::fabs(g[p][i] - d1);
      worst = std::max(worst, err / (1e-3 + std::fabs(d1)));
      EXPECT_LT(err, 1e-5 + 1e-3 * std::fabs(d1))
          << layout.parameters[p].name << "[" << i << "]: analytic " << g[p][i] << ", finite difference " << d1;
      ++checked;
    }
  }
  EXPECT_LT(skipped, checked / 20 + 1) << "too many kinks skipped";
  std::printf("  transformer/%s: %d gradient entries checked, %d skipped at kinks, worst scaled error %.3g\n",
              transformer_mlp_name(mlp).c_str(), checked, skipped, worst);
}

TEST(TransformerGradient, ReluMatchesFiniteDifferences) { check_gradients(TransformerMlp::kRelu); }
TEST(TransformerGradient, GeluMatchesFiniteDifferences) { check_gradients(TransformerMlp::kGelu); }
TEST(TransformerGradient, BilinearMatchesFiniteDifferences) { check_gradients(TransformerMlp::kBilinear); }

// The token gradients (Model::token_gradients: d logit_c / d t_p, t_p the token embedding at position p) against
// central differences of the double reference in W_E's column of that token: for a != b the column of a moves t_0
// alone and that of b t_1 alone; for a == b it moves both, so its difference is g_0 + g_1. Every MLP, every logit
// c < P, every coordinate; and bitwise the same for any thread count.
void check_token_gradients(TransformerMlp mlp) {
  ModelSpec spec = small_spec(mlp);
  spec.num_heads = 4;  // d_head 2
  SCOPED_TRACE(transformer_mlp_name(mlp));
  const ParameterLayout layout = make_parameter_layout(spec);
  const std::vector<float> params = far_from_uniform(spec, layout, 23, 4);
  const int64_t P = spec.mod_basis, V = P + 1, d = spec.d_model;
  const std::vector<int64_t> pairs = {0 * P + 3, 4 * P + 1, 2 * P + 2, 1 * P + 4};
  const auto n = static_cast<int64_t>(pairs.size());
  const Model& model = model_of(spec);
  std::vector<double> out(static_cast<size_t>(n * P * 2 * d));
  ASSERT_TRUE(model.token_gradients(spec, layout, params.data(), pairs.data(), n, out.data()));
  TorchParams w = to_torch(layout, params);
  size_t we = 0;
  while (layout.parameters[we].name != "embed.W_E") ++we;
  double worst = 0, largest = 0;
  for (int64_t e = 0; e < n; ++e) {
    const int64_t a = pairs[e] / P, b = pairs[e] % P;
    for (int p = 0; p < 2; ++p) {
      const int64_t token = p == 0 ? a : b;
      for (int64_t k = 0; k < d; ++k) {
        double& x = w[we][k * V + token];
        const double keep = x, h = 1e-5;
        x = keep + h;
        const auto up = reference_logits(spec, layout, w, a, b);
        x = keep - h;
        const auto down = reference_logits(spec, layout, w, a, b);
        x = keep;
        for (int64_t c = 0; c < P; ++c) {
          const double* g = out.data() + ((e * P + c) * 2) * d + k;
          const double want = (up[c] - down[c]) / (2 * h), got = a == b ? g[0] + g[d] : g[p * d];
          worst = std::max(worst, std::fabs(got - want));
          largest = std::max(largest, std::fabs(want));
        }
      }
    }
  }
  EXPECT_GT(largest, 0.1);
  EXPECT_LT(worst, 1e-6 * largest) << "token gradients differ from central differences by " << worst;
#ifdef _OPENMP
  const int before = omp_get_max_threads();
  for (int threads : {2, 3}) {
    omp_set_num_threads(threads);
    std::vector<double> again(out.size());
    model.token_gradients(spec, layout, params.data(), pairs.data(), n, again.data());
    EXPECT_EQ(0, std::memcmp(out.data(), again.data(), out.size() * sizeof(double))) << threads << " threads";
  }
  omp_set_num_threads(before);
#endif
}

TEST(TransformerTokenGradients, ReluMatchesFiniteDifferences) { check_token_gradients(TransformerMlp::kRelu); }
TEST(TransformerTokenGradients, GeluMatchesFiniteDifferences) { check_token_gradients(TransformerMlp::kGelu); }
TEST(TransformerTokenGradients, BilinearMatchesFiniteDifferences) { check_token_gradients(TransformerMlp::kBilinear); }

// Forward logits and gradients bit for bit at 1, 2 and 3 threads, at a size where the passes do go parallel.
TEST(Transformer, BitwiseTheSameForAnyThreadCount) {
#ifdef _OPENMP
  for (TransformerMlp mlp : {TransformerMlp::kRelu, TransformerMlp::kBilinear}) {
    ModelSpec spec = small_spec(mlp);
    spec.mod_basis = 23;
    spec.d_model = 32;
    spec.num_heads = 4;
    spec.d_mlp = 64;
    const ParameterLayout layout = make_parameter_layout(spec);
    std::vector<float> params(layout.total);
    init_parameters(spec, layout, 3, params.data());
    const Batch batch = random_batch(spec, 400, 7);
    const auto n = static_cast<int64_t>(batch.pairs.size());
    std::vector<std::vector<float>> logits, grads;
    const int before = omp_get_max_threads();
    for (int threads : {1, 2, 3}) {
      omp_set_num_threads(threads);
      BatchActivations act;
      network_forward(spec, layout, params.data(), batch.pairs.data(), n, &act);
      logits.emplace_back(act.logits.begin(), act.logits.begin() + n * spec.num_logits());
      std::vector<double> loss(n);
      cross_entropy(act.logits.data(), batch.labels.data(), n, spec.num_logits(), 1.0f / static_cast<float>(n),
                    act.logits.data(), loss.data(), nullptr);
      grads.emplace_back(layout.total, 0.0f);
      network_backward(spec, layout, params.data(), batch.pairs.data(), n, &act, grads.back().data());
    }
    omp_set_num_threads(before);
    for (size_t i = 1; i < logits.size(); ++i) {
      EXPECT_EQ(0, std::memcmp(logits[0].data(), logits[i].data(), logits[0].size() * sizeof(float)));
      EXPECT_EQ(0, std::memcmp(grads[0].data(), grads[i].data(), grads[0].size() * sizeof(float)));
    }
  }
#else
  GTEST_SKIP() << "built without OpenMP";
#endif
}

// The per-parameter-state tables are cached: a change to any parameter must be seen by the next forward pass.
TEST(Transformer, TablesFollowEveryParameterChange) {
  const ModelSpec spec = small_spec(TransformerMlp::kRelu);
  const ParameterLayout layout = make_parameter_layout(spec);
  std::vector<float> params(layout.total);
  init_parameters(spec, layout, 4, params.data());
  const Batch batch = random_batch(spec, 25, 1);
  const auto n = static_cast<int64_t>(batch.pairs.size());
  for (const ParameterInfo& info : layout.parameters) {
    BatchActivations act;
    network_forward(spec, layout, params.data(), batch.pairs.data(), n, &act);
    const std::vector<float> before(act.logits.begin(), act.logits.begin() + n * spec.num_logits());
    std::vector<float> changed = params;
    changed[info.offset + info.size / 2] += 0.5f;
    network_forward(spec, layout, changed.data(), batch.pairs.data(), n, &act);
    const TorchParams w = to_torch(layout, changed);
    double worst = 0;
    for (int64_t e = 0; e < n; ++e) {
      const auto ref =
          reference_logits(spec, layout, w, batch.pairs[e] / spec.mod_basis, batch.pairs[e] % spec.mod_basis);
      for (int64_t c = 0; c < spec.num_logits(); ++c)
        worst = std::max(worst, std::fabs(ref[c] - act.logits[e * spec.num_logits() + c]));
    }
    EXPECT_LT(worst, 1e-5) << "after changing " << info.name;
    // The change reached the logits: a forward pass still on the old tables would have left them as they were.
    double moved = 0;
    for (size_t i = 0; i < before.size(); ++i)
      moved = std::max(moved, static_cast<double>(std::fabs(before[i] - act.logits[i])));
    EXPECT_GT(moved, 1e-4) << "changing " << info.name << " left the logits as they were";
  }
}

TEST(Transformer, LayoutHasThePapersNamesAndShapes) {
  ModelSpec spec = small_spec(TransformerMlp::kBilinear);
  const ParameterLayout layout = make_parameter_layout(spec);
  const std::vector<std::pair<std::string, std::vector<int64_t>>> expected = {{"embed.W_E", {8, 6}},
                                                                              {"pos_embed.W_pos", {3, 8}},
                                                                              {"blocks.0.attn.W_K", {2, 4, 8}},
                                                                              {"blocks.0.attn.W_Q", {2, 4, 8}},
                                                                              {"blocks.0.attn.W_V", {2, 4, 8}},
                                                                              {"blocks.0.attn.W_O", {8, 8}},
                                                                              {"blocks.0.mlp.W_in", {12, 8}},
                                                                              {"blocks.0.mlp.b_in", {12}},
                                                                              {"blocks.0.mlp.W_in2", {12, 8}},
                                                                              {"blocks.0.mlp.b_in2", {12}},
                                                                              {"blocks.0.mlp.W_out", {8, 12}},
                                                                              {"blocks.0.mlp.b_out", {8}},
                                                                              {"unembed.W_U", {8, 6}}};
  ASSERT_EQ(layout.parameters.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(layout.parameters[i].name, expected[i].first);
    EXPECT_EQ(layout.parameters[i].torch_shape, expected[i].second);
  }
  // randn / sqrt(fan): the embedding's sample standard deviation near 1/sqrt(d_model) at the paper's size.
  spec.mod_basis = 113;
  spec.d_model = 128;
  spec.d_mlp = 512;
  spec.num_heads = 4;
  const ParameterLayout big = make_parameter_layout(spec);
  std::vector<float> params(big.total);
  init_parameters(spec, big, 0, params.data());
  for (const char* name : {"embed.W_E", "blocks.0.mlp.W_in", "unembed.W_U", "blocks.0.mlp.b_in"}) {
    const ParameterInfo* info = big.find(name);
    double sum = 0, sq = 0;
    for (size_t i = 0; i < info->size; ++i)
      sum += params[info->offset + i], sq += params[info->offset + i] * params[info->offset + i];
    const double mean = sum / info->size, sd = std::sqrt(sq / info->size - mean * mean);
    const double want = std::string(name) == "unembed.W_U"         ? 1 / std::sqrt(114.0)
                        : std::string(name) == "blocks.0.mlp.b_in" ? 0.0
                                                                   : 1 / std::sqrt(128.0);
    EXPECT_NEAR(sd, want, 0.03 * want + 1e-12) << name;
    EXPECT_NEAR(mean, 0.0, 0.05 * want + 1e-12) << name;
  }
}

}  // namespace
}  // namespace bilmod
