#include "keyvault/security_domain.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <set>

#include "base/encoding.h"
#include "base/json.h"
#include "crypto/hash.h"

namespace cmk::keyvault::sd {
namespace {

namespace bj = boost::json;

Status Bad(std::string message) { return InvalidArgument(std::move(message), "BadParameter"); }

// ---- GF(257) ----
// Why 257 and not GF(2^8): the security domain's shares are read by az (and Azure's other
// clients) as values modulo the prime 257 (security_domain/mod_math.py, byte_shares.py); a share
// of ours must combine there, so the field is theirs. In a prime field the arithmetic is plain
// modular arithmetic: no hand-written polynomial reduction, and the inverse is Fermat's
// a^(p-2). A share value can be 256, which is why a share word carries 9 value bits.
constexpr uint32_t kP = 257;
uint32_t Mul(uint32_t a, uint32_t b) { return (a * b) % kP; }
uint32_t Add(uint32_t a, uint32_t b) { return (a + b) % kP; }
uint32_t Sub(uint32_t a, uint32_t b) { return (a + kP - b) % kP; }
uint32_t Inv(uint32_t a) {  // a^255 = a^-1 for a != 0 (Fermat)
  uint32_t r = 1, base = a % kP;
  for (uint32_t e = kP - 2; e > 0; e >>= 1) {
    if (e & 1) r = Mul(r, base);
    base = Mul(base, base);
  }
  return r;
}
// Uniform in [0, 257) by rejection (a plain % would bias small values).
uint32_t RandomCoefficient(env::Random& random) {
  for (;;) {
    uint16_t w;
    random.Fill(std::span<uint8_t>(reinterpret_cast<uint8_t*>(&w), sizeof w));
    uint32_t v = w;
    if (v < 65535u / kP * kP) return v % kP;
  }
}

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};

std::vector<uint8_t> Be64(uint64_t v) {
  std::vector<uint8_t> out(8);
  for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<uint8_t>(v & 0xff);
  return out;
}

std::array<uint8_t, 64> HmacSha512(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  std::array<uint8_t, 64> out{};
  unsigned int n = 0;
  HMAC(EVP_sha512(), key.data(), static_cast<int>(key.size()), data.data(), data.size(), out.data(), &n);
  return out;
}

// A256CBC-HS512 tag: the first 32 bytes of HMAC-SHA512(mac_key, AAD || IV || C || AL).
std::array<uint8_t, 32> Tag(std::span<const uint8_t> mac_key, std::string_view aad,
                            std::span<const uint8_t> iv, std::span<const uint8_t> ct) {
  std::vector<uint8_t> data(aad.begin(), aad.end());
  data.insert(data.end(), iv.begin(), iv.end());
  data.insert(data.end(), ct.begin(), ct.end());
  auto al = Be64(static_cast<uint64_t>(aad.size()) * 8);
  data.insert(data.end(), al.begin(), al.end());
  auto mac = HmacSha512(mac_key, data);
  std::array<uint8_t, 32> tag;
  std::copy(mac.begin(), mac.begin() + 32, tag.begin());
  return tag;
}

Result<std::vector<uint8_t>> AesCbc(bool encrypt, std::span<const uint8_t> key, std::span<const uint8_t> iv,
                                    std::span<const uint8_t> in) {
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_CipherInit_ex(ctx.get(), EVP_aes_256_cbc(), nullptr, key.data(), iv.data(), encrypt ? 1 : 0) != 1) {
    return Internal("AES-256-CBC initialisation failed");
  }
  std::vector<uint8_t> out(in.size() + 16);
  int n1 = 0, n2 = 0;
  if (EVP_CipherUpdate(ctx.get(), out.data(), &n1, in.data(), static_cast<int>(in.size())) != 1 ||
      EVP_CipherFinal_ex(ctx.get(), out.data() + n1, &n2) != 1) {
    WipeBytes(out);
    return Bad("The JWE content does not decrypt.");
  }
  out.resize(static_cast<size_t>(n1 + n2));
  return out;
}

