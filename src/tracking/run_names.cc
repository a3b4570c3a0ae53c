#include "tracking/run_names.h"

#include <iterator>
#include <random>

namespace bilmod {

namespace {
// Short, friendly, unambiguous words, in the spirit of trackio's own lists.
const char* const kAdjectives[] = {
    "amber",  "bold",   "brave",  "breezy", "bright",  "calm",   "clever", "cosmic", "crisp", "daring", "dainty",
    "eager",  "gentle", "glad",   "golden", "happy",   "honest", "jolly",  "keen",   "kind",  "lively", "lucky",
    "merry",  "misty",  "modest", "noble",  "patient", "proud",  "quick",  "quiet",  "rapid", "robust", "shy",
    "silent", "steady", "sunny",  "swift",  "tidy",    "vivid",  "warm",   "wise",   "witty", "zesty"};
const char* const kNouns[] = {"acorn", "badger", "bay",   "birch", "brook", "canyon", "cedar",  "cliff",   "cloud",
                              "comet", "coral",  "crane", "dune",  "eagle", "fern",   "field",  "finch",   "fox",
                              "glade", "grove",  "hare",  "heron", "hill",  "island", "lake",   "leaf",    "lynx",
                              "marsh", "meadow", "moth",  "oak",   "ocean", "otter",  "owl",    "peak",    "pebble",
                              "pine",  "pond",   "reef",  "ridge", "river", "robin",  "sky",    "sparrow", "star",
                              "stone", "sunset", "swan",  "tide",  "trail", "valley", "willow", "wolf",    "wren"};
}  // namespace

std::string new_run_name(const std::set<std::string>& names_in_project) {
  std::random_device device;
  std::mt19937_64 rng((static_cast<uint64_t>(device()) << 32) ^ device());
  std::uniform_int_distribution<size_t> adjective(0, std::size(kAdjectives) - 1), noun(0, std::size(kNouns) - 1);
  for (size_t number = names_in_project.size() + 1;; ++number) {
    // A few draws per number: with ~2,400 word pairs a clash is rare, and moving to the next number ends it.
    for (int draw = 0; draw < 16; ++draw) {
      std::string name =
          std::string(kAdjectives[adjective(rng)]) + "-" + kNouns[noun(rng)] + "-" + std::to_string(number);
      if (!names_in_project.count(name)) return name;
    }
  }
}

}  // namespace bilmod
