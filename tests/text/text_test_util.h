#pragma once
// Shared helpers of the [text] tests.
#include <string>

#include "common/error.h"

namespace qg::test {

// The message of the qg::Error that fn() throws, or "<no error>" / "<other exception: ...>".
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const qg::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<other exception: ") + e.what() + ">";
  }
  return "<no error>";
}

inline bool contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

}  // namespace qg::test
