// The store URL when the command line has none: see cli_source.h.
#include "cli_source.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>

#include "sessionkit/store_url.h"

extern char** environ;

namespace sessionkit::cli {
namespace {

constexpr char kWays[] =
    "give the store URL as an argument, in the environment variable "
    "SESSIONKIT_URL, or name a php-fpm pool with --fpm-pool NAME (see "
    "'sessionkit --help')";

// Prints what PHP's configuration says: whether the session extension is
// there, session.save_handler and session.save_path, NUL-separated.
constexpr char kPhpCode[] =
    "echo extension_loaded('session') ? 'session' : 'none', \"\\0\", "
    "ini_get('session.save_handler'), \"\\0\", "
    "ini_get('session.save_path'), \"\\0\";";

std::string_view Trim(std::string_view s) {
  const size_t begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return {};
  const size_t end = s.find_last_not_of(" \t\r\n");
  return s.substr(begin, end - begin + 1);
}

// The value of an INI assignment's right side: a quoted string, or the text
// up to a ';' comment.
std::string IniValue(std::string_view v) {
  v = Trim(v);
  if (v.empty() || (v[0] != '"' && v[0] != '\'')) {
    return std::string(Trim(v.substr(0, v.find(';'))));
  }
  const char quote = v[0];
  std::string out;
  for (size_t i = 1; i < v.size() && v[i] != quote; ++i) {
    if (quote == '"' && v[i] == '\\' && i + 1 < v.size() &&
        (v[i + 1] == '"' || v[i + 1] == '\\')) {
      ++i;
    }
    out += v[i];
  }
  return out;
}

// Calls `visit(section, key, value)` for each assignment of an INI text.
template <typename Visit>
void ForEachIniEntry(std::string_view text, Visit visit) {
  std::string section;
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    const std::string_view line = Trim(text.substr(0, eol));
    text = eol == std::string_view::npos ? "" : text.substr(eol + 1);
    if (line.empty() || line[0] == ';' || line[0] == '#') continue;
    if (line[0] == '[') {
      section = std::string(Trim(line.substr(1, line.find(']') - 1)));
      visit(section, std::string_view(), std::string());
      continue;
    }
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    visit(section, Trim(line.substr(0, eq)), IniValue(line.substr(eq + 1)));
  }
}

// PHP's session settings, as read from `source`: the URL when the save
// handler is sessionkit.
Result<FoundUrl> SessionkitUrl(const PhpSessionSettings& settings,
                               const std::string& source) {
  // PHP's default handler is files.
  const std::string handler = settings.save_handler.value_or("files");
  if (handler != "sessionkit") {
    return Status::InvalidArgument(
        "no store URL given, and " + source + " has session.save_handler = " +
        (handler.empty() ? "(empty)" : handler) +
        ", not sessionkit: its session.save_path is no sessionkit store; " +
        kWays);
  }
  if (settings.save_path.value_or("").empty()) {
    return Status::InvalidArgument("no store URL given, and " + source +
                                   " sets no session.save_path; " + kWays);
  }
  return FoundUrl{*settings.save_path, source, ""};
}

// --fpm-pool: the pool's file, then php-fpm's php.ini for what it leaves
// out.
Result<FoundUrl> FromFpmPool(const UrlRequest& request, const UrlSourceOs& os) {
  const std::string pool_dir = request.fpm_dir + "/pool.d";
  std::vector<std::string> files = {request.fpm_dir + "/php-fpm.conf"};
  auto listed = os.list_conf_files(pool_dir);
  if (!listed.ok()) {
    return Status::InvalidArgument("cannot look for php-fpm pool '" +
                                   request.fpm_pool +
                                   "': " + listed.status().message());
  }
  files.insert(files.end(), listed->begin(), listed->end());
  std::vector<std::string> pools;
  for (const std::string& file : files) {
    auto text = os.read_file(file);
    if (!text.ok()) continue;  // e.g. no php-fpm.conf: the pools are in pool.d
    if (auto settings = ParseFpmPool(*text, request.fpm_pool)) {
      const std::string source = "php-fpm pool '" + request.fpm_pool + "' (" +
                                 file + ", " + request.fpm_dir + "/php.ini)";
      if (!settings->save_handler || !settings->save_path) {
        auto ini = os.run_php(request.fpm_dir + "/php.ini",
                              request.fpm_dir + "/conf.d");
        if (!ini.ok()) {
          return Status::InvalidArgument("cannot read " + source + ": " +
                                         ini.status().message());
        }
        if (!settings->save_handler) settings->save_handler = ini->save_handler;
        if (!settings->save_path) settings->save_path = ini->save_path;
      }
      return SessionkitUrl(*settings, source);
    }
    for (std::string& name : FpmPoolNames(*text)) pools.push_back(name);
  }
  std::string known;
  for (const std::string& name : pools)
    known += (known.empty() ? "" : ", ") + name;
  return Status::InvalidArgument(
      "no php-fpm pool '" + request.fpm_pool + "' in " + pool_dir +
      "/*.conf or php-fpm.conf (" +
      (known.empty() ? "no pools there" : "pools there: " + known) +
      "); --fpm-dir names another configuration directory");
}

Result<std::vector<std::string>> ListConfFiles(const std::string& dir) {
  std::error_code ec;
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".conf") files.push_back(entry.path());
  }
  if (ec) {
    return Status::Unavailable("cannot list " + dir + ": " + ec.message());
  }
  std::sort(files.begin(), files.end());
  return files;
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::Unavailable("cannot read " + path + ": " + strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The environment of the php child: ours, with PHP_INI_SCAN_DIR set to
// `scan_dir` when not empty.
std::vector<std::string> PhpEnvironment(const std::string& scan_dir) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!scan_dir.empty() &&
        std::string_view(*e).starts_with("PHP_INI_SCAN_DIR=")) {
      continue;
    }
    env.emplace_back(*e);
  }
  if (!scan_dir.empty()) env.push_back("PHP_INI_SCAN_DIR=" + scan_dir);
  return env;
}

