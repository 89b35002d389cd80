#pragma once
// A private certificate authority and the server certificates it issues (ECDSA P-256, SHA-256).
#include <string>
#include <vector>

#include "base/secret_bytes.h"
#include "base/status.h"
#include "base/time_format.h"

namespace cmk::crypto {

struct CertificateAndKey {
  std::string cert_pem;
  SecretBytes key_pem;  // PKCS#8 private key
};

// Self-signed CA certificate valid for [not_before, not_after].
Result<CertificateAndKey> CreateCertificateAuthority(const std::string& common_name,
                                                     TimePoint not_before, TimePoint not_after);

// A TLS server certificate signed by `ca`, with subjectAltName entries: each of `dns_names`
// (wildcards allowed) and each of `ip_addresses` (IPv4 or IPv6 text).
Result<CertificateAndKey> IssueServerCertificate(const CertificateAndKey& ca,
                                                 const std::string& common_name,
                                                 const std::vector<std::string>& dns_names,
                                                 const std::vector<std::string>& ip_addresses,
                                                 TimePoint not_before, TimePoint not_after);

// The DNS and IP subjectAltNames of a PEM certificate (for reissue decisions and tests).
Result<std::vector<std::string>> CertificateSubjectAltNames(const std::string& cert_pem);

}  // namespace cmk::crypto
