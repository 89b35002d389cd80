#include "keyvault/pkcs11_hsm.h"

#include <dlfcn.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <p11-kit/pkcs11.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <string_view>
#include <utility>

#include "base/encoding.h"
#include "crypto/hash.h"

namespace cmk::keyvault {
namespace {

constexpr size_t kIdBytes = 16;
constexpr size_t kMaxWrapPlaintext = 4096;
// DER prefix of DigestInfo{sha256, OCTET STRING(32)} (RFC 8017 §9.2 note 1).
constexpr uint8_t kSha256DigestInfo[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                         0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};

struct CkrInfo {
  const char* name;
  StatusCode code;
};

// Names and canonical codes of the return values worth telling apart; others are kInternal.
const CkrInfo* FindCkr(CK_RV rv) {
#define CMK_CKR(rv, code) std::pair<const CK_RV, CkrInfo>(rv, {#rv, StatusCode::code})
  static const auto* table = new std::map<CK_RV, CkrInfo>{
      CMK_CKR(CKR_ARGUMENTS_BAD, kInvalidArgument),
      CMK_CKR(CKR_DATA_INVALID, kInvalidArgument),
      CMK_CKR(CKR_DATA_LEN_RANGE, kInvalidArgument),
      CMK_CKR(CKR_ENCRYPTED_DATA_INVALID, kInvalidArgument),
      CMK_CKR(CKR_ENCRYPTED_DATA_LEN_RANGE, kInvalidArgument),
      CMK_CKR(CKR_WRAPPED_KEY_INVALID, kInvalidArgument),
      CMK_CKR(CKR_WRAPPED_KEY_LEN_RANGE, kInvalidArgument),
      CMK_CKR(CKR_KEY_SIZE_RANGE, kInvalidArgument),
      CMK_CKR(CKR_OBJECT_HANDLE_INVALID, kNotFound),
      CMK_CKR(CKR_KEY_HANDLE_INVALID, kNotFound),
      CMK_CKR(CKR_MECHANISM_INVALID, kUnimplemented),
      CMK_CKR(CKR_MECHANISM_PARAM_INVALID, kUnimplemented),
      CMK_CKR(CKR_FUNCTION_NOT_SUPPORTED, kUnimplemented),
      CMK_CKR(CKR_ATTRIBUTE_SENSITIVE, kPermissionDenied),
      CMK_CKR(CKR_KEY_FUNCTION_NOT_PERMITTED, kPermissionDenied),
      CMK_CKR(CKR_KEY_NOT_WRAPPABLE, kPermissionDenied),
      CMK_CKR(CKR_KEY_UNEXTRACTABLE, kPermissionDenied),
      CMK_CKR(CKR_DEVICE_ERROR, kUnavailable),
      CMK_CKR(CKR_DEVICE_MEMORY, kUnavailable),
      CMK_CKR(CKR_DEVICE_REMOVED, kUnavailable),
      CMK_CKR(CKR_TOKEN_NOT_PRESENT, kUnavailable),
      CMK_CKR(CKR_TOKEN_NOT_RECOGNIZED, kUnavailable),
      CMK_CKR(CKR_SESSION_CLOSED, kUnavailable),
      CMK_CKR(CKR_SESSION_COUNT, kUnavailable),
      CMK_CKR(CKR_SESSION_HANDLE_INVALID, kUnavailable),
      CMK_CKR(CKR_USER_NOT_LOGGED_IN, kUnavailable),
      CMK_CKR(CKR_PIN_INCORRECT, kUnavailable),
      CMK_CKR(CKR_PIN_LOCKED, kUnavailable),
      CMK_CKR(CKR_PIN_EXPIRED, kUnavailable),
      CMK_CKR(CKR_CRYPTOKI_NOT_INITIALIZED, kUnavailable),
      CMK_CKR(CKR_GENERAL_ERROR, kInternal),
      CMK_CKR(CKR_FUNCTION_FAILED, kInternal),
      CMK_CKR(CKR_HOST_MEMORY, kInternal),
      CMK_CKR(CKR_ATTRIBUTE_TYPE_INVALID, kInternal),
      CMK_CKR(CKR_ATTRIBUTE_VALUE_INVALID, kInternal),
      CMK_CKR(CKR_TEMPLATE_INCOMPLETE, kInternal),
      CMK_CKR(CKR_TEMPLATE_INCONSISTENT, kInternal),
      CMK_CKR(CKR_KEY_TYPE_INCONSISTENT, kInternal),
      CMK_CKR(CKR_OPERATION_ACTIVE, kInternal),
      CMK_CKR(CKR_BUFFER_TOO_SMALL, kInternal),
  };
#undef CMK_CKR
  auto it = table->find(rv);
  return it == table->end() ? nullptr : &it->second;
}

std::string CkrName(CK_RV rv) {
  if (const CkrInfo* info = FindCkr(rv)) return info->name;
  char buf[32];
  std::snprintf(buf, sizeof buf, "CKR_0x%lx", rv);
  return buf;
}

// Maps a Cryptoki failure to a canonical code. Messages carry only the function and CKR name.
Status CkError(std::string_view function, CK_RV rv) {
  const CkrInfo* info = FindCkr(rv);
  return Status(info ? info->code : StatusCode::kInternal,
                std::string(function) + " failed: " + CkrName(rv));
}

// Tokens report a failed padding or integrity check on data they were given inconsistently
// (SoftHSM2 answers CKR_GENERAL_ERROR); after a successful *Init that is the caller's input.
Status DecryptError(std::string_view function, CK_RV rv) {
  if (rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED) {
    return InvalidArgument(std::string(function) + " failed: the input does not decrypt");
  }
  return CkError(function, rv);
}

// A leased session; `broken` makes the pool close it instead of reusing it.
struct Ctx {
  CK_FUNCTION_LIST* f;
  CK_SESSION_HANDLE h;
  bool broken = false;
  // Records whether the session's state is still known after `rv`.
  CK_RV Check(CK_RV rv) {
    if (rv == CKR_BUFFER_TOO_SMALL || rv == CKR_OPERATION_ACTIVE || rv == CKR_SESSION_CLOSED ||
        rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_DEVICE_REMOVED || rv == CKR_DEVICE_ERROR) {
      broken = true;
    }
    return rv;
  }
};

template <typename T>
CK_ATTRIBUTE Attr(CK_ATTRIBUTE_TYPE type, T& value) {
  return CK_ATTRIBUTE{type, &value, sizeof(T)};
}
CK_ATTRIBUTE Attr(CK_ATTRIBUTE_TYPE type, std::span<const uint8_t> bytes) {
  return CK_ATTRIBUTE{type, const_cast<uint8_t*>(bytes.data()), bytes.size()};
}

Result<std::vector<uint8_t>> ParseId(const std::string& id) {
  if (id.size() != 2 * kIdBytes) return InvalidArgument("malformed HSM key id");
  std::vector<uint8_t> out(kIdBytes);
  for (size_t i = 0; i < id.size(); ++i) {
    char c = id[i];
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (v < 0) return InvalidArgument("malformed HSM key id");
    out[i / 2] = static_cast<uint8_t>(out[i / 2] << 4 | v);
  }
  return out;
}

Result<std::vector<CK_OBJECT_HANDLE>> FindObjects(Ctx& s, std::vector<CK_ATTRIBUTE> tmpl) {
  CK_RV rv = s.Check(s.f->C_FindObjectsInit(s.h, tmpl.data(), tmpl.size()));
  if (rv != CKR_OK) return CkError("C_FindObjectsInit", rv);
  std::vector<CK_OBJECT_HANDLE> out;
  CK_OBJECT_HANDLE batch[16];
  CK_ULONG n = 0;
  do {
    rv = s.Check(s.f->C_FindObjects(s.h, batch, std::size(batch), &n));
    if (rv != CKR_OK) break;
    out.insert(out.end(), batch, batch + n);
  } while (n == std::size(batch));
  CK_RV final_rv = s.Check(s.f->C_FindObjectsFinal(s.h));
  if (rv != CKR_OK) return CkError("C_FindObjects", rv);
  if (final_rv != CKR_OK) return CkError("C_FindObjectsFinal", final_rv);
  return out;
}

// The object of `cls` and `key_type` named by `id`. kNotFound when no object has the id,
// kInvalidArgument when the id names a key of another kind.
Result<CK_OBJECT_HANDLE> FindKey(Ctx& s, const std::string& id, CK_OBJECT_CLASS cls,
                                 CK_KEY_TYPE key_type) {
  ASSIGN_OR_RETURN(std::vector<uint8_t> raw, ParseId(id));
  ASSIGN_OR_RETURN(std::vector<CK_OBJECT_HANDLE> found,
                   FindObjects(s, {Attr(CKA_ID, std::span<const uint8_t>(raw)),
                                   Attr(CKA_CLASS, cls), Attr(CKA_KEY_TYPE, key_type)}));
  if (!found.empty()) return found.front();
  ASSIGN_OR_RETURN(std::vector<CK_OBJECT_HANDLE> any,
                   FindObjects(s, {Attr(CKA_ID, std::span<const uint8_t>(raw))}));
  if (any.empty()) return NotFound("no HSM key with id " + id, "KeyNotFound");
  return InvalidArgument("HSM key " + id + " does not support this operation");
}

template <typename Bytes>
Result<Bytes> GetAttribute(Ctx& s, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type) {
  CK_ATTRIBUTE a{type, nullptr, 0};
  CK_RV rv = s.Check(s.f->C_GetAttributeValue(s.h, obj, &a, 1));
  if (rv != CKR_OK) return CkError("C_GetAttributeValue", rv);
  if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION) return Internal("attribute unavailable");
  Bytes out(a.ulValueLen);
  a.pValue = out.data();
  rv = s.Check(s.f->C_GetAttributeValue(s.h, obj, &a, 1));
  if (rv != CKR_OK) return CkError("C_GetAttributeValue", rv);
  return out;
}

CK_MECHANISM Mechanism(CK_MECHANISM_TYPE type) { return CK_MECHANISM{type, nullptr, 0}; }
template <typename P>
CK_MECHANISM Mechanism(CK_MECHANISM_TYPE type, P& params) {
  return CK_MECHANISM{type, &params, sizeof(P)};
}

// C_Decrypt, after a successful C_DecryptInit, into a buffer of `max_out` bytes.
Result<SecretBytes> FinishDecrypt(Ctx& s, std::span<const uint8_t> in, size_t max_out) {
  SecretBytes out(max_out);
  CK_ULONG n = out.size();
  CK_RV rv =
      s.Check(s.f->C_Decrypt(s.h, const_cast<uint8_t*>(in.data()), in.size(), out.data(), &n));
  if (rv != CKR_OK) return DecryptError("C_Decrypt", rv);
  SecretBytes exact(std::span<const uint8_t>(out.data(), n));
  return exact;
}

Result<SecretBytes> Decrypt(Ctx& s, CK_MECHANISM mech, CK_OBJECT_HANDLE key,
                            std::span<const uint8_t> in, size_t max_out) {
  CK_RV rv = s.Check(s.f->C_DecryptInit(s.h, &mech, key));
  if (rv != CKR_OK) return CkError("C_DecryptInit", rv);
  return FinishDecrypt(s, in, max_out);
}

// Removes a session object when it goes out of scope.
class ObjectGuard {
 public:
  ObjectGuard(Ctx& s, CK_OBJECT_HANDLE obj) : s_(s), obj_(obj) {}
  ~ObjectGuard() { s_.Check(s_.f->C_DestroyObject(s_.h, obj_)); }
  ObjectGuard(const ObjectGuard&) = delete;
  ObjectGuard& operator=(const ObjectGuard&) = delete;

