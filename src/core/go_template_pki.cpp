// Upstream's PEM and PKCS#12 template helpers over OpenSSL: filterPEM, filterCertChain, pkcs12key(Pass),
// pkcs12cert(Pass), pemToPkcs12(Pass), fullPemToPkcs12(Pass). Failures read like upstream's panics
// ("Error: ..."), which text/template reports as `error calling <fn>: ...`.
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fmt/format.h>

#include "core/base64.h"
#include "core/go_template_internal.h"
#include "core/text.h"

namespace ifo::core::tmpl {

namespace {

using R = Result<Value>;
using A = std::vector<Value>;

struct BioFree { void operator()(BIO* b) const { BIO_free(b); } };
struct X509Free { void operator()(X509* x) const { X509_free(x); } };
struct KeyFree { void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); } };
struct P12Free { void operator()(PKCS12* p) const { PKCS12_free(p); } };
struct StackFree { void operator()(STACK_OF(X509)* s) const { sk_X509_pop_free(s, X509_free); } };
using Bio = std::unique_ptr<BIO, BioFree>;
using Cert = std::unique_ptr<X509, X509Free>;
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;

std::string ssl_error(std::string_view fallback) {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return std::string(fallback);
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

struct PemBlock {
  std::string type;
  std::string der;
};

// encoding/pem.Decode over the whole input: the blocks, and whether non-block text remained.
std::vector<PemBlock> pem_blocks(std::string_view in, bool& junk) {
  std::vector<PemBlock> out;
  junk = false;
  size_t pos = 0;
  while (true) {
    const size_t begin = in.find("-----BEGIN ", pos);
    if (begin == std::string_view::npos) break;
    const size_t type_end = in.find("-----", begin + 11);
    if (type_end == std::string_view::npos) break;
    const std::string type(in.substr(begin + 11, type_end - begin - 11));
    const std::string end_marker = "-----END " + type + "-----";
    const size_t end = in.find(end_marker, type_end + 5);
    if (end == std::string_view::npos) break;
    std::string b64;
    for (char c : in.substr(type_end + 5, end - type_end - 5))
      if (!std::isspace(static_cast<unsigned char>(c))) b64 += c;
    auto der = base64_decode(b64);
    if (der) out.push_back(PemBlock{type, std::move(der).value()});
    pos = end + end_marker.size();
  }
  junk = out.empty() && !trim(in.substr(pos)).empty();
  return out;
}

std::string pem_encode(std::string_view type, std::string_view der) {
  const std::string b64 = base64_encode(der);
  std::string out = fmt::format("-----BEGIN {}-----\n", type);
  for (size_t i = 0; i < b64.size(); i += 64) out += b64.substr(i, 64) + "\n";
  out += fmt::format("-----END {}-----\n", type);
  return out;
}

std::string cert_der(X509* x) {
  unsigned char* buf = nullptr;
  const int len = i2d_X509(x, &buf);
  if (len <= 0) return {};
  std::string out(reinterpret_cast<char*>(buf), static_cast<size_t>(len));
  OPENSSL_free(buf);
  return out;
}

Cert parse_cert(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  return Cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
}

// Orders certificates leaf -> root by issuer links (upstream's fetchCertChains); the input order when
// no single chain covers them all.
std::vector<Cert> order_chain(std::vector<Cert> certs) {
  if (certs.size() < 2) return certs;
  // The leaf issues nothing else in the set.
  auto issues_other = [&](size_t i) {
    for (size_t j = 0; j < certs.size(); ++j)
      if (i != j && X509_check_issued(certs[i].get(), certs[j].get()) == X509_V_OK) return true;
    return false;
  };
  std::vector<size_t> leaves;
  for (size_t i = 0; i < certs.size(); ++i)
    if (!issues_other(i)) leaves.push_back(i);
  if (leaves.size() != 1) return certs;
  std::vector<size_t> order{leaves[0]};
  while (order.size() < certs.size()) {
    X509* cur = certs[order.back()].get();
    bool found = false;
    for (size_t j = 0; j < certs.size() && !found; ++j) {
      if (std::find(order.begin(), order.end(), j) != order.end()) continue;
      if (X509_check_issued(certs[j].get(), cur) == X509_V_OK) order.push_back(j), found = true;
    }
    if (!found) return certs;
  }
  std::vector<Cert> out;
  for (size_t i : order) out.push_back(std::move(certs[i]));
  return out;
}

std::vector<Cert> certs_from_pem(std::string_view in) {
  bool junk = false;
  std::vector<Cert> certs;
  for (auto& b : pem_blocks(in, junk))
    if (b.type == "CERTIFICATE")
      if (Cert c = parse_cert(b.der)) certs.push_back(std::move(c));
  return certs;
}

R f_filter_pem(A& a, const CallEnv&) {
  bool junk = false;
  std::string out;
  for (const auto& b : pem_blocks(a[1].as_string(), junk))
    if (iequals_ascii(b.type, a[0].as_string())) out += pem_encode(b.type, b.der);
  if (out.empty() && junk) return R::fail("error filtering pem: found junk");
  return Value(std::move(out));
}

R f_filter_cert_chain(A& a, const CallEnv&) {
  const std::string& which = a[0].as_string();
  std::vector<Cert> chain = order_chain(certs_from_pem(a[1].as_string()));
  std::string out;
  if (which == "leaf" && !chain.empty()) out = pem_encode("CERTIFICATE", cert_der(chain.front().get()));
  else if (which == "intermediate" && chain.size() > 2) out = pem_encode("CERTIFICATE", cert_der(chain[1].get()));
  else if (which == "root" && chain.size() > 1 &&
           X509_check_issued(chain.back().get(), chain.back().get()) == X509_V_OK)
    out = pem_encode("CERTIFICATE", cert_der(chain.back().get()));
  return Value(std::move(out));
}

struct Parsed12 {
  Key key;
  Cert cert;
  std::vector<Cert> ca;
};

Result<Parsed12> parse_p12(std::string_view der, const std::string& pass) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<PKCS12, P12Free> p12(d2i_PKCS12(nullptr, &p, static_cast<long>(der.size())));
  if (!p12) return Result<Parsed12>::fail("Error: pkcs12: " + ssl_error("not a PKCS#12 file"));
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  STACK_OF(X509)* ca = nullptr;
  if (PKCS12_parse(p12.get(), pass.c_str(), &key, &cert, &ca) != 1)
    return Result<Parsed12>::fail("Error: pkcs12: " + ssl_error("decryption password incorrect"));
  Parsed12 out{Key(key), Cert(cert), {}};
  std::unique_ptr<STACK_OF(X509), StackFree> hold(ca);
  for (int i = 0; ca && i < sk_X509_num(ca); ++i) {
    X509* x = sk_X509_value(ca, i);
    X509_up_ref(x);
    out.ca.emplace_back(x);
  }
  return out;
}

