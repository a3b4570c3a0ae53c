#include "analysis/hosvd_output.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "analysis/interaction_form.h"
#include "analysis/matrix_figures.h"
#include "util/format_number.h"

namespace bilmod {

namespace {
std::string str(int64_t x) { return std::to_string(x); }

double share(const FlattenedSvd& svd, int64_t i) {
  return svd.frobenius_sq > 0 ? svd.s[i] * svd.s[i] / svd.frobenius_sq : 0;
}
}  // namespace

std::string hosvd_tensor_name(const ModelWeights& w) { return w.form->tensor_name(w.spec); }

SafetensorsFile hosvd_tensors(const HosvdReport& r) {
  const FlattenedSvd& svd = r.svd;
  const int64_t k = svd.s.size(), n2 = svd.side * svd.side;
  SafetensorsFile file;
  // float32, as the upstream's torch.save of the same three tensors; row-major, numpy's own order.
  std::vector<float> u(static_cast<size_t>(svd.d_out * k)), s(static_cast<size_t>(k)), vh(static_cast<size_t>(k * n2));
  for (int64_t i = 0; i < svd.d_out; ++i)
    for (int64_t j = 0; j < k; ++j) u[i * k + j] = static_cast<float>(svd.u(i, j));
  for (int64_t j = 0; j < k; ++j) s[j] = static_cast<float>(svd.s[j]);
  for (int64_t j = 0; j < k; ++j)
    for (int64_t x = 0; x < n2; ++x) vh[j * n2 + x] = static_cast<float>(svd.vh(j, x));
  file.put_f32("U", {svd.d_out, k}, u.data());
  file.put_f32("S", {k}, s.data());
  file.put_f32("Vh", {k, n2}, vh.data());
  file.metadata = {{"format", "bilmod-hosvd"},      {"version", "1"},
                   {"checkpoint", r.checkpoint},    {"model", r.model},
                   {"mod_basis", str(r.mod_basis)}, {"tensor", r.tensor},
                   {"d_out", str(svd.d_out)},       {"d_in_0", str(svd.side)},
                   {"d_in_1", str(svd.side)},       {"top_k", str(k)},
                   {"method", svd.method},          {"frobenius_sq", format_number("%.17g", svd.frobenius_sq)}};
  return file;
}

nlohmann::json to_json(const HosvdReport& r) {
  const FlattenedSvd& svd = r.svd;
  nlohmann::json j;
  j["checkpoint"] = r.checkpoint;
  j["source_format"] = r.source_format;
  j["model"] = r.model;
  j["mod_basis"] = r.mod_basis;
  j["tensor"] = r.tensor;
  j["shape"] = {{"d_out", svd.d_out}, {"d_in_0", svd.side}, {"d_in_1", svd.side}};
  j["method"] = svd.method;
  j["top_k"] = svd.s.size();
  std::vector<double> values(svd.s.data(), svd.s.data() + svd.s.size()), shares;
  for (Eigen::Index i = 0; i < svd.s.size(); ++i) shares.push_back(share(svd, i));
  j["singular_values"] = values;
  j["energy_shares"] = shares;  // s_i^2 / ||T||_F^2
  j["frobenius_sq"] = svd.frobenius_sq;
  j["output"] = r.output;
  j["figures"] = r.figures;
  return j;
}

std::string format_hosvd(const HosvdReport& r) {
  const FlattenedSvd& svd = r.svd;
  std::string out;
  out += "checkpoint   " + r.checkpoint + " (" + r.source_format + ")\n";
  out += "model        " + r.model + ", P = " + str(r.mod_basis) + "\n";
  out += "tensor       " + r.tensor + " = (" + str(svd.d_out) + ", " + str(svd.side) + ", " + str(svd.side) +
         "), flattened to (" + str(svd.d_out) + ", " + str(svd.side * svd.side) + ")\n";
  out += "method       " +
         std::string(svd.method == "gram"
                         ? "eigendecomposition of the " + str(svd.d_out) + " x " + str(svd.d_out) + " Gram matrix T T^T"
                         : "BDCSVD of the flattened matrix") +
         "\n";
  out += "top " + str(svd.s.size()) + " singular values (share of ||T||_F^2, cumulative):\n";
  double cumulative = 0;
  for (Eigen::Index i = 0; i < svd.s.size(); ++i) {
    cumulative += share(svd, i);
    out += "  " + format_number("%3.0f", static_cast<double>(i + 1)) + "  " + format_number("%12.6g", svd.s[i]) + "  " +
           format_number("%6.2f %%", 100 * share(svd, i)) + "  " + format_number("%6.2f %%", 100 * cumulative) + "\n";
  }
  return out;
}

Figure hosvd_figure(const HosvdReport& r, const ModelWeights& w) {
  const FlattenedSvd& svd = r.svd;
  const int64_t k = svd.s.size(), shown = std::min<int64_t>(k, kHosvdComponentPanels);
  Figure f;
  f.name = "hosvd_components";
  f.title = "Flattened SVD of " + r.model + "'s " + plain_text(r.tensor) + ", P = " + str(r.mod_basis);
  f.columns = 3;
  const int rows = static_cast<int>((shown + 1 + f.columns - 1) / f.columns);
  f.width = 470 * f.columns + 40;
  f.height = 430 * rows + 70;
  f.font_size = 10;
  Panel values;
  values.title = "top " + str(k) + " singular values";
  values.x.label = "component i";
  values.y.label = "{/Symbol s}_i";
  values.legend = false;
  Series bars;
  bars.style = SeriesStyle::kBars;
  bars.color = "#4c72b0";
  for (int64_t i = 0; i < k; ++i) bars.x.push_back(static_cast<double>(i + 1)), bars.y.push_back(svd.s[i]);
  values.series.push_back(bars);
  values.x.min = 0, values.x.max = static_cast<double>(k) + 1;
  values.y.min = 0;
  f.panels.push_back(values);
  for (int64_t i = 0; i < shown; ++i) {
    Panel p;
    p.title = "Vh[" + str(i) + "]: {/Symbol s} = " + format_number("%.4g", svd.s[i]) + " (" +
              format_number("%.1f", 100 * share(svd, i)) + " %)";
    const RowMatrix m = Eigen::Map<const RowMatrix>(svd.vh.row(i).data(), svd.side, svd.side);
    p.heatmap = heatmap_of(m, r.mod_basis);
    label_matrix_axes(&p, w);
    f.panels.push_back(p);
  }
  f.caption =
      "The flattened SVD of T = " + r.tensor + " reshaped to (d_out, n^2) = (" + str(svd.d_out) + ", " +
      str(svd.side * svd.side) + "), as the upstream's eigendecompose computes it: T = U S Vh. First panel: the top " +
      str(k) + " singular values; then the top " + str(shown) + " right singular vectors Vh[i] reshaped " +
      str(svd.side) + " x " + str(svd.side) +
      " (unit norm), each the input interaction matrix that output direction U[:, i] reads, titled with its share of "
      "||T||_F^2. Signs are fixed so that U[:, i]'s largest entry is positive. U, S and Vh are in " +
      r.output + "." + downsampling_note(svd.side);
  return f;
}

}  // namespace bilmod