// Encrypts with the 64-byte content key (MAC key first, encryption key second: RFC 7518 5.2.2.1).
Result<std::string> JweSeal(const bj::object& header, std::span<const uint8_t> encrypted_key,
                            std::span<const uint8_t> key64, std::span<const uint8_t> plaintext,
                            env::Random& random) {
  std::string h = Base64UrlEncode(AsBytes(json::Serialize(header)));
  std::array<uint8_t, 16> iv;
  random.Fill(iv);
  ASSIGN_OR_RETURN(auto ct, AesCbc(true, key64.subspan(32, 32), iv, plaintext));
  auto tag = Tag(key64.subspan(0, 32), h, iv, ct);
  return h + "." + Base64UrlEncode(encrypted_key) + "." + Base64UrlEncode(iv) + "." + Base64UrlEncode(ct) +
         "." + Base64UrlEncode(tag);
}

struct JweParts {
  bj::object header;
  std::string encoded_header;
  std::vector<uint8_t> encrypted_key, iv, ct, tag;
};

Result<JweParts> JweParse(std::string_view compact) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i <= compact.size(); ++i) {
    if (i == compact.size() || compact[i] == '.') {
      parts.push_back(compact.substr(start, i - start));
      start = i + 1;
    }
  }
  if (parts.size() != 5) return Bad("A JWE in compact form has five parts.");
  JweParts out;
  out.encoded_header = std::string(parts[0]);
  auto h = Base64UrlDecode(parts[0]);
  auto k = Base64UrlDecode(parts[1]);
  auto iv = Base64UrlDecode(parts[2]);
  auto ct = Base64UrlDecode(parts[3]);
  auto tag = Base64UrlDecode(parts[4]);
  if (!h.ok() || !k.ok() || !iv.ok() || !ct.ok() || !tag.ok()) return Bad("A JWE part is not base64url.");
  auto header = json::ParseObject(AsChars(*h));
  if (!header.ok()) return Bad("The JWE header is not a JSON object.");
  auto enc = json::GetString(*header, "enc");
  if (!enc.ok() || !enc->has_value() || **enc != "A256CBC-HS512") return Bad("The JWE 'enc' must be A256CBC-HS512.");
  if (iv->size() != 16 || tag->size() != 32) return Bad("The JWE IV or tag has the wrong length.");
  out.header = std::move(*header);
  out.encrypted_key = std::move(*k);
  out.iv = std::move(*iv);
  out.ct = std::move(*ct);
  out.tag = std::move(*tag);
  return out;
}

Result<SecretBytes> JweOpen(const JweParts& p, std::span<const uint8_t> key64) {
  if (key64.size() != 64) return Bad("The JWE content key is not 64 bytes.");
  auto tag = Tag(key64.subspan(0, 32), p.encoded_header, p.iv, p.ct);
  if (!ConstantTimeEquals(tag, p.tag)) return Bad("The JWE authentication tag does not match.");
  ASSIGN_OR_RETURN(auto pt, AesCbc(false, key64.subspan(32, 32), p.iv, p.ct));
  SecretBytes out(pt);
  WipeBytes(pt);
  return out;
}

std::string Thumbprint(std::span<const uint8_t> der) { return Base64UrlEncode(crypto::Sha256(der)); }

Result<crypto::RsaKey> PublicKeyOfCert(std::span<const uint8_t> der) {
  const unsigned char* p = der.data();
  std::unique_ptr<X509, X509Free> cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert || p != der.data() + der.size()) return Bad("x5c[0] is not a DER X.509 certificate.");
  EVP_PKEY* key = X509_get0_pubkey(cert.get());
  if (key == nullptr || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) return Bad("Only RSA certificates are supported.");
  if (EVP_PKEY_get_bits(key) < 2048) return Bad("Certificates must hold RSA keys of at least 2048 bits.");
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PUBKEY(bio.get(), key) != 1) return Internal("cannot encode a certificate's key");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return crypto::RsaKey::FromPublicPem(std::string_view(data, static_cast<size_t>(n)));
}

Result<const bj::object*> Obj(const bj::object& o, std::string_view key) {
  auto r = json::GetObject(o, key);
  if (!r.ok() || *r == nullptr) return Bad("The security domain has no '" + std::string(key) + "' object.");
  return *r;
}

Result<std::string> Str(const bj::object& o, std::string_view key) {
  auto r = json::GetString(o, key);
  if (!r.ok() || !r->has_value()) return Bad("The security domain has no '" + std::string(key) + "' string.");
  return **r;
}

