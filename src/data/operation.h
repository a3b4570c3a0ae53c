// The binary operations on Z_P that bilmod learns (docs/MODELS.md "Data"): c = op(a, b) mod P.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bilmod {

enum class Operation { kAdd, kSub, kMul, kDiv, kSquareSum, kQuadratic, kQuadraticPlusX, kCubicXy, kCubicXy2PlusY };

// The command-line spelling of every operation, in the order above.
const std::vector<std::string>& operation_names();
std::optional<Operation> parse_operation(const std::string& name);
std::string operation_name(Operation op);

// Whether (a, b) is in the table: `div` leaves out b = 0.
bool operation_defined(Operation op, int64_t b);
// op(a, b) mod P for 0 <= a, b < P; `div` needs P prime (a * b^(P-2) is then a / b).
int64_t apply_operation(Operation op, int64_t a, int64_t b, int64_t mod_basis);

bool is_prime(int64_t n);

}  // namespace bilmod
