// A tiny JSON writer for the tools' --json output: objects, arrays, strings, integers, bools,
// fixed-point doubles and null. No parsing, no external library.
//
//   JsonWriter w;
//   w.begin_object().field("image", path).field("capacity_bytes", n);
//   w.key("keyslots").begin_array() ... .end_array();
//   w.end_object();
//   std::cout << w.str() << "\n";
//
// Misuse (a value where a key is needed, unbalanced ends) is a programming error: asserted.
#pragma once

#include <concepts>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vdisk::tools {

// `s` as a JSON string literal, quotes included. Escapes '"', '\\', and control characters
// (\b \f \n \r \t, others as \u00XX, DEL as \u007f). Bytes that are not valid UTF-8 are replaced
// by U+FFFD, so the output is always valid JSON (file names may hold any bytes).
std::string json_quote(std::string_view s);

// Lowercase hexadecimal of `bytes` ("00ff...").
std::string to_hex(std::span<const uint8_t> bytes);

class JsonWriter {
 public:
  // pretty: newlines and two-space indentation; otherwise one compact line.
  explicit JsonWriter(bool pretty = true) : pretty_(pretty) {}

  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view name);

  JsonWriter& value(std::string_view s);
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
  JsonWriter& value(bool b);
  template <std::integral T>
    requires(!std::same_as<T, bool> && !std::same_as<T, char>)
  JsonWriter& value(T v) {
    if constexpr (std::is_signed_v<T>) {
      return raw(std::to_string(static_cast<long long>(v)));
    } else {
      return raw(std::to_string(static_cast<unsigned long long>(v)));
    }
  }
  // A double with `decimals` digits after the point; non-finite values are written as null.
  JsonWriter& value(double v, int decimals = 2);
  JsonWriter& null();
  // Lowercase hex string of bytes.
  JsonWriter& hex(std::span<const uint8_t> bytes);

  // key(name).value(v)
  template <typename T>
  JsonWriter& field(std::string_view name, const T& v) {
    key(name);
    return value(v);
  }

  // The document so far. Complete once every begin has its end.
  const std::string& str() const { return out_; }
  bool complete() const { return stack_.empty() && !out_.empty(); }

 private:
  struct Level {
    bool object;
    size_t count;
  };
  JsonWriter& raw(std::string_view text);
  void before_value();
  void newline_indent();

  bool pretty_;
  bool after_key_ = false;
  std::vector<Level> stack_;
  std::string out_;
};

}  // namespace vdisk::tools
