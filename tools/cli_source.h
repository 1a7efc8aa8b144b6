// Where the `sessionkit` tool takes the store URL from, so that no password
// needs to be typed on a command line (docs/cli.md, "Which store"):
//
//   1. the URL argument (a warning on stderr when it holds a password);
//   2. the environment variable SESSIONKIT_URL;
//   3. --fpm-pool NAME: session.save_path of that php-fpm pool
//      (php_admin_value / php_value in its pool file), else of php-fpm's
//      php.ini and conf.d;
//   4. session.save_path of the php CLI's own configuration (php.ini and
//      conf.d, read by running `php`).
//
// PHP's save_path is taken only when its session.save_handler is
// sessionkit. The parsing is pure (ParseFpmPool, FindStoreUrl over a
// UrlSourceOs); UrlSourceOs::Real() holds the few calls to the OS.
#ifndef SESSIONKIT_TOOLS_CLI_SOURCE_H_
#define SESSIONKIT_TOOLS_CLI_SOURCE_H_

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/status.h"

namespace CLI {
class App;
}  // namespace CLI

namespace sessionkit::cli {

inline constexpr char kUrlEnvVar[] = "SESSIONKIT_URL";
inline constexpr char kDefaultFpmDir[] = "/etc/php/8.2/fpm";

// The session settings of one PHP configuration; nullopt: not set there.
struct PhpSessionSettings {
  std::optional<std::string> save_handler;
  std::optional<std::string> save_path;
};

// The settings of pool `pool` in the text of a php-fpm configuration file
// (INI: "[pool]" sections, "php_value[session.save_path] = ..."); a
// php_admin_value wins over a php_value, as in php-fpm. nullopt when the
// file has no such pool.
std::optional<PhpSessionSettings> ParseFpmPool(std::string_view text,
                                               std::string_view pool);

// The pool names a php-fpm configuration file defines, in order.
std::vector<std::string> FpmPoolNames(std::string_view text);

// What FindStoreUrl asks of the system. Thread safety: as the functions.
struct UrlSourceOs {
  // An environment variable; nullopt when unset.
  std::function<std::optional<std::string>(const char* name)> getenv;
  // The *.conf files in `dir`, sorted; an error when it cannot be read.
  std::function<Result<std::vector<std::string>>(const std::string& dir)>
      list_conf_files;
  std::function<Result<std::string>(const std::string& path)> read_file;
  // PHP's session settings as `php` sees them: with its own php.ini when
  // `php_ini` is empty, else with `-c php_ini` and conf.d `scan_dir`.
  std::function<Result<PhpSessionSettings>(const std::string& php_ini,
                                           const std::string& scan_dir)>
      run_php;

  static UrlSourceOs Real();
};

// What the command line says about the store.
struct UrlRequest {
  std::string url;       // the URL argument; empty when not given
  std::string fpm_pool;  // --fpm-pool
  std::string fpm_dir = kDefaultFpmDir;  // --fpm-dir
};

struct FoundUrl {
  std::string url;
  std::string source;   // where it came from, for messages
  std::string warning;  // for stderr; empty when none
};

// The store URL by the precedence above. InvalidArgument saying what was
// looked at and naming the ways to give a URL when none is found; the
// message never shows a password.
Result<FoundUrl> FindStoreUrl(const UrlRequest& request, const UrlSourceOs& os);

// Registers --fpm-pool and --fpm-dir on a verb.
void AddUrlSourceFlags(CLI::App* cmd, UrlRequest* request);

}  // namespace sessionkit::cli

#endif  // SESSIONKIT_TOOLS_CLI_SOURCE_H_
