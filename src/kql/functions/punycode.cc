// Punycode functions (RFC 3492): punycode_from_string, punycode_to_string and the per-label
// punycode_domain_to_string / punycode_domain_from_string ("xn--" labels; the separators . 。 ．
// ｡ all become '.'). No IDNA mapping (case folding, normalization) is applied, as the docs'
// examples keep case and spaces ("xn--Ge-mia" is "Gáe"). Failures give "", as documented.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kql/functions/function_util.h"

namespace cmk::kql::fn {
namespace {

constexpr uint32_t kBase = 36, kTMin = 1, kTMax = 26, kSkew = 38, kDamp = 700;
constexpr uint32_t kInitialBias = 72, kInitialN = 128;

// UTF-8 <-> code points; nullopt for malformed text.
std::optional<std::vector<uint32_t>> Decode8(std::string_view s) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < s.size();) {
    auto b = static_cast<unsigned char>(s[i]);
    size_t n = b < 0x80 ? 0 : (b >> 5) == 0x6 ? 1 : (b >> 4) == 0xE ? 2 : (b >> 3) == 0x1E ? 3 : 9;
    if (n == 9 || i + n >= s.size()) return std::nullopt;  // bad lead byte or cut sequence
    uint32_t cp = n == 0 ? b : n == 1 ? (b & 0x1F) : n == 2 ? (b & 0x0F) : (b & 0x07);
    for (size_t k = 1; k <= n; ++k) {
      auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
    out.push_back(cp);
    i += n + 1;
  }
  return out;
}

void Encode8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out += {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
  } else if (cp < 0x10000) {
    out += {static_cast<char>(0xE0 | (cp >> 12)), static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
            static_cast<char>(0x80 | (cp & 0x3F))};
  } else {
    out += {static_cast<char>(0xF0 | (cp >> 18)), static_cast<char>(0x80 | ((cp >> 12) & 0x3F)),
            static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), static_cast<char>(0x80 | (cp & 0x3F))};
  }
}

uint32_t Adapt(uint32_t delta, uint32_t points, bool first) {
  delta = first ? delta / kDamp : delta / 2;
  delta += delta / points;
  uint32_t k = 0;
  while (delta > ((kBase - kTMin) * kTMax) / 2) {
    delta /= kBase - kTMin;
    k += kBase;
  }
  return k + (kBase - kTMin + 1) * delta / (delta + kSkew);
}

uint32_t Threshold(uint32_t k, uint32_t bias) {
  return k <= bias ? kTMin : k >= bias + kTMax ? kTMax : k - bias;
}

char Digit(uint32_t d) { return static_cast<char>(d < 26 ? 'a' + d : '0' + (d - 26)); }

std::optional<std::string> PunyEncode(const std::vector<uint32_t>& in) {
  std::string out;
  for (uint32_t c : in) {
    if (c < 0x80) out.push_back(static_cast<char>(c));
  }
  auto b = static_cast<uint32_t>(out.size());
  uint32_t h = b, n = kInitialN, bias = kInitialBias;
  uint64_t delta = 0;
  if (b > 0) out.push_back('-');
  while (h < in.size()) {
    uint32_t m = UINT32_MAX;
    for (uint32_t c : in) {
      if (c >= n && c < m) m = c;
    }
    delta += uint64_t{m - n} * (h + 1);
    if (delta > UINT32_MAX) return std::nullopt;
    n = m;
    for (uint32_t c : in) {
      if (c < n && ++delta > UINT32_MAX) return std::nullopt;
      if (c != n) continue;
      uint32_t q = static_cast<uint32_t>(delta);
      for (uint32_t k = kBase;; k += kBase) {
        uint32_t t = Threshold(k, bias);
        if (q < t) break;
        out.push_back(Digit(t + (q - t) % (kBase - t)));
        q = (q - t) / (kBase - t);
      }
      out.push_back(Digit(q));
      bias = Adapt(static_cast<uint32_t>(delta), h + 1, h == b);
      delta = 0;
      ++h;
    }
    ++delta;
    ++n;
  }
  return out;
}

