// A model behind one interface: its parameters (PyTorch names, shapes, initialisation), its forward and backward over
// a batch of pairs, and what the engine around it may ask of it (llm.c's habit: each model's passes written out
// plainly in its own file). Code outside a model's file asks this interface, never the model's kind.
//
// Adding a model: one file model/<name>.cc defining a Model (and its kernels), a line in model/registry.cc, a ModelKind
// and its name in model_spec.h/.cc, its tests and docs (docs/ARCHITECTURE.md "Adding a model").
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/model_spec.h"

namespace bilmod {

struct BatchActivations;
struct ParameterViews;

// What a model computes once per parameter state (Model::prepare); each model's own derives from it.
struct PreparedParameters {
  virtual ~PreparedParameters() = default;
};

// A model's own activations of a batch (BatchActivations::own), kept from its forward for its backward.
struct ModelActivations {
  virtual ~ModelActivations() = default;
};

// The quadratic forms over the one-hot inputs through which a model's hidden units compute, which the analysis
// decomposes (analysis/interaction_form.h, docs/MODELS.md "Analysis"); kNone where the units are not such forms.
enum class QuadraticForm {
  kNone,
  kUnitMatrices,       // h_k = e_a^T W_k e_b: one P x P matrix per unit (bilinear)
  kSymmetricProducts,  // h_k = x^T (l_k r_k^T + r_k l_k^T)/2 x over x = [e_a; e_b] (factored)
  kSquares,            // h_k = [x;1]^T v_k v_k^T [x;1] (mlp --activation quad)
};

// A named non-parameter tensor of the PyTorch module's state dict (the paper's causal mask buffer).
struct ModelBuffer {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
};

// A setting only some models read (a RunConfig key, "d_model"), with its flag's help for this model; `bilmod train`
// registers the flag ("--d-model"; a setting that defaults to true as its negation, "--no-bias").
struct ModelFlag {
  std::string key;
  std::string help;
};

// How TransformerLens's HookedTransformer holds one of a model's parameters, under the same name: its tensor there,
// of `shape`, with its axes permuted by `axes` and reshaped to the parameter's PyTorch shape, is the parameter.
struct LensTensor {
  std::string parameter;
  std::vector<int64_t> shape;
  std::vector<int> axes;
};
// A model's form in TransformerLens's state dict: its parameters, and the biases TransformerLens has and the model
// has not (they must be zero to be this model).
struct LensLayout {
  std::vector<LensTensor> tensors;
  std::vector<std::string> zero_biases;
  std::vector<std::string> buffers;  // its constant buffers, which are not read
};

class Model {
 public:
  virtual ~Model() = default;

  // Its --model name ("bilinear").
  virtual const char* name() const = 0;
  // "bilinear model with P = 113, H = 100" (its variants named): for messages and reports.
  virtual std::string describe(const ModelSpec& spec) const = 0;
  // Logits per example: the P classes, or more (the transformer's '=').
  virtual int64_t num_logits(const ModelSpec& spec) const { return spec.mod_basis; }

  // Its parameters in PyTorch's registration order, appended to `layout` (model_spec.h's add_* helpers).
  virtual void add_parameters(const ModelSpec& spec, ParameterLayout* layout) const = 0;
  // Named views of a flat buffer laid out as its parameters (weights, gradients, optimiser state).
  virtual ParameterViews views(const ParameterLayout& layout, float* buffer) const;

  // Room in `act` for n examples (called by network_forward before each batch; a no-op once large enough).
  virtual void reserve(const ModelSpec& spec, int64_t n, BatchActivations* act) const = 0;
  // Fills act->logits (n, num_logits) for pairs[0..n), keeping what its backward needs in `act`; act->prepared holds
  // prepare()'s result for these parameters.
  virtual void forward(const ModelSpec& spec, const ParameterLayout& layout, const float* params, const int64_t* pairs,
                       int64_t n, BatchActivations* act) const = 0;
  // Given act->logits holding dL/dlogits, adds dL/dparams into grads.
  virtual void backward(const ModelSpec& spec, const ParameterLayout& layout, const float* params, const int64_t* pairs,
                        int64_t n, BatchActivations* act, float* grads) const = 0;
  // What its forward computes once per parameter state rather than per example (the transformer's tables), or null.
  // The caller holds it (model/network.h network_forward) and drops it when the parameters change.
  virtual std::shared_ptr<const PreparedParameters> prepare(const ModelSpec&, const ParameterLayout&,
                                                            const float*) const {
    return nullptr;
  }

