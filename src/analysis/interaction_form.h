// The quadratic forms a model's hidden units compute over the one-hot inputs (model/model.h QuadraticForm), as the
// analysis reads them: one file per form, so the interaction matrices, spectra, flattened SVD, memory estimates and
// figures ask the form, never the model's kind (docs/ARCHITECTURE.md "Adding a model").
//   bilinear_form.cc        W_k over (a, b), P x P, not symmetric
//   factored_form.cc        Q_k = (l_k r_k^T + r_k l_k^T)/2 over x = [e_a; e_b], 2P x 2P, rank 2
//   quadratic_mlp_form.cc   Q_k = v_k v_k^T over [x; 1], 2P+1 square, rank 1
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <Eigen/Dense>

#include "analysis/model_weights.h"

namespace bilmod {

struct SymmetricSpectrum {
  Eigen::VectorXd eigenvalues;   // (n,) sorted by |lambda|, largest first
  Eigen::MatrixXd eigenvectors;  // (n, n) column i belongs to eigenvalues[i], unit norm
};

class InteractionForm {
 public:
  virtual ~InteractionForm() = default;

  // The side of every matrix for modulus P.
  virtual int64_t side(int64_t mod_basis) const = 0;
  // Matrices over one input vector, its a and b blocks (and a bias entry) side by side, and symmetric; false: W_k over
  // (a, b), rows a and columns b, not symmetric (its spectra are of the symmetric part, its singular values its own).
  virtual bool over_blocks() const = 0;
  // Reads what its matrices need beyond U and the input embeddings (analysis/model_weights.cc fills those).
  virtual void read(const ParameterLayout& layout, const std::vector<float>& params, ModelWeights* w) const = 0;

  // Unit k's matrix, and sum_k u_k (unit k's matrix) for any weights u (H,).
  virtual RowMatrix unit_matrix(const ModelWeights& w, int64_t unit) const = 0;
  virtual RowMatrix weighted_matrix(const ModelWeights& w, const Eigen::Ref<const Eigen::VectorXd>& u) const = 0;
  // Unit k's spectrum: a closed form where the rank is known (only the nonzero eigenpairs), else the dense solve.
  virtual SymmetricSpectrum unit_spectrum(const ModelWeights& w, int64_t unit) const = 0;
  // Whether unit_spectrum solves a dense matrix (no closed form): the report then keeps four eigenvalues and the
  // singular values per unit, and the memory estimate counts a solve per thread.
  virtual bool dense_unit_spectra() const { return false; }

  // A low-rank factorisation of every weighted matrix, sum_k u_k Q_k = B S(u) B^T with B (side, rank): the rank for H
  // units (0: none), B, and R S(u) R^T for B = QR, whose eigenpairs are the nonzero ones (mapped back by Q).
  virtual int64_t factor_rank(int64_t) const { return 0; }
  virtual Eigen::MatrixXd factor(const ModelWeights&) const { return {}; }
  virtual Eigen::MatrixXd reduced(const Eigen::MatrixXd&, const Eigen::VectorXd&) const { return {}; }

  // G(i, j) = <unit i's matrix, unit j's> (Frobenius), H x H; and the bytes it holds beyond the H x H products.
  virtual Eigen::MatrixXd unit_gram(const ModelWeights& w) const = 0;
  virtual int64_t unit_gram_bytes(int64_t, int64_t) const { return 0; }

  // Text: the flattened tensor's name (analyze --hosvd), the axes of a matrix's heatmap, and the captions of the
  // unit grid, the unit spectra, a unit's eigenvectors (its rank, or "") and the class grid.
  virtual std::string tensor_name(const ModelSpec& spec) const = 0;
  virtual std::string x_axis() const = 0;
  virtual std::string y_axis() const = 0;
  virtual std::string unit_grid_caption() const = 0;
  virtual std::string unit_spectrum_caption() const = 0;
  virtual std::string unit_rank_note() const = 0;
  virtual std::string class_grid_caption() const = 0;
};

// The form of spec's model, or null where its units are not quadratic forms (mlp relu, the transformer).
const InteractionForm* interaction_form(const ModelSpec& spec);

// The forms' own files (analysis/<name>_form.cc).
const InteractionForm& bilinear_form();
const InteractionForm& factored_form();
const InteractionForm& quadratic_mlp_form();

// Shared by the forms: eigenpairs reordered by |lambda| (ties: the positive first), and the dense solve of (m + m^T)/2.
SymmetricSpectrum sorted_by_magnitude(const Eigen::VectorXd& values, const Eigen::MatrixXd& vectors);
SymmetricSpectrum symmetric_spectrum(const RowMatrix& m);

}  // namespace bilmod
