// The table of models: --model's names in order, each defined in its own file (model/<name>.cc, model/model.h).
#include <optional>
#include <string>
#include <vector>

#include "model/model.h"
#include "model/network.h"

namespace bilmod {

const Model& bilinear_model();
const Model& factored_model();
const Model& mlp_model();
const Model& transformer_model();
const Model& clock_pizza_model();

namespace {
struct Entry {
  ModelKind kind;
  const Model& (*model)();
};
const Entry kModels[] = {
    {ModelKind::kBilinear, bilinear_model},
    {ModelKind::kFactored, factored_model},
    {ModelKind::kMlp, mlp_model},
    {ModelKind::kTransformer, transformer_model},
    {ModelKind::kClockPizza, clock_pizza_model},
};
}  // namespace

const Model& model_of(const ModelSpec& spec) {
  for (const Entry& e : kModels)
    if (e.kind == spec.kind) return e.model();
  return kModels[0].model();  // unreachable: every ModelKind is registered (tests/unit/model_registry_test.cc)
}

const std::vector<const Model*>& registered_models() {
  static const std::vector<const Model*> all = [] {
    std::vector<const Model*> v;
    for (const Entry& e : kModels) v.push_back(&e.model());
    return v;
  }();
  return all;
}

std::optional<ModelKind> parse_model_kind(const std::string& name) {
  for (const Entry& e : kModels)
    if (name == e.model().name()) return e.kind;
  return std::nullopt;
}

std::string model_kind_name(ModelKind kind) {
  for (const Entry& e : kModels)
    if (e.kind == kind) return e.model().name();
  return "?";
}

std::vector<ModelBuffer> model_buffers(const ModelSpec& spec) { return model_of(spec).buffers(spec); }

// The default: no named views (a model whose kernels use views of their own).
ParameterViews Model::views(const ParameterLayout&, float*) const { return {}; }

}  // namespace bilmod
