// `mpirun -np 2 align-worker prepare` end to end with the tiny golden models:
// JSONL and WebDataset inputs with ties, swaps, corrupt and missing images;
// exact counts; failure above max_error_ratio; resumption after a crash and
// after a SIGKILL without duplicated shards; and two training steps on the result.
// Then the same as `type: prepare` jobs submitted with alignctl to a real
// align-coordinator served by a 2-rank worker group: the same shards, byte for
// byte, the coordinator's manifest, a worker group killed mid-job and replaced,
// and a train job through the coordinator on the result.
//
// The golden fixtures do not fit each other for training: the tiny UNet's
// pooled text dim is 32 (projection_class_embeddings_input_dim 80 - 6 * 8) but
// text_encoder_2's projection_dim is 24. The model folder built here therefore
// carries a copy of text_encoder_2 with a 32-wide projection (its first 24 rows
// are the golden ones), so that the prepared data trains; the golden folder
// itself is also prepared, and checked against the encoders' dims.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/dataset/reader.h"
#include "common/file_util.h"
#include "gmock/gmock.h"
#include "nlohmann/json.hpp"
#include "tests/support/shell.h"
#include "tests/support/test_pairs.h"
#include "tests/support/tiny_models.h"

namespace align {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
const std::string kGolden = ALIGN_GOLDEN_DIR;

std::string Mpirun(int ranks) {
  return absl::StrCat("mpirun --allow-run-as-root --oversubscribe --bind-to none -np ", ranks, " ");
}

using ::align::testing::Shell;
using ::align::testing::Slurp;

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// A shell command in its own process group, so that one kill reaches it and
// everything it started (mpirun and its ranks).
class Background {
 public:
  explicit Background(const std::string& command) {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      const std::string cmd = "exec " + command;
      ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::setpgid(pid_, pid_);
  }
  ~Background() { Kill(SIGTERM); }
  void Kill(int signal) {
    if (pid_ <= 0) return;
    ::kill(-pid_, signal);
    for (int i = 0; i < 100; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

// text_encoder_2 with projection_dim 32: the golden 24 rows, then 8 more.
class PrepareIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / absl::StrCat("align_prepare_it_", ::getpid());
    fs::remove_all(root_);
    // Two model folders in diffusers layout, from symlinks to the fixtures.
    for (const char* name : {"golden-model", "model"}) {
      const fs::path m = root_ / name;
      fs::create_directories(m);
      fs::create_directory_symlink(kGolden + "/tiny-sdxl/unet", m / "unet");
      fs::create_directory_symlink(kGolden + "/tiny-sdxl/scheduler", m / "scheduler");
      fs::create_directory_symlink(kGolden + "/tiny-vae/vae", m / "vae");
      fs::create_directory_symlink(kGolden + "/tiny-clip/text_encoder", m / "text_encoder");
      fs::create_directory_symlink(kGolden + "/tokenizer/tokenizer", m / "tokenizer");
      fs::create_directory_symlink(kGolden + "/tokenizer/tokenizer", m / "tokenizer_2");
    }
    fs::create_directory_symlink(kGolden + "/tiny-clip/text_encoder_2", root_ / "golden-model" / "text_encoder_2");
    ASSERT_TRUE(testing::WriteWideTextEncoder2(kGolden, (root_ / "model" / "text_encoder_2").string()).ok());

    testing::TestPairsOptions jsonl;
    jsonl.items = 60;
    jsonl.seed = 3;
    jsonl_ = testing::WriteTestPairs((root_ / "jsonl-in").string(), jsonl);
    testing::TestPairsOptions wds;
    wds.items = 45;
    wds.webdataset = true;
    wds.samples_per_shard = 16;
    wds.seed = 4;
    wds_ = testing::WriteTestPairs((root_ / "wds-in").string(), wds);
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  // A prepare spec named `name` writing root/<name>-data and root/<name>-out.
  static std::string WriteSpec(const std::string& name, const std::string& input, const std::string& extra,
                               const std::string& model = "model") {
    const fs::path path = root_ / (name + ".yaml");
    std::ofstream(path) << "name: " << name << "\ntype: prepare\n"
                        << "model: " << (root_ / model).string() << "\n"
                        << "dataset: " << Data(name) << "\n"
                        << "output: " << (root_ / (name + "-out")).string() << "\n"
                        << "seed: 5\ndevice: cpu\n"
                        << "prepare:\n  input: " << input << "\n  resolution: 64\n  pairs_per_shard: 8\n"
                        << "  heldout: 5\n  max_error_ratio: 0.3\n  batch_size: 4\n"
                        << extra;
    return path.string();
  }
  static std::string Data(const std::string& name) { return (root_ / (name + "-data")).string(); }

  static int Prepare(const std::string& spec, const std::string& log, const std::string& env = "") {
    return Shell(absl::StrCat(env, " ", Mpirun(2), ALIGN_WORKER_BIN, " prepare --spec ", spec, " > ",
                              (root_ / log).string(), " 2>&1"));
  }
  static std::string Log(const std::string& log) { return Slurp(root_ / log); }

  static nlohmann::json Report(const std::string& name) {
    return nlohmann::json::parse(Slurp(root_ / (name + "-out") / "prepare-report.json"));
  }

  // Pair ids of a split, checked for shape on the way.
  static std::vector<int64_t> CheckSplit(const std::string& name, const std::string& split, int64_t pooled_dim) {
    auto reader = data::PairReader::Open(Data(name), split);
    EXPECT_TRUE(reader.ok()) << reader.status();
    if (!reader.ok()) return {};
    const data::PairShape& shape = (*reader)->shape();
    EXPECT_EQ(shape.latent_channels, 4);
    EXPECT_EQ(shape.latent_height, 16);  // 64 / the tiny VAE's factor 4
    EXPECT_EQ(shape.latent_width, 16);
    EXPECT_EQ(shape.tokens, 77);
    EXPECT_EQ(shape.context_dim, 64);  // 32 + 32 hidden
    EXPECT_EQ(shape.pooled_dim, pooled_dim);
    std::vector<int64_t> ids = (*reader)->PairIds();
    if (!ids.empty()) {
      std::vector<int64_t> all(ids.size());
      for (size_t i = 0; i < ids.size(); ++i) all[i] = static_cast<int64_t>(i);
      auto batch = (*reader)->Read(all);
      EXPECT_TRUE(batch.ok()) << batch.status();
      for (size_t i = 0; batch.ok() && i < ids.size(); ++i) {
        const float* t = &batch->time_ids[i * 6];
        EXPECT_EQ(t[4], 64);
        EXPECT_EQ(t[5], 64);
        EXPECT_GE(std::min(t[0], t[1]), 48);  // original sizes of the generated images
        EXPECT_TRUE(t[2] == 0 || t[3] == 0);  // center crop along the longer side only
      }
    }
    return ids;
  }

  // The shard files of a dataset directory.
  static std::set<std::string> ShardFiles(const std::string& name) {
    std::set<std::string> files;
    for (const auto& entry : fs::directory_iterator(Data(name))) {
      if (entry.path().extension() == ".safetensors") files.insert(entry.path().filename().string());
    }
    return files;
  }

  static std::set<std::string> ManifestFiles(const std::string& name) {
    std::set<std::string> files;
    auto manifest = data::LoadManifest(Data(name));
    EXPECT_TRUE(manifest.ok()) << manifest.status();
    if (!manifest.ok()) return files;
    for (const auto& [split, entry] : manifest->splits) {
      for (const auto& shard : entry.shards) EXPECT_TRUE(files.insert(shard.file).second) << shard.file;
    }
    return files;
  }

  void ExpectExactCounts(const std::string& name, const testing::TestPairsCounts& counts, int64_t pooled_dim) {
    const nlohmann::json report = Report(name);
    EXPECT_EQ(report["items"], counts.total);
    EXPECT_EQ(report["ties"], counts.ties);
    EXPECT_EQ(report["swapped"], counts.swapped);
    EXPECT_EQ(report["failed"], counts.failed);
    EXPECT_EQ(report["failed_by_reason"].value("corrupt_image", 0), counts.corrupt);
    EXPECT_EQ(report["failed_by_reason"].value("missing_image", 0), counts.missing);
    const std::vector<int64_t> train = CheckSplit(name, "train", pooled_dim);
    const std::vector<int64_t> heldout = CheckSplit(name, "heldout", pooled_dim);
    EXPECT_EQ(static_cast<int64_t>(train.size() + heldout.size()), counts.pairs);
    EXPECT_EQ(report["pairs"]["train"].get<int64_t>() + report["pairs"]["heldout"].get<int64_t>(), counts.pairs);
    std::set<int64_t> ids(train.begin(), train.end());
    ids.insert(heldout.begin(), heldout.end());
    EXPECT_EQ(static_cast<int64_t>(ids.size()), counts.pairs);  // no pair twice
    EXPECT_EQ(ManifestFiles(name), ShardFiles(name));            // no stray or duplicated shard
  }

  // An uninterrupted run of the same job as the crash tests, made once per
  // process (CTest runs each test in a process of its own).
  static std::string Reference() {
    if (!fs::exists(Data("reference") + "/manifest.json")) {
      EXPECT_EQ(Prepare(WriteSpec("reference", jsonl_.input, ""), "reference.log"), 0) << Log("reference.log");
    }
    return Data("reference");
  }

  // ---- through the coordinator ----
  void StartCoordinator() {
    address_ = absl::StrCat("127.0.0.1:", FreePort());
    coordinator_ = std::make_unique<Background>(absl::StrCat(
        ALIGN_COORDINATOR_BIN, " --listen ", address_, " --state ", (root_ / "coordinator-state").string(),
        " --insecure-no-auth --worker-timeout 5s 2>> ", (root_ / "coordinator.log").string()));
    for (int i = 0; i < 100; ++i) {
      if (Alignctl("list", "list.out") == 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    FAIL() << "align-coordinator did not start: " << Log("coordinator.log");
  }
  std::unique_ptr<Background> StartWorkers(const std::string& log) {
    return std::make_unique<Background>(absl::StrCat(Mpirun(2), ALIGN_WORKER_BIN, " --coordinator ", address_,
                                                     " --group-name prepare-it >> ", (root_ / log).string(),
                                                     " 2>&1"));
  }
  int Alignctl(const std::string& args, const std::string& log) {
    return Shell(absl::StrCat(ALIGNCTL_BIN, " --coordinator ", address_, " ", args, " > ", (root_ / log).string(),
                              " 2>&1"));
  }
  // The job id alignctl submit printed as its last line.
  std::string Submit(const std::string& spec) {
    const std::string log = fs::path(spec).filename().string() + ".submit";
    EXPECT_EQ(Alignctl("submit " + spec, log), 0) << Log(log);
    std::istringstream lines(Log(log));
    std::string line, last;
    while (std::getline(lines, line)) {
      if (!line.empty()) last = line;
    }
    return last;
  }

  static fs::path root_;
  static testing::TestPairsCounts jsonl_, wds_;
  std::string address_;
  std::unique_ptr<Background> coordinator_;
};
fs::path PrepareIntegrationTest::root_;
testing::TestPairsCounts PrepareIntegrationTest::jsonl_;
testing::TestPairsCounts PrepareIntegrationTest::wds_;

TEST_F(PrepareIntegrationTest, JsonlOnTwoRanksThenTrainsTwoSteps) {
  const std::string spec = WriteSpec("jsonl", jsonl_.input, "");
  ASSERT_EQ(Prepare(spec, "jsonl.log"), 0) << Log("jsonl.log");
  ExpectExactCounts("jsonl", jsonl_, 32);
  EXPECT_THAT(Log("jsonl.log"), HasSubstr("done: "));
  // Running it again finds it complete.
  ASSERT_EQ(Prepare(spec, "jsonl-again.log"), 0) << Log("jsonl-again.log");
  EXPECT_THAT(Log("jsonl-again.log"), HasSubstr("already complete"));

  const fs::path train = root_ / "train.yaml";
  std::ofstream(train) << "name: train-on-prepared\ntype: train\n"
                       << "model: " << (root_ / "model").string() << "\n"
                       << "dataset: " << Data("jsonl") << "\n"
                       << "output: " << (root_ / "train-out").string() << "\n"
                       << "loss: {type: dpo, beta: 5}\nsteps: 2\nseed: 1\ndevice: cpu\n"
                       << "batch: {pairs_per_rank: 2, grad_accum: 1}\n";
  ASSERT_EQ(Shell(absl::StrCat(Mpirun(2), ALIGN_WORKER_BIN, " train --spec ", train.string(), " > ",
                               (root_ / "train.log").string(), " 2>&1")),
            0)
      << Log("train.log");
  std::ifstream metrics(root_ / "train-out" / "metrics.jsonl");
  int steps = 0;
  std::string line;
  while (std::getline(metrics, line)) {
    const nlohmann::json j = nlohmann::json::parse(line);
    if (j.contains("loss")) {
      ++steps;
      EXPECT_TRUE(std::isfinite(j["loss"].get<double>()));
    }
  }
  EXPECT_GE(steps, 2);
}

TEST_F(PrepareIntegrationTest, WebDatasetShardsOnTwoRanks) {
  ASSERT_EQ(Prepare(WriteSpec("wds", (root_ / "wds-in").string(), "  random_flip: true\n  latent: sample\n"),
                    "wds.log"),
            0)
      << Log("wds.log");
  ExpectExactCounts("wds", wds_, 32);
}

TEST_F(PrepareIntegrationTest, GoldenEncodersGiveTheirOwnDims) {
  // text_encoder_2's projection_dim is 24: the data is shaped by the encoders,
  // and the mismatch with the tiny UNet is reported as a warning.
  ASSERT_EQ(Prepare(WriteSpec("golden", jsonl_.input, "", "golden-model"), "golden.log"), 0) << Log("golden.log");
  ExpectExactCounts("golden", jsonl_, 24);
  EXPECT_THAT(Log("golden.log"), HasSubstr("warning: the prepared data"));
}

TEST_F(PrepareIntegrationTest, FailsAboveTheErrorRatioListingItemsThenResumesWithAHigherOne) {
  const std::string strict = WriteSpec("strict", jsonl_.input, "");
  std::string text = Slurp(strict);
  text.replace(text.find("max_error_ratio: 0.3"), 20, "max_error_ratio: 0.01");
  std::ofstream(strict) << text;
  ASSERT_EQ(Prepare(strict, "strict.log"), 1) << Log("strict.log");
  const std::string log = Log("strict.log");
  EXPECT_THAT(log, HasSubstr(absl::StrCat(jsonl_.failed, " of ", jsonl_.total - jsonl_.ties, " items failed")));
  EXPECT_THAT(log, HasSubstr("(missing_image)"));
  EXPECT_THAT(log, HasSubstr("(corrupt_image)"));
  EXPECT_THAT(log, HasSubstr("pairs.jsonl:"));
  EXPECT_FALSE(fs::exists(Data("strict") + "/manifest.json"));
  EXPECT_FALSE(Report("strict")["ok"].get<bool>());
  // The threshold is not part of the work: a rerun with a higher one reuses every chunk.
  text.replace(text.find("max_error_ratio: 0.01"), 21, "max_error_ratio: 0.3");
  std::ofstream(strict) << text;
  ASSERT_EQ(Prepare(strict, "strict-2.log"), 0) << Log("strict-2.log");
  EXPECT_THAT(Log("strict-2.log"), HasSubstr("already done (resumed)"));
  EXPECT_THAT(Log("strict-2.log"), ::testing::Not(HasSubstr(".safetensors ")));  // no chunk redone
  ExpectExactCounts("strict", jsonl_, 32);
}

TEST_F(PrepareIntegrationTest, ResumesAfterACrashWithoutRedoingOrDuplicatingShards) {
  const std::string spec = WriteSpec("crash", jsonl_.input, "");
  // Each rank dies right after renaming its 2nd shard, before recording it.
  EXPECT_NE(Prepare(spec, "crash-1.log", "ALIGN_PREPARE_CRASH_AFTER_SHARDS=2"), 0);
  EXPECT_FALSE(fs::exists(Data("crash") + "/manifest.json"));
  const fs::path first_record = root_ / "crash-out" / "prepare-state" / "train-00000.json";
  ASSERT_TRUE(fs::exists(first_record));
  const auto first_shard_time = fs::last_write_time(Data("crash") + "/train-00000.safetensors");
  ASSERT_EQ(Prepare(spec, "crash-2.log"), 0) << Log("crash-2.log");
  EXPECT_THAT(Log("crash-2.log"), HasSubstr("already done (resumed)"));
  EXPECT_EQ(fs::last_write_time(Data("crash") + "/train-00000.safetensors"), first_shard_time);  // not redone
  ExpectExactCounts("crash", jsonl_, 32);

  // Same bytes as an uninterrupted run of the same job.
  const std::string reference = Reference();
  for (const std::string& file : ShardFiles("crash")) {
    EXPECT_FALSE(Slurp(reference + "/" + file).empty()) << file;
    EXPECT_EQ(Slurp(Data("crash") + "/" + file), Slurp(reference + "/" + file)) << file;
  }
}

TEST_F(PrepareIntegrationTest, ResumesAfterSigkill) {
  const std::string spec = WriteSpec("killed", jsonl_.input, "");
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::setpgid(0, 0);  // its own process group, so the kill reaches mpirun and its ranks
    const std::string cmd = absl::StrCat("exec ", Mpirun(2), ALIGN_WORKER_BIN, " prepare --spec ", spec, " > ",
                                         (root_ / "killed-1.log").string(), " 2>&1");
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  const fs::path state = root_ / "killed-out" / "prepare-state" / "train-00000.json";
  for (int i = 0; i < 600 && !fs::exists(state); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ::kill(-pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_EQ(Prepare(spec, "killed-2.log"), 0) << Log("killed-2.log");
  ExpectExactCounts("killed", jsonl_, 32);
  const std::string reference = Reference();
  for (const std::string& file : ShardFiles("killed")) {
    EXPECT_FALSE(Slurp(reference + "/" + file).empty()) << file;
    EXPECT_EQ(Slurp(Data("killed") + "/" + file), Slurp(reference + "/" + file)) << file;
  }
}

TEST_F(PrepareIntegrationTest, ThroughTheCoordinatorOnTwoWorkersThenTrains) {
  StartCoordinator();
  std::unique_ptr<Background> workers = StartWorkers("coord-workers.log");
  const std::string jsonl_job = Submit(WriteSpec("coord-jsonl", jsonl_.input, ""));
  const std::string wds_job = Submit(WriteSpec("coord-wds", (root_ / "wds-in").string(), "  random_flip: true\n"));
  ASSERT_EQ(Alignctl("wait " + jsonl_job, "coord-jsonl.wait"), 0)
      << Log("coord-jsonl.wait") << Log("coord-workers.log") << Log("coordinator.log");
  ASSERT_EQ(Alignctl("wait " + wds_job, "coord-wds.wait"), 0) << Log("coord-wds.wait") << Log("coord-workers.log");
  ExpectExactCounts("coord-jsonl", jsonl_, 32);
  ExpectExactCounts("coord-wds", wds_, 32);
  // The coordinator's split gives the very shards a standalone run writes.
  const std::string reference = Reference();
  for (const std::string& file : ShardFiles("coord-jsonl")) {
    EXPECT_EQ(Slurp(Data("coord-jsonl") + "/" + file), Slurp(reference + "/" + file)) << file;
  }
  // Failed items and the final counts are in the job's events.
  ASSERT_EQ(Alignctl("events " + jsonl_job, "coord-jsonl.events"), 0);
  const std::string events = Log("coord-jsonl.events");
  EXPECT_THAT(events, HasSubstr("items failed"));
  EXPECT_THAT(events, HasSubstr("(corrupt_image"));
  EXPECT_THAT(events, HasSubstr(absl::StrCat(jsonl_.total, " items: ", jsonl_.pairs, " pairs")));

  const fs::path train = root_ / "coord-train.yaml";
  std::ofstream(train) << "name: train-on-coordinated\ntype: train\n"
                       << "model: " << (root_ / "model").string() << "\n"
                       << "dataset: " << Data("coord-wds") << "\n"
                       << "output: " << (root_ / "coord-train-out").string() << "\n"
                       << "loss: {type: dpo, beta: 5}\nsteps: 2\nseed: 1\ndevice: cpu\n"
                       << "batch: {pairs_per_rank: 2, grad_accum: 1}\n";
  const std::string train_job = Submit(train.string());
  ASSERT_EQ(Alignctl("wait " + train_job, "coord-train.wait"), 0) << Log("coord-train.wait") << Log("coord-workers.log");
  EXPECT_TRUE(fs::exists(root_ / "coord-train-out" / "metrics.jsonl"));
}

TEST_F(PrepareIntegrationTest, ThroughTheCoordinatorResumesWhenItsWorkersAreKilled) {
  StartCoordinator();
  std::unique_ptr<Background> workers = StartWorkers("coord-killed-1.log");
  const std::string job = Submit(WriteSpec("coord-killed", jsonl_.input, ""));
  const fs::path state = root_ / "coord-killed-out" / "prepare-state";
  const fs::path first = state / "train-00000.json";
  for (int i = 0; i < 1200 && !fs::exists(first); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(fs::exists(first)) << Log("coord-killed-1.log");
  workers->Kill(SIGKILL);
  const auto first_shard_time = fs::last_write_time(Data("coord-killed") + "/train-00000.safetensors");
  EXPECT_FALSE(fs::exists(Data("coord-killed") + "/manifest.json"));

  // A new group takes the requeued job and prepares only what is missing.
  workers = StartWorkers("coord-killed-2.log");
  ASSERT_EQ(Alignctl("wait " + job, "coord-killed.wait"), 0)
      << Log("coord-killed.wait") << Log("coord-killed-2.log") << Log("coordinator.log");
  EXPECT_EQ(fs::last_write_time(Data("coord-killed") + "/train-00000.safetensors"), first_shard_time);
  ExpectExactCounts("coord-killed", jsonl_, 32);
  const std::string reference = Reference();
  for (const std::string& file : ShardFiles("coord-killed")) {
    EXPECT_EQ(Slurp(Data("coord-killed") + "/" + file), Slurp(reference + "/" + file)) << file;
  }
  ASSERT_EQ(Alignctl("events " + job, "coord-killed.events"), 0);
  EXPECT_THAT(Log("coord-killed.events"), HasSubstr("already done"));
}

}  // namespace
}  // namespace align
