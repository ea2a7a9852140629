// Reader, writer and dtype tests: round trips, the Python-written golden files,
// and one hand-made malformed file per validation rule.

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <numeric>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "common/safetensors/dtype.h"
#include "common/safetensors/reader.h"
#include "common/safetensors/writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace align::safetensors {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string LittleEndian64(uint64_t v) {
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  return out;
}

// A file from a header and a data buffer, with the header length filled in.
std::string MakeFile(const std::string& header, const std::string& data = "") {
  return LittleEndian64(header.size()) + header + data;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A fresh directory per test, removed afterwards.
using align::testing::TempDir;

// Expects `bytes` to be rejected with `code` and a message containing every
// one of `words` (the tensor name and the problem).
void ExpectRejected(const std::string& bytes, absl::StatusCode code,
                    const std::vector<std::string>& words) {
  absl::StatusOr<std::unique_ptr<File>> file = File::FromBytes(bytes);
  ASSERT_FALSE(file.ok()) << "accepted a malformed file";
  EXPECT_EQ(file.status().code(), code) << file.status();
  for (const std::string& word : words) {
    EXPECT_THAT(std::string(file.status().message()), HasSubstr(word));
  }
}

// The usual single-tensor header with a given entry for tensor "t".
std::string OneTensor(const std::string& entry) { return "{\"t\":" + entry + "}"; }

TEST(DType, NamesSizesAndParsing) {
  const std::vector<std::tuple<DType, std::string, size_t>> all = {
      {DType::kF32, "F32", 4}, {DType::kF16, "F16", 2}, {DType::kBF16, "BF16", 2}, {DType::kF64, "F64", 8},
      {DType::kI64, "I64", 8}, {DType::kI32, "I32", 4}, {DType::kU8, "U8", 1}};
  for (const auto& [dtype, name, size] : all) {
    EXPECT_EQ(DTypeName(dtype), name);
    EXPECT_EQ(DTypeSize(dtype), size);
    absl::StatusOr<DType> parsed = ParseDType(name);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, dtype);
  }
  for (const char* other : {"I16", "BOOL", "F8_E4M3", "f32", ""}) {
    absl::StatusOr<DType> parsed = ParseDType(other);
    ASSERT_FALSE(parsed.ok()) << other;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(std::string("\"") + other + "\""));
  }
}

// Deterministic, distinct bytes for each tensor.
std::string Pattern(size_t n, uint8_t seed) {
  std::string bytes(n, '\0');
  for (size_t i = 0; i < n; ++i) bytes[i] = static_cast<char>(seed + 31 * i + (i >> 8));
  return bytes;
}

TEST(RoundTrip, EveryDTypeKeepsBytesShapeAndMetadata) {
  struct Case {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
  };
  const std::vector<Case> cases = {
      {"f32", DType::kF32, {2, 3}},   {"f16", DType::kF16, {5}},     {"bf16", DType::kBF16, {3, 1, 2}},
      {"i64", DType::kI64, {4}},      {"i32", DType::kI32, {2, 2}},  {"u8", DType::kU8, {7}},
      {"scalar", DType::kF32, {}},    {"empty", DType::kF16, {0, 4}}, {"after_empty", DType::kU8, {1}}};
  Writer writer;
  std::vector<std::string> payloads;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    int64_t numel = std::accumulate(c.shape.begin(), c.shape.end(), int64_t{1}, std::multiplies<>());
    payloads.push_back(Pattern(numel * DTypeSize(c.dtype), static_cast<uint8_t>(i)));
    ASSERT_TRUE(writer.Add(c.name, c.dtype, c.shape, payloads.back().data(), payloads.back().size()).ok());
  }
  writer.SetMetadata("format", "pt");
  writer.SetMetadata("note", "unicode \xC3\xA9 and \"quotes\"");
  EXPECT_EQ(writer.num_tensors(), cases.size());

  const std::string bytes = writer.Serialize();
  uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  EXPECT_EQ(header_length % 8, 0u) << "header must be padded to a multiple of 8";
  EXPECT_EQ(bytes.size(), 8 + header_length + writer.data_bytes());

  absl::StatusOr<std::unique_ptr<File>> file = File::FromBytes(bytes);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->tensors().size(), cases.size());
  EXPECT_EQ((*file)->metadata().at("format"), "pt");
  EXPECT_EQ((*file)->metadata().at("note"), "unicode \xC3\xA9 and \"quotes\"");
  for (size_t i = 0; i < cases.size(); ++i) {
    absl::StatusOr<TensorView> view = (*file)->Get(cases[i].name);
    ASSERT_TRUE(view.ok()) << view.status();
    EXPECT_EQ(view->info->dtype, cases[i].dtype);
    EXPECT_EQ(view->info->shape, cases[i].shape);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(view->data), view->info->nbytes()), payloads[i])
        << cases[i].name;
  }
  absl::StatusOr<TensorView> scalar = (*file)->Get("scalar");
  ASSERT_TRUE(scalar.ok());
  EXPECT_EQ(scalar->info->numel(), 1);
}

