#pragma once
// The Blob and Table front ends' view of an HTTP request and response (HTTP-agnostic, like
// control's ArmRequest): the server fills these from its own types.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/encoding.h"

namespace cmk::storage_account {

using Pairs = std::vector<std::pair<std::string, std::string>>;

struct StorageRequest {
  std::string method;    // upper case
  std::string account;   // the host's first label: <account>.blob.D
  std::string raw_path;  // the path as sent, still percent-encoded (Shared Key signs it)
  std::string path;      // percent-decoded, starts with '/'
  Pairs query;           // names and values percent-decoded, in order
  Pairs headers;
  std::string body;

  std::string_view Header(std::string_view name) const { return Find(headers, name); }
  bool HasHeader(std::string_view name) const { return Has(headers, name); }
  std::string_view Query(std::string_view name) const { return Find(query, name); }
  bool HasQuery(std::string_view name) const { return Has(query, name); }

 private:
  static std::string_view Find(const Pairs& p, std::string_view name) {
    for (const auto& [k, v] : p) {
      if (EqualsIgnoreCase(k, name)) return v;
    }
    return {};
  }
  static bool Has(const Pairs& p, std::string_view name) {
    for (const auto& [k, v] : p) {
      if (EqualsIgnoreCase(k, name)) return true;
    }
    return false;
  }
};

struct StorageResponse {
  int status = 200;
  Pairs headers;
  std::string body;
  void Set(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
};

}  // namespace cmk::storage_account
