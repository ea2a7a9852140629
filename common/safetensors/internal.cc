#include "common/safetensors/internal.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace align::safetensors::internal {
namespace {

using json = nlohmann::json;

// Long enough to identify any real tensor name, short enough that a hostile
// file cannot make error messages huge.
constexpr size_t kMaxQuotedBytes = 160;
// nlohmann's messages echo the offending token, which can be arbitrarily long.
constexpr size_t kMaxParseMessageBytes = 400;
// Valid headers nest three levels deep. Without a bound, a header of nothing but
// '[' would cost about 100 bytes of DOM per input byte; serde_json, which the
// reference implementation uses, stops at the same depth.
constexpr size_t kMaxJsonDepth = 128;

// Builds a DOM from nlohmann's SAX events, stopping at the first duplicate key
// or at excessive nesting.
// It mirrors nlohmann::detail::json_sax_dom_parser, which is internal API.
class StrictDomBuilder {
 public:
  bool null() { return Insert(nullptr) != nullptr; }
  bool boolean(bool v) { return Insert(v) != nullptr; }
  bool number_integer(json::number_integer_t v) { return Insert(v) != nullptr; }
  bool number_unsigned(json::number_unsigned_t v) { return Insert(v) != nullptr; }
  bool number_float(json::number_float_t v, const std::string& /*text*/) {
    return Insert(v) != nullptr;
  }
  bool string(std::string& v) { return Insert(std::move(v)) != nullptr; }
  bool binary(json::binary_t& v) { return Insert(json::binary(std::move(v))) != nullptr; }

  bool start_object(std::size_t /*size*/) { return Open(json::object()); }
  bool start_array(std::size_t /*size*/) { return Open(json::array()); }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }

  bool key(std::string& k) {
    const auto& object = *stack_.back()->get_ptr<const json::object_t*>();
    if (object.count(k) != 0) {
      error_ = absl::StrCat("duplicate key ", Quote(k));
      semantic_error_ = true;
      return false;
    }
    key_ = std::move(k);
    return true;
  }

  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& e) {
    std::string_view message = e.what();
    // Drop the "[json.exception.parse_error.101] " tag: it means nothing to users.
    if (!message.empty() && message.front() == '[') {
      size_t close = message.find("] ");
      if (close != std::string_view::npos) message.remove_prefix(close + 2);
    }
    if (message.size() > kMaxParseMessageBytes) {
      error_ = absl::StrCat(AsAbsl(message.substr(0, kMaxParseMessageBytes)), "...");
    } else {
      error_ = std::string(message);
    }
    return false;
  }

  json& root() { return root_; }
  const std::string& error() const { return error_; }
  // Errors found by the builder rather than the parser: the text is valid JSON.
  bool semantic_error() const { return semantic_error_; }

 private:
  // Places `value` where the parser is (top level, next array element or the
  // pending object key) and returns where it now lives.
  json* Insert(json value) {
    if (stack_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    json& parent = *stack_.back();
    if (auto* array = parent.get_ptr<json::array_t*>()) {
      array->push_back(std::move(value));
      return &array->back();
    }
    auto& object = *parent.get_ptr<json::object_t*>();
    return &(object[std::move(key_)] = std::move(value));
  }

  // Pointers on the stack stay valid: only the innermost open container grows,
  // and none of its elements is itself open.
  bool Open(json container) {
    if (stack_.size() >= kMaxJsonDepth) {
      error_ = absl::StrCat("nested deeper than ", kMaxJsonDepth, " levels");
      semantic_error_ = true;
      return false;
    }
    stack_.push_back(Insert(std::move(container)));
    return true;
  }

  bool Close() {
    stack_.pop_back();
    return true;
  }

  json root_;
  std::vector<json*> stack_;
  std::string key_;
  std::string error_;
  bool semantic_error_ = false;
};

// Decodes one UTF-8 sequence at s[i], returning its length or 0 when it is
// malformed, overlong, a surrogate or beyond U+10FFFF.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t b0 = byte(i);
  if (b0 < 0x80) return 1;
  size_t length;
  uint32_t code_point;
  if ((b0 & 0xE0) == 0xC0) {
    length = 2;
    code_point = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    length = 3;
    code_point = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    length = 4;
    code_point = b0 & 0x07;
  } else {
    return 0;
  }
  if (s.size() - i < length) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (byte(i + k) & 0x3F);
  }
  static constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code_point < kMinForLength[length]) return 0;
  if (code_point >= 0xD800 && code_point <= 0xDFFF) return 0;
  if (code_point > 0x10FFFF) return 0;
  return length;
}

absl::Status WriteAll(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat("cannot write ", path));
    }
    bytes.remove_prefix(static_cast<size_t>(written));
  }
  return absl::OkStatus();
}

