#pragma once
// Test helper: a self-signed RSA certificate and key in one PEM file (as AZURE_CLIENT_CERTIFICATE_PATH
// holds).
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <string>
#include <utility>

namespace etp2s::testing {

// A new RSA key and an unsigned certificate for it, valid for an hour, subject = issuer = CN=<cn>.
inline std::pair<EVP_PKEY*, X509*> new_self_issued(const char* cn, long serial) {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  return {key, cert};
}

inline std::string write_self_signed_pem(const std::string& path) {
  auto [key, cert] = new_self_issued("etp2sentinel-test", 1);
  X509_sign(cert, key, EVP_sha256());
  FILE* f = std::fopen(path.c_str(), "w");
  PEM_write_X509(f, cert);
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(cert);
  EVP_PKEY_free(key);
  return path;
}

// A self-signed server certificate naming `san` (e.g. "DNS:localhost"), its own trust anchor: cert and key in
// separate PEM files, as redis-server's --tls-cert-file / --tls-key-file want them.
inline void write_server_cert(const std::string& cert_path, const std::string& key_path,
                              const std::string& san) {
  auto [key, cert] = new_self_issued("etp2s-test-redis", 2);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  for (auto [nid, value] :
       {std::pair{NID_subject_alt_name, san}, std::pair{NID_basic_constraints, std::string("CA:TRUE")}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(cert, key, EVP_sha256());
  FILE* f = std::fopen(cert_path.c_str(), "w");
  PEM_write_X509(f, cert);
  std::fclose(f);
  f = std::fopen(key_path.c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(cert);
  EVP_PKEY_free(key);
}

}  // namespace etp2s::testing
