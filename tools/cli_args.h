// What the `sessionkit` command line sets (Args), and the flags of the
// verbs cli.cc runs itself (cli_flags.cc): kept apart so that cli.cc holds
// what the verbs do, and this what they take.
#ifndef SESSIONKIT_TOOLS_CLI_ARGS_H_
#define SESSIONKIT_TOOLS_CLI_ARGS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cli_source.h"
#include "sessionkit/engine.h"

namespace CLI {
class App;
}  // namespace CLI

namespace sessionkit::cli {

// What the command line set, whichever verb it chose.
struct Args {
  std::string url;
  UrlRequest source;  // where to look when `url` is empty
  std::string id;
  size_t limit = 0;  // 0: no limit
  bool include_expired = false;
  bool raw = false;
  bool show_frame = false;  // get --frame: the header, not the payload
  bool repair = false;
  LockOptions lock;  // its timeout_action set from `timeout_action`
  int64_t hold_ms = 0;
  std::string timeout_action = "fail";
  std::string keys_file;    // get, rm, lock --keys
  bool hash_ids = false;    // get, rm, lock, ls --hash-ids
  std::string user;         // ls, rm --user
  bool user_given = false;  // --user was given (maybe empty)
  bool json = false;        // ls, stats --json
};

// What the user typed, made safe to quote in a message.
std::string Quoted(std::string_view text);

// stats, ls, get and gc: the verbs that only read or expire.
void AddInspectCommands(CLI::App& app, Args* a);
// rm and lock: the verbs that take a session's lock.
void AddLockingCommands(CLI::App& app, Args* a);

}  // namespace sessionkit::cli

#endif  // SESSIONKIT_TOOLS_CLI_ARGS_H_