TEST(RoundTrip, WriteFileThenMmapOpen) {
  TempDir dir;
  const std::vector<float> values = {1.5f, -2.0f, 3.25f, 0.0f};
  Writer writer;
  ASSERT_TRUE(writer.Add("w", DType::kF32, {2, 2}, values.data(), values.size() * 4).ok());
  const std::string path = dir.File("model.safetensors");
  ASSERT_TRUE(writer.WriteFile(path).ok());
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  EXPECT_EQ(ReadAll(path), writer.Serialize());

  absl::StatusOr<std::unique_ptr<File>> file = File::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->path(), path);
  absl::StatusOr<TensorView> view = (*file)->Get("w");
  ASSERT_TRUE(view.ok());
  // The padded header leaves the data 8-byte aligned in the page-aligned mapping.
  EXPECT_EQ(reinterpret_cast<uintptr_t>(view->data) % 8, 0u);
  EXPECT_EQ(std::memcmp(view->data, values.data(), 16), 0);
}

TEST(Writer, ExactReferenceEncoding) {
  const float one = 1.0f;
  Writer writer;
  ASSERT_TRUE(writer.Add("a", DType::kF32, {1}, &one, 4).ok());
  writer.SetMetadata("format", "pt");
  const std::string json =
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  std::string padded = json + std::string((8 - json.size() % 8) % 8, ' ');
  EXPECT_EQ(writer.Serialize(), MakeFile(padded, std::string(reinterpret_cast<const char*>(&one), 4)));
}

TEST(Writer, RejectsBadTensors) {
  const std::vector<uint8_t> data(64, 1);
  Writer writer;
  ASSERT_TRUE(writer.Add("x", DType::kU8, {4}, data.data(), 4).ok());

  const auto expect_invalid = [](const absl::Status& status, const std::string& word) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr(word));
  };
  expect_invalid(writer.Add("x", DType::kU8, {4}, data.data(), 4), "already added");
  expect_invalid(writer.Add("", DType::kU8, {4}, data.data(), 4), "empty");
  expect_invalid(writer.Add("__metadata__", DType::kU8, {4}, data.data(), 4), "reserved");
  expect_invalid(writer.Add("bad\xff", DType::kU8, {4}, data.data(), 4), "UTF-8");
  expect_invalid(writer.Add("size", DType::kF32, {4}, data.data(), 4), "needs 16");
  expect_invalid(writer.Add("neg", DType::kF32, {-1, 4}, data.data(), 4), "negative dimension");
  expect_invalid(writer.Add("huge", DType::kF32, {int64_t{1} << 40, int64_t{1} << 40}, data.data(), 4),
                 "overflows");
  expect_invalid(writer.Add("null", DType::kU8, {4}, nullptr, 4), "null");
  EXPECT_EQ(writer.num_tensors(), 1u);
  EXPECT_TRUE(writer.Add("zero", DType::kU8, {0}, nullptr, 0).ok());
}

