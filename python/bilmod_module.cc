// `import bilmod`: the engine's checkpoint readers, forward pass and interaction matrices for Python, returning numpy
// arrays (README "From Python"). Every function here calls what the command line calls; none computes anything of
// its own. A Status that is not ok becomes ValueError with the same one line the command line prints.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "analysis/analysis_input.h"
#include "analysis/interaction_matrices.h"
#include "analysis/model_weights.h"
#include "config/run_config.h"
#include "model/logit_blocks.h"
#include "model/model.h"
#include "util/status.h"

namespace py = pybind11;

namespace bilmod {
namespace {

void raise_if_failed(const Status& status) {
  if (!status) throw py::value_error(status.message());
}

// nlohmann::json to Python through its text: configs and metrics are small, and this keeps one JSON writer.
py::object to_python(const nlohmann::json& value) { return py::module_::import("json").attr("loads")(value.dump()); }

// A loaded checkpoint, shared by every Checkpoint and Model made from it and kept alive by the arrays that view it.
using SharedInput = std::shared_ptr<const AnalysisInput>;

py::capsule keep_alive(const SharedInput& input) {
  return py::capsule(new SharedInput(input), [](void* p) { delete static_cast<SharedInput*>(p); });
}

// A read-only numpy view of the state's memory: writing through it would leave the weights, which are copies
// (torch_order_arrays), out of step with the biases.
template <class T>
py::array read_only_view(const T* data, std::vector<py::ssize_t> shape, const SharedInput& owner) {
  py::array view(py::dtype::of<T>(), std::move(shape), {}, data, keep_alive(owner));
  py::detail::array_proxy(view.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return view;
}

// name -> array in PyTorch's shape, for the parameters or one optimiser buffer laid out like them (`values`, of
// layout.total floats). A parameter bilmod stores as PyTorch does (biases, the transformer's tensors) is a view; a
// weight matrix stored with its output axis last (model/model_spec.h) is copied into PyTorch's order.
py::dict torch_order_arrays(const SharedInput& input, const std::vector<float>& values) {
  py::dict out;
  for (const ParameterInfo& info : input->state.layout().parameters) {
    std::vector<py::ssize_t> shape(info.torch_shape.begin(), info.torch_shape.end());
    if (!info.output_axis_last) {
      out[py::str(info.name)] = read_only_view(values.data() + info.offset, shape, input);
      continue;
    }
    py::array_t<float> copy(shape);
    to_torch_order(info, values.data() + info.offset, copy.mutable_data());
    out[py::str(info.name)] = std::move(copy);
  }
  return out;
}

SharedInput load_input(const std::string& path) {
  auto input = std::make_shared<AnalysisInput>();
  Status status;
  {
    py::gil_scoped_release release;
    status = load_analysis_input(path, input.get());
  }
  raise_if_failed(status);
  return input;
}

std::string path_of(const py::object& path) { return py::str(py::module_::import("os").attr("fspath")(path)); }

class Checkpoint {
 public:
  explicit Checkpoint(SharedInput input) : input_(std::move(input)) {}

  const SharedInput& input() const { return input_; }
  const TrainingState& state() const { return input_->state; }

  // Made once, on first use: the weight matrices' copies are then shared by every read of .params.
  py::object params() {
    if (!params_) params_ = torch_order_arrays(input_, state().params);
    return params_;
  }

  // The module's constant buffers (the transformer's attention mask), which a state dict holds beside the
  // parameters: copies of what the model defines.
  py::dict buffers() const {
    py::dict out;
    for (const ModelBuffer& buffer : model_buffers(state().spec())) {
      py::array_t<float> copy(std::vector<py::ssize_t>(buffer.shape.begin(), buffer.shape.end()));
      std::copy(buffer.values.begin(), buffer.values.end(), copy.mutable_data());
      out[py::str(buffer.name)] = std::move(copy);
    }
    return out;
  }

  py::object optimizer_state() {
    const OptimizerState& opt = state().optimizer;
    if (opt.exp_avg.empty() && opt.momentum_buffer.empty()) return py::none();
    py::dict out;
    out["step"] = opt.step;
    if (!opt.exp_avg.empty()) out["exp_avg"] = torch_order_arrays(input_, opt.exp_avg);
    if (!opt.exp_avg_sq.empty()) out["exp_avg_sq"] = torch_order_arrays(input_, opt.exp_avg_sq);
    if (!opt.momentum_buffer.empty()) out["momentum_buffer"] = torch_order_arrays(input_, opt.momentum_buffer);
    return out;
  }

  // (train, validation) pair indices a * P + b, in split order; None where a torch.save file holds no split.
  py::object split() const {
    if (!input_->split_known) return py::none();
    const Dataset& d = state().data;
    return py::make_tuple(
        read_only_view(d.train_indices.data(), {static_cast<py::ssize_t>(d.train_indices.size())}, input_),
        read_only_view(d.val_indices.data(), {static_cast<py::ssize_t>(d.val_indices.size())}, input_));
  }

  py::object metrics() const { return state().metrics.empty() ? py::object(py::none()) : to_python(state().metrics); }

 private:
  SharedInput input_;
  py::object params_;  // null until params() is first called
};

class LoadedModel {
 public:
  explicit LoadedModel(SharedInput input) : input_(std::move(input)) {}

  const TrainingState& state() const { return input_->state; }

  // logits (n, num_logits) of the pairs (a[i], b[i]), through the same blocked forward pass as `bilmod evaluate`.
  py::array_t<float> forward(const py::object& a_in, const py::object& b_in) const {
    const auto a = integers(a_in, "a"), b = integers(b_in, "b");
    if (a.ndim() != 1 || b.ndim() != 1 || a.size() != b.size())
      throw py::value_error("a and b must be 1-D arrays of the same length (got shapes " + shape_text(a) + " and " +
                            shape_text(b) + ")");
    const int64_t P = state().spec().mod_basis;
    const int64_t n = a.size();
    std::vector<int64_t> pairs(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const int64_t x = a.data()[i], y = b.data()[i];
      if (x < 0 || x >= P || y < 0 || y >= P)
        throw py::value_error("pair " + std::to_string(i) + " is (" + std::to_string(x) + ", " + std::to_string(y) +
                              "): a and b must lie in 0.." + std::to_string(P - 1) + " (P = " + std::to_string(P) +
                              ")");
      pairs[static_cast<size_t>(i)] = x * P + y;
    }
    const int64_t columns = state().spec().num_logits();
    py::array_t<float> logits({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(columns)});
    float* out = logits.mutable_data();
    {
      py::gil_scoped_release release;
      for_each_logit_block(
          state().spec(), state().layout(), state().params, pairs,
          [&](int64_t first, int64_t count, const float* block) {
        std::copy(block, block + count * columns, out + first * columns);
          },
          LogitColumns::kAll);
    }
    return logits;
  }

  // Every hidden unit's interaction matrix, as `bilmod analyze` computes them (analysis/interaction_matrices.h):
  // (H, P, P) for bilinear (W_k, rows a, columns b), (H, 2P, 2P) for factored, (H, 2P+1, 2P+1) for mlp quad.
  py::array_t<double> interaction_matrices() const {
    const ModelSpec& spec = state().spec();
    if (!has_interaction_matrices(spec))
      throw py::value_error(describe_model(spec) +
                            " has no interaction matrices: its hidden units are not quadratic forms of the inputs "
                            "(bilinear, factored and mlp --activation quad have them)");
    py::array_t<double> out;
    {
      py::gil_scoped_release release;
      const ModelWeights w = model_weights(spec, state().layout(), state().params);
      const int64_t side = interaction_matrix_size(w);
      {
        py::gil_scoped_acquire acquire;
        out = py::array_t<double>({static_cast<py::ssize_t>(spec.hidden_dim), static_cast<py::ssize_t>(side),
                                   static_cast<py::ssize_t>(side)});
      }
      double* data = out.mutable_data();
      for (int64_t k = 0; k < spec.hidden_dim; ++k) {
        const RowMatrix m = unit_interaction_matrix(w, k);
        std::copy(m.data(), m.data() + side * side, data + k * side * side);
      }
    }
    return out;
  }

 private:
  // Integer arrays (or lists) as int64; a float array is refused rather than truncated.
  static py::array_t<int64_t, py::array::c_style | py::array::forcecast> integers(const py::object& in,
                                                                                  const char* name) {
    const py::array x = py::array::ensure(in);
    if (!x) throw py::type_error(std::string(name) + " must be an array of integers");
    const char kind = x.dtype().kind();
    if (kind != 'i' && kind != 'u')
      throw py::type_error(std::string(name) + " must hold integers (got dtype " +
                           py::str(x.dtype()).cast<std::string>() + ")");
    return py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(x);
  }

  static std::string shape_text(const py::array& x) {
    std::string s = "(";
    for (py::ssize_t i = 0; i < x.ndim(); ++i) s += (i ? ", " : "") + std::to_string(x.shape(i));
    return s + (x.ndim() == 1 ? ",)" : ")");
  }

  SharedInput input_;
};

void describe_spec(py::dict& out, const TrainingState& state) {
  const ModelSpec& spec = state.spec();
  out["model"] = model_kind_name(spec.kind);
  out["mod_basis"] = spec.mod_basis;
  out["hidden_dim"] = spec.hidden_dim;
  out["num_logits"] = spec.num_logits();
}

}  // namespace
}  // namespace bilmod

PYBIND11_MODULE(bilmod, m) {
  using namespace bilmod;
  m.doc() = "bilmod's engine from Python: load checkpoints, run models, read their interaction matrices";
  m.attr("__version__") = BILMOD_VERSION;
  py::module_::import("numpy");  // every result is a numpy array: say at import, not at first use, if it is missing

  py::class_<Checkpoint, std::shared_ptr<Checkpoint>>(m, "Checkpoint",
                                                      "A checkpoint as bilmod reads it: bilmod.load(path)")
      .def_property_readonly("params", &Checkpoint::params,
                             "dict name -> numpy float32 array in PyTorch's shape (the state dict's names); "
                             "weight matrices are copies in PyTorch's order, other parameters read-only views")
      .def_property_readonly("buffers", &Checkpoint::buffers,
                             "dict name -> the module's constant buffers (the transformer's blocks.0.attn.mask)")
      .def(
          "state_dict",
          [](Checkpoint& c) {
    py::dict out;
    for (auto item : py::dict(c.params())) out[item.first] = item.second;
    for (auto item : c.buffers()) out[item.first] = item.second;
    return out;
          },
          "params and buffers: what the PyTorch module's load_state_dict(strict=True) takes, as numpy arrays")
      .def_property_readonly(
          "config", [](const Checkpoint& c) { return to_python(to_json(c.state().config())); },
          "the run's settings (RunConfig) as a dict, the checkpoint's config JSON")
      .def_property_readonly("epoch", [](const Checkpoint& c) { return c.state().epoch; })
      .def_property_readonly("step", [](const Checkpoint& c) { return c.state().step; })
      .def_property_readonly("split", &Checkpoint::split,
                             "(train, validation) int64 arrays of pair indices a * P + b in split order, or None")
      .def_property_readonly("metrics", &Checkpoint::metrics, "the last evaluation's metrics as a dict, or None")
      .def_property_readonly("optimizer_state", &Checkpoint::optimizer_state,
                             "dict with step and exp_avg / exp_avg_sq (AdamW) or momentum_buffer (SGD), each "
                             "name -> array like params; None where the file holds no optimiser state")
      .def_property_readonly("path", [](const Checkpoint& c) { return c.input()->path; })
      .def_property_readonly(
          "format", [](const Checkpoint& c) { return c.input()->format; }, "'safetensors' or 'torch.save'")
      .def_property_readonly(
          "notes", [](const Checkpoint& c) { return c.input()->notes; },
          "what the reader had to assume (torch.save files)")
      .def_property_readonly(
          "spec",
          [](const Checkpoint& c) {
    py::dict d;
    describe_spec(d, c.state());
    return d;
          })
      .def("__repr__", [](const Checkpoint& c) {
        return "<bilmod.Checkpoint " + c.input()->path + ": " + describe_model(c.state().spec()) + ", epoch " +
               std::to_string(c.state().epoch) + ">";
      });

  m.def(
      "load", [](const py::object& path) { return std::make_shared<Checkpoint>(load_input(path_of(path))); },
      py::arg("path"),
      "Reads a checkpoint as the command line does: bilmod's safetensors or a torch.save .pt file, or a folder's "
      "latest. Raises ValueError with the command line's message when the file cannot be read.");

  py::class_<LoadedModel>(m, "Model", "A model and its parameters: bilmod.Model(checkpoint or path)")
      .def(py::init([](const py::object& source) {
             if (py::isinstance<Checkpoint>(source)) return LoadedModel(source.cast<const Checkpoint&>().input());
             return LoadedModel(load_input(path_of(source)));
           }),
           py::arg("checkpoint"))
      .def("__call__", &LoadedModel::forward, py::arg("a"), py::arg("b"),
           "logits (n, num_logits) float32 of the pairs (a[i], b[i]), integer arrays of length n")
      .def("get_interaction_matrices", &LoadedModel::interaction_matrices,
           "(H, P, P) for bilinear (the seed's name and shape: W[k] over (a, b)); (H, 2P, 2P) for factored "
           "((l_k r_k^T + r_k l_k^T) / 2 over [e_a; e_b]); (H, 2P+1, 2P+1) for mlp --activation quad (v_k v_k^T "
           "over [e_a; e_b; 1]); float64, as bilmod analyze computes them. ValueError for other models.")
      .def_property_readonly(
          "spec",
          [](const LoadedModel& model) {
    py::dict d;
    describe_spec(d, model.state());
    return d;
          })
      .def("__repr__",
           [](const LoadedModel& model) { return "<bilmod.Model " + describe_model(model.state().spec()) + ">"; });
}
