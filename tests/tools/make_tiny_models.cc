// make_tiny_models: writes the tiny model folders of tests/support/tiny_models.h
// for shell tests: OUT/sdxl (samples and encodes), OUT/sd15 (one text encoder,
// no added conditioning) and OUT/pickscore (a CLIPModel reward folder).
//   make_tiny_models GOLDEN_DIR OUT_DIR

#include <iostream>
#include <string>

#include "absl/status/status.h"
#include "tests/support/tiny_models.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: make_tiny_models GOLDEN_DIR OUT_DIR\n";
    return 2;
  }
  const std::string golden = argv[1], out = argv[2];
  for (const absl::Status& status : {align::testing::WriteTinySdxlModel(golden, out + "/sdxl"),
                                     align::testing::WriteTinySd15Model(golden, out + "/sd15"),
                                     align::testing::WriteTinyClipRewardModel(golden, out + "/pickscore")}) {
    if (!status.ok()) {
      std::cerr << "make_tiny_models: " << status.message() << "\n";
      return 1;
    }
  }
  return 0;
}
