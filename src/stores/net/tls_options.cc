#include "stores/net/tls_options.h"

#include <string>

namespace sessionkit::net {

Status ReadTlsParams(const StoreUrl& url, bool always, TlsOptions* tls) {
  const bool given = url.Param("tls_ca") || url.Param("tls_cert") ||
                     url.Param("tls_key") || url.Param("tls_insecure");
  if (!always && !given) return Status::OK();
  tls->enabled = true;
  Result<std::string> ca = url.PathParam("tls_ca", tls->ca_file);
  if (!ca.ok()) return ca.status();
  tls->ca_file = *ca;
  Result<std::string> cert = url.PathParam("tls_cert", tls->cert_file);
  if (!cert.ok()) return cert.status();
  tls->cert_file = *cert;
  Result<std::string> key = url.PathParam("tls_key", tls->key_file);
  if (!key.ok()) return key.status();
  tls->key_file = *key;
  Result<bool> insecure = url.BoolParam("tls_insecure", tls->insecure);
  if (!insecure.ok()) return insecure.status();
  tls->insecure = *insecure;
  return Status::OK();
}

}  // namespace sessionkit::net