TEST(Writer, WriteFileErrorNamesThePath) {
  Writer writer;
  absl::Status status = writer.WriteFile("/nonexistent-dir/x/model.safetensors");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("/nonexistent-dir/x/model.safetensors"));
}

TEST(Writer, ZeroTensorsIsAValidFile) {
  absl::StatusOr<std::unique_ptr<File>> file = File::FromBytes(Writer().Serialize());
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE((*file)->tensors().empty());
  EXPECT_TRUE((*file)->metadata().empty());
}

// ---- Golden files written by the Python safetensors package ----

std::string Golden(const std::string& relative) { return std::string(ALIGN_GOLDEN_DIR) + "/" + relative; }

TEST(Golden, SdxlIoTensors) {
  absl::StatusOr<std::unique_ptr<File>> file = File::Open(Golden("tiny-sdxl/io.safetensors"));
  ASSERT_TRUE(file.ok()) << file.status();
  absl::StatusOr<TensorView> sample = (*file)->Get("sample");
  ASSERT_TRUE(sample.ok()) << sample.status();
  EXPECT_EQ(sample->info->dtype, DType::kF32);
  EXPECT_EQ(sample->info->shape, (std::vector<int64_t>{2, 4, 16, 16}));
  float first;
  std::memcpy(&first, sample->data, 4);
  EXPECT_FLOAT_EQ(first, -0.8201345205307007f);

  absl::StatusOr<TensorView> timestep = (*file)->Get("timestep");
  ASSERT_TRUE(timestep.ok()) << timestep.status();
  EXPECT_EQ(timestep->info->dtype, DType::kI64);
  EXPECT_EQ(timestep->info->shape, (std::vector<int64_t>{2}));
  int64_t steps[2];
  std::memcpy(steps, timestep->data, 16);
  EXPECT_EQ(steps[0], 0);
  EXPECT_EQ(steps[1], 999);

  // tensors() is in data-offset order.
  const auto& tensors = (*file)->tensors();
  for (size_t i = 1; i < tensors.size(); ++i) EXPECT_EQ(tensors[i].begin, tensors[i - 1].end);
}

TEST(Golden, SdxlUnetF16Weights) {
  absl::StatusOr<std::unique_ptr<File>> file =
      File::Open(Golden("tiny-sdxl/unet/diffusion_pytorch_model.safetensors"));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->tensors().size(), 718u);
  EXPECT_EQ((*file)->metadata().at("format"), "pt");
  absl::StatusOr<TensorView> conv = (*file)->Get("conv_in.weight");
  ASSERT_TRUE(conv.ok()) << conv.status();
  EXPECT_EQ(conv->info->dtype, DType::kF16);
  EXPECT_EQ(conv->info->shape, (std::vector<int64_t>{32, 4, 3, 3}));
  EXPECT_EQ(conv->info->nbytes(), 32u * 4 * 3 * 3 * 2);
  const uint8_t expected[] = {0x5d, 0xab, 0x12, 0x28, 0xca, 0xb0, 0x9f, 0xb0};
  EXPECT_EQ(std::memcmp(conv->data, expected, sizeof(expected)), 0);

  absl::StatusOr<TensorView> missing = (*file)->Get("no.such.weight");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("no.such.weight"));
  EXPECT_FALSE((*file)->Contains("no.such.weight"));
  EXPECT_TRUE((*file)->Contains("conv_in.weight"));
}

// Re-encoding a Python-written file in its offset order must reproduce it byte
// for byte: the writer's format is the reference one.
TEST(Golden, WriterReproducesPythonFilesExactly) {
  int checked = 0;
  for (const auto& entry : fs::recursive_directory_iterator(ALIGN_GOLDEN_DIR)) {
    if (entry.path().extension() != ".safetensors") continue;
    const std::string path = entry.path().string();
    absl::StatusOr<std::unique_ptr<File>> file = File::Open(path);
    ASSERT_TRUE(file.ok()) << file.status();
    Writer writer;
    for (const auto& [key, value] : (*file)->metadata()) writer.SetMetadata(key, value);
    for (const TensorInfo& t : (*file)->tensors()) {
      absl::StatusOr<TensorView> view = (*file)->Get(t.name);
      ASSERT_TRUE(view.ok());
      ASSERT_TRUE(writer.Add(t.name, t.dtype, t.shape, view->data, t.nbytes()).ok()) << t.name;
    }
    EXPECT_TRUE(writer.Serialize() == ReadAll(path)) << path;
    ++checked;
  }
  EXPECT_GE(checked, 7);
}

