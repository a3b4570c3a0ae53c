// What `bilmod analyze --hosvd` hands back of a flattened SVD (analysis/hosvd.h): the text and JSON reports of its
// singular values, the safetensors file of U, S and Vh (docs/FORMATS.md "Flattened SVD"), and the figure of its top
// components, Vh's rows reshaped n x n.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "analysis/hosvd.h"
#include "checkpoint/safetensors.h"
#include "plot/figure.h"

namespace bilmod {

// Components drawn beside the singular values in the figure.
constexpr int64_t kHosvdComponentPanels = 8;

struct HosvdReport {
  std::string checkpoint, source_format;  // as analyze reads them
  std::string model;                      // bilinear | factored | mlp
  int64_t mod_basis = 0;
  std::string tensor;  // which tensor T is, in docs/MODELS.md's notation
  FlattenedSvd svd;
  std::string output;                // the safetensors file written
  std::vector<std::string> figures;  // the files of the figure written
};

// The tensor T's name for this model, e.g. "bilinear.weight (H, P, P)".
std::string hosvd_tensor_name(const ModelWeights& w);

SafetensorsFile hosvd_tensors(const HosvdReport& report);
nlohmann::json to_json(const HosvdReport& report);
std::string format_hosvd(const HosvdReport& report);
Figure hosvd_figure(const HosvdReport& report, const ModelWeights& w);

}  // namespace bilmod
