#include "train/fourier_ipr.h"

#include <cmath>
#include <memory>

#include <Eigen/Dense>

#include "model/model.h"
#include "train/evaluate.h"
#include "train/measure.h"

namespace bilmod {

double inverse_participation_ratio(const std::vector<double>& energy) {
  double sum = 0, sum_sq = 0;
  for (const double e : energy) sum += e, sum_sq += e * e;
  return sum > 0 ? sum_sq / (sum * sum) : NAN;
}

namespace {

// The DFT of a real vector folded on a <-> P - a (cos is even, sin odd), which halves the products:
//   Re F_k = sum_{a=0..P/2} cos(2 pi k a / P) u_a,  u_0 = x_0, u_a = x_a + x_{P-a}, u_{P/2} = x_{P/2} (even P);
//   Im F_k = -sum_{0<a<P/2} sin(2 pi k a / P) v_a,  v_a = x_a - x_{P-a}   (the sign does not reach |F_k|^2).
// k = 0..floor(P/2); k*a is reduced mod P before the angle is formed.
struct DftTables {
  Eigen::MatrixXd cos, sin;  // (K+1, floor(P/2)+1), (K+1, (P-1)/2): column j of sin is a = j + 1
  int64_t P;
  explicit DftTables(int64_t p) : cos(p / 2 + 1, p / 2 + 1), sin(p / 2 + 1, (p - 1) / 2), P(p) {
    for (int64_t k = 0; k <= P / 2; ++k)
      for (int64_t a = 0; a <= P / 2; ++a) {
        const double angle = 2 * M_PI * static_cast<double>((k * a) % P) / static_cast<double>(P);
        cos(k, a) = std::cos(angle);
        if (a >= 1 && a <= (P - 1) / 2) sin(k, a - 1) = std::sin(angle);
      }
  }
};

// Energies (K+1, columns) from the folded columns u, v (see DftTables), into re, im and e (resized only when the shape
// changes, so a run's evaluations allocate nothing after the first).
void folded_energies(const DftTables& t, const Eigen::MatrixXd& u, const Eigen::MatrixXd& v, Eigen::MatrixXd* re,
                     Eigen::MatrixXd* im, Eigen::MatrixXd* e) {
  re->resize(t.cos.rows(), u.cols());
  im->resize(t.sin.rows(), v.cols());
  re->noalias() = t.cos * u;
  im->noalias() = t.sin * v;
  *e = re->cwiseAbs2() + im->cwiseAbs2();
  for (int64_t k = 1; k < (t.P + 1) / 2; ++k) e->row(k) *= 2;  // F_k and F_{P-k}
}

// Energies (K+1, columns) of the columns of x (P, columns).
Eigen::MatrixXd column_energies(const DftTables& t, const Eigen::MatrixXd& x, int64_t P) {
  const int64_t half = (P - 1) / 2;  // pairs a, P - a with 0 < a < P/2
  Eigen::MatrixXd u(P / 2 + 1, x.cols()), v(half, x.cols());
  u.row(0) = x.row(0);
  for (int64_t a = 1; a <= half; ++a) {
    u.row(a) = x.row(a) + x.row(P - a);
    v.row(a - 1) = x.row(a) - x.row(P - a);
  }
  if (P % 2 == 0) u.row(P / 2) = x.row(P / 2);
  Eigen::MatrixXd re, im, e;
  folded_energies(t, u, v, &re, &im, &e);
  return e;
}

// What one thread keeps between evaluations: the tables of the last P and the buffers of the last shape. Reusing them
// matters more than the arithmetic (about 5 MFLOP at P = 113, H = 100): fresh buffers of ~100 KB each came back from
// the kernel with every call, and page faults were most of the measure's time.
struct FourierWorkspace {
  std::unique_ptr<DftTables> tables;
  Eigen::MatrixXd u, v, re, im, e;
};

}  // namespace

std::vector<double> frequency_energies(const std::vector<double>& x) {
  const auto P = static_cast<int64_t>(x.size());
  const DftTables t(P);
  const Eigen::MatrixXd e = column_energies(t, Eigen::Map<const Eigen::VectorXd>(x.data(), P), P);
  return std::vector<double>(e.data(), e.data() + e.size());
}

double mean_input_fourier_ipr(const ModelSpec& spec, const ParameterLayout& layout, const float* params) {
  const int64_t P = spec.mod_basis, H = spec.hidden_dim;
  const std::vector<const ParameterInfo*> inputs = model_of(spec).input_embeddings(layout);
  if (inputs.empty()) return NAN;
  thread_local FourierWorkspace ws;
  if (!ws.tables || ws.tables->P != P) ws.tables = std::make_unique<DftTables>(P);
  const DftTables& t = *ws.tables;
  using Stored = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const int64_t half = (P - 1) / 2;
  ws.u.resize(P / 2 + 1, 2 * H);
  ws.v.resize(half, 2 * H);
  double sum = 0;
  int64_t count = 0;
  for (const ParameterInfo* info : inputs) {
    // Stored (2P, H): row a is every unit's weight on input a (model/model_spec.h), so each block is (P, H). Both
    // blocks side by side, (P, 2H), folded straight from the stored floats: one product for the matrix.
    const Eigen::Map<const Stored> w(params + info->offset, 2 * P, H);
    for (int64_t block = 0; block < 2; ++block) {
      const auto x = w.middleRows(block * P, P).cast<double>();
      auto u = ws.u.middleCols(block * H, H);
      auto v = ws.v.middleCols(block * H, H);
      u.row(0) = x.row(0);
      for (int64_t a = 1; a <= half; ++a) {
        u.row(a) = x.row(a) + x.row(P - a);
        v.row(a - 1) = x.row(a) - x.row(P - a);
      }
      if (P % 2 == 0) u.row(P / 2) = x.row(P / 2);
    }
    folded_energies(t, ws.u, ws.v, &ws.re, &ws.im, &ws.e);
    for (int64_t u = 0; u < 2 * H; ++u) {
      const double total = ws.e.col(u).sum();
      if (!(total > 0)) continue;
      sum += ws.e.col(u).squaredNorm() / (total * total);
      ++count;
    }
  }
  return count > 0 ? sum / static_cast<double>(count) : NAN;
}

namespace {

// fourier_ipr: where the model has input embeddings (factored, mlp); none for bilinear's lookup or the transformer.
class FourierIpr final : public Measure {
 public:
  const char* name() const override { return "fourier_ipr"; }
  bool applies(const ModelSpec& spec, const ParameterLayout& layout) const override {
    return !model_of(spec).input_embeddings(layout).empty();
  }
  void log(const MeasureInput& in, nlohmann::json* row) const override {
    // NaN when every unit's weights are zero: nothing to log.
    if (const double ipr = mean_input_fourier_ipr(in.spec, in.layout, in.params); !std::isnan(ipr))
      (*row)["fourier_ipr"] = ipr;
  }
};

}  // namespace

const Measure& fourier_ipr_measure() {  // train/measure_registry.cc
  static const FourierIpr measure;
  return measure;
}

}  // namespace bilmod