 private:
  Ctx& s_;
  CK_OBJECT_HANDLE obj_;
};

// OAEP-SHA-256 for tokens that only do OAEP-SHA-1: raw RSA in the token, unpadding here.
Result<SecretBytes> DecryptOaepSha256InSoftware(Ctx& s, CK_OBJECT_HANDLE key,
                                                std::span<const uint8_t> ciphertext) {
  const size_t k = ciphertext.size();
  ASSIGN_OR_RETURN(SecretBytes raw, Decrypt(s, Mechanism(CKM_RSA_X_509), key, ciphertext, k));
  // Some tokens strip leading zero bytes of the raw result; the decoder wants all k bytes.
  SecretBytes em(k);
  std::copy(raw.data(), raw.data() + raw.size(), em.data() + (k - raw.size()));
  SecretBytes out(k);
  // RSA_padding_check_PKCS1_OAEP_mgf1 is deprecated in OpenSSL 3 without a replacement for a
  // bare padding check; it is the same constant-time decoder the RSA provider uses.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  int n = RSA_padding_check_PKCS1_OAEP_mgf1(out.data(), static_cast<int>(k), em.data(),
                                            static_cast<int>(k), static_cast<int>(k), nullptr, 0,
                                            EVP_sha256(), EVP_sha256());
#pragma GCC diagnostic pop
  if (n < 0) return InvalidArgument("RSA-OAEP-256 decryption failed");
  SecretBytes exact(std::span<const uint8_t>(out.data(), static_cast<size_t>(n)));
  return exact;
}

