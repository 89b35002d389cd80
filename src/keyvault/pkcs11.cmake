# PKCS#11 HSM backend (Managed HSM keys), included from src/keyvault/CMakeLists.txt.
# Needs the Cryptoki header from p11-kit (Debian: libp11-kit-dev); the module itself is
# dlopen()ed at run time, so nothing links against it. Tests need SoftHSM2 (softhsm2).
find_path(CMK_PKCS11_INCLUDE_DIR p11-kit/pkcs11.h
  PATHS /usr/include/p11-kit-1 /usr/local/include/p11-kit-1
  PATH_SUFFIXES p11-kit-1)
if(NOT CMK_PKCS11_INCLUDE_DIR)
  message(FATAL_ERROR "p11-kit/pkcs11.h not found: install libp11-kit-dev")
endif()

cmk_cc_library(NAME pkcs11
  SRCS ${CMAKE_CURRENT_LIST_DIR}/pkcs11_hsm.cc
  DEPS cmk_crypto OpenSSL::Crypto ${CMAKE_DL_LIBS})
target_include_directories(cmk_pkcs11 PRIVATE ${CMK_PKCS11_INCLUDE_DIR})

cmk_cc_test(NAME pkcs11_hsm_test
  SRCS ${CMAKE_CURRENT_LIST_DIR}/pkcs11_hsm_test.cc
  DEPS cmk_pkcs11)
