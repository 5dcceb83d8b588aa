#pragma once
// qg::Error: the one exception for bad input. It names the file, the tensor (or request) and what was
// expected, so every command can print one clear line and exit with code 2.
#include <stdexcept>
#include <string>

namespace qg {

class Error : public std::runtime_error {
 public:
  struct Context {
    std::string file;    // path of the file being read, if any
    std::string tensor;  // tensor (or request) name, if any
    std::string hint;    // how to fix it, if we know
  };

  explicit Error(std::string message) : Error(std::move(message), Context{}) {}
  Error(std::string message, Context context);

  const std::string& message() const { return message_; }
  const std::string& file() const { return context_.file; }
  const std::string& tensor() const { return context_.tensor; }
  const std::string& hint() const { return context_.hint; }

 private:
  static std::string compose(const std::string& message, const Context& context);
  std::string message_;
  Context context_;
};

}  // namespace qg
