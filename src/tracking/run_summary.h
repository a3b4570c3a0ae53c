// What `bilmod runs` and the dashboard say about a run, read from its config row and its evaluation rows:
// the model, P, how far it got, where its accuracies ended, when (if ever) it generalised, how long it took.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tracking/trackio_store.h"

namespace bilmod {

// Validation accuracy counted as "generalised" (the grokking papers' threshold).
inline constexpr double kGeneralisedAccuracy = 0.99;

struct RunSummary {
  StoredRun run;
  std::string model;         // config "model"; "" when the config does not say (a trackio run of the seed: bilinear)
  int64_t mod_basis = -1;    // config "mod_basis"; -1 unknown
  std::string group;         // config "_Group"
  int64_t epochs_done = -1;  // the last evaluation's epoch; -1 without one
  int64_t epochs_planned = -1;
  double final_train_accuracy = -1, final_val_accuracy = -1;  // -1: never evaluated
  int64_t generalised_epoch = -1;                             // the first epoch with val/accuracy >= 0.99; -1 never
  double wall_seconds = 0;                                    // first to last row
};

Status summarise_runs(TrackioStore* store, std::vector<RunSummary>* summaries);
RunSummary summarise_run(const StoredRun& run, const std::vector<StoredRow>& epoch_rows);

}  // namespace bilmod