  // The parameter whose rows a batch's pairs alone select (one row of `row_length` per row index), which an optimiser
  // may update lazily (optim/lazy_rows.h); null where every batch reads every parameter.
  struct SparseRows {
    const ParameterInfo* parameter = nullptr;
    int64_t rows = 0, row_length = 0;
  };
  virtual SparseRows sparse_rows(const ModelSpec&, const ParameterLayout&) const { return {}; }
  // The input weights whose columns are the one-hot embeddings of a and b (mean Fourier IPR of the inputs); none for
  // a model without such a matrix.
  virtual std::vector<const ParameterInfo*> input_embeddings(const ParameterLayout&) const { return {}; }
  // The token embedding W_E, (d_model, vocabulary) in PyTorch's order, whose columns the first P of which embed the
  // numbers (circularity, the token PCA); none for a model without tokens.
  virtual const ParameterInfo* token_embedding(const ParameterLayout&) const { return nullptr; }
  // The gradients of the logits with respect to the input tokens' embeddings (the gradient symmetricity,
  // train/gradient_symmetricity.cc): for each pair (a, b) of pairs[0..n) (index a * P + b), d logit_c / d t_p for
  // c = 0..P-1 and p = 0, 1, where t_p is the embedding of the token at input position p (a at 0, b at 1) before the
  // positional embedding is added, and logit_c is read where the model reads its logits. out is (n, P, 2, d_model):
  // out[((e * P + c) * 2 + p) * d_model + k], in double. False, writing nothing, for a model without token
  // embeddings; with n = 0 it only says whether it has them (params and out may then be null). `notebook_input`: the
  // input the Clock-and-Pizza notebook feeds whatever the model was trained on, the literal tokens [a, b] (no '=',
  // b unshifted), read at position 1; a model whose input is always its own ignores it.
  virtual bool token_gradients(const ModelSpec&, const ParameterLayout&, const float* /*params*/,
                               const int64_t* /*pairs*/, int64_t /*n*/, double* /*out*/,
                               bool /*notebook_input*/ = false) const {
    return false;
  }
  // The module's constant buffers, which its state dict (and so a checkpoint) holds beside the parameters.
  virtual std::vector<ModelBuffer> buffers(const ModelSpec&) const { return {}; }
  // Memory per example of a batch's activations and logits, in bytes (train/memory_estimate.h).
  virtual int64_t activation_bytes_per_pair(const ModelSpec& spec) const = 0;
  // What the analysis may ask of it: its hidden units' quadratic forms, whether it has attention (its patterns and
  // embedding measures: analysis/transformer_analysis.h), whether it takes --activation and a bias (the report's
  // fields), what its input weights are (the caption of their Fourier spectrum), and a note on how to read its
  // analysis.
  virtual QuadraticForm quadratic_form(const ModelSpec&) const { return QuadraticForm::kNone; }
  virtual bool has_attention() const { return false; }
  virtual bool has_activation() const { return true; }
  virtual bool has_bias(const ModelSpec& spec) const { return spec.bias; }
  virtual std::string input_weights(const ModelSpec& spec) const = 0;
  virtual std::string analysis_note(const ModelSpec& spec) const = 0;

  // Its own flags, beside those every model has (--mod-basis, --hidden-dim).
  virtual std::vector<ModelFlag> flags() const { return {}; }
  // The settings it takes beside P and H: the --activation values it accepts (empty: it takes none, and the
  // setting must keep its default), the --mlp values (likewise), whether it has bilinear's variants (--no-bias,
  // --no-output-projection), and the largest P it takes. config/run_config.cc validate() asks these.
  virtual std::vector<Activation> activations() const { return {}; }
  virtual std::vector<TransformerMlp> mlps() const { return {}; }
  virtual bool has_variants() const { return false; }
  virtual int64_t max_mod_basis() const { return 46340; }
  // The variants whose parameters a file's state dict may hold under these names, each as the spec it gives (bias,
  // output_projection; the other fields are the caller's), for checkpoint/torch_checkpoint.cc to recognise a PyTorch
  // state dict by its names. Empty for a model whose files are read otherwise (the transformer's).
  virtual std::vector<ModelSpec> saved_variants() const { return {}; }
  // P and H of a saved variant from its state dict's shapes (name -> PyTorch shape; every name of the variant is
  // there): false, with `error` naming the tensor, where the shapes cannot be the variant's. The sizes are the file's
  // claim, only checked to be at least 1 here; the caller bounds them.
  virtual bool saved_sizes(const ModelSpec&, const std::map<std::string, std::vector<int64_t>>&, int64_t* /*P*/,
                           int64_t* /*H*/, std::string* error) const {
    *error = "no saved form";
    return false;
  }
  // Its parameters as TransformerLens's state dict holds them (checkpoint/torch_checkpoint.cc reads such a file);
  // empty for a model TransformerLens does not have.
  virtual LensLayout transformer_lens_layout(const ModelSpec&) const { return {}; }
  // The activation of a saved variant whose config names none; `names_projection`: its config has
  // use_output_projection (the upstream's does, the seed's not). Sets `note` to what was assumed, for the user.
  virtual Activation unnamed_activation(const ModelSpec&, bool /*names_projection*/, std::string* note) const {
    *note = "the config names no activation: relu assumed";
    return Activation::kRelu;
  }

  // What a user should know before training it, printed as a warning when its run starts (and in train's help), or
  // empty.
  virtual std::string notice() const { return ""; }
};

// The registered model of spec.kind (model/registry.cc), and all of them in --model's order.
const Model& model_of(const ModelSpec& spec);
const std::vector<const Model*>& registered_models();

// model_of(spec).buffers(spec).
std::vector<ModelBuffer> model_buffers(const ModelSpec& spec);

}  // namespace bilmod
