// Session data shaped like a shop's, for compression tests: PHP's session
// serialization of a customer, a cart, flash messages and a CSRF token,
// grown with cart lines to the size asked for.
#ifndef SESSIONKIT_TESTS_SUPPORT_SHOP_SESSION_H_
#define SESSIONKIT_TESTS_SUPPORT_SHOP_SESSION_H_

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>

namespace sessionkit::test {

// A PHP string as session data serializes it: s:<length>:"<text>";
inline std::string PhpString(const std::string& s) {
  return "s:" + std::to_string(s.size()) + ":\"" + s + "\";";
}

// Shop-like session data of about `size` bytes (at least `size`, a cart
// line more at most), the same for the same `seed`.
inline std::string ShopSession(size_t size, uint32_t seed = 1) {
  std::mt19937 rng(seed);
  auto hex = [&](int n) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (int i = 0; i < n; ++i) out += kHex[rng() % 16];
    return out;
  };
  static constexpr const char* kProducts[] = {
      "Organic cotton T-shirt",
      "Merino wool socks (3 pack)",
      "Stainless steel water bottle 750 ml",
      "Leather card holder",
      "Running shoes Aero 2",
      "Canvas tote bag",
      "Wireless earbuds Pro"};
  std::string out =
      "csrf_token|" + PhpString(hex(64)) +
      "customer|a:4:{s:2:\"id\";i:" + std::to_string(10000 + rng() % 90000) +
      ";s:5:\"email\";" + PhpString("customer" + hex(6) + "@example.com") +
      "s:4:\"name\";" + PhpString("Alex Example") +
      "s:8:\"currency\";s:3:\"EUR\";}flash|a:1:{i:0;" +
      PhpString("Your cart was updated.") + "}cart|a:1:{s:5:\"lines\";a:{";
  for (int line = 0; out.size() < size; ++line) {
    const char* product = kProducts[rng() % std::size(kProducts)];
    out += "i:" + std::to_string(line) + ";a:5:{s:3:\"sku\";" +
           PhpString("SKU-" + hex(8)) + "s:4:\"name\";" + PhpString(product) +
           "s:3:\"qty\";i:" + std::to_string(1 + rng() % 4) +
           ";s:5:\"price\";d:" + std::to_string(5 + rng() % 200) +
           ".99;s:7:\"options\";a:2:{s:4:\"size\";s:1:\"M\";s:5:\"color\";" +
           PhpString(rng() % 2 ? "navy" : "black") + "}}";
  }
  out += "}}";
  return out;
}

// `size` bytes from a PRNG: data no codec shrinks.
inline std::string RandomBytes(size_t size, uint32_t seed = 7) {
  std::mt19937 rng(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

}  // namespace sessionkit::test

#endif  // SESSIONKIT_TESTS_SUPPORT_SHOP_SESSION_H_
