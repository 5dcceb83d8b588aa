#include "common/error.h"

namespace qg {

Error::Error(std::string message, Context context)
    : std::runtime_error(compose(message, context)), message_(std::move(message)), context_(std::move(context)) {}

std::string Error::compose(const std::string& message, const Context& context) {
  std::string out;
  if (!context.file.empty()) out += context.file + ": ";
  if (!context.tensor.empty()) out += "tensor '" + context.tensor + "': ";
  out += message;
  if (!context.hint.empty()) out += " (hint: " + context.hint + ")";
  return out;
}

}  // namespace qg
