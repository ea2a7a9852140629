// libFuzzer target for the safetensors reader. Built with ASan/UBSan, so any
// read outside the buffer while touching a tensor's bytes is a crash; the
// explicit checks turn broken invariants (which sanitizers cannot see) into
// crashes too.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/safetensors/reader.h"
#include "common/safetensors/writer.h"

namespace {

using align::safetensors::DTypeSize;
using align::safetensors::File;
using align::safetensors::TensorInfo;
using align::safetensors::Writer;

#define FUZZ_CHECK(cond)                                              \
  do {                                                                \
    if (!(cond)) {                                                    \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                   \
    }                                                                 \
  } while (0)

uint64_t HeaderLength(const uint8_t* data) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  return n;
}

// Reads every byte of every tensor first, so that a range escaping the buffer
// is reported by ASan with its stack, then checks the ranges tile the data.
uint64_t TouchTensors(const File& file, uint64_t data_bytes) {
  uint64_t sum = 0;
  for (const TensorInfo& info : file.tensors()) {
    auto view = file.Get(info.name);
    FUZZ_CHECK(view.ok());
    FUZZ_CHECK(view->info == &info);
    for (uint64_t i = 0; i < info.nbytes(); ++i) sum += view->data[i];
  }
  uint64_t covered = 0;
  for (const TensorInfo& info : file.tensors()) {
    FUZZ_CHECK(info.begin == covered);
    FUZZ_CHECK(info.begin <= info.end && info.end <= data_bytes);
    // numel() multiplies in int64: UBSan reports a shape that overflows it.
    FUZZ_CHECK(static_cast<uint64_t>(info.numel()) * DTypeSize(info.dtype) == info.nbytes());
    covered = info.end;
  }
  FUZZ_CHECK(covered == data_bytes);
  return sum;
}

// What the reader accepts, the writer must reproduce and the reader accept again.
void CheckRewrite(const File& file) {
  Writer writer;
  for (const auto& [key, value] : file.metadata()) writer.SetMetadata(key, value);
  for (const TensorInfo& info : file.tensors()) {
    auto view = file.Get(info.name);
    FUZZ_CHECK(view.ok());
    FUZZ_CHECK(writer.Add(info.name, info.dtype, info.shape, view->data, info.nbytes()).ok());
  }
  auto again = File::FromBytes(writer.Serialize());
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK((*again)->tensors().size() == file.tensors().size());
  FUZZ_CHECK((*again)->metadata() == file.metadata());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = File::FromBytes(std::string(reinterpret_cast<const char*>(data), size));
  if (!file.ok()) {
    FUZZ_CHECK(!file.status().message().empty());
    return 0;
  }
  const uint64_t data_bytes = size - 8 - HeaderLength(data);
  volatile uint64_t sink = TouchTensors(**file, data_bytes);
  (void)sink;
  CheckRewrite(**file);
  return 0;
}