// ---- File::Open errors ----

TEST(Open, MissingFileIsNotFound) {
  absl::StatusOr<std::unique_ptr<File>> file = File::Open("/nonexistent/model.safetensors");
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(file.status().message()), HasSubstr("/nonexistent/model.safetensors"));
}

TEST(Open, DirectoryIsRejected) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<File>> file = File::Open(dir.path());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(file.status().message()), HasSubstr("not a regular file"));
}

TEST(Open, EmptyAndMalformedFilesNameThePath) {
  TempDir dir;
  const std::string empty = dir.File("empty.safetensors");
  std::ofstream(empty).close();
  absl::StatusOr<std::unique_ptr<File>> file = File::Open(empty);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(file.status().message()), HasSubstr(empty));

  const std::string bad = dir.File("bad.safetensors");
  std::ofstream(bad, std::ios::binary) << MakeFile(OneTensor(R"({"dtype":"I16","shape":[1],"data_offsets":[0,2]})"),
                                                   std::string(2, '\0'));
  file = File::Open(bad);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(file.status().message()), HasSubstr(bad));
  EXPECT_THAT(std::string(file.status().message()), HasSubstr("\"t\""));
  EXPECT_THAT(std::string(file.status().message()), HasSubstr("I16"));
}

// ---- One malformed file per validation rule ----

using Code = absl::StatusCode;

TEST(Malformed, TooShortForTheLengthField) {
  ExpectRejected("", Code::kDataLoss, {"shorter", "8-byte"});
  ExpectRejected("1234567", Code::kDataLoss, {"7 bytes"});
}

TEST(Malformed, HeaderLengthAboveLimit) {
  ExpectRejected(LittleEndian64(kMaxHeaderBytes + 1) + "{}", Code::kInvalidArgument, {"exceeds the limit"});
  ExpectRejected(LittleEndian64(~uint64_t{0}) + "{}", Code::kInvalidArgument, {"exceeds the limit"});
}

TEST(Malformed, HeaderLengthBeyondFile) {
  ExpectRejected(LittleEndian64(100) + "{}", Code::kDataLoss, {"header length 100", "truncated"});
  ExpectRejected(LittleEndian64(1), Code::kDataLoss, {"truncated"});
}

TEST(Malformed, HeaderNotJson) {
  ExpectRejected(MakeFile(""), Code::kInvalidArgument, {"not valid JSON"});
  ExpectRejected(MakeFile("{\"t\":"), Code::kInvalidArgument, {"not valid JSON"});
  ExpectRejected(MakeFile("{} x"), Code::kInvalidArgument, {"not valid JSON"});
  ExpectRejected(MakeFile(std::string("{}\0\0", 4)), Code::kInvalidArgument, {"not valid JSON"});
  ExpectRejected(MakeFile("{/*c*/}"), Code::kInvalidArgument, {"not valid JSON"});
}

TEST(Malformed, NestingTooDeep) {
  ExpectRejected(MakeFile(std::string(100000, '[')), Code::kInvalidArgument, {"nested deeper than 128"});
  ExpectRejected(MakeFile("{\"t\":" + std::string(200, '[') + std::string(200, ']') + "}"),
                 Code::kInvalidArgument, {"nested deeper than 128"});
}

TEST(Malformed, HeaderNotAnObject) {
  ExpectRejected(MakeFile("[]"), Code::kInvalidArgument, {"must be a JSON object", "array"});
  ExpectRejected(MakeFile("42"), Code::kInvalidArgument, {"must be a JSON object"});
}