// Decrypts EncData's entry tagged kDomainTag with master key `k`.
Result<SecretBytes> OpenEncData(const bj::object& enc_data, const SecretBytes& k) {
  const bj::value* data = json::FindCI(enc_data, "data");
  if (data == nullptr || !data->is_array()) return Bad("EncData.data must be an array.");
  for (const auto& d : data->as_array()) {
    if (!d.is_object()) continue;
    ASSIGN_OR_RETURN(std::string tag, Str(d.as_object(), "tag"));
    if (tag != kDomainTag) continue;
    ASSIGN_OR_RETURN(std::string jwe, Str(d.as_object(), "compact_jwe"));
    SecretBytes key = Sp800108HmacSha512(k.span(), tag, "", 512);
    return JweDecryptDir(key, jwe);
  }
  return Bad("The security domain holds no managed HSM domain of this service.");
}

// Recovers the master key K of a security domain file from the wrapping private keys.
Result<SecretBytes> RecoverMasterKey(const bj::object& file, const std::vector<const crypto::RsaKey*>& keys) {
  ASSIGN_OR_RETURN(const bj::object* shared, Obj(file, "SharedKeys"));
  auto required = json::GetInt(*shared, "required");
  if (!required.ok() || !required->has_value() || **required < 2) return Bad("SharedKeys.required is missing.");
  const bj::value* enc = json::FindCI(*shared, "enc_shares");
  if (enc == nullptr || !enc->is_array()) return Bad("SharedKeys.enc_shares must be an array.");
  std::vector<std::vector<uint16_t>> shares;
  for (const auto& item : enc->as_array()) {
    if (!item.is_object()) continue;
    ASSIGN_OR_RETURN(std::string jwe, Str(item.as_object(), "enc_key"));
    for (const crypto::RsaKey* k : keys) {
      auto share = JweDecryptRsa(*k, jwe);
      if (!share.ok()) continue;
      std::vector<uint16_t> words(share->size() / 2);
      for (size_t i = 0; i < words.size(); ++i) {
        words[i] = static_cast<uint16_t>(share->data()[2 * i] | (share->data()[2 * i + 1] << 8));
      }
      shares.push_back(std::move(words));
      break;
    }
  }
  if (static_cast<int64_t>(shares.size()) < **required) return Bad("Insufficient shares available.");
  return ShamirCombine(shares, static_cast<int>(**required));
}

}  // namespace

std::vector<std::vector<uint16_t>> ShamirSplit(std::span<const uint8_t> secret, int shares, int required,
                                               env::Random& random) {
  std::vector<std::vector<uint16_t>> out(static_cast<size_t>(shares));
  std::vector<uint32_t> coeff(static_cast<size_t>(required));
  for (uint8_t byte : secret) {
    // Highest degree first, the secret last (Horner's order, as byte_shares.py).
    for (int c = 0; c + 1 < required; ++c) coeff[c] = RandomCoefficient(random);
    coeff[required - 1] = byte;
    for (int x = 1; x <= shares; ++x) {
      uint32_t v = 0;
      for (uint32_t c : coeff) v = Add(Mul(v, static_cast<uint32_t>(x)), c);
      out[x - 1].push_back(static_cast<uint16_t>((x << 9) | v));
    }
  }
  std::fill(coeff.begin(), coeff.end(), 0);
  return out;
}

Result<SecretBytes> ShamirCombine(const std::vector<std::vector<uint16_t>>& shares, int required) {
  if (required < 2 || static_cast<int>(shares.size()) < required) return Bad("Insufficient shares.");
  size_t len = shares[0].size();
  for (int i = 0; i < required; ++i) {
    if (shares[i].size() != len) return Bad("The shares have different lengths.");
  }
  SecretBytes out(len);
  for (size_t j = 0; j < len; ++j) {
    uint32_t secret = 0;
    for (int i = 0; i < required; ++i) {
      uint32_t xi = shares[i][j] >> 9, vi = shares[i][j] & 0x1ff;
      uint32_t num = 1, den = 1;
      for (int m = 0; m < required; ++m) {
        if (m == i) continue;
        uint32_t xm = shares[m][j] >> 9;
        if (xm == xi || xm == 0 || xi == 0) return Bad("The shares are not distinct.");
        num = Mul(num, xm);
        den = Mul(den, Sub(xm, xi));
      }
      secret = Add(secret, Mul(Mul(num, Inv(den)), vi % kP));
    }
    if (secret > 255) return Bad("The shares do not combine to a secret.");
    out.data()[j] = static_cast<uint8_t>(secret);
  }
  return out;
}

