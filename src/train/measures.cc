#include "train/measures.h"

#include <cmath>

#include <Eigen/Dense>

#include "train/evaluate.h"

namespace bilmod {

double inverse_participation_ratio(const std::vector<double>& energy) {
  double sum = 0, sum_sq = 0;
  for (const double e : energy) sum += e, sum_sq += e * e;
  return sum > 0 ? sum_sq / (sum * sum) : NAN;
}

namespace {

// (K+1, P) cos(2 pi k a / P) and sin(2 pi k a / P), k = 0..floor(P/2), with k*a reduced mod P first.
struct DftTables {
  Eigen::MatrixXd cos, sin;
  explicit DftTables(int64_t P) : cos(P / 2 + 1, P), sin(P / 2 + 1, P) {
    for (int64_t k = 0; k <= P / 2; ++k)
      for (int64_t a = 0; a < P; ++a) {
        const double angle = 2 * M_PI * static_cast<double>((k * a) % P) / static_cast<double>(P);
        cos(k, a) = std::cos(angle);
        sin(k, a) = std::sin(angle);
      }
  }
};

// Energies (K+1, columns) of the columns of x (P, columns).
Eigen::MatrixXd column_energies(const DftTables& t, const Eigen::MatrixXd& x, int64_t P) {
  const Eigen::MatrixXd re = t.cos * x, im = t.sin * x;
  Eigen::MatrixXd e = re.cwiseAbs2() + im.cwiseAbs2();
  for (int64_t k = 1; k < (P + 1) / 2; ++k) e.row(k) *= 2;  // F_k and F_{P-k}
  return e;
}

}  // namespace

std::vector<double> frequency_energies(const std::vector<double>& x) {
  const auto P = static_cast<int64_t>(x.size());
  const DftTables t(P);
  const Eigen::MatrixXd e = column_energies(t, Eigen::Map<const Eigen::VectorXd>(x.data(), P), P);
  return std::vector<double>(e.data(), e.data() + e.size());
}

double mean_input_fourier_ipr(const ModelSpec& spec, const ParameterLayout& layout, const float* params) {
  const int64_t P = spec.mod_basis, H = spec.hidden_dim;
  std::vector<const ParameterInfo*> inputs;
  for (const char* name : {"left.weight", "right.weight", "hidden.weight"})
    if (const ParameterInfo* info = layout.find(name); info && spec.kind != ModelKind::kBilinear) inputs.push_back(info);
  if (inputs.empty()) return NAN;
  const DftTables t(P);
  using Stored = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  double sum = 0;
  int64_t count = 0;
  for (const ParameterInfo* info : inputs) {
    // Stored (2P, H): row a is every unit's weight on input a (model/model_spec.h), so each block is (P, H).
    for (int64_t block = 0; block < 2; ++block) {
      const Eigen::Map<const Stored> w(params + info->offset + static_cast<size_t>(block * P * H), P, H);
      const Eigen::MatrixXd e = column_energies(t, w.cast<double>(), P);
      for (int64_t u = 0; u < H; ++u) {
        const double total = e.col(u).sum();
        if (!(total > 0)) continue;
        sum += e.col(u).squaredNorm() / (total * total);
        ++count;
      }
    }
  }
  return count > 0 ? sum / static_cast<double>(count) : NAN;
}

std::vector<std::pair<std::string, double>> weight_norms(const ParameterLayout& layout, const float* params) {
  std::vector<std::pair<std::string, double>> out;
  for (const ParameterInfo& info : layout.parameters)
    out.emplace_back("weight_norm/" + info.name, l2_norm(params + info.offset, info.size));
  return out;
}

}  // namespace bilmod