// Runs `argv` (looked up in PATH) with `env` and returns its stdout; stderr
// stays the tool's.
Result<std::string> RunForOutput(std::vector<std::string> argv,
                                 std::vector<std::string> env) {
  std::vector<char*> args, envp;
  for (std::string& a : argv) args.push_back(a.data());
  for (std::string& e : env) envp.push_back(e.data());
  args.push_back(nullptr);
  envp.push_back(nullptr);
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    return Status::Unavailable(std::string("pipe: ") + strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  pid_t pid = 0;
  const int rc =
      posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while (rc == 0 && ((n = read(out[0], buf, sizeof buf)) > 0 ||
                     (n < 0 && errno == EINTR))) {
    if (n > 0) text.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  if (rc != 0) {
    return Status::Unavailable("cannot run " + argv[0] + ": " + strerror(rc));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Status::Unavailable(argv[0] + " failed (exit status " +
                               std::to_string(WEXITSTATUS(status)) + ")");
  }
  return text;
}

Result<PhpSessionSettings> RunPhp(const std::string& php_ini,
                                  const std::string& scan_dir) {
  std::vector<std::string> argv = {"php", "-d", "display_errors=stderr"};
  if (!php_ini.empty()) {
    argv.insert(argv.end(), {"-c", php_ini});
  }
  argv.insert(argv.end(), {"-r", kPhpCode});
  auto text = RunForOutput(std::move(argv),
                           PhpEnvironment(php_ini.empty() ? "" : scan_dir));
  if (!text.ok()) return text.status();
  std::vector<std::string> fields;
  std::string_view rest = *text;
  for (size_t nul; (nul = rest.find('\0')) != std::string_view::npos;) {
    fields.emplace_back(rest.substr(0, nul));
    rest.remove_prefix(nul + 1);
  }
  if (fields.size() != 3) {
    return Status::Unavailable(
        "php printed something else than its "
        "session settings");
  }
  if (fields[0] != "session") {
    return Status::Unavailable("php has no session extension");
  }
  return PhpSessionSettings{fields[1], fields[2]};
}

}  // namespace

std::optional<PhpSessionSettings> ParseFpmPool(std::string_view text,
                                               std::string_view pool) {
  std::optional<PhpSessionSettings> found, admin;
  ForEachIniEntry(text, [&](const std::string& section, std::string_view key,
                            std::string value) {
    if (section != pool) return;
    if (!found) found.emplace(), admin.emplace();
    const bool is_admin = key.starts_with("php_admin_value[");
    if (!is_admin && !key.starts_with("php_value[")) return;
    PhpSessionSettings& into = is_admin ? *admin : *found;
    const std::string_view name =
        Trim(key.substr(key.find('[') + 1, key.find(']') - key.find('[') - 1));
    if (name == "session.save_path") into.save_path = std::move(value);
    if (name == "session.save_handler") into.save_handler = std::move(value);
  });
  if (found && admin->save_path) found->save_path = admin->save_path;
  if (found && admin->save_handler) found->save_handler = admin->save_handler;
  return found;
}

std::vector<std::string> FpmPoolNames(std::string_view text) {
  std::vector<std::string> names;
  ForEachIniEntry(text, [&](const std::string& section, std::string_view key,
                            const std::string&) {
    if (key.empty() && section != "global" &&
        std::find(names.begin(), names.end(), section) == names.end()) {
      names.push_back(section);
    }
  });
  return names;
}

UrlSourceOs UrlSourceOs::Real() {
  UrlSourceOs os;
  os.getenv = [](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
  os.list_conf_files = ListConfFiles;
  os.read_file = ReadFile;
  os.run_php = RunPhp;
  return os;
}

Result<FoundUrl> FindStoreUrl(const UrlRequest& request,
                              const UrlSourceOs& os) {
  if (!request.url.empty()) {
    FoundUrl found{request.url, "the command line", ""};
    // Redaction changes the URL exactly when it holds a password (or a
    // parameter named like one).
    if (RedactStoreSpec(request.url) != request.url) {
      found.warning =
          "the store URL on the command line holds a password, which other "
          "local users see (ps) and shell history keeps; put the URL in the "
          "environment variable SESSIONKIT_URL, use --fpm-pool NAME, or "
          "leave it out to use session.save_path of php.ini";
    }
    return found;
  }
  if (auto url = os.getenv(kUrlEnvVar); url && !url->empty()) {
    return FoundUrl{*url, std::string("the environment variable ") + kUrlEnvVar,
                    ""};
  }
  if (!request.fpm_pool.empty()) return FromFpmPool(request, os);
  auto settings = os.run_php("", "");
  if (!settings.ok()) {
    return Status::InvalidArgument(
        "no store URL given, and PHP's configuration could not be read (" +
        settings.status().message() + "); " + kWays);
  }
  return SessionkitUrl(*settings, "the php CLI's php.ini");
}

void AddUrlSourceFlags(CLI::App* cmd, UrlRequest* request) {
  cmd->add_option("--fpm-pool", request->fpm_pool,
                  "Without URL: the session.save_path of this php-fpm pool")
      ->type_name("NAME");
  cmd->add_option("--fpm-dir", request->fpm_dir,
                  std::string("php-fpm's configuration directory, for "
                              "--fpm-pool (default ") +
                      kDefaultFpmDir + ")")
      ->type_name("DIR");
}

}  // namespace sessionkit::cli
