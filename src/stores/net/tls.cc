// TLS for a socket: the shared client context (TlsContext) and a socket's
// handshake and record pumping, through OpenSSL memory BIOs so that every
// byte goes through the socket's own poll loop and deadline.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <string_view>

#include "stores/net/net_internal.h"
#include "stores/net/socket.h"

namespace sessionkit::net {
namespace {

bool IsIpAddress(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// Checks that a readable file exists, for messages clearer than OpenSSL's.
Status CheckReadable(const std::string& store_name, std::string_view setting,
                     const std::string& path) {
  if (access(path.c_str(), R_OK) != 0) {
    int err = errno;
    return Status::InvalidArgument(store_name + ": " + std::string(setting) +
                                   "=" + path +
                                   ": cannot read the file: " + Errno(err));
  }
  return Status::OK();
}

// Notes a CertificateRequest from the server (an SSL message callback, set
// for the handshake only; `arg` is the socket's flag).
void NoteCertificateRequest(int write_p, int /*version*/, int content_type,
                            const void* buf, size_t len, SSL* /*ssl*/,
                            void* arg) {
  if (write_p == 0 && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
      static_cast<const unsigned char*>(buf)[0] ==
          SSL3_MT_CERTIFICATE_REQUEST) {
    *static_cast<bool*>(arg) = true;
  }
}

}  // namespace

std::string OpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    std::string text;
    if (reason != nullptr) {
      text = reason;
    } else {
      char buf[256];
      ERR_error_string_n(e, buf, sizeof(buf));
      text = buf;
    }
    if (out.find(text) != std::string::npos) continue;
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out.empty() ? std::string("unknown TLS error") : out;
}

// --- TlsContext -----------------------------------------------------------

Result<std::shared_ptr<TlsContext>> TlsContext::Create(
    const TlsOptions& options, const std::string& store_name) {
  if (!options.key_file.empty() && options.cert_file.empty()) {
    return Status::InvalidArgument(
        store_name +
        ": tls_key is given without tls_cert: give the client certificate "
        "too");
  }
  if (!options.ca_file.empty()) {
    SK_RETURN_IF_ERROR(CheckReadable(store_name, "tls_ca", options.ca_file));
  }
  if (!options.cert_file.empty()) {
    SK_RETURN_IF_ERROR(
        CheckReadable(store_name, "tls_cert", options.cert_file));
  }
  if (!options.key_file.empty()) {
    SK_RETURN_IF_ERROR(CheckReadable(store_name, "tls_key", options.key_file));
  }
  ERR_clear_error();
  std::shared_ptr<TlsContext> out(new TlsContext());
  out->ctx_ = SSL_CTX_new(TLS_client_method());
  if (out->ctx_ == nullptr) {
    return Status::Internal(
        store_name + ": cannot create a TLS context: " + OpenSslErrors());
  }
  SSL_CTX_set_min_proto_version(out->ctx_, TLS1_2_VERSION);
  out->verify_ = !options.insecure;
  out->has_ca_file_ = !options.ca_file.empty();
  if (!options.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(out->ctx_, options.ca_file.c_str(),
                                      nullptr) != 1) {
      return Status::InvalidArgument(
          store_name + ": tls_ca=" + options.ca_file +
          ": not a PEM CA certificate file: " + OpenSslErrors());
    }
  } else if (out->verify_ && SSL_CTX_set_default_verify_paths(out->ctx_) != 1) {
    return Status::InvalidArgument(
        store_name + ": cannot load the system's CA certificates (" +
        OpenSslErrors() + "): give the CA with tls_ca=/path/to/ca.pem");
  }
  SSL_CTX_set_verify(out->ctx_,
                     out->verify_ ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  out->cert_file_ = options.cert_file;
  if (!options.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(out->ctx_,
                                           options.cert_file.c_str()) != 1) {
      return Status::InvalidArgument(
          store_name + ": tls_cert=" + options.cert_file +
          ": not a PEM certificate file: " + OpenSslErrors());
    }
    const std::string& key =
        options.key_file.empty() ? options.cert_file : options.key_file;
    if (SSL_CTX_use_PrivateKey_file(out->ctx_, key.c_str(), SSL_FILETYPE_PEM) !=
        1) {
      return Status::InvalidArgument(
          store_name + ": " +
          (options.key_file.empty() ? "tls_cert=" : "tls_key=") + key +
          ": no PEM private key in the file: " + OpenSslErrors());
    }
    if (SSL_CTX_check_private_key(out->ctx_) != 1) {
      return Status::InvalidArgument(
          store_name + ": tls_key does not match the certificate of tls_cert=" +
          options.cert_file + ": " + OpenSslErrors());
    }
  }
  return out;
}

TlsContext::~TlsContext() {
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
}

// --- A socket's TLS ---------------------------------------------------

Status Socket::FlushTlsOutput(Deadline deadline) {
  BIO* wbio = SSL_get_wbio(ssl_);
  char buf[kReadChunk];
  while (BIO_ctrl_pending(wbio) > 0) {
    int n = BIO_read(wbio, buf, sizeof(buf));
    if (n <= 0) break;
    SK_RETURN_IF_ERROR(
        SendRaw(std::string_view(buf, static_cast<size_t>(n)), deadline));
  }
  return Status::OK();
}