std::vector<uint8_t> ShareToBytes(const std::vector<uint16_t>& share) {
  std::vector<uint8_t> out;
  out.reserve(share.size() * 2);
  for (uint16_t w : share) {
    out.push_back(static_cast<uint8_t>(w & 0xff));
    out.push_back(static_cast<uint8_t>(w >> 8));
  }
  return out;
}

SecretBytes Sp800108HmacSha512(std::span<const uint8_t> key, std::string_view label, std::string_view context,
                               int bits) {
  SecretBytes out(static_cast<size_t>(bits / 8));
  size_t done = 0;
  for (uint32_t i = 1; done < out.size(); ++i) {
    std::vector<uint8_t> data = {static_cast<uint8_t>(i >> 24), static_cast<uint8_t>(i >> 16),
                                 static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
    data.insert(data.end(), label.begin(), label.end());
    data.push_back(0);
    data.insert(data.end(), context.begin(), context.end());
    uint32_t l = static_cast<uint32_t>(bits);
    for (int s = 24; s >= 0; s -= 8) data.push_back(static_cast<uint8_t>(l >> s));
    auto block = HmacSha512(key, data);
    size_t n = std::min(block.size(), out.size() - done);
    std::copy(block.begin(), block.begin() + static_cast<long>(n), out.data() + done);
    done += n;
    WipeBytes(block);
  }
  return out;
}

Result<std::string> JweEncryptDir(const SecretBytes& key64, std::string_view kid, std::span<const uint8_t> plaintext,
                                  env::Random& random) {
  if (key64.size() != 64) return InvalidArgument("A256CBC-HS512 takes a 64-byte key");
  bj::object header{{"alg", "dir"}, {"enc", "A256CBC-HS512"}, {"kid", kid}};
  return JweSeal(header, {}, key64.span(), plaintext, random);
}

Result<std::string> JweEncryptRsa(const crypto::RsaKey& recipient, std::span<const uint8_t> plaintext,
                                  env::Random& random) {
  SecretBytes cek(64);
  random.Fill(cek.mutable_span());
  ASSIGN_OR_RETURN(auto wrapped, recipient.Encrypt(crypto::RsaPadding::kOaepSha256, cek.span()));
  bj::object header{{"alg", "RSA-OAEP-256"}, {"enc", "A256CBC-HS512"}, {"kid", "not used"}};
  return JweSeal(header, wrapped, cek.span(), plaintext, random);
}

Result<SecretBytes> JweDecryptDir(const SecretBytes& key64, std::string_view compact) {
  ASSIGN_OR_RETURN(JweParts p, JweParse(compact));
  return JweOpen(p, key64.span());
}

Result<SecretBytes> JweDecryptRsa(const crypto::RsaKey& private_key, std::string_view compact) {
  ASSIGN_OR_RETURN(JweParts p, JweParse(compact));
  auto alg = json::GetString(p.header, "alg");
  crypto::RsaPadding padding = crypto::RsaPadding::kOaepSha256;
  if (alg.ok() && alg->has_value() && **alg == "RSA-OAEP") {
    padding = crypto::RsaPadding::kOaepSha1;
  } else if (!alg.ok() || !alg->has_value() || **alg != "RSA-OAEP-256") {
    return Bad("The JWE 'alg' must be RSA-OAEP-256 or RSA-OAEP.");
  }
  auto cek = private_key.Decrypt(padding, p.encrypted_key);
  if (!cek.ok()) return Bad("The JWE key does not decrypt with this private key.");
  return JweOpen(p, cek->span());
}

Result<std::vector<WrappingCertificate>> ParseCertificateSet(const bj::object& body, int* required) {
  const bj::value* certs = json::FindCI(body, "certificates");
  if (certs == nullptr || !certs->is_array()) return Bad("'certificates' must be an array of JSON web keys.");
  auto req = json::GetInt(body, "required");
  if (!req.ok() || !req->has_value()) return Bad("'required' (the quorum) must be an integer.");
  size_t n = certs->as_array().size();
  if (n < 3 || n > 10) return Bad("The security domain needs between 3 and 10 certificates; " + std::to_string(n) + " given.");
  if (**req < 2 || **req > static_cast<int64_t>(n)) {
    return Bad("The quorum ('required') must be at least 2 and at most the number of certificates.");
  }
  std::vector<WrappingCertificate> out;
  std::set<std::string> seen;
  for (const auto& c : certs->as_array()) {
    if (!c.is_object()) return Bad("Each certificate must be a JSON web key.");
    const bj::object* jwk = &c.as_object();
    if (auto v = json::GetObject(*jwk, "value"); v.ok() && *v != nullptr) jwk = *v;
    const bj::value* x5c = json::FindCI(*jwk, "x5c");
    if (x5c == nullptr || !x5c->is_array() || x5c->as_array().empty() || !x5c->as_array()[0].is_string()) {
      return Bad("Each certificate needs 'x5c' with the DER certificate in base64.");
    }
    auto der = Base64Decode(x5c->as_array()[0].as_string());
    if (!der.ok()) return Bad("x5c[0] is not base64.");
    ASSIGN_OR_RETURN(crypto::RsaKey key, PublicKeyOfCert(*der));
    std::string thumb = Thumbprint(*der);
    if (!seen.insert(thumb).second) return Bad("The same certificate is given twice.");
    out.push_back(WrappingCertificate{std::move(*der), std::move(key), std::move(thumb)});
  }
  *required = static_cast<int>(**req);
  return out;
}

Result<std::string> BuildSecurityDomain(const SecretBytes& material, const std::vector<WrappingCertificate>& certs,
                                        int required, env::Random& random) {
  SecretBytes master(32);
  random.Fill(master.mutable_span());
  SecretBytes data_key = Sp800108HmacSha512(master.span(), kDomainTag, "", 512);
  ASSIGN_OR_RETURN(std::string data_jwe, JweEncryptDir(data_key, kDomainTag, material.span(), random));
  auto shares = ShamirSplit(master.span(), static_cast<int>(certs.size()), required, random);
  bj::array enc_shares;
  for (size_t i = 0; i < certs.size(); ++i) {
    std::vector<uint8_t> bytes = ShareToBytes(shares[i]);
    auto jwe = JweEncryptRsa(certs[i].public_key, bytes, random);
    WipeBytes(bytes);
    std::fill(shares[i].begin(), shares[i].end(), 0);
    if (!jwe.ok()) return jwe.status();
    enc_shares.emplace_back(bj::object{{"enc_key", *jwe}, {"x5t_256", certs[i].x5t_s256}});
  }
  bj::object file{
      {"EncData", bj::object{{"data", bj::array{bj::object{{"compact_jwe", data_jwe}, {"tag", kDomainTag}}}},
                             {"kdf", "sp108_kdf"}}},
      {"SharedKeys", bj::object{{"enc_shares", std::move(enc_shares)},
                                {"key_algorithm", "shamir_share"},
                                {"required", required}}},
      {"version", "1.0"}};
  return json::Serialize(file);
}

Result<SecretBytes> RecoverWithPrivateKeys(std::string_view security_domain,
                                           const std::vector<const crypto::RsaKey*>& private_keys) {
  auto file = json::ParseObject(security_domain);
  if (!file.ok()) return Bad("The security domain is not a JSON object.");
  ASSIGN_OR_RETURN(SecretBytes master, RecoverMasterKey(*file, private_keys));
  ASSIGN_OR_RETURN(const bj::object* enc, Obj(*file, "EncData"));
  return OpenEncData(*enc, master);
}

Result<TransferKey> NewTransferKey(std::string_view hsm_name) {
  ASSIGN_OR_RETURN(crypto::RsaKey key, crypto::RsaKey::Generate(3072));
  std::unique_ptr<X509, X509Free> cert(X509_new());
  if (!cert) return Internal("X509_new failed");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 60L * 60 * 24 * 365);
  X509_set_pubkey(cert.get(), key.pkey());
  std::string cn = "Managed HSM " + std::string(hsm_name) + " security domain transfer key";
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  if (X509_sign(cert.get(), key.pkey(), EVP_sha256()) <= 0) return Internal("transfer certificate signing failed");
  int len = i2d_X509(cert.get(), nullptr);
  if (len <= 0) return Internal("cannot encode the transfer certificate");
  TransferKey out;
  out.cert_der.resize(static_cast<size_t>(len));
  unsigned char* p = out.cert_der.data();
  i2d_X509(cert.get(), &p);
  ASSIGN_OR_RETURN(out.private_pem, key.PrivatePem());
  return out;
}

