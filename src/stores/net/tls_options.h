// The TLS settings of a store URL (tls_ca, tls_cert, tls_key, tls_insecure),
// read the same way for every store on this connection layer.
#ifndef SESSIONKIT_STORES_NET_TLS_OPTIONS_H_
#define SESSIONKIT_STORES_NET_TLS_OPTIONS_H_

#include "sessionkit/status.h"
#include "sessionkit/store_url.h"
#include "sessionkit/stores/tls.h"

namespace sessionkit::net {

// Reads the tls_* parameters of `url` into `tls` and turns TLS on, when
// `always` (a scheme that means TLS, rediss://) or when any of them is
// given; leaves `tls` as it is otherwise. InvalidArgument naming the
// parameter for a value that does not parse (files are read later, by
// TlsContext::Create).
Status ReadTlsParams(const StoreUrl& url, bool always, TlsOptions* tls);

}  // namespace sessionkit::net

#endif  // SESSIONKIT_STORES_NET_TLS_OPTIONS_H_
