// A shop cart on sessionkit sessions, served by cpp-httplib: log in, add
// items to the cart, list it (JSON or HTML), log out. docs/cpp.md explains
// the API it uses.
//
//   sessionkit-httplib-example [--port N] [--store URL] [--no-lock]
//
// --store takes any sessionkit store URL, tiers too (default: lmdb:// in
// ./sessions). --no-lock turns the session lock off, to show what it
// prevents: concurrent adds to one cart then overwrite each other.
#include <httplib.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "session_middleware.h"
#include "sessionkit/open.h"
#include "sessionkit/store_url.h"

namespace skexample {
namespace {

constexpr std::string_view kCartPrefix = "cart:";  // session key per item
constexpr size_t kMaxItemLength = 32;
constexpr size_t kMaxCartLines = 100;

// The demo's users and their passwords.
bool CheckPassword(const std::string& user, const std::string& password) {
  return (user == "alice" && password == "wonderland") ||
         (user == "bob" && password == "builder");
}

// Item names are 1..32 of a-z 0-9 -: safe in JSON and HTML as they are.
bool IsItemName(std::string_view item) {
  if (item.empty() || item.size() > kMaxItemLength) return false;
  for (char c : item) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return false;
    }
  }
  return true;
}

// Calls `f(item, quantity)` for each line of the cart; returns the total.
template <typename F>
long ForEachItem(const Session& session, F f) {
  long total = 0;
  for (const auto& [key, value] : session.values()) {
    if (!key.starts_with(kCartPrefix)) continue;
    long quantity = std::atol(value.c_str());
    f(key.substr(kCartPrefix.size()), quantity);
    total += quantity;
  }
  return total;
}

std::string CartJson(const Session& session) {
  std::string items;
  long count = ForEachItem(session, [&](const std::string& item, long n) {
    items += (items.empty() ? "\"" : ",\"") + item + "\":" + std::to_string(n);
  });
  auto user = session.Get("user");
  return "{\"user\":" + (user ? "\"" + *user + "\"" : std::string("null")) +
         ",\"items\":{" + items + "},\"count\":" + std::to_string(count) +
         "}\n";
}

std::string CartHtml(const Session& session) {
  auto user = session.Get("user");
  std::string html = "<!doctype html><title>Cart</title><h1>Cart</h1><p>" +
                     (user ? "Logged in as " + *user : "Not logged in") +
                     "</p><ul>";
  long count = ForEachItem(session, [&](const std::string& item, long n) {
    html += "<li>" + item + ": " + std::to_string(n) + "</li>";
  });
  return html + "</ul><p>Items: " + std::to_string(count) +
         "</p><form method=post action=/cart><input name=item>"
         "<button>Add</button></form><form method=post action=/login>"
         "<input name=user><input name=password type=password>"
         "<button>Log in</button></form><form method=post action=/logout>"
         "<button>Log out</button></form>\n";
}

// A POST's answer: a browser's form goes back to the page, a script gets
// JSON.
void Reply(const httplib::Request& req, httplib::Response& res,
           const std::string& json) {
  if (req.get_header_value("Accept").find("text/html") != std::string::npos) {
    res.set_redirect("/", 303);
  } else {
    res.set_content(json, "application/json");
  }
}

void Error(httplib::Response& res, int status, std::string_view message) {
  res.status = status;
  res.set_content("{\"error\":\"" + std::string(message) + "\"}\n",
                  "application/json");
}

// The routes. Each runs inside a session cycle (SessionMiddleware::Wrap),
// holding the session's lock.

void ShowPage(const httplib::Request&, httplib::Response& res,
              Session& session) {
  res.set_content(CartHtml(session), "text/html");
}

void ShowCart(const httplib::Request&, httplib::Response& res,
              Session& session) {
  res.set_content(CartJson(session), "application/json");
}

