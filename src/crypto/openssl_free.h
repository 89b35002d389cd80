#pragma once
// Deleters for std::unique_ptr over OpenSSL objects, shared by the files of crypto/ (internal).
#include <openssl/bio.h>
#include <openssl/evp.h>

namespace cmk::crypto {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

}  // namespace cmk::crypto