Result<bj::object> TransferKeyJwk(const std::vector<uint8_t>& cert_der) {
  ASSIGN_OR_RETURN(crypto::RsaKey key, PublicKeyOfCert(cert_der));
  return bj::object{{"kty", "RSA"},
                    {"key_ops", bj::array{"wrapKey", "encrypt", "verify"}},
                    {"n", Base64UrlEncode(key.Modulus())},
                    {"e", Base64UrlEncode(key.Exponent())},
                    {"x5c", bj::array{bj::value(Base64Encode(cert_der))}},
                    {"x5t#S256", Thumbprint(cert_der)},
                    {"alg", "RSA-OAEP-256"}};
}

Result<SecretBytes> OpenRestoreBlob(std::string_view blob, const crypto::RsaKey& transfer_private,
                                    const std::vector<uint8_t>& transfer_cert_der) {
  auto file = json::ParseObject(blob);
  if (!file.ok()) return Bad("The security domain restore blob is not a JSON object.");
  ASSIGN_OR_RETURN(const bj::object* wrapped, Obj(*file, "WrappedKey"));
  ASSIGN_OR_RETURN(std::string thumb, Str(*wrapped, "x5t_256"));
  if (thumb != Thumbprint(transfer_cert_der)) {
    return Bad("The restore blob is not wrapped to this HSM's transfer key (x5t_256 does not match).");
  }
  ASSIGN_OR_RETURN(std::string jwe, Str(*wrapped, "enc_key"));
  ASSIGN_OR_RETURN(SecretBytes master, JweDecryptRsa(transfer_private, jwe));
  ASSIGN_OR_RETURN(const bj::object* enc, Obj(*file, "EncData"));
  return OpenEncData(*enc, master);
}

