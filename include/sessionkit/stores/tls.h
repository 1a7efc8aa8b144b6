// TLS settings of a store that talks to its servers over sessionkit's own
// connection layer (Redis, Memcached): the same fields, from the same URL
// parameters (tls_ca, tls_cert, tls_key, tls_insecure).
#ifndef SESSIONKIT_STORES_TLS_H_
#define SESSIONKIT_STORES_TLS_H_

#include <string>

namespace sessionkit {

// Which CA to trust and which client certificate to present.
struct TlsOptions {
  bool enabled = false;
  // PEM file of the CA(s) that sign the server certificate; empty: the
  // system's default CA store.
  std::string ca_file;
  // PEM client certificate (chain) and its key, for servers that require
  // one. An empty key_file with a cert_file reads the key from cert_file.
  std::string cert_file;
  std::string key_file;
  // Skips verifying the server certificate and its name. For tests only: it
  // leaves the connection open to an attacker in the middle.
  bool insecure = false;
};

}  // namespace sessionkit

#endif  // SESSIONKIT_STORES_TLS_H_