Status Socket::TlsHandshake(Deadline deadline) {
  ERR_clear_error();
  ssl_ = SSL_new(options_.tls->ctx());
  if (ssl_ == nullptr) {
    return Status::Internal(Where() + ": cannot start TLS: " + OpenSslErrors());
  }
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  if (rbio == nullptr || wbio == nullptr) {
    BIO_free(rbio);
    BIO_free(wbio);
    return Status::Internal(Where() + ": cannot start TLS: out of memory");
  }
  // An empty input buffer means "wait for more", not end of stream.
  BIO_set_mem_eof_return(rbio, -1);
  SSL_set_bio(ssl_, rbio, wbio);
  SSL_set_connect_state(ssl_);
  tls_cert_requested_ = false;
  SSL_set_msg_callback(ssl_, NoteCertificateRequest);
  SSL_set_msg_callback_arg(ssl_, &tls_cert_requested_);
  const std::string& host = options_.endpoint.host;
  const bool ip = IsIpAddress(host);
  if (!ip) SSL_set_tlsext_host_name(ssl_, host.c_str());
  if (options_.tls->verify()) {
    // Checks that the certificate names the host we dialled.
    int ok =
        ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str())
           : SSL_set1_host(ssl_, host.c_str());
    if (ok != 1) {
      return Status::Internal(
          Where() + ": cannot set the TLS host name: " + OpenSslErrors());
    }
  }
  char buf[kReadChunk];
  while (true) {
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl_);
    int err = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, rc);
    std::string errors = err == SSL_ERROR_SSL ? OpenSslErrors() : "";
    // Whatever the handshake produced (including an alert) goes out.
    SK_RETURN_IF_ERROR(FlushTlsOutput(deadline));
    if (rc == 1) {
      SSL_set_msg_callback(ssl_, nullptr);
      return Status::OK();
    }
    if (err == SSL_ERROR_WANT_READ) {
      size_t n = 0;
      SK_RETURN_IF_ERROR(RecvRaw(buf, sizeof(buf), &n, deadline));
      if (n == 0) {
        return Status::Unavailable(
            Where() +
            ": the server closed the connection during the TLS handshake (" +
            std::string(options_.words.tls_port_hint) + ")");
      }
      BIO_write(rbio, buf, static_cast<int>(n));
      continue;
    }
    if (err == SSL_ERROR_WANT_WRITE) continue;
    std::string reason =
        errors.empty() ? "TLS error " + std::to_string(err) : errors;
    long verify = SSL_get_verify_result(ssl_);
    std::string hint;
    if (verify != X509_V_OK) {
      reason += ": ";
      reason += X509_verify_cert_error_string(verify);
      hint = options_.tls->has_ca_file()
                 ? " (check that tls_ca holds the CA that signed the server "
                   "certificate and that the certificate names the host)"
                 : " (give the CA that signed the server certificate with "
                   "tls_ca=/path/to/ca.pem; tls_insecure=1 skips the check, "
                   "for tests only)";
    } else if (reason.find("wrong version number") != std::string::npos ||
               reason.find("packet length too long") != std::string::npos) {
      hint = " (" + std::string(options_.words.tls_port_hint) + ")";
    }
    Status failed = Status::Unavailable(
        options_.store_name + ": TLS handshake with " +
        options_.endpoint.ToString() + " failed: " + reason + hint);
    // TLS 1.2: the server checks the client certificate within the
    // handshake (unless this side refused the server's first).
    return verify == X509_V_OK ? ExplainTlsRefusal(std::move(failed)) : failed;
  }
}

Status Socket::ExplainTlsRefusal(Status status) const {
  if (!tls_cert_requested_ || got_bytes_) return status;
  const std::string& cert = options_.tls->cert_file();
  const ServerWords& words = options_.words;
  const std::string hint =
      cert.empty()
          ? " (the server asked for a client certificate in the TLS "
            "handshake and none was given: it requires one (" +
                std::string(words.client_auth_setting) +
                "); give it with tls_cert=/path/to/client.crt and "
                "tls_key=/path/to/client.key)"
          : " (the server asked for a client certificate in the TLS "
            "handshake and then refused the connection: it does not accept "
            "tls_cert=" +
                cert +
                "; the certificate must be signed by a CA the server trusts, "
                "its " +
                std::string(words.client_ca_setting) + ")";
  return Status(status.code(), status.message() + hint);
}

Status Socket::PumpTlsInput(Deadline deadline) {
  SK_RETURN_IF_ERROR(FlushTlsOutput(deadline));
  char buf[kReadChunk];
  size_t n = 0;
  SK_RETURN_IF_ERROR(RecvRaw(buf, sizeof(buf), &n, deadline));
  if (n == 0) return PeerClosed("the server closed the connection");
  BIO_write(SSL_get_rbio(ssl_), buf, static_cast<int>(n));
  return Status::OK();
}
}  // namespace sessionkit::net
