#include "analysis/transformer_analysis.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <numbers>

#include "analysis/fourier.h"
#include "model/transformer.h"
#include "util/format_number.h"

namespace bilmod {

namespace {

const float* param(const ParameterLayout& layout, const std::vector<float>& params, const char* name) {
  const ParameterInfo* info = layout.find(name);
  return info ? params.data() + info->offset : nullptr;
}

// The orthonormal Fourier basis of Z_P as rows: the constant, then cos k and sin k for k = 1..floor(P/2)
// (for even P, sin P/2 is zero and left out). index_of_cos[k], index_of_sin[k] (-1: absent).
struct OrthonormalBasis {
  RowMatrix rows;
  std::vector<int64_t> cos_row, sin_row;
  explicit OrthonormalBasis(int64_t P) {
    const int64_t K = frequency_count(P);
    std::vector<Eigen::VectorXd> waves = {Eigen::VectorXd::Constant(P, 1.0 / std::sqrt(static_cast<double>(P)))};
    cos_row.assign(static_cast<size_t>(K + 1), -1);
    sin_row.assign(static_cast<size_t>(K + 1), -1);
    for (int64_t k = 1; k <= K; ++k)
      for (int s = 0; s < 2; ++s) {
        Eigen::VectorXd w(P);
        for (int64_t x = 0; x < P; ++x) {
          const double angle = 2.0 * std::numbers::pi * static_cast<double>((k * x) % P) / static_cast<double>(P);
          w[x] = s == 0 ? std::cos(angle) : std::sin(angle);
        }
        if (w.norm() < 1e-9) continue;
        (s == 0 ? cos_row : sin_row)[static_cast<size_t>(k)] = static_cast<int64_t>(waves.size());
        waves.push_back(w / w.norm());
      }
    rows.resize(static_cast<Eigen::Index>(waves.size()), P);
    for (size_t i = 0; i < waves.size(); ++i) rows.row(static_cast<Eigen::Index>(i)) = waves[i].transpose();
  }
};

}  // namespace

RowMatrix token_embedding(const ModelSpec& spec, const ParameterLayout& layout, const std::vector<float>& params) {
  const int64_t P = spec.mod_basis, V = P + 1, d = spec.d_model;
  const float* W_E = param(layout, params, "embed.W_E");
  RowMatrix embed(d, P);
  for (int64_t k = 0; k < d; ++k)
    for (int64_t x = 0; x < P; ++x) embed(k, x) = W_E[k * V + x];
  return embed;
}

TransformerAnalysis analyze_transformer(const ModelSpec& spec, const ParameterLayout& layout,
                                        const std::vector<float>& params) {
  const int64_t P = spec.mod_basis, d = spec.d_model, M = spec.d_mlp, K = frequency_count(P);
  TransformerAnalysis t;
  // W_E's token columns (d, P) read as P-vectors, one per residual direction.
  const RowMatrix embed = token_embedding(spec, layout, params);
  const FourierBasis basis(P);
  const Eigen::VectorXd energy = basis.column_energies(embed.transpose());
  for (int64_t k = 0; k < K; ++k) t.embed_frequency_norms.push_back(std::sqrt(energy[k]));

  // Neurons: activations on every pair, centred, in the 2D Fourier basis; a frequency's terms are the 3 x 3 block of
  // {constant, cos k, sin k} x {constant, cos k, sin k} (the paper's extract_freq_2d), over k = 1..floor(P/2).
  const std::vector<float> acts = transformer_neuron_activations(spec, layout, params.data());
  const OrthonormalBasis B(P);
  t.neuron_frequency.assign(static_cast<size_t>(M), 0);
  t.neuron_share.assign(static_cast<size_t>(M), 0.0);
#pragma omp parallel for schedule(dynamic, 8)
  for (int64_t j = 0; j < M; ++j) {
    RowMatrix a(P, P);
    for (int64_t i = 0; i < P * P; ++i) a(i / P, i % P) = acts[static_cast<size_t>(i * M + j)];
    a.array() -= a.mean();
    const RowMatrix f = B.rows * a * B.rows.transpose();
    const double total = f.squaredNorm();
    if (!(total > 0)) continue;
    double best = -1;
    for (int64_t k = 1; k <= K; ++k) {
      const int64_t idx[3] = {0, B.cos_row[k], B.sin_row[k]};
      double s = 0;
      for (int64_t r : idx)
        for (int64_t c : idx)
          if (r >= 0 && c >= 0) s += f(r, c) * f(r, c);
      if (s > best) best = s, t.neuron_frequency[j] = k;
    }
    t.neuron_share[j] = best / total;
  }

  // Attention of '=' over (a, b, '='), averaged over every pair.
  const std::vector<float> attn = transformer_attention_pattern(spec, layout, params.data());
  t.attention.assign(static_cast<size_t>(spec.num_heads), {0, 0, 0});
  for (int64_t i = 0; i < P * P; ++i)
    for (int64_t h = 0; h < spec.num_heads; ++h)
      for (int p = 0; p < 3; ++p) t.attention[h][p] += attn[static_cast<size_t>((i * spec.num_heads + h) * 3 + p)];
  for (auto& row : t.attention)
    for (double& x : row) x /= static_cast<double>(P * P);

  if (spec.mlp == TransformerMlp::kBilinear) {
    const float *W_in = param(layout, params, "blocks.0.mlp.W_in"),
                *W_in2 = param(layout, params, "blocks.0.mlp.W_in2");
    for (int64_t j = 0; j < M; ++j) {
      Eigen::VectorXd u(d), v(d);
      for (int64_t k = 0; k < d; ++k) u[k] = W_in[j * d + k], v[k] = W_in2[j * d + k];
      BilinearNeuron n;
      const double nu = u.norm(), nv = v.norm(), uv = u.dot(v);
      n.eigenvalue_plus = (uv + nu * nv) / 2;
      n.eigenvalue_minus = (uv - nu * nv) / 2;
      if (nu > 0 && nv > 0) {
        for (int s = 0; s < 2; ++s) {
          const Eigen::VectorXd e = u / nu + (s == 0 ? 1.0 : -1.0) * v / nv;
          const DominantFrequency f = dominant_frequency(basis, embed.transpose() * e);
          (s == 0 ? n.frequency_plus : n.frequency_minus) = f.frequency;
          (s == 0 ? n.share_plus : n.share_minus) = f.share;
        }
      }
      t.bilinear.push_back(n);
    }
  }
  return t;
}

nlohmann::json to_json(const TransformerAnalysis& t) {
  nlohmann::json j;
  j["embed_frequency_norms"] = t.embed_frequency_norms;
  nlohmann::json neurons = nlohmann::json::array();
  for (size_t i = 0; i < t.neuron_frequency.size(); ++i)
    neurons.push_back({{"neuron", i}, {"frequency", t.neuron_frequency[i]}, {"share", t.neuron_share[i]}});
  j["neurons"] = neurons;
  nlohmann::json attention = nlohmann::json::array();
  for (const auto& a : t.attention) attention.push_back({{"a", a[0]}, {"b", a[1]}, {"equals", a[2]}});
  j["attention_of_equals"] = attention;
  if (!t.bilinear.empty()) {
    nlohmann::json b = nlohmann::json::array();
    for (const auto& n : t.bilinear)
      b.push_back({{"eigenvalues", {n.eigenvalue_plus, n.eigenvalue_minus}},
                   {"frequencies", {n.frequency_plus, n.frequency_minus}},
                   {"shares", {n.share_plus, n.share_minus}}});
    j["bilinear_neurons"] = b;
  }
  return j;
}

std::string format_transformer_analysis(const TransformerAnalysis& t) {
  std::string out = "\ntransformer: W_E's strongest frequencies (norm):";
  std::vector<std::pair<double, int64_t>> ranked;
  for (size_t k = 0; k < t.embed_frequency_norms.size(); ++k) ranked.push_back({t.embed_frequency_norms[k], k + 1});
  std::sort(ranked.rbegin(), ranked.rend());
  for (size_t i = 0; i < std::min<size_t>(6, ranked.size()); ++i)
    out += " " + std::to_string(ranked[i].second) + " (" + format_number("%.3g", ranked[i].first) + ")";
  // Neuron clusters: neurons whose best frequency explains at least half their variance, per frequency.
  std::map<int64_t, int> clusters;
  int clustered = 0;
  for (size_t i = 0; i < t.neuron_frequency.size(); ++i)
    if (t.neuron_share[i] >= 0.5) ++clusters[t.neuron_frequency[i]], ++clustered;
  out += "\nMLP neurons whose best frequency explains >= 50 % of their variance: " + std::to_string(clustered) +
         " of " + std::to_string(t.neuron_frequency.size()) + " (frequency: neurons)";
  for (auto [k, n] : clusters) out += " " + std::to_string(k) + ": " + std::to_string(n);
  out += "\nattention of '=' (mean over every pair), per head: ";
  for (size_t h = 0; h < t.attention.size(); ++h)
    out += (h ? "; " : "") + std::string("head ") + std::to_string(h) + " a " +
           format_number("%.2f", t.attention[h][0]) + " b " + format_number("%.2f", t.attention[h][1]) + " '=' " +
           format_number("%.2f", t.attention[h][2]);
  out += "\n";
  if (!t.bilinear.empty()) {
    std::map<int64_t, int> freq;
    for (const auto& n : t.bilinear) ++freq[n.frequency_plus];
    out +=
        "bilinear MLP: each neuron's interaction matrix over the residual stream, (W_in[j] W_in2[j]^T + "
        "transpose) / 2, has rank 2; its + eigenvector read on the tokens, by frequency (frequency: neurons):";
    for (auto [k, n] : freq) out += " " + std::to_string(k) + ": " + std::to_string(n);
    out += "\n  (every neuron's eigenvalues and frequencies are in --json)\n";
  }
  return out;
}

}  // namespace bilmod
