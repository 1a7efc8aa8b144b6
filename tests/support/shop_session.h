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
// line more at most), the same for the same `seed`. Different seeds differ
// as different users do: ids, names, tokens, products, quantities and
// messages are drawn from the seed's PRNG.
inline std::string ShopSession(size_t size, uint32_t seed = 1) {
  std::mt19937 rng(seed);
  auto hex = [&](int n) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (int i = 0; i < n; ++i) out += kHex[rng() % 16];
    return out;
  };
  auto pick = [&](const auto& list) { return list[rng() % std::size(list)]; };
  static constexpr const char* kProducts[] = {
      "Organic cotton T-shirt",
      "Merino wool socks (3 pack)",
      "Stainless steel water bottle 750 ml",
      "Leather card holder",
      "Running shoes Aero 2",
      "Canvas tote bag",
      "Wireless earbuds Pro",
      "Linen shirt slim fit",
      "Ceramic pour-over coffee set",
      "Bamboo cutting board",
      "Yoga mat 6 mm",
      "Rain jacket packable"};
  static constexpr const char* kFirst[] = {"Alex",  "Maria", "Jonas",  "Aiko",
                                           "Femi",  "Lucia", "Tomasz", "Noor",
                                           "Priya", "Sven",  "Chloe",  "Mateo"};
  static constexpr const char* kLast[] = {
      "Example", "Schmidt", "Okafor",  "Rossi",  "Nakamura", "Kowalski",
      "Haddad",  "Iyer",    "Larsson", "Dubois", "Garcia",   "Novak"};
  static constexpr const char* kCities[] = {"Berlin", "Lyon",    "Porto",
                                            "Gdansk", "Utrecht", "Graz",
                                            "Malmo",  "Bologna"};
  static constexpr const char* kFlash[] = {
      "Your cart was updated.", "Welcome back!",
      "Free shipping on orders over 50 EUR.", "Your address was saved.",
      "Coupon SPRING10 applied."};
  static constexpr const char* kColors[] = {"navy", "black", "white", "olive",
                                            "sand"};
  static constexpr const char* kSizes[] = {"XS", "S", "M", "L", "XL"};
  const std::string first = pick(kFirst);
  const std::string last = pick(kLast);
  std::string out =
      "csrf_token|" + PhpString(hex(64)) +
      "customer|a:6:{s:2:\"id\";i:" + std::to_string(10000 + rng() % 900000) +
      ";s:5:\"email\";" +
      PhpString(first + "." + last + hex(4) + "@example.com") +
      "s:4:\"name\";" + PhpString(first + " " + last) + "s:4:\"city\";" +
      PhpString(pick(kCities)) +
      "s:8:\"currency\";s:3:\"EUR\";s:10:\"last_login\";i:" +
      std::to_string(1700000000 + rng() % 30000000) + ";}flash|a:1:{i:0;" +
      PhpString(pick(kFlash)) + "}cart|a:1:{s:5:\"lines\";a:{";
  for (int line = 0; out.size() < size; ++line) {
    const char* product = pick(kProducts);
    out += "i:" + std::to_string(line) + ";a:5:{s:3:\"sku\";" +
           PhpString("SKU-" + hex(8)) + "s:4:\"name\";" + PhpString(product) +
           "s:3:\"qty\";i:" + std::to_string(1 + rng() % 4) +
           ";s:5:\"price\";d:" + std::to_string(5 + rng() % 200) +
           ".99;s:7:\"options\";a:2:{s:4:\"size\";" + PhpString(pick(kSizes)) +
           "s:5:\"color\";" + PhpString(pick(kColors)) + "}}";
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