TEST(Malformed, HeaderNotUtf8) {
  ExpectRejected(MakeFile("{\"t\xff\":{}}"), Code::kInvalidArgument, {"UTF-8"});
  // An overlong encoding of '/' and a UTF-16 surrogate are not UTF-8 either.
  ExpectRejected(MakeFile("{\"\xC0\xAF\":{}}"), Code::kInvalidArgument, {"UTF-8"});
  ExpectRejected(MakeFile("{\"\xED\xA0\x80\":{}}"), Code::kInvalidArgument, {"UTF-8"});
}

TEST(Malformed, DuplicateKeys) {
  const std::string entry = R"({"dtype":"U8","shape":[0],"data_offsets":[0,0]})";
  ExpectRejected(MakeFile("{\"dup\":" + entry + ",\"dup\":" + entry + "}"), Code::kInvalidArgument,
                 {"duplicate key", "\"dup\""});
  ExpectRejected(MakeFile(OneTensor(R"({"dtype":"U8","dtype":"F32","shape":[0],"data_offsets":[0,0]})")),
                 Code::kInvalidArgument, {"duplicate key", "\"dtype\""});
  ExpectRejected(MakeFile(R"({"__metadata__":{"a":"1","a":"2"}})"), Code::kInvalidArgument,
                 {"duplicate key", "\"a\""});
}

TEST(Malformed, MissingFields) {
  ExpectRejected(MakeFile(OneTensor(R"({"shape":[1],"data_offsets":[0,1]})"), "x"), Code::kInvalidArgument,
                 {"\"t\"", "missing \"dtype\""});
  ExpectRejected(MakeFile(OneTensor(R"({"dtype":"U8","data_offsets":[0,1]})"), "x"), Code::kInvalidArgument,
                 {"\"t\"", "missing \"shape\""});
  ExpectRejected(MakeFile(OneTensor(R"({"dtype":"U8","shape":[1]})"), "x"), Code::kInvalidArgument,
                 {"\"t\"", "missing \"data_offsets\""});
}

TEST(Malformed, WrongJsonTypes) {
  ExpectRejected(MakeFile(OneTensor("5")), Code::kInvalidArgument, {"\"t\"", "entry must be a JSON object"});
  ExpectRejected(MakeFile(OneTensor(R"({"dtype":7,"shape":[1],"data_offsets":[0,1]})"), "x"),
                 Code::kInvalidArgument, {"\"t\"", "\"dtype\" must be a string"});
  ExpectRejected(MakeFile(OneTensor(R"({"dtype":"U8","shape":"1","data_offsets":[0,1]})"), "x"),
                 Code::kInvalidArgument, {"\"t\"", "\"shape\" must be an array"});
  ExpectRejected(MakeFile(OneTensor(R"({"dtype":"U8","shape":[1.0],"data_offsets":[0,1]})"), "x"),
                 Code::kInvalidArgument, {"\"t\"", "must hold integers"});
  ExpectRejected(MakeFile(OneTensor(R"({"dtype":"U8","shape":["1"],"data_offsets":[0,1]})"), "x"),
                 Code::kInvalidArgument, {"\"t\"", "must hold integers"});
  ExpectRejected(MakeFile(OneTensor(R"({"dtype":"U8","shape":[1],"data_offsets":[0,1,2]})"), "x"),
                 Code::kInvalidArgument, {"\"t\"", "data_offsets"});
  ExpectRejected(MakeFile(OneTensor(R"({"dtype":"U8","shape":[1],"data_offsets":{"a":0}})"), "x"),
                 Code::kInvalidArgument, {"\"t\"", "data_offsets"});
  ExpectRejected(MakeFile(OneTensor(R"({"dtype":"U8","shape":[1],"data_offsets":[-1,0]})"), "x"),
                 Code::kInvalidArgument, {"\"t\"", "non-negative"});
  ExpectRejected(MakeFile(OneTensor(R"({"dtype":"U8","shape":[1],"data_offsets":[0.0,1]})"), "x"),
                 Code::kInvalidArgument, {"\"t\"", "data_offsets"});
}

