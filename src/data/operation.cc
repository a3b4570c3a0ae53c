#include "data/operation.h"

namespace bilmod {

namespace {
// Exponentiation by squaring; P < 2^31 so every product fits in 64 bits.
int64_t power_mod(int64_t base, int64_t exponent, int64_t mod_basis) {
  int64_t result = 1 % mod_basis;
  base %= mod_basis;
  while (exponent > 0) {
    if (exponent & 1) result = result * base % mod_basis;
    base = base * base % mod_basis;
    exponent >>= 1;
  }
  return result;
}
}  // namespace

const std::vector<std::string>& operation_names() {
  static const std::vector<std::string> names = {"add",      "sub",        "mul",   "div",     "x2+y2",
                                                 "x2+xy+y2", "x2+xy+y2+x", "x3+xy", "x3+xy2+y"};
  return names;
}

std::optional<Operation> parse_operation(const std::string& name) {
  const auto& names = operation_names();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<Operation>(i);
  return std::nullopt;
}

std::string operation_name(Operation op) { return operation_names()[static_cast<size_t>(op)]; }

bool operation_defined(Operation op, int64_t b) { return op != Operation::kDiv || b != 0; }

int64_t apply_operation(Operation op, int64_t a, int64_t b, int64_t p) {
  const auto m = [p](int64_t x) { return ((x % p) + p) % p; };
  switch (op) {
    case Operation::kAdd:
      return m(a + b);
    case Operation::kSub:
      return m(a - b);
    case Operation::kMul:
      return m(a * b);
    case Operation::kDiv:
      return m(a * power_mod(b, p - 2, p));
    case Operation::kSquareSum:
      return m(a * a + b * b);
    case Operation::kQuadratic:
      return m(a * a + a * b + b * b);
    case Operation::kQuadraticPlusX:
      return m(a * a + a * b + b * b + a);
    case Operation::kCubicXy:
      return m(m(a * a) * a + a * b);
    case Operation::kCubicXy2PlusY:
      return m(m(a * a) * a + m(a * b) * b + b);
  }
  return 0;
}

bool is_prime(int64_t n) {
  if (n < 2) return false;
  for (int64_t d = 2; d * d <= n; ++d)
    if (n % d == 0) return false;
  return true;
}

}  // namespace bilmod
