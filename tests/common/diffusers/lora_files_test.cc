// Where an adapter's files are (diffusers' and peft's folder layouts, or the
// file itself), and the spec check that opens the weights' header.

#include "common/diffusers/lora_files.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/safetensors/writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace align::diffusers {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

void WriteAdapter(const std::string& path) {
  const std::vector<float> values(8, 0.5F);
  safetensors::Writer writer;
  ASSERT_TRUE(writer.Add("unet.mid.to_q.lora.down.weight", safetensors::DType::kF32, {2, 4}, values.data(),
                         values.size() * sizeof(float)).ok());
  ASSERT_TRUE(writer.WriteFile(path).ok());
}

TEST(LoraFilesTest, DiffusersFolderPeftFolderOrTheFile) {
  align::testing::TempDir dir("lora_files_test");
  const fs::path diffusers_dir = fs::path(dir.path()) / "checkpoint-8";
  const fs::path peft_dir = fs::path(dir.path()) / "peft";
  fs::create_directories(diffusers_dir);
  fs::create_directories(peft_dir);
  WriteAdapter((diffusers_dir / kLoraWeightsFile).string());
  WriteAdapter((peft_dir / kPeftWeightsFile).string());

  absl::StatusOr<LoraFiles> files = FindLoraFiles(diffusers_dir.string());
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(files->weights, (diffusers_dir / kLoraWeightsFile).string());
  EXPECT_EQ(files->peft_config, "");

  files = FindLoraFiles(peft_dir.string());
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(files->weights, (peft_dir / kPeftWeightsFile).string());
  EXPECT_EQ(files->peft_config, "");  // none written yet
  std::ofstream((peft_dir / kPeftConfigFile).string()) << R"({"r": 2, "lora_alpha": 4})";
  files = FindLoraFiles(peft_dir.string());
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(files->peft_config, (peft_dir / kPeftConfigFile).string());

  const std::string file = (diffusers_dir / kLoraWeightsFile).string();
  files = FindLoraFiles(file);
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(files->weights, file);
  EXPECT_TRUE(CheckLoraFiles(diffusers_dir.string()).ok());
  EXPECT_TRUE(CheckLoraFiles(peft_dir.string()).ok());
}

TEST(LoraFilesTest, MissingOrUnreadableFilesAreNamed) {
  align::testing::TempDir dir("lora_files_test");
  absl::Status status = CheckLoraFiles(dir.File("nowhere"));
  EXPECT_TRUE(absl::IsNotFound(status));
  EXPECT_THAT(status.message(), HasSubstr("nowhere is neither a LoRA weights file nor a folder"));

  status = CheckLoraFiles(dir.path());  // a folder without adapter files
  EXPECT_TRUE(absl::IsNotFound(status));
  EXPECT_THAT(status.message(), HasSubstr("holds neither pytorch_lora_weights.safetensors (diffusers) nor "
                                          "adapter_model.safetensors (peft)"));

  std::ofstream(dir.File(kLoraWeightsFile)) << "not a safetensors file";
  status = CheckLoraFiles(dir.path());
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_THAT(status.message(), HasSubstr("pytorch_lora_weights.safetensors is not a readable safetensors file"));
}

}  // namespace
}  // namespace align::diffusers