TEST(Malformed, UnsupportedDTypesAreNamed) {
  for (const std::string dtype : {"I16", "BOOL", "F8_E4M3", "I8", "C64"}) {
    ExpectRejected(
        MakeFile(OneTensor(R"({"dtype":")" + dtype + R"(","shape":[1],"data_offsets":[0,8]})"), std::string(8, 0)),
        Code::kInvalidArgument, {"\"t\"", "unsupported dtype \"" + dtype + "\""});
  }
}

TEST(Malformed, NegativeDimension) {
  ExpectRejected(MakeFile(OneTensor(R"({"dtype":"U8","shape":[2,-1],"data_offsets":[0,0]})")),
                 Code::kInvalidArgument, {"\"t\"", "negative dimension -1"});
}

TEST(Malformed, DimensionBeyondInt64) {
  ExpectRejected(MakeFile(OneTensor(R"({"dtype":"U8","shape":[9223372036854775808],"data_offsets":[0,0]})")),
                 Code::kInvalidArgument, {"\"t\"", "too large"});
  // Beyond uint64 nlohmann reads a float, which is not an integer.
  ExpectRejected(MakeFile(OneTensor(R"({"dtype":"U8","shape":[18446744073709551616],"data_offsets":[0,0]})")),
                 Code::kInvalidArgument, {"\"t\"", "must hold integers"});
}

TEST(Malformed, ShapeProductOverflow) {
  // Each dimension fits but the product does not: 2^32 * 2^32.
  ExpectRejected(
      MakeFile(OneTensor(R"({"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]})")),
      Code::kInvalidArgument, {"\"t\"", "overflows"});
  // Element count fits int64, byte size does not fit uint64: 2^62 x 8 bytes.
  ExpectRejected(MakeFile(OneTensor(R"({"dtype":"I64","shape":[4611686018427387904],"data_offsets":[0,0]})")),
                 Code::kInvalidArgument, {"\"t\"", "overflows"});
  // The element count itself must fit int64 (numel() is signed): 2^63 U8.
  ExpectRejected(MakeFile(OneTensor(R"({"dtype":"U8","shape":[2,4611686018427387904],"data_offsets":[0,0]})")),
                 Code::kInvalidArgument, {"\"t\"", "overflows"});
}

TEST(Malformed, OffsetsBeyondData) {
  ExpectRejected(MakeFile(OneTensor(R"({"dtype":"U8","shape":[4],"data_offsets":[0,4]})"), "abc"),
                 Code::kDataLoss, {"\"t\"", "exceed the data buffer of 3 bytes"});
  ExpectRejected(MakeFile(OneTensor(R"({"dtype":"U8","shape":[0],"data_offsets":[18446744073709551615,18446744073709551615]})")),
                 Code::kDataLoss, {"\"t\"", "exceed"});
}

TEST(Malformed, BeginAfterEnd) {
  ExpectRejected(MakeFile(OneTensor(R"({"dtype":"U8","shape":[1],"data_offsets":[2,1]})"), "ab"),
                 Code::kInvalidArgument, {"\"t\"", "begin 2 > end 1"});
}

TEST(Malformed, SizeMismatch) {
  ExpectRejected(MakeFile(OneTensor(R"({"dtype":"F32","shape":[2],"data_offsets":[0,4]})"), "abcd"),
                 Code::kInvalidArgument, {"\"t\"", "size mismatch", "needs 8"});
}

TEST(Malformed, OverlappingRanges) {
  ExpectRejected(MakeFile(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                          R"("b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})",
                          "abcd"),
                 Code::kInvalidArgument, {"\"b\"", "overlap", "\"a\""});
  // Two tensors aliasing the same bytes.
  ExpectRejected(MakeFile(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                          R"("b":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})",
                          "abcd"),
                 Code::kInvalidArgument, {"overlap"});
}

TEST(Malformed, GapBetweenRanges) {
  ExpectRejected(MakeFile(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                          R"("b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})",
                          "abcd"),
                 Code::kInvalidArgument, {"\"b\"", "gap"});
  ExpectRejected(MakeFile(OneTensor(R"({"dtype":"U8","shape":[2],"data_offsets":[2,4]})"), "abcd"),
                 Code::kInvalidArgument, {"\"t\"", "gap"});
}

