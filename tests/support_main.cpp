// Shared gtest main for every test binary: quiet logging unless PADDOCK_TEST_LOG is set.
#include <gtest/gtest.h>

#include <cstdlib>

#include "paddock/log/log.hpp"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const char* level = std::getenv("PADDOCK_TEST_LOG");
  paddock::log::init_for_tests(level != nullptr ? level : "off");
  return RUN_ALL_TESTS();
}