// RFC 3394 through C_WrapKey of a temporary extractable session object holding `plaintext`.
Result<std::vector<uint8_t>> WrapViaWrapKey(Ctx& s, CK_OBJECT_HANDLE kek,
                                            std::span<const uint8_t> plaintext) {
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_GENERIC_SECRET;
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  std::vector<CK_ATTRIBUTE> tmpl = {Attr(CKA_CLASS, cls),      Attr(CKA_KEY_TYPE, type),
                                    Attr(CKA_TOKEN, no),       Attr(CKA_PRIVATE, yes),
                                    Attr(CKA_SENSITIVE, yes),  Attr(CKA_EXTRACTABLE, yes),
                                    Attr(CKA_VALUE, plaintext)};
  CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
  CK_RV rv = s.Check(s.f->C_CreateObject(s.h, tmpl.data(), tmpl.size(), &obj));
  if (rv != CKR_OK) return CkError("C_CreateObject", rv);
  ObjectGuard guard(s, obj);
  CK_MECHANISM mech = Mechanism(CKM_AES_KEY_WRAP);
  std::vector<uint8_t> out(plaintext.size() + 8);
  CK_ULONG n = out.size();
  rv = s.Check(s.f->C_WrapKey(s.h, &mech, kek, obj, out.data(), &n));
  if (rv != CKR_OK) return CkError("C_WrapKey", rv);
  out.resize(n);
  return out;
}

