// ls --user and rm --user: the sessions of one user (docs/users.md), through
// the engine's user index as PHP's sessionkit_user_sessions() and
// sessionkit_destroy_user() use it.
#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <utility>

#include "cli.h"
#include "php_payload.h"
#include "sessionkit/engine.h"
#include "sessionkit/users.h"

namespace sessionkit::cli {

void AddUserFlags(CLI::App* cmd, std::string* user, bool* user_given,
                  std::string* keys_file, bool* hash_ids, bool destroy) {
  cmd->add_option_function<std::string>(
         "--user",
         [user, user_given](const std::string& v) {
           *user = v;
           *user_given = true;
         },
         destroy ? "Instead of one session, delete every live "
                   "session of this user (\"log out everywhere\")"
                 : "List the live sessions of this user, one id "
                   "per line")
      ->type_name("USER");
  if (keys_file != nullptr && hash_ids != nullptr) {
    AddHashIdsFlags(cmd, keys_file, hash_ids, /*add_keys=*/true);
  }
}

int RunUserSessions(std::unique_ptr<Store> store, const UserArgs& args,
                    std::ostream& out, std::ostream& err) {
  const std::string verb = args.destroy ? "rm" : "ls";
  std::string error;
  auto engine = OpenCliEngineOver(std::move(store), args.keys_file, verb, err,
                                  &error, args.hash_ids);
  const auto fail = [&](const Status& s) {
    err << "sessionkit " << verb << ": " << s.message() << "\n";
    return s.IsInvalidArgument() ? kExitUsage : kExitFailure;
  };
  if (!engine) return fail(Status::InvalidArgument(error));
  if (Status s = ValidateUserName(args.user); !s.ok()) {
    return fail(Status::InvalidArgument("--user: " + s.message()));
  }
  if (args.destroy) {
    auto destroyed = engine->DestroyUser(args.user);
    if (!destroyed.ok()) return fail(destroyed.status());
    out << "removed " << *destroyed << " session"
        << (*destroyed == 1 ? "" : "s") << " of user '"
        << EscapeBytes(args.user) << "'\n";
    return kExitOk;
  }
  auto sessions = engine->UserSessions(args.user);
  if (!sessions.ok()) return fail(sessions.status());
  for (const UserSession& s : *sessions) {
    out << s.id << (s.id_known ? "" : "  (stored key: the id is not kept)")
        << "\n";
  }
  return kExitOk;
}

}  // namespace sessionkit::cli
