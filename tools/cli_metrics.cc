// The verbs over the metrics file (docs/metrics.md): `metrics` prints it in
// the Prometheus text format or as JSON, or serves it over HTTP; `top`
// shows live rates from it.
#include <httplib.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string>

#include "cli.h"
#include "metrics/metrics_format.h"
#include "metrics/metrics_read.h"
#include "sessionkit/env.h"

namespace sessionkit::cli {
namespace {

using metrics_internal::MetricsSnapshot;
using metrics_internal::ReadMetricsFile;

constexpr char kFileHelp[] =
    "The metrics file (the value of sessionkit.metrics); default: "
    "$SESSIONKIT_METRICS";
constexpr char kPrometheusType[] = "text/plain; version=0.0.4; charset=utf-8";

// The metrics file named by --file or SESSIONKIT_METRICS; empty (and a
// message on `err`) when neither is set.
std::string MetricsFile(const MetricsArgs& args, const std::string& verb,
                        std::ostream& err) {
  if (!args.file.empty()) return args.file;
  const char* env = std::getenv("SESSIONKIT_METRICS");
  if (env != nullptr && env[0] != '\0') return env;
  err << "sessionkit " << verb
      << ": no metrics file given: pass --file or set SESSIONKIT_METRICS to "
         "the value of sessionkit.metrics\n";
  return "";
}

int ExitFor(const Status& s) {
  return s.IsInvalidArgument() ? kExitUsage : kExitFailure;
}

// Splits "HOST:PORT" ("[::1]:9000" for IPv6); false when malformed.
bool SplitListen(const std::string& text, std::string* host, int* port) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  *host = text.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  const std::string digits = text.substr(colon + 1);
  const auto [end, ec] =
      std::from_chars(digits.data(), digits.data() + digits.size(), *port);
  return ec == std::errc() && end == digits.data() + digits.size() &&
         !digits.empty() && *port >= 0 && *port <= 65535;
}

// Serves GET /metrics at args.listen until killed (or, for tests, until
// --max-requests were answered).
int Serve(const MetricsArgs& args, const std::string& file, std::ostream& out,
          std::ostream& err) {
  std::string host;
  int port = 0;
  if (!SplitListen(args.listen, &host, &port)) {
    err << "sessionkit metrics: --listen wants HOST:PORT (e.g. "
           "127.0.0.1:9464), not '"
        << args.listen << "'\n";
    return kExitUsage;
  }
  httplib::Server server;
  std::atomic<uint64_t> answered{0};
  server.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    auto snapshot = ReadMetricsFile(file);
    if (snapshot.ok()) {
      res.set_content(metrics_internal::FormatPrometheus(*snapshot),
                      kPrometheusType);
    } else {
      res.status = 500;
      res.set_content(snapshot.status().message() + "\n", "text/plain");
    }
    if (args.max_requests != 0 && ++answered >= args.max_requests) {
      server.stop();
    }
  });
  const int bound = port == 0 ? server.bind_to_any_port(host)
                              : (server.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    err << "sessionkit metrics: cannot listen on " << args.listen
        << " (address in use, or not this host's)\n";
    return kExitFailure;
  }
  out << "serving " << file << " at http://"
      << (host.find(':') != std::string::npos ? "[" + host + "]" : host) << ":"
      << bound << "/metrics" << std::endl;
  return server.listen_after_bind() || args.max_requests != 0 ? kExitOk
                                                              : kExitFailure;
}

int RunMetrics(const MetricsArgs& args, std::ostream& out, std::ostream& err) {
  const std::string file = MetricsFile(args, "metrics", err);
  if (file.empty()) return kExitUsage;
  if (!args.listen.empty()) return Serve(args, file, out, err);
  auto snapshot = ReadMetricsFile(file);
  if (!snapshot.ok()) {
    err << "sessionkit metrics: " << snapshot.status().message() << "\n";
    return ExitFor(snapshot.status());
  }
  out << (args.json ? metrics_internal::FormatMetricsJson(*snapshot)
                    : metrics_internal::FormatPrometheus(*snapshot));
  return kExitOk;
}

int RunTop(const MetricsArgs& args, std::ostream& out, std::ostream& err) {
  const std::string file = MetricsFile(args, "top", err);
  if (file.empty()) return kExitUsage;
  Env* env = Env::Default();
  auto before = ReadMetricsFile(file);
  if (!before.ok()) {
    err << "sessionkit top: " << before.status().message() << "\n";
    return ExitFor(before.status());
  }
  SteadyTime then = env->SteadyNow();
  const bool tty = &out == &std::cout && isatty(STDOUT_FILENO);
  for (uint64_t i = 0; args.iterations == 0 || i < args.iterations; ++i) {
    env->SleepFor(std::chrono::milliseconds(args.interval_ms));
    auto after = ReadMetricsFile(file);
    if (!after.ok()) {
      err << "sessionkit top: " << after.status().message() << "\n";
      return ExitFor(after.status());
    }
    const SteadyTime now = env->SteadyNow();
    const double seconds = std::chrono::duration<double>(now - then).count();
    if (tty) out << "\033[H\033[2J";
    out << "sessionkit top: " << file << ", rates over the last "
        << static_cast<int64_t>(seconds * 1000) << " ms\n"
        << metrics_internal::FormatRates(*before, *after, seconds)
        << std::flush;
    before = std::move(after);
    then = now;
  }
  return kExitOk;
}

}  // namespace

void AddMetricsCommands(CLI::App& app, MetricsArgs* args) {
  CLI::App* metrics = app.add_subcommand(
      "metrics",
      "Print the counters and latency histograms every process of this host "
      "counted into the metrics file (sessionkit.metrics), in the Prometheus "
      "text format; or serve them at /metrics over HTTP (--listen).");
  CLI::Option* json = metrics->add_flag(
      "--json", args->json, "Print one JSON object instead (for scripts)");
  metrics
      ->add_option("--listen", args->listen,
                   "Serve GET /metrics at HOST:PORT (port 0: any free one, "
                   "printed) until killed")
      ->type_name("HOST:PORT")
      ->excludes(json);
  metrics->add_option("--max-requests", args->max_requests)
      ->group("");  // for tests: stop after N requests
  metrics->footer(
      "Examples: sessionkit metrics --file /run/sessionkit/metrics\n"
      "          sessionkit metrics --listen 127.0.0.1:9464");

  CLI::App* top = app.add_subcommand(
      "top",
      "Show live rates from the metrics file: operations per second by store "
      "and kind, errors, mean latency, lock waits, timeouts and takeovers; "
      "refreshed every --interval-ms until interrupted.");
  for (CLI::App* cmd : {metrics, top}) {
    cmd->add_option("--file", args->file, kFileHelp)->type_name("FILE");
  }
  top->add_option("--interval-ms", args->interval_ms,
                  "Time between refreshes (default 1000)")
      ->type_name("MS")
      ->check(CLI::Range(10, 3600 * 1000));
  top->add_option("--iterations", args->iterations,
                  "Stop after N refreshes (default: never)")
      ->type_name("N");
  top->footer("Example: sessionkit top --file /run/sessionkit/metrics");
}

bool IsMetricsVerb(std::string_view verb) {
  return verb == "metrics" || verb == "top";
}

int RunMetricsVerb(const std::string& verb, const MetricsArgs& args,
                   std::ostream& out, std::ostream& err) {
  return verb == "top" ? RunTop(args, out, err) : RunMetrics(args, out, err);
}

}  // namespace sessionkit::cli