Result<std::string> MakeRestoreBlobForTest(std::string_view security_domain,
                                           const std::vector<const crypto::RsaKey*>& private_keys,
                                           const std::vector<uint8_t>& transfer_cert_der, env::Random& random) {
  ASSIGN_OR_RETURN(SecretBytes material, RecoverWithPrivateKeys(security_domain, private_keys));
  SecretBytes k2(32);
  random.Fill(k2.mutable_span());
  SecretBytes data_key = Sp800108HmacSha512(k2.span(), kDomainTag, "", 512);
  ASSIGN_OR_RETURN(std::string data_jwe, JweEncryptDir(data_key, kDomainTag, material.span(), random));
  ASSIGN_OR_RETURN(crypto::RsaKey transfer, PublicKeyOfCert(transfer_cert_der));
  ASSIGN_OR_RETURN(std::string wrapped, JweEncryptRsa(transfer, k2.span(), random));
  bj::object blob{
      {"EncData", bj::object{{"data", bj::array{bj::object{{"compact_jwe", data_jwe}, {"tag", kDomainTag}}}},
                             {"kdf", "sp108_kdf"}}},
      {"WrappedKey", bj::object{{"enc_key", wrapped}, {"x5t_256", Thumbprint(transfer_cert_der)}}}};
  return json::Serialize(blob);
}

Result<TestCertificate> NewRsaCertificateForTest(int bits, std::string_view cn) {
  ASSIGN_OR_RETURN(crypto::RsaKey key, crypto::RsaKey::Generate(bits));
  std::unique_ptr<X509, X509Free> cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 7);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key.pkey());
  std::string name_text(cn);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(name_text.c_str()), -1,
                             -1, 0);
  X509_set_issuer_name(cert.get(), name);
  if (X509_sign(cert.get(), key.pkey(), EVP_sha256()) <= 0) return Internal("signing failed");
  int len = i2d_X509(cert.get(), nullptr);
  std::vector<uint8_t> der(static_cast<size_t>(len));
  unsigned char* p = der.data();
  i2d_X509(cert.get(), &p);
  return TestCertificate{std::move(der), std::move(key)};
}

}  // namespace cmk::keyvault::sd