R pkcs12_key(const std::string& pass, const std::string& in) {
  auto p = parse_p12(in, pass);
  if (!p) return R::fail(p.error());
  if (!p->key) return R::fail("Error: pkcs12: no private key");
  Bio bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PKCS8PrivateKey(bio.get(), p->key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return R::fail("Error: " + ssl_error("cannot encode the private key"));
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return Value(std::string(data, static_cast<size_t>(len)));
}

R pkcs12_cert(const std::string& pass, const std::string& in) {
  auto p = parse_p12(in, pass);
  if (!p) return R::fail(p.error());
  std::vector<Cert> certs;
  if (p->cert) certs.push_back(std::move(p->cert));
  for (auto& c : p->ca) certs.push_back(std::move(c));
  std::string out;
  for (const auto& c : order_chain(std::move(certs))) out += pem_encode("CERTIFICATE", cert_der(c.get()));
  return Value(std::move(out));
}

R f_pkcs12key(A& a, const CallEnv&) { return pkcs12_key("", a[0].as_string()); }
R f_pkcs12key_pass(A& a, const CallEnv&) { return pkcs12_key(a[0].as_string(), a[1].as_string()); }
R f_pkcs12cert(A& a, const CallEnv&) { return pkcs12_cert("", a[0].as_string()); }
R f_pkcs12cert_pass(A& a, const CallEnv&) { return pkcs12_cert(a[0].as_string(), a[1].as_string()); }

Key parse_key(std::string_view pem) {
  bool junk = false;
  for (const auto& b : pem_blocks(pem, junk)) {
    const auto* p = reinterpret_cast<const unsigned char*>(b.der.data());
    const long len = static_cast<long>(b.der.size());
    // PKCS#1 RSA, PKCS#8, SEC 1 EC: whatever the block is called, like upstream's parsePrivateKey.
    if (EVP_PKEY* k = d2i_PrivateKey(EVP_PKEY_RSA, nullptr, &p, len)) return Key(k);
    p = reinterpret_cast<const unsigned char*>(b.der.data());
    if (EVP_PKEY* k = d2i_AutoPrivateKey(nullptr, &p, len)) return Key(k);
    p = reinterpret_cast<const unsigned char*>(b.der.data());
    if (EVP_PKEY* k = d2i_PrivateKey(EVP_PKEY_EC, nullptr, &p, len)) return Key(k);
    break;  // upstream reads the first block only
  }
  ERR_clear_error();
  return nullptr;
}

R to_pkcs12(const std::string& cert_pem, const std::string& key_pem, const std::string& pass, bool full,
            const CallEnv& env) {
  std::vector<Cert> certs = certs_from_pem(cert_pem);
  if (certs.empty()) return R::fail("Error: x509: malformed certificate");
  Key key = parse_key(key_pem);
  if (!key) return R::fail("Error: unable to parse private key");
  std::unique_ptr<STACK_OF(X509), StackFree> ca(sk_X509_new_null());
  if (full)
    for (size_t i = 1; i < certs.size(); ++i) {
      X509_up_ref(certs[i].get());
      sk_X509_push(ca.get(), certs[i].get());
    }
  std::unique_ptr<PKCS12, P12Free> p12(PKCS12_create(pass.c_str(), nullptr, key.get(), certs[0].get(), ca.get(),
                                                     NID_aes_256_cbc, NID_aes_256_cbc, 2048, 1, 0));
  if (!p12) return R::fail("Error: " + ssl_error("cannot create PKCS#12"));
  if (PKCS12_set_mac(p12.get(), pass.c_str(), -1, nullptr, 0, 2048, EVP_sha256()) != 1)
    return R::fail("Error: " + ssl_error("cannot MAC PKCS#12"));
  unsigned char* buf = nullptr;
  const int len = i2d_PKCS12(p12.get(), &buf);
  if (len <= 0) return R::fail("Error: " + ssl_error("cannot encode PKCS#12"));
  std::string der(reinterpret_cast<char*>(buf), static_cast<size_t>(len));
  OPENSSL_free(buf);
  std::string out = base64_encode(der);
  if (auto c = charge(env, out.size()); !c) return R::fail(c.error());
  return Value(std::move(out));
}

R f_pem_to_pkcs12(A& a, const CallEnv& env) { return to_pkcs12(a[0].as_string(), a[1].as_string(), "", false, env); }
R f_pem_to_pkcs12_pass(A& a, const CallEnv& env) {
  return to_pkcs12(a[0].as_string(), a[1].as_string(), a[2].as_string(), false, env);
}
R f_full_pem_to_pkcs12(A& a, const CallEnv& env) {
  return to_pkcs12(a[0].as_string(), a[1].as_string(), "", true, env);
}
R f_full_pem_to_pkcs12_pass(A& a, const CallEnv& env) {
  return to_pkcs12(a[0].as_string(), a[1].as_string(), a[2].as_string(), true, env);
}

}  // namespace

void register_pki_funcs(std::map<std::string_view, FuncDef>& t) {
  auto add = [&](std::string_view name, std::string_view sig, FuncImpl f) { t[name] = FuncDef{name, sig, f, {}}; };
  add("filterPEM", "ss", f_filter_pem);
  add("filterCertChain", "ss", f_filter_cert_chain);
  add("pkcs12key", "s", f_pkcs12key);
  add("pkcs12keyPass", "ss", f_pkcs12key_pass);
  add("pkcs12cert", "s", f_pkcs12cert);
  add("pkcs12certPass", "ss", f_pkcs12cert_pass);
  add("pemToPkcs12", "ss", f_pem_to_pkcs12);
  add("pemToPkcs12Pass", "sss", f_pem_to_pkcs12_pass);
  add("fullPemToPkcs12", "ss", f_full_pem_to_pkcs12);
  add("fullPemToPkcs12Pass", "sss", f_full_pem_to_pkcs12_pass);
  for (std::string_view name : {"jwkPublicKeyPem", "jwkPrivateKeyPem", "fromYaml"})
    t[name] = FuncDef{name, "a*", nullptr, "not supported by this operator yet"};
}

}  // namespace ifo::core::tmpl