// The rename is only durable once the directory entry is; failure here does
// not make the data wrong, so it is not reported.
void SyncParentDirectory(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

absl::Status WriteAndSync(int fd, std::initializer_list<std::string_view> pieces,
                          const std::string& path) {
  for (std::string_view piece : pieces) {
    absl::Status status = WriteAll(fd, piece, path);
    if (!status.ok()) return status;
  }
  if (::fsync(fd) != 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot fsync ", path));
  return absl::OkStatus();
}

}  // namespace

std::string Quote(std::string_view s) {
  const bool utf8 = IsValidUtf8(s);
  std::string_view shown = s.substr(0, kMaxQuotedBytes);
  // Cut on a character boundary so valid UTF-8 stays valid.
  if (utf8 && shown.size() < s.size()) {
    while (!shown.empty() && (static_cast<uint8_t>(s[shown.size()]) & 0xC0) == 0x80) {
      shown.remove_suffix(1);
    }
  }
  std::string out = "\"";
  for (char c : shown) {
    const auto u = static_cast<uint8_t>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7F || (u >= 0x80 && !utf8)) {
      out += absl::StrFormat("\\x%02x", u);
    } else {
      out += c;
    }
  }
  out += '"';
  if (shown.size() < s.size()) absl::StrAppend(&out, "... (", s.size(), " bytes)");
  return out;
}

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t length = Utf8SequenceLength(s, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

absl::StatusOr<nlohmann::json> ParseJson(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    size_t length = Utf8SequenceLength(text, i);
    if (length == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("not valid UTF-8 (bad byte sequence at offset ", i, ")"));
    }
    // nlohmann's lexer takes a NUL byte for the end of input and would ignore
    // whatever follows; JSON text never contains one unescaped.
    if (text[i] == '\0') {
      return absl::InvalidArgumentError(absl::StrCat("not valid JSON: NUL byte at offset ", i));
    }
    i += length;
  }
  StrictDomBuilder builder;
  const char* begin = text.data();
  const char* end = begin + text.size();
  if (!json::sax_parse(begin, end, &builder, json::input_format_t::json, /*strict=*/true,
                       /*ignore_comments=*/false)) {
    if (builder.semantic_error()) return absl::InvalidArgumentError(builder.error());
    return absl::InvalidArgumentError(absl::StrCat("not valid JSON: ", builder.error()));
  }
  return std::move(builder.root());
}

absl::StatusOr<uint64_t> ByteSize(DType dtype, const std::vector<int64_t>& shape) {
  // Checked even when a later dimension is 0, as the reference implementation
  // does, so both agree on which shapes are representable.
  uint64_t numel = 1;
  for (int64_t dim : shape) {
    if (dim < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("negative dimension ", dim, " in shape ", ShapeString(shape)));
    }
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(dim), &numel) ||
        numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return absl::InvalidArgumentError(
          absl::StrCat("shape ", ShapeString(shape), " overflows the element count"));
    }
  }
  uint64_t bytes;
  if (__builtin_mul_overflow(numel, static_cast<uint64_t>(DTypeSize(dtype)), &bytes)) {
    return absl::InvalidArgumentError(absl::StrCat("shape ", ShapeString(shape), " of ",
                                                   AsAbsl(DTypeName(dtype)),
                                                   " overflows the byte size"));
  }
  return bytes;
}

absl::Status ValidateTensor(std::string_view name, DType dtype, const std::vector<int64_t>& shape,
                            const void* data, size_t nbytes) {
  if (name.empty()) return absl::InvalidArgumentError("tensor name is empty");
  const auto fail = [&](absl::string_view problem) {
    return absl::InvalidArgumentError(absl::StrCat("tensor ", Quote(name), ": ", problem));
  };
  if (name == "__metadata__") return fail("the name __metadata__ is reserved for file metadata");
  if (!IsValidUtf8(name)) return fail("name is not valid UTF-8");
  absl::StatusOr<uint64_t> expected = ByteSize(dtype, shape);
  if (!expected.ok()) return fail(expected.status().message());
  if (*expected != nbytes) {
    return fail(absl::StrCat(nbytes, " bytes given but ", AsAbsl(DTypeName(dtype)), " x shape ",
                             ShapeString(shape), " needs ", *expected));
  }
  if (data == nullptr && nbytes > 0) return fail("data is null");
  return absl::OkStatus();
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::Status WriteFileAtomically(const std::string& path,
                                 std::initializer_list<std::string_view> pieces) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot create ", tmp));
  absl::Status status = WriteAndSync(fd, pieces, tmp);
  if (::close(fd) != 0 && status.ok()) {
    status = absl::ErrnoToStatus(errno, absl::StrCat("cannot close ", tmp));
  }
  if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    status = absl::ErrnoToStatus(errno, absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  if (!status.ok()) {
    ::unlink(tmp.c_str());
    return status;
  }
  SyncParentDirectory(path);
  return absl::OkStatus();
}

}  // namespace align::safetensors::internal