// Inverse of WrapViaWrapKey: C_UnwrapKey into a temporary readable session object.
Result<SecretBytes> UnwrapViaUnwrapKey(Ctx& s, CK_OBJECT_HANDLE kek,
                                       std::span<const uint8_t> wrapped) {
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_GENERIC_SECRET;
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  std::vector<CK_ATTRIBUTE> tmpl = {Attr(CKA_CLASS, cls),    Attr(CKA_KEY_TYPE, type),
                                    Attr(CKA_TOKEN, no),     Attr(CKA_PRIVATE, yes),
                                    Attr(CKA_SENSITIVE, no), Attr(CKA_EXTRACTABLE, yes)};
  CK_MECHANISM mech = Mechanism(CKM_AES_KEY_WRAP);
  CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
  CK_RV rv = s.Check(s.f->C_UnwrapKey(s.h, &mech, kek, const_cast<uint8_t*>(wrapped.data()),
                                      wrapped.size(), tmpl.data(), tmpl.size(), &obj));
  if (rv != CKR_OK) return DecryptError("C_UnwrapKey", rv);
  ObjectGuard guard(s, obj);
  return GetAttribute<SecretBytes>(s, obj, CKA_VALUE);
}

env::Random* DefaultRandom() {
  static env::SecureRandom* random = new env::SecureRandom();
  return random;
}

}  // namespace

// One per loaded module path, shared by every Pkcs11Hsm on it.
struct Pkcs11Hsm::Module {
  std::string path;
  void* dl = nullptr;
  CK_FUNCTION_LIST* f = nullptr;
  bool finalize = true;  // false when someone else in the process initialised the module
  int refs = 0;
  // Cryptoki logins are per process and token, and C_Login on a logged-in token answers
  // CKR_USER_ALREADY_LOGGED_IN without checking the PIN. So the first Open on a slot logs in
  // and records an HMAC of the PIN; later Opens on the slot must present the same PIN.
  struct SlotLogin {
    int users = 0;
    std::array<uint8_t, 32> pin_mac{};
  };
  std::map<CK_SLOT_ID, SlotLogin> logins;  // guarded by Mu()
  std::array<uint8_t, 32> mac_key{};

  static Mutex& Mu() {
    static Mutex* mu = new Mutex();
    return *mu;
  }
  static std::map<std::string, Module*>& Loaded() {
    static auto* loaded = new std::map<std::string, Module*>();
    return *loaded;
  }

  static Result<Module*> Acquire(const std::string& path) {
    MutexLock lock(&Mu());
    auto it = Loaded().find(path);
    if (it != Loaded().end()) {
      ++it->second->refs;
      return it->second;
    }
    void* dl = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (dl == nullptr) {
      const char* why = dlerror();
      return Unavailable("cannot load PKCS#11 module " + path + ": " + (why ? why : "?"));
    }
    auto get_list = reinterpret_cast<CK_C_GetFunctionList>(dlsym(dl, "C_GetFunctionList"));
    CK_FUNCTION_LIST* f = nullptr;
    if (get_list == nullptr || get_list(&f) != CKR_OK || f == nullptr) {
      dlclose(dl);
      return Unavailable(path + " is not a PKCS#11 module");
    }
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    CK_RV rv = f->C_Initialize(&args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      dlclose(dl);
      return Unavailable("C_Initialize of " + path + " failed: " + CkrName(rv));
    }
    auto* m = new Module{path, dl, f, rv == CKR_OK, 1};
    DefaultRandom()->Fill(m->mac_key);
    Loaded()[path] = m;
    return m;
  }

  // Logs `slot` in through `session` or checks `pin` against the login already made.
  Status Login(CK_SLOT_ID slot, CK_SESSION_HANDLE session, const SecretBytes& pin) {
    MutexLock lock(&Mu());
    std::array<uint8_t, 32> mac = crypto::HmacSha256(mac_key, pin.span());
    SlotLogin& entry = logins[slot];
    if (entry.users > 0) {
      if (!ConstantTimeEquals(mac, entry.pin_mac)) return Unauthenticated("CKR_PIN_INCORRECT");
    } else {
      CK_RV rv = f->C_Login(session, CKU_USER, const_cast<uint8_t*>(pin.data()), pin.size());
      // CKR_USER_ALREADY_LOGGED_IN here means code outside this registry logged in; the PIN
      // cannot be verified then, so it is refused like any other failure.
      if (rv != CKR_OK) {
        logins.erase(slot);
        return CkError("C_Login", rv);
      }
      entry.pin_mac = mac;
    }
    ++entry.users;
    return OkStatus();
  }

  // Logs the slot out when the last instance using it goes away.
  void Logout(CK_SLOT_ID slot, CK_SESSION_HANDLE session) {
    MutexLock lock(&Mu());
    auto it = logins.find(slot);
    if (it == logins.end() || --it->second.users > 0) return;
    logins.erase(it);
    f->C_Logout(session);
  }

