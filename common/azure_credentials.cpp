#include "common/azure_credentials.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "common/log.h"
#include "common/metrics.h"

namespace etp2s {
namespace {

template <class T, void (*F)(T*)>
struct Free {
  void operator()(T* p) const { F(p); }
};
using BioPtr = std::unique_ptr<BIO, Free<BIO, BIO_free_all>>;
using X509Ptr = std::unique_ptr<X509, Free<X509, X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY, EVP_PKEY_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Free<EVP_MD_CTX, EVP_MD_CTX_free>>;

std::string token_url(const EntraSettings& s) {
  std::string host = s.authority_host;
  while (!host.empty() && host.back() == '/') host.pop_back();
  return host + "/" + s.tenant_id + "/oauth2/v2.0/token";
}

Result<AccessToken, CredentialError> parse_token_reply(Result<HttpResponse, TransportError> res,
                                                       std::string_view who, Micros now) {
  if (!res)
    return err(CredentialError{
        false, std::string(who) + ": token endpoint unreachable (" + res.error().message + ")"});
  const HttpResponse& r = res.value();
  auto doc = nlohmann::json::parse(r.body, nullptr, false);
  if (r.status != 200) {
    std::string why;
    if (doc.is_object()) {
      why = doc.value("error", std::string());
      std::string desc = doc.value("error_description", std::string());
      if (!desc.empty()) why += (why.empty() ? "" : ": ") + desc.substr(0, desc.find('\n'));
    }
    bool fatal = r.status >= 400 && r.status < 500 && r.status != 429 && r.status != 408;
    return err(CredentialError{
        fatal,
        std::string(who) + ": HTTP " + std::to_string(r.status) + (why.empty() ? "" : " (" + why + ")") +
            (fatal ? "; check the identity's tenant, client id and secret or certificate" : "; will retry")});
  }
  if (!doc.is_object() || !doc.contains("access_token") || !doc["access_token"].is_string()) {
    return err(CredentialError{false, std::string(who) + ": HTTP 200 without an access_token; will retry"});
  }
  AccessToken t;
  t.token = Secret(doc["access_token"].get<std::string>());
  auto number = [&](const char* key) -> std::optional<double> {
    if (!doc.contains(key)) return std::nullopt;
    if (doc[key].is_number()) return doc[key].get<double>();
    if (doc[key].is_string()) {
      try {
        return std::stod(doc[key].get<std::string>());
      } catch (...) {
      }
    }
    return std::nullopt;
  };
  if (auto in = number("expires_in")) {
    t.expires_at = now + static_cast<Micros>(*in * kMicrosPerSecond);
  } else if (auto on = number("expires_on")) {
    t.expires_at = static_cast<Micros>(*on) * kMicrosPerSecond;
  } else {
    t.expires_at = now + 300 * kMicrosPerSecond;
  }
  return t;
}

HttpRequest form_post(const std::string& url, const std::string& body) {
  HttpRequest req;
  req.method = "POST";
  req.url = url;
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
  req.body = body;
  return req;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trim_ws(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

}  // namespace

Result<AccessToken, CredentialError> TokenCredential::fetch_counted() {
  Metrics::get().token_refreshes("azure").Increment();
  auto t = fetch();
  if (!t) Metrics::get().errors("azure_token").Increment();
  if (t)
    log::debug("azure.token_refreshed",
               {{"credential", name()}, {"expires_at", format_iso_ms(t->expires_at)}});
  return t;
}

Result<Secret, CredentialError> TokenCredential::token() {
  auto fresh = cache_.get([this] { return fetch_counted(); });
  if (fresh || fresh.error().fatal) return fresh;
  // An unreachable endpoint while the old token is still valid: keep using it.
  if (auto still_valid = cache_.unexpired()) return std::move(*still_valid);
  return fresh;
}

ClientSecretCredential::ClientSecretCredential(EntraSettings s, Secret secret, Clock clock)
    : TokenCredential(std::move(clock)), s_(std::move(s)), secret_(std::move(secret)), http_(s_.http) {}

Result<AccessToken, CredentialError> ClientSecretCredential::fetch() {
  std::string body = "grant_type=client_credentials&client_id=" + url_encode(s_.client_id) +
                     "&client_secret=" + url_encode(secret_.reveal()) + "&scope=" + url_encode(s_.scope);
  return parse_token_reply(http_.send(form_post(token_url(s_), body)), "Entra ID token (client secret)",
                           clock_());
}

ClientCertificateCredential::ClientCertificateCredential(EntraSettings s, std::string pem_path, Clock clock)
    : TokenCredential(std::move(clock)), s_(std::move(s)), pem_path_(std::move(pem_path)), http_(s_.http) {}

Result<std::string, CredentialError> ClientCertificateCredential::assertion(const std::string& audience) {
  std::string pem = read_file(pem_path_);
  auto fail = [&](const std::string& why) {
    return err(CredentialError{true, "AZURE_CLIENT_CERTIFICATE_PATH (" + pem_path_ + "): " + why});
  };
  if (pem.empty()) return fail("cannot read the file");
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return fail("no PEM certificate found");
  bio.reset(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return fail("no unencrypted PEM private key found");
  if (EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA)
    return fail("the private key is not RSA (RS256 needs RSA)");

  unsigned char* der = nullptr;
  int der_len = i2d_X509(cert.get(), &der);
  if (der_len <= 0) return fail("cannot encode the certificate");
  std::string der_bytes(reinterpret_cast<char*>(der), static_cast<std::size_t>(der_len));
  OPENSSL_free(der);
  unsigned char sha1[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(der_bytes.data()), der_bytes.size(), sha1);

  unsigned char jti[16];
  RAND_bytes(jti, sizeof jti);
  long long now = clock_() / kMicrosPerSecond;
  nlohmann::json header = {{"alg", "RS256"},
                           {"typ", "JWT"},
                           {"x5t", base64url_encode(std::string(reinterpret_cast<char*>(sha1), sizeof sha1))},
                           {"x5t#S256", base64url_encode(sha256(der_bytes))}};
  nlohmann::json claims = {
      {"aud", audience},     {"iss", s_.client_id},
      {"sub", s_.client_id}, {"jti", hex(std::string(reinterpret_cast<char*>(jti), sizeof jti))},
      {"nbf", now - 60},     {"iat", now},
      {"exp", now + 600}};
  std::string signing_input = base64url_encode(header.dump()) + "." + base64url_encode(claims.dump());
  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::size_t sig_len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &sig_len,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return fail("signing failed");
  }
  std::string sig(sig_len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return fail("signing failed");
  }
  sig.resize(sig_len);
  return signing_input + "." + base64url_encode(sig);
}

Result<AccessToken, CredentialError> ClientCertificateCredential::fetch() {
  std::string url = token_url(s_);
  auto jwt = assertion(url);
  if (!jwt) return err(jwt.error());
  std::string body =
      "grant_type=client_credentials&client_id=" + url_encode(s_.client_id) +
      "&client_assertion_type=" + url_encode("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") +
      "&client_assertion=" + jwt.value() + "&scope=" + url_encode(s_.scope);
  return parse_token_reply(http_.send(form_post(url, body)), "Entra ID token (client certificate)", clock_());
}

WorkloadIdentityCredential::WorkloadIdentityCredential(EntraSettings s, std::string token_file, Clock clock)
    : TokenCredential(std::move(clock)),
      s_(std::move(s)),
      token_file_(std::move(token_file)),
      http_(s_.http) {}

Result<AccessToken, CredentialError> WorkloadIdentityCredential::fetch() {
  // Re-read every time: the kubelet rotates the projected token file.
  std::string federated = trim_ws(read_file(token_file_));
  if (federated.empty()) {
    return err(
        CredentialError{false, "AZURE_FEDERATED_TOKEN_FILE (" + token_file_ + ") is missing or empty"});
  }
  Secret guard(federated);
  std::string body =
      "grant_type=client_credentials&client_id=" + url_encode(s_.client_id) +
      "&client_assertion_type=" + url_encode("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") +
      "&client_assertion=" + url_encode(federated) + "&scope=" + url_encode(s_.scope);
  return parse_token_reply(http_.send(form_post(token_url(s_), body)), "Entra ID token (workload identity)",
                           clock_());
}

ManagedIdentityCredential::ManagedIdentityCredential(ManagedIdentitySettings s, Clock clock)
    : TokenCredential(std::move(clock)), s_(std::move(s)), http_(s_.http) {}

Result<AccessToken, CredentialError> ManagedIdentityCredential::fetch() {
  HttpRequest req;
  req.method = "GET";
  std::string client = s_.client_id.empty() ? "" : "&client_id=" + url_encode(s_.client_id);
  if (!s_.identity_endpoint.empty()) {
    req.url = s_.identity_endpoint + "?api-version=2019-08-01&resource=" + url_encode(s_.resource) + client;
    req.headers = {{"X-IDENTITY-HEADER", s_.identity_header.reveal()}};
  } else {
    req.url = s_.imds_endpoint + "?api-version=2018-02-01&resource=" + url_encode(s_.resource) + client;
    req.headers = {{"Metadata", "true"}};
  }
  return parse_token_reply(http_.send(req), "managed identity token (" + name() + ")", clock_());
}

std::shared_ptr<TokenCredential> credential_from_config(const Config& c, Clock clock,
                                                        const std::string& scope) {
  HttpOptions http{10'000, 30'000, c.sentinel_ca_bundle};
  EntraSettings e{c.azure_authority_host, c.azure_tenant_id, c.azure_client_id,
                  scope.empty() ? c.sentinel_scope : scope, http};
  bool app = !c.azure_tenant_id.empty() && !c.azure_client_id.empty();
  if (app && !c.azure_client_secret.empty()) {
    return std::make_shared<ClientSecretCredential>(e, c.azure_client_secret, clock);
  }
  if (app && !c.azure_client_certificate_path.empty()) {
    return std::make_shared<ClientCertificateCredential>(e, c.azure_client_certificate_path, clock);
  }
  if (app && !c.azure_federated_token_file.empty()) {
    return std::make_shared<WorkloadIdentityCredential>(e, c.azure_federated_token_file, clock);
  }
  std::string resource = e.scope;
  if (auto pos = resource.find("/.default"); pos != std::string::npos) resource = resource.substr(0, pos);
  while (resource.size() > 8 && resource.back() == '/') resource.pop_back();
  ManagedIdentitySettings m{
      c.identity_endpoint, c.identity_header, c.imds_endpoint, resource, c.azure_client_id, http};
  return std::make_shared<ManagedIdentityCredential>(m, clock);
}

}  // namespace etp2s
