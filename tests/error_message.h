#pragma once
// The message of the qg::Error a call throws, or "(no error)": for tests that check what an error says.
#include <functional>
#include <string>

#include "common/error.h"

namespace qg::test {

inline std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace qg::test
