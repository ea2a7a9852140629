#include "coordinator/server/listen_address.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace align::coordinator {
namespace {

using ::testing::HasSubstr;

TEST(ListenAddressTest, ABarePortMeansThisMachineOnly) {
  EXPECT_EQ(*NormalizeListenAddress("--metrics-listen", "37085"), "127.0.0.1:37085");
  EXPECT_EQ(*NormalizeListenAddress("--listen", "0"), "127.0.0.1:0");
}

TEST(ListenAddressTest, HostAndPortAreKept) {
  EXPECT_EQ(*NormalizeListenAddress("--listen", "0.0.0.0:50051"), "0.0.0.0:50051");
  EXPECT_EQ(*NormalizeListenAddress("--listen", "coordinator.internal:50051"), "coordinator.internal:50051");
  EXPECT_EQ(*NormalizeListenAddress("--listen", "[::1]:50051"), "[::1]:50051");
}

TEST(ListenAddressTest, BadAddressesNameTheFlag) {
  for (const char* bad : {"", ":50051", "localhost", "host:port", "host:70000", "99999", "host:"}) {
    absl::StatusOr<std::string> address = NormalizeListenAddress("--metrics-listen", bad);
    ASSERT_FALSE(address.ok()) << bad;
    EXPECT_EQ(address.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(address.status().message()), HasSubstr("--metrics-listen")) << bad;
  }
  EXPECT_THAT(std::string(NormalizeListenAddress("--listen", ":50051").status().message()),
              HasSubstr("127.0.0.1:50051"));
}

}  // namespace
}  // namespace align::coordinator