  static void Release(Module* m) {
    MutexLock lock(&Mu());
    if (--m->refs > 0) return;
    Loaded().erase(m->path);
    if (m->finalize) m->f->C_Finalize(nullptr);
    dlclose(m->dl);
    delete m;
  }
};

class Pkcs11Hsm::Session {
 public:
  Session(Pkcs11Hsm* hsm, CK_SESSION_HANDLE h) : hsm_(hsm), ctx_{hsm->module_->f, h} {}
  ~Session() { hsm_->ReleaseSession(ctx_.h, ctx_.broken); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  Ctx& ctx() { return ctx_; }

 private:
  Pkcs11Hsm* hsm_;
  Ctx ctx_;
};

#define CMK_LEASE_SESSION(var)                                        \
  ASSIGN_OR_RETURN(CK_SESSION_HANDLE var##_handle, AcquireSession()); \
  Session var##_lease(this, var##_handle);                            \
  Ctx& var = var##_lease.ctx()

Result<std::unique_ptr<Pkcs11Hsm>> Pkcs11Hsm::Open(Pkcs11Options options) {
  if (options.token_label.empty() || options.token_label.size() > 32) {
    return InvalidArgument("PKCS#11 token label must be 1..32 bytes");
  }
  if (options.max_sessions < 1) return InvalidArgument("max_sessions must be at least 1");
  ASSIGN_OR_RETURN(Module * module, Module::Acquire(options.module_path));
  // From here on the destructor (or this guard) releases the module.
  std::unique_ptr<Module, void (*)(Module*)> module_ref(module, &Module::Release);
  CK_FUNCTION_LIST* f = module->f;

  CK_ULONG count = 0;
  CK_RV rv = f->C_GetSlotList(CK_TRUE, nullptr, &count);
  std::vector<CK_SLOT_ID> slots(count);
  if (rv == CKR_OK) rv = f->C_GetSlotList(CK_TRUE, slots.data(), &count);
  if (rv != CKR_OK) return CkError("C_GetSlotList", rv);
  slots.resize(count);
  std::optional<CK_SLOT_ID> slot;
  for (CK_SLOT_ID id : slots) {
    CK_TOKEN_INFO info;
    if (f->C_GetTokenInfo(id, &info) != CKR_OK) continue;
    std::string_view label(reinterpret_cast<const char*>(info.label), sizeof info.label);
    label = label.substr(0, label.find_last_not_of(' ') + 1);
    if (label == options.token_label && (info.flags & CKF_TOKEN_INITIALIZED)) {
      slot = id;
      break;
    }
  }
  if (!slot) return Unavailable("no initialised PKCS#11 token labelled " + options.token_label);

  CK_SESSION_HANDLE login_session = CK_INVALID_HANDLE;
  rv = f->C_OpenSession(*slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr,
                        &login_session);
  if (rv != CKR_OK) return CkError("C_OpenSession", rv);
  Status login = module->Login(*slot, login_session, options.user_pin);
  options.user_pin.Wipe();
  if (!login.ok()) {
    f->C_CloseSession(login_session);
    return Unavailable("login to token " + options.token_label + " failed: " + login.message());
  }
  std::unique_ptr<Pkcs11Hsm> hsm(new Pkcs11Hsm(module_ref.release(), *slot, std::move(options)));
  hsm->login_session_ = login_session;
  return hsm;
}

Pkcs11Hsm::Pkcs11Hsm(Module* module, unsigned long slot, Pkcs11Options options)
    : module_(module),
      slot_(slot),
      options_(std::move(options)),
      random_(options_.random != nullptr ? options_.random : DefaultRandom()) {}

Pkcs11Hsm::~Pkcs11Hsm() {
  CK_FUNCTION_LIST* f = module_->f;
  for (CK_SESSION_HANDLE h : idle_sessions_) f->C_CloseSession(h);
  module_->Logout(slot_, login_session_);
  f->C_CloseSession(login_session_);
  Module::Release(module_);
}

Result<unsigned long> Pkcs11Hsm::AcquireSession() {
  UniqueLock lock(&mu_);
  session_freed_.Wait(lock, [this] {
    mu_.AssertHeld();
    return !idle_sessions_.empty() || open_sessions_ < options_.max_sessions;
  });
  if (!idle_sessions_.empty()) {
    CK_SESSION_HANDLE h = idle_sessions_.back();
    idle_sessions_.pop_back();
    return h;
  }
  CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
  CK_RV rv =
      module_->f->C_OpenSession(slot_, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &h);
  if (rv != CKR_OK) return CkError("C_OpenSession", rv);
  ++open_sessions_;
  return h;
}

void Pkcs11Hsm::ReleaseSession(unsigned long session, bool broken) {
  {
    MutexLock lock(&mu_);
    if (broken) {
      module_->f->C_CloseSession(session);
      --open_sessions_;
    } else {
      idle_sessions_.push_back(session);
    }
  }
  session_freed_.NotifyOne();
}

std::string Pkcs11Hsm::NewId() {
  uint8_t raw[kIdBytes];
  random_->Fill(raw);
  return HexEncode(raw);
}

Result<std::string> Pkcs11Hsm::GenerateRsa(int bits) {
  if (bits != 2048 && bits != 3072 && bits != 4096) {
    return InvalidArgument("RSA key size must be 2048, 3072 or 4096 bits");
  }
  CMK_LEASE_SESSION(s);
  std::string id = NewId();
  ASSIGN_OR_RETURN(std::vector<uint8_t> raw_id, ParseId(id));
  std::span<const uint8_t> id_attr(raw_id), label = AsBytes(id);
  CK_ULONG modulus_bits = static_cast<CK_ULONG>(bits);
  static constexpr uint8_t kF4[] = {0x01, 0x00, 0x01};
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  std::vector<CK_ATTRIBUTE> pub = {Attr(CKA_TOKEN, yes),
                                   Attr(CKA_PRIVATE, yes),
                                   Attr(CKA_ID, id_attr),
                                   Attr(CKA_LABEL, label),
                                   Attr(CKA_ENCRYPT, yes),
                                   Attr(CKA_VERIFY, yes),
                                   Attr(CKA_WRAP, no),
                                   Attr(CKA_MODULUS_BITS, modulus_bits),
                                   Attr(CKA_PUBLIC_EXPONENT, std::span<const uint8_t>(kF4))};
  std::vector<CK_ATTRIBUTE> priv = {
      Attr(CKA_TOKEN, yes),      Attr(CKA_PRIVATE, yes), Attr(CKA_SENSITIVE, yes),
      Attr(CKA_EXTRACTABLE, no), Attr(CKA_ID, id_attr),  Attr(CKA_LABEL, label),
      Attr(CKA_DECRYPT, yes),    Attr(CKA_SIGN, yes),    Attr(CKA_UNWRAP, no)};
  CK_MECHANISM mech = Mechanism(CKM_RSA_PKCS_KEY_PAIR_GEN);
  CK_OBJECT_HANDLE pub_h = CK_INVALID_HANDLE, priv_h = CK_INVALID_HANDLE;
  CK_RV rv = s.Check(s.f->C_GenerateKeyPair(s.h, &mech, pub.data(), pub.size(), priv.data(),
                                            priv.size(), &pub_h, &priv_h));
  if (rv != CKR_OK) return CkError("C_GenerateKeyPair", rv);
  return id;
}

Result<std::string> Pkcs11Hsm::GenerateAes256() {
  CMK_LEASE_SESSION(s);
  std::string id = NewId();
  ASSIGN_OR_RETURN(std::vector<uint8_t> raw_id, ParseId(id));
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_AES;
  CK_ULONG len = 32;
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  // CKA_ENCRYPT/CKA_DECRYPT serve the C_Encrypt(CKM_AES_KEY_WRAP) path, CKA_WRAP/CKA_UNWRAP
  // the C_WrapKey path; the mechanism is fixed by this class, not by the key.
  std::vector<CK_ATTRIBUTE> tmpl = {Attr(CKA_CLASS, cls),
                                    Attr(CKA_KEY_TYPE, type),
                                    Attr(CKA_VALUE_LEN, len),
                                    Attr(CKA_TOKEN, yes),
                                    Attr(CKA_PRIVATE, yes),
                                    Attr(CKA_SENSITIVE, yes),
                                    Attr(CKA_EXTRACTABLE, no),
                                    Attr(CKA_ENCRYPT, yes),
                                    Attr(CKA_DECRYPT, yes),
                                    Attr(CKA_WRAP, yes),
                                    Attr(CKA_UNWRAP, yes),
                                    Attr(CKA_SIGN, no),
                                    Attr(CKA_ID, std::span<const uint8_t>(raw_id)),
                                    Attr(CKA_LABEL, AsBytes(id))};
  CK_MECHANISM mech = Mechanism(CKM_AES_KEY_GEN);
  CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
  CK_RV rv = s.Check(s.f->C_GenerateKey(s.h, &mech, tmpl.data(), tmpl.size(), &h));
  if (rv != CKR_OK) return CkError("C_GenerateKey", rv);
  return id;
}

Result<std::vector<uint8_t>> Pkcs11Hsm::ReadPublicAttribute(const std::string& id,
                                                            unsigned long type) {
  CMK_LEASE_SESSION(s);
  ASSIGN_OR_RETURN(CK_OBJECT_HANDLE key, FindKey(s, id, CKO_PUBLIC_KEY, CKK_RSA));
  return GetAttribute<std::vector<uint8_t>>(s, key, type);
}

Result<std::vector<uint8_t>> Pkcs11Hsm::RsaModulus(const std::string& id) {
  return ReadPublicAttribute(id, CKA_MODULUS);
}

Result<std::vector<uint8_t>> Pkcs11Hsm::RsaPublicExponent(const std::string& id) {
  return ReadPublicAttribute(id, CKA_PUBLIC_EXPONENT);
}

Result<SecretBytes> Pkcs11Hsm::RsaDecrypt(const std::string& id, RsaPadding padding,
                                          std::span<const uint8_t> ciphertext) {
  CMK_LEASE_SESSION(s);
  ASSIGN_OR_RETURN(CK_OBJECT_HANDLE key, FindKey(s, id, CKO_PRIVATE_KEY, CKK_RSA));
  ASSIGN_OR_RETURN(std::vector<uint8_t> modulus,
                   GetAttribute<std::vector<uint8_t>>(s, key, CKA_MODULUS));
  if (ciphertext.size() != modulus.size()) {
    return InvalidArgument("RSA ciphertext must be as long as the modulus");
  }
  if (padding == RsaPadding::kPkcs1v15) {
    return Decrypt(s, Mechanism(CKM_RSA_PKCS), key, ciphertext, ciphertext.size());
  }
  CK_RSA_PKCS_OAEP_PARAMS params{CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, nullptr, 0};
  if (padding == RsaPadding::kOaepSha256) {
    params.hashAlg = CKM_SHA256;
    params.mgf = CKG_MGF1_SHA256;
    if (!native_oaep_sha256_.load()) {
      if (options_.allow_software_oaep_unpadding) {
        return DecryptOaepSha256InSoftware(s, key, ciphertext);
      }
      return Status(StatusCode::kUnimplemented, "token does not support RSA-OAEP-256");
    }
  }
  CK_MECHANISM mech = Mechanism(CKM_RSA_PKCS_OAEP, params);
  CK_RV rv = s.Check(s.f->C_DecryptInit(s.h, &mech, key));
  if (rv == CKR_OK) return FinishDecrypt(s, ciphertext, ciphertext.size());
  // A token without OAEP-SHA-256 refuses the parameters here, before an operation starts, so
  // the session stays usable (SoftHSM2 2.6 answers CKR_ARGUMENTS_BAD).
  bool unsupported = padding == RsaPadding::kOaepSha256 &&
                     (rv == CKR_ARGUMENTS_BAD || rv == CKR_MECHANISM_PARAM_INVALID);
  if (!unsupported) return CkError("C_DecryptInit", rv);
  native_oaep_sha256_.store(false);
  if (options_.allow_software_oaep_unpadding) {
    return DecryptOaepSha256InSoftware(s, key, ciphertext);
  }
  return Status(StatusCode::kUnimplemented, "token does not support RSA-OAEP-256");
}

Result<std::vector<uint8_t>> Pkcs11Hsm::RsaSign(const std::string& id, RsaSignature alg,
                                                std::span<const uint8_t> digest) {
  if (digest.size() != 32) return InvalidArgument("a SHA-256 digest is 32 bytes");
  CMK_LEASE_SESSION(s);
  ASSIGN_OR_RETURN(CK_OBJECT_HANDLE key, FindKey(s, id, CKO_PRIVATE_KEY, CKK_RSA));
  ASSIGN_OR_RETURN(std::vector<uint8_t> modulus,
                   GetAttribute<std::vector<uint8_t>>(s, key, CKA_MODULUS));
  std::vector<uint8_t> data;
  CK_RSA_PKCS_PSS_PARAMS pss{CKM_SHA256, CKG_MGF1_SHA256, 32};
  CK_MECHANISM mech;
  if (alg == RsaSignature::kRs256) {
    data.assign(std::begin(kSha256DigestInfo), std::end(kSha256DigestInfo));
    data.insert(data.end(), digest.begin(), digest.end());
    mech = Mechanism(CKM_RSA_PKCS);
  } else {
    data.assign(digest.begin(), digest.end());
    mech = Mechanism(CKM_RSA_PKCS_PSS, pss);
  }
  CK_RV rv = s.Check(s.f->C_SignInit(s.h, &mech, key));
  if (rv != CKR_OK) return CkError("C_SignInit", rv);
  std::vector<uint8_t> sig(modulus.size());
  CK_ULONG n = sig.size();
  rv = s.Check(s.f->C_Sign(s.h, data.data(), data.size(), sig.data(), &n));
  if (rv != CKR_OK) return CkError("C_Sign", rv);
  sig.resize(n);
  return sig;
}

Result<std::vector<uint8_t>> Pkcs11Hsm::AesKeyWrap(const std::string& id,
                                                   std::span<const uint8_t> plaintext) {
  if (plaintext.size() < 16 || plaintext.size() > kMaxWrapPlaintext || plaintext.size() % 8) {
    return InvalidArgument("AES key wrap input must be a multiple of 8 bytes, 16..4096");
  }
  CMK_LEASE_SESSION(s);
  ASSIGN_OR_RETURN(CK_OBJECT_HANDLE kek, FindKey(s, id, CKO_SECRET_KEY, CKK_AES));
  if (aes_wrap_via_encrypt_.load()) {
    CK_MECHANISM mech = Mechanism(CKM_AES_KEY_WRAP);
    CK_RV rv = s.Check(s.f->C_EncryptInit(s.h, &mech, kek));
    if (rv == CKR_OK) {
      std::vector<uint8_t> out(plaintext.size() + 8);
      CK_ULONG n = out.size();
      rv = s.Check(s.f->C_Encrypt(s.h, const_cast<uint8_t*>(plaintext.data()), plaintext.size(),
                                  out.data(), &n));
      if (rv != CKR_OK) return CkError("C_Encrypt", rv);
      out.resize(n);
      return out;
    }
    if (rv != CKR_MECHANISM_INVALID) return CkError("C_EncryptInit", rv);
    aes_wrap_via_encrypt_.store(false);
  }
  return WrapViaWrapKey(s, kek, plaintext);
}

Result<SecretBytes> Pkcs11Hsm::AesKeyUnwrap(const std::string& id,
                                            std::span<const uint8_t> wrapped) {
  if (wrapped.size() < 24 || wrapped.size() > kMaxWrapPlaintext + 8 || wrapped.size() % 8) {
    return InvalidArgument("AES-wrapped input must be a multiple of 8 bytes, 24..4104");
  }
  CMK_LEASE_SESSION(s);
  ASSIGN_OR_RETURN(CK_OBJECT_HANDLE kek, FindKey(s, id, CKO_SECRET_KEY, CKK_AES));
  if (aes_wrap_via_encrypt_.load()) {
    CK_MECHANISM mech = Mechanism(CKM_AES_KEY_WRAP);
    CK_RV rv = s.Check(s.f->C_DecryptInit(s.h, &mech, kek));
    if (rv == CKR_OK) return FinishDecrypt(s, wrapped, wrapped.size());
    if (rv != CKR_MECHANISM_INVALID) return CkError("C_DecryptInit", rv);
    aes_wrap_via_encrypt_.store(false);
  }
  return UnwrapViaUnwrapKey(s, kek, wrapped);
}

Status Pkcs11Hsm::Destroy(const std::string& id) {
  ASSIGN_OR_RETURN(std::vector<uint8_t> raw, ParseId(id));
  CMK_LEASE_SESSION(s);
  ASSIGN_OR_RETURN(std::vector<CK_OBJECT_HANDLE> objects,
                   FindObjects(s, {Attr(CKA_ID, std::span<const uint8_t>(raw))}));
  if (objects.empty()) return NotFound("no HSM key with id " + id, "KeyNotFound");
  for (CK_OBJECT_HANDLE obj : objects) {
    CK_RV rv = s.Check(s.f->C_DestroyObject(s.h, obj));
    if (rv != CKR_OK && rv != CKR_OBJECT_HANDLE_INVALID) return CkError("C_DestroyObject", rv);
  }
  return OkStatus();
}

Result<bool> Pkcs11Hsm::IsNonExtractable(const std::string& id) {
  CMK_LEASE_SESSION(s);
  Result<CK_OBJECT_HANDLE> key = FindKey(s, id, CKO_PRIVATE_KEY, CKK_RSA);
  if (key.status().code() == StatusCode::kInvalidArgument) {
    key = FindKey(s, id, CKO_SECRET_KEY, CKK_AES);
  }
  if (!key.ok()) return key.status();
  CK_BBOOL sensitive = CK_FALSE, extractable = CK_TRUE, always_sensitive = CK_FALSE,
           never_extractable = CK_FALSE;
  CK_ATTRIBUTE attrs[] = {Attr(CKA_SENSITIVE, sensitive), Attr(CKA_EXTRACTABLE, extractable),
                          Attr(CKA_ALWAYS_SENSITIVE, always_sensitive),
                          Attr(CKA_NEVER_EXTRACTABLE, never_extractable)};
  CK_RV rv = s.Check(s.f->C_GetAttributeValue(s.h, *key, attrs, std::size(attrs)));
  if (rv != CKR_OK) return CkError("C_GetAttributeValue", rv);
  return sensitive == CK_TRUE && extractable == CK_FALSE && always_sensitive == CK_TRUE &&
         never_extractable == CK_TRUE;
}

Result<SecretBytes> Pkcs11Hsm::ReadPrivateExponentForTest(const std::string& id) {
  CMK_LEASE_SESSION(s);
  ASSIGN_OR_RETURN(CK_OBJECT_HANDLE key, FindKey(s, id, CKO_PRIVATE_KEY, CKK_RSA));
  return GetAttribute<SecretBytes>(s, key, CKA_PRIVATE_EXPONENT);
}

}  // namespace cmk::keyvault