TEST(Malformed, TrailingBytes) {
  ExpectRejected(MakeFile(OneTensor(R"({"dtype":"U8","shape":[2],"data_offsets":[0,2]})"), "abcd"),
                 Code::kInvalidArgument, {"trailing bytes", "2 of the 4"});
  ExpectRejected(MakeFile("{}", "x"), Code::kInvalidArgument, {"trailing bytes"});
}

TEST(Malformed, MetadataMustMapStringsToStrings) {
  ExpectRejected(MakeFile(R"({"__metadata__":["pt"]})"), Code::kInvalidArgument, {"__metadata__", "object"});
  ExpectRejected(MakeFile(R"({"__metadata__":{"format":1}})"), Code::kInvalidArgument,
                 {"__metadata__", "\"format\"", "string"});
  ExpectRejected(MakeFile(R"({"__metadata__":{"format":{"a":"b"}}})"), Code::kInvalidArgument,
                 {"__metadata__", "string"});
}

TEST(Malformed, EmptyTensorName) {
  ExpectRejected(MakeFile(R"({"":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}})"), Code::kInvalidArgument,
                 {"empty tensor name"});
}

TEST(Malformed, HostileNamesAreEscapedAndBounded) {
  const std::string name = "evil\n\x01" + std::string(1000, 'x');
  ExpectRejected(MakeFile("{\"evil\\n\\u0001" + std::string(1000, 'x') +
                          R"(":{"dtype":"I16","shape":[0],"data_offsets":[0,0]}})"),
                 Code::kInvalidArgument, {"evil\\x0a\\x01", "(1006 bytes)"});
  absl::Status status = File::FromBytes(MakeFile("{\"" + std::string(5000, 'y') +
                                                 R"(":{"dtype":"I16","shape":[0],"data_offsets":[0,0]}})"))
                            .status();
  EXPECT_LT(status.message().size(), 600u);
}

// ---- Inputs that look odd but are valid ----

TEST(Valid, ZeroTensors) {
  for (const std::string header : {"{}", "{}      ", R"({"__metadata__":{}})", R"({"__metadata__":{"a":"b"}})"}) {
    absl::StatusOr<std::unique_ptr<File>> file = File::FromBytes(MakeFile(header));
    ASSERT_TRUE(file.ok()) << header << ": " << file.status();
    EXPECT_TRUE((*file)->tensors().empty());
  }
}

TEST(Valid, ZeroElementTensorsAndPadding) {
  absl::StatusOr<std::unique_ptr<File>> file = File::FromBytes(
      MakeFile(R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
               R"("a":{"dtype":"F16","shape":[0,3],"data_offsets":[4,4]},)"
               R"("c":{"dtype":"I64","shape":[2,0],"data_offsets":[0,0]}}   )",
               "abcd"));
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ((*file)->tensors().size(), 3u);
  // Offset order, with the empty tensor at 0 before the one that starts there.
  EXPECT_EQ((*file)->tensors()[0].name, "c");
  EXPECT_EQ((*file)->tensors()[1].name, "b");
  EXPECT_EQ((*file)->tensors()[2].name, "a");
  EXPECT_EQ((*file)->tensors()[2].numel(), 0);
}

TEST(Valid, KeysOutOfOffsetOrderAndUnknownFields) {
  absl::StatusOr<std::unique_ptr<File>> file = File::FromBytes(
      MakeFile(R"({"z":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"extra":true},)"
               R"("a":{"data_offsets":[1,3],"shape":[2],"dtype":"U8"}})",
               "xyz"));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->tensors()[0].name, "z");
  absl::StatusOr<TensorView> a = (*file)->Get("a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(a->data), 2), "yz");
}

TEST(ParseHeader, ValidatesAgainstTheGivenDataSize) {
  const std::string header = R"({"t":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})";
  absl::StatusOr<Header> ok = ParseHeader(header, 8);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->tensors.at(0).shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(ParseHeader(header, 7).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseHeader(header, 9).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace align::safetensors
