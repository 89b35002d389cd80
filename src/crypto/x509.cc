#include "crypto/x509.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <memory>

#include "crypto/openssl_free.h"

namespace cmk::crypto {
namespace {

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

Status AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return Internal("cannot build X.509 extension " + value);
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1 ? OkStatus() : Internal("cannot add X.509 extension");
}

Result<X509Ptr> NewCert(EVP_PKEY* key, const std::string& cn, TimePoint nb, TimePoint na) {
  X509Ptr cert(X509_new());
  if (!cert) return Internal("X509_new failed");
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  ASN1_TIME_set(X509_getm_notBefore(cert.get()), static_cast<time_t>(ToUnixSeconds(nb)));
  ASN1_TIME_set(X509_getm_notAfter(cert.get()), static_cast<time_t>(ToUnixSeconds(na)));
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("cmklogs"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  return cert;
}

Result<CertificateAndKey> Finish(X509* cert, EVP_PKEY* key, EVP_PKEY* signer) {
  if (X509_sign(cert, signer, EVP_sha256()) <= 0) return Internal("certificate signing failed");
  std::unique_ptr<BIO, BioFree> cb(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(cb.get(), cert);
  char* data = nullptr;
  long len = BIO_get_mem_data(cb.get(), &data);
  CertificateAndKey out;
  out.cert_pem.assign(data, static_cast<size_t>(len));
  std::unique_ptr<BIO, BioFree> kb(BIO_new(BIO_s_secmem()));
  PEM_write_bio_PrivateKey(kb.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  len = BIO_get_mem_data(kb.get(), &data);
  out.key_pem = SecretBytes(std::span<const uint8_t>(reinterpret_cast<uint8_t*>(data), static_cast<size_t>(len)));
  return out;
}

}  // namespace

Result<CertificateAndKey> CreateCertificateAuthority(const std::string& common_name,
                                                     TimePoint not_before, TimePoint not_after) {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return Internal("EC key generation failed");
  ASSIGN_OR_RETURN(X509Ptr cert, NewCert(key.get(), common_name, not_before, not_after));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  RETURN_IF_ERROR(AddExt(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  RETURN_IF_ERROR(AddExt(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign"));
  RETURN_IF_ERROR(AddExt(cert.get(), cert.get(), NID_subject_key_identifier, "hash"));
  RETURN_IF_ERROR(AddExt(cert.get(), cert.get(), NID_authority_key_identifier, "keyid:always"));
  return Finish(cert.get(), key.get(), key.get());
}

Result<CertificateAndKey> IssueServerCertificate(const CertificateAndKey& ca,
                                                 const std::string& common_name,
                                                 const std::vector<std::string>& dns_names,
                                                 const std::vector<std::string>& ip_addresses,
                                                 TimePoint not_before, TimePoint not_after) {
  std::unique_ptr<BIO, BioFree> cab(BIO_new_mem_buf(ca.cert_pem.data(), static_cast<int>(ca.cert_pem.size())));
  X509Ptr ca_cert(PEM_read_bio_X509(cab.get(), nullptr, nullptr, nullptr));
  std::unique_ptr<BIO, BioFree> kb(BIO_new_mem_buf(ca.key_pem.data(), static_cast<int>(ca.key_pem.size())));
  PkeyPtr ca_key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
  if (!ca_cert || !ca_key) return InvalidArgument("invalid CA certificate or key");
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return Internal("EC key generation failed");
  ASSIGN_OR_RETURN(X509Ptr cert, NewCert(key.get(), common_name, not_before, not_after));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get()));
  std::string san;
  for (const auto& d : dns_names) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
  for (const auto& ip : ip_addresses) san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
  RETURN_IF_ERROR(AddExt(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE"));
  RETURN_IF_ERROR(AddExt(cert.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature"));
  RETURN_IF_ERROR(AddExt(cert.get(), ca_cert.get(), NID_ext_key_usage, "serverAuth"));
  RETURN_IF_ERROR(AddExt(cert.get(), ca_cert.get(), NID_subject_key_identifier, "hash"));
  RETURN_IF_ERROR(AddExt(cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid:always"));
  if (!san.empty()) RETURN_IF_ERROR(AddExt(cert.get(), ca_cert.get(), NID_subject_alt_name, san));
  return Finish(cert.get(), key.get(), ca_key.get());
}

Result<std::vector<std::string>> CertificateSubjectAltNames(const std::string& cert_pem) {
  std::unique_ptr<BIO, BioFree> b(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())));
  X509Ptr cert(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
  if (!cert) return InvalidArgument("invalid certificate");
  std::vector<std::string> out;
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type == GEN_DNS) {
      const auto* s = ASN1_STRING_get0_data(gn->d.dNSName);
      out.emplace_back(reinterpret_cast<const char*>(s), static_cast<size_t>(ASN1_STRING_length(gn->d.dNSName)));
    } else if (gn->type == GEN_IPADD) {
      const unsigned char* ip = ASN1_STRING_get0_data(gn->d.iPAddress);
      int len = ASN1_STRING_length(gn->d.iPAddress);
      char txt[INET6_ADDRSTRLEN] = {0};
      if ((len == 4 && inet_ntop(AF_INET, ip, txt, sizeof txt)) ||
          (len == 16 && inet_ntop(AF_INET6, ip, txt, sizeof txt))) {
        out.emplace_back(txt);
      }
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

}  // namespace cmk::crypto