std::optional<std::vector<uint32_t>> PunyDecode(std::string_view in) {
  std::vector<uint32_t> out;
  size_t dash = in.rfind('-');
  size_t pos = 0;
  if (dash != std::string_view::npos) {
    for (char c : in.substr(0, dash)) {
      if (static_cast<unsigned char>(c) >= 0x80) return std::nullopt;
      out.push_back(static_cast<unsigned char>(c));
    }
    pos = dash + 1;
  }
  uint32_t n = kInitialN, bias = kInitialBias;
  uint64_t i = 0;
  while (pos < in.size()) {
    uint64_t old_i = i, w = 1;
    for (uint32_t k = kBase;; k += kBase) {
      if (pos >= in.size()) return std::nullopt;
      char c = in[pos++];
      uint32_t d = c >= 'a' && c <= 'z'   ? c - 'a'
                   : c >= 'A' && c <= 'Z' ? c - 'A'
                   : c >= '0' && c <= '9' ? c - '0' + 26
                                          : kBase;
      if (d >= kBase) return std::nullopt;
      i += d * w;
      uint32_t t = Threshold(k, bias);
      if (i > UINT32_MAX || d < t) break;
      w *= kBase - t;
      if (w > UINT32_MAX) return std::nullopt;
    }
    if (i > UINT32_MAX) return std::nullopt;
    auto len = static_cast<uint32_t>(out.size() + 1);
    bias = Adapt(static_cast<uint32_t>(i - old_i), len, old_i == 0);
    uint64_t next = n + i / len;
    i %= len;
    if (next > 0x10FFFF || (next >= 0xD800 && next <= 0xDFFF) || next < 0x80) return std::nullopt;
    n = static_cast<uint32_t>(next);
    out.insert(out.begin() + static_cast<std::ptrdiff_t>(i), n);
    ++i;
  }
  return out;
}

std::string FromString(std::string_view s) {
  auto cps = Decode8(s);
  if (!cps) return "";
  return PunyEncode(*cps).value_or("");
}

std::string ToString(std::string_view s) {
  auto cps = PunyDecode(s);
  if (!cps) return "";
  std::string out;
  for (uint32_t c : *cps) Encode8(c, out);
  return out;
}

// Labels split at the four IDNA dots.
std::optional<std::vector<std::vector<uint32_t>>> Labels(std::string_view s) {
  auto cps = Decode8(s);
  if (!cps) return std::nullopt;
  std::vector<std::vector<uint32_t>> labels(1);
  for (uint32_t c : *cps) {
    if (c == '.' || c == 0x3002 || c == 0xFF0E || c == 0xFF61)
      labels.emplace_back();
    else
      labels.back().push_back(c);
  }
  return labels;
}

std::string DomainToString(std::string_view s) {
  auto labels = Labels(s);
  if (!labels) return "";
  std::string out;
  for (size_t k = 0; k < labels->size(); ++k) {
    const std::vector<uint32_t>& l = (*labels)[k];
    if (k > 0) out.push_back('.');
    bool ascii = std::all_of(l.begin(), l.end(), [](uint32_t c) { return c < 0x80; });
    if (ascii) {
      for (uint32_t c : l) out.push_back(static_cast<char>(c));
      continue;
    }
    std::optional<std::string> p = PunyEncode(l);
    if (!p) return "";
    out += "xn--" + *p;
  }
  return out;
}

std::string DomainFromString(std::string_view s) {
  auto labels = Labels(s);
  if (!labels) return "";
  std::string out;
  for (size_t k = 0; k < labels->size(); ++k) {
    std::string label;
    for (uint32_t c : (*labels)[k]) Encode8(c, label);
    if (k > 0) out.push_back('.');
    if (label.size() >= 4 && EqualsNoCase(std::string_view(label).substr(0, 4), "xn--")) {
      auto cps = PunyDecode(std::string_view(label).substr(4));
      if (!cps) return "";
      for (uint32_t c : *cps) Encode8(c, out);
    } else {
      out += label;
    }
  }
  return out;
}

template <std::string (*F)(std::string_view)>
Result<Column> EvalText(Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kString, s);
  std::string scratch;
  for (size_t i = 0; i < s.rows; ++i) {
    const Column& c = *a[0];
    out.strings[i] =
        F(c.type == Type::kString ? std::string_view(c.Str(i)) : (scratch = ValueToString(c, i)));
  }
  return out;
}

}  // namespace

void RegisterPunycode(Registry& r) {
  r.Function({"punycode_from_string", 1, 1, Returns(Type::kString), EvalText<FromString>});
  r.Function({"punycode_to_string", 1, 1, Returns(Type::kString), EvalText<ToString>});
  r.Function({"punycode_domain_to_string", 1, 1, Returns(Type::kString), EvalText<DomainToString>});
  r.Function(
      {"punycode_domain_from_string", 1, 1, Returns(Type::kString), EvalText<DomainFromString>});
}

}  // namespace cmk::kql::fn
