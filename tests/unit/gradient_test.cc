// Gradients of every model against central finite differences of an independent double-precision forward pass
// (ggml's test-backend-ops habit): the reference below is written from docs/MODELS.md on PyTorch-ordered parameters and
// shares no code with the kernels, so a wrong gather, scatter, transpose or derivative shows up here.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "model/cross_entropy.h"
#include "model/model_spec.h"
#include "model/network.h"

namespace bilmod {
namespace {

struct Batch {
  std::vector<int64_t> pairs;
  std::vector<int32_t> labels;
};

// Parameters in PyTorch order, by name, in double.
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

// Logits of one example, docs/MODELS.md's formulas in double. params[i] follows layout.parameters[i].
std::vector<double> reference_logits(const ModelSpec& spec, const TorchParams& w, int64_t a, int64_t b) {
  const int64_t P = spec.mod_basis, H = spec.hidden_dim;
  std::vector<double> h(H);
  const std::vector<double>* out_w;
  const std::vector<double>* out_b = nullptr;
  if (spec.kind == ModelKind::kBilinear) {  // z_k = W[k, a, b] + b_k ; h = relu(z)
    for (int64_t k = 0; k < H; ++k) h[k] = std::max(0.0, w[0][(k * P + a) * P + b] + w[1][k]);
    out_w = &w[2], out_b = &w[3];
  } else if (spec.kind == ModelKind::kFactored) {  // l = L[:, a] + L[:, P+b], r likewise, h = l * r
    for (int64_t k = 0; k < H; ++k) {
      const double l = w[0][k * 2 * P + a] + w[0][k * 2 * P + P + b];
      const double r = w[1][k * 2 * P + a] + w[1][k * 2 * P + P + b];
      h[k] = l * r;
    }
    out_w = &w[2];
  } else {  // z = W[:, a] + W[:, P+b] + bias ; relu or square
    for (int64_t k = 0; k < H; ++k) {
      const double z = w[0][k * 2 * P + a] + w[0][k * 2 * P + P + b] + w[1][k];
      h[k] = spec.activation == Activation::kRelu ? std::max(0.0, z) : z * z;
    }
    out_w = &w[2], out_b = &w[3];
  }
  std::vector<double> logits(P);
  for (int64_t c = 0; c < P; ++c) {
    double s = out_b ? (*out_b)[c] : 0.0;
    for (int64_t k = 0; k < H; ++k) s += (*out_w)[c * H + k] * h[k];
    logits[c] = s;
  }
  return logits;
}

double reference_loss(const ModelSpec& spec, const TorchParams& w, const Batch& batch) {
  double total = 0;
  for (size_t e = 0; e < batch.pairs.size(); ++e) {
    const auto logits = reference_logits(spec, w, batch.pairs[e] / spec.mod_basis, batch.pairs[e] % spec.mod_basis);
    double m = logits[0];
    for (double l : logits) m = std::max(m, l);
    double s = 0;
    for (double l : logits) s += std::exp(l - m);
    total += std::log(s) + m - logits[batch.labels[e]];
  }
  return total / static_cast<double>(batch.pairs.size());
}

void check_model(ModelSpec spec) {
  SCOPED_TRACE(model_kind_name(spec.kind) + "/" + activation_name(spec.activation));
  const ParameterLayout layout = make_parameter_layout(spec);
  std::vector<float> params(layout.total);
  init_parameters(spec, layout, 17, params.data());
  for (float& x : params) x *= 3.0f;  // larger than the init so that the loss is far from uniform
  std::mt19937_64 rng(5);
  Batch batch;
  for (int i = 0; i < 11; ++i) {
    const int64_t a = static_cast<int64_t>(rng() % spec.mod_basis), b = static_cast<int64_t>(rng() % spec.mod_basis);
    batch.pairs.push_back(a * spec.mod_basis + b);
    batch.labels.push_back(static_cast<int32_t>(rng() % spec.mod_basis));
  }
  const auto n = static_cast<int64_t>(batch.pairs.size());

  BatchActivations act;
  network_forward(spec, layout, params.data(), batch.pairs.data(), n, &act);
  const TorchParams w = to_torch(layout, params);
  double worst_logit = 0;
  for (int64_t e = 0; e < n; ++e) {
    const auto ref = reference_logits(spec, w, batch.pairs[e] / spec.mod_basis, batch.pairs[e] % spec.mod_basis);
    for (int64_t c = 0; c < spec.mod_basis; ++c)
      worst_logit = std::max(worst_logit, std::fabs(ref[c] - act.logits[e * spec.mod_basis + c]));
  }
  EXPECT_LT(worst_logit, 1e-5) << "forward logits differ from the double reference by " << worst_logit;

  std::vector<double> loss(n);
  cross_entropy(act.logits.data(), batch.labels.data(), n, spec.mod_basis, static_cast<float>(1.0 / n),
                act.logits.data(), loss.data(), nullptr);
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
        return (reference_loss(spec, plus, batch) - reference_loss(spec, minus, batch)) / (2 * h);
      };
      const double d1 = fd(1e-6), d2 = fd(1e-7);
      // A ReLU kink inside the stencil makes the two step sizes disagree: skip that point (ggml does the same).
      if (std::fabs(d1 - d2) > 1e-6 + 1e-4 * std::fabs(d1)) {
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
  std::printf("  %s: %d gradient entries checked, %d skipped at kinks, worst scaled error %.3g\n",
              model_kind_name(spec.kind).c_str(), checked, skipped, worst);
}

TEST(Gradient, BilinearMatchesFiniteDifferences) { check_model({ModelKind::kBilinear, 7, 5, Activation::kRelu}); }
TEST(Gradient, FactoredMatchesFiniteDifferences) { check_model({ModelKind::kFactored, 7, 5, Activation::kRelu}); }
TEST(Gradient, MlpReluMatchesFiniteDifferences) { check_model({ModelKind::kMlp, 7, 5, Activation::kRelu}); }
TEST(Gradient, MlpQuadMatchesFiniteDifferences) { check_model({ModelKind::kMlp, 7, 5, Activation::kQuad}); }

}  // namespace
}  // namespace bilmod