void AddToCart(const httplib::Request& req, httplib::Response& res,
               Session& session) {
  std::string item = req.get_param_value("item");
  if (!IsItemName(item)) return Error(res, 400, "item: 1 to 32 of a-z 0-9 -");
  std::string key = std::string(kCartPrefix) + item;
  auto quantity = session.Get(key);
  size_t lines = 0;
  ForEachItem(session, [&](const std::string&, long) { ++lines; });
  if (!quantity && lines >= kMaxCartLines) {
    return Error(res, 409, "the cart is full");
  }
  long count = std::atol(quantity.value_or("0").c_str());
  session.Set(key, std::to_string(count + 1));
  Reply(req, res, CartJson(session));
}

void Login(const httplib::Request& req, httplib::Response& res,
           Session& session) {
  std::string user = req.get_param_value("user");
  if (!CheckPassword(user, req.get_param_value("password"))) {
    return Error(res, 401, "wrong user or password");
  }
  session.Set("user", user);
  session.Regenerate();  // a new id for the new privileges
  Reply(req, res, CartJson(session));
}

void Logout(const httplib::Request& req, httplib::Response& res,
            Session& session) {
  session.Destroy();
  Reply(req, res, "{\"user\":null,\"items\":{},\"count\":0}\n");
}

void AddRoutes(httplib::Server& server, const SessionMiddleware& sessions) {
  server.Get("/", sessions.Wrap(ShowPage));
  server.Get("/cart", sessions.Wrap(ShowCart));
  server.Post("/cart", sessions.Wrap(AddToCart));
  server.Post("/login", sessions.Wrap(Login));
  server.Post("/logout", sessions.Wrap(Logout));
}

bool ParsePort(std::string_view text, int* port) {
  const char* last = text.data() + text.size();
  auto [end, error] = std::from_chars(text.data(), last, *port);
  return error == std::errc() && end == last && *port >= 1 && *port <= 65535;
}

int Usage(const char* why) {
  std::fprintf(stderr,
               "%s\nusage: sessionkit-httplib-example [--port N] "
               "[--store URL] [--no-lock]\n",
               why);
  return 2;
}

}  // namespace
}  // namespace skexample

int main(int argc, char** argv) {
  using skexample::ParsePort;
  using skexample::Usage;
  int port = 8080;
  std::string store =
      "lmdb://" + std::filesystem::absolute("sessions").string();
  skexample::SessionOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--no-lock") {
      options.lock.enabled = false;
    } else if ((arg == "--port" || arg == "--store") && i + 1 < argc) {
      std::string value = argv[++i];
      if (arg == "--store") {
        store = value;
      } else if (!ParsePort(value, &port)) {
        return Usage("--port: expected 1 to 65535");
      }
    } else {
      return Usage(
          ("unknown argument or missing value: " + std::string(arg)).c_str());
    }
  }

  sessionkit::EngineOptions engine_options;
  engine_options.log = [](sessionkit::LogLevel, std::string_view message) {
    std::fprintf(stderr, "sessionkit: %.*s\n", static_cast<int>(message.size()),
                 message.data());
  };
  auto engine = sessionkit::OpenEngine(store, std::move(engine_options));
  if (!engine.ok()) {
    std::fprintf(stderr, "cannot open %s: %s\n",
                 sessionkit::RedactStoreSpec(store).c_str(),
                 engine.status().ToString().c_str());
    return 1;
  }
  skexample::SessionMiddleware sessions(**engine, options);
  httplib::Server server;
  server.set_payload_max_length(4096);  // larger bodies: 413
  skexample::AddRoutes(server, sessions);
  std::printf("listening on http://127.0.0.1:%d, sessions in %s%s\n", port,
              sessionkit::RedactStoreSpec(store).c_str(),
              options.lock.enabled ? "" : " (no session lock)");
  std::fflush(stdout);
  if (!server.listen("127.0.0.1", port)) {
    std::fprintf(stderr, "cannot listen on 127.0.0.1:%d\n", port);
    return 1;
  }
  return 0;
}
