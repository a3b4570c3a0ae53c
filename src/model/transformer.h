// Nanda et al.'s one-layer transformer (--model transformer): tokens (a, b, '='), no LayerNorm, attention then an
// MLP (ReLU, GELU or Pearce et al.'s bilinear layer), P + 1 logits at the last position. docs/MODELS.md "transformer".
//
// Parameters are stored exactly in PyTorch's order and shapes (no axis moved), under the paper's state-dict names.
//
// Only position 2 reaches the loss, and positions 0 and 1 matter only through their keys and values, which depend on
// one (position, token) each. So once per parameter state the model is tabulated (keys, scores against the one
// query, values through W_O, and those through W_in), and an example costs a softmax over three table scores, a mix
// of 3 x heads table rows, the MLP's output half and the unembedding. The backward folds the same way: per-row sums
// of the examples' gradients, then one product per table. The function is the paper's; sums are reassociated.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/model.h"
#include "model/model_spec.h"

namespace bilmod {

struct TransformerActivations;  // per batch, inside BatchActivations

// The tables of this parameter state (the model's prepare(): model/model.h), built on every thread. The caller holds
// them for as long as the parameters stay as they are.
std::shared_ptr<const PreparedParameters> transformer_tables(const ModelSpec& spec, const ParameterLayout& layout,
                                                             const float* params);

// Fills logits (n, P + 1) for pairs[0..n) from `tables` (transformer_tables of these params); act_logits has room for
// n * (P + 1).
void transformer_forward(const ModelSpec& spec, const ParameterLayout& layout, const float* params,
                         const std::shared_ptr<const PreparedParameters>& tables, const int64_t* pairs, int64_t n,
                         std::shared_ptr<TransformerActivations>* act, float* logits);

// Given dlogits (n, P + 1) (and the forward's activations), adds dL/dparams into grads.
void transformer_backward(const ModelSpec& spec, const ParameterLayout& layout, const float* params,
                          const int64_t* pairs, int64_t n, std::shared_ptr<TransformerActivations>* act,
                          const float* dlogits, float* grads);

// The attention of the '=' position over (a, b, '=') per head, for every pair: (P*P, heads, 3), pair-major.
std::vector<float> transformer_attention_pattern(const ModelSpec& spec, const ParameterLayout& layout,
                                                 const float* params);
// MLP pre-activations at the last position for every pair: (P*P, d_mlp) (W_in; the bilinear MLP's product h).
std::vector<float> transformer_neuron_activations(const ModelSpec& spec, const ParameterLayout& layout,
                                                  const float* params);

// d logit_c / d t_p for c < P and p = 0, 1 (t_p the token embedding at position p, before W_pos) for pairs[0..n):
// out (n, P, 2, d_model) (Model::token_gradients). Per pair, plainly: the forward of position 2 over the three tokens
// and the backward of all P logits together to the residual stream at positions 0 and 1, in double; not the tables.
void transformer_token_gradients(const ModelSpec& spec, const ParameterLayout& layout, const float* params,
                                 const int64_t* pairs, int64_t n, double* out);

}  // namespace bilmod
