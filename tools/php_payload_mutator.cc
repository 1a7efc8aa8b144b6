#include "php_payload_mutator.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz/mutator_growth.h"

// libFuzzer's byte-level mutator (with the -dict entries).
extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace sessionkit::cli::fuzz {
namespace {

using Rng = std::mt19937;
using Type = PhpValue::Type;

// Bytes a byte mutation of one string may add to it.
constexpr size_t kTextRoom = 16;

constexpr int64_t kInts[] = {0,
                             1,
                             -1,
                             255,
                             std::numeric_limits<int64_t>::max(),
                             std::numeric_limits<int64_t>::min()};
constexpr std::string_view kFloats[] = {"0.5", "-0", "1.0E+25", "NAN", "INF"};

size_t Pick(Rng& rng, size_t n) {
  return std::uniform_int_distribution<size_t>(0, n - 1)(rng);
}

bool OneIn(Rng& rng, size_t n) { return Pick(rng, n) == 0; }

void MutateBytes(std::string* text) {
  const size_t size = text->size();
  text->resize(size + kTextRoom);
  const size_t n = LLVMFuzzerMutate(reinterpret_cast<uint8_t*>(text->data()),
                                    size, text->size());
  text->resize(n);
}

// ------------------------------------------------------------ serialize

std::string Quoted(std::string_view text) {
  return std::to_string(text.size()) + ":\"" + std::string(text) + "\"";
}

void Serialize(const PhpValue& v, std::string* out);

void SerializeEntries(const std::vector<PhpEntry>& entries, std::string* out) {
  *out += std::to_string(entries.size()) + ":{";
  for (const PhpEntry& e : entries) {
    Serialize(e.key, out);
    Serialize(e.value, out);
  }
  *out += '}';
}

void Serialize(const PhpValue& v, std::string* out) {
  switch (v.type) {
    case Type::kNull:
      *out += "N;";
      return;
    case Type::kBool:
      *out += v.bool_value ? "b:1;" : "b:0;";
      return;
    case Type::kInt:
      *out += "i:" + std::to_string(v.int_value) + ";";
      return;
    case Type::kFloat:
      *out += "d:" + v.text + ";";
      return;
    case Type::kString:
      *out += "s:" + Quoted(v.text) + ";";
      return;
    case Type::kArray:
      *out += "a:";
      SerializeEntries(v.entries, out);
      return;
    case Type::kObject:
      *out += "O:" + Quoted(v.class_name) + ":";
      SerializeEntries(v.entries, out);
      return;
    case Type::kCustomObject:
      *out += "C:" + Quoted(v.class_name) + ":" +
              std::to_string(v.text.size()) + ":{" + v.text + "}";
      return;
    case Type::kEnum:
      *out += "E:" + Quoted(v.text) + ";";
      return;
    case Type::kReference:
      *out += (v.is_php_reference ? "R:" : "r:") + std::to_string(v.int_value) +
              ";";
      return;
  }
}

std::string KeyText(const PhpValue& key) {
  return key.type == Type::kInt ? std::to_string(key.int_value) : key.text;
}

// ---------------------------------------------------------- tree access

PhpValue IntKey(int64_t n) {
  PhpValue key;
  key.type = Type::kInt;
  key.int_value = n;
  return key;
}

// Every value of the session, parents before children (keys excluded).
void Collect(PhpValue* v, std::vector<PhpValue*>* out) {
  out->push_back(v);
  for (PhpEntry& e : v->entries) Collect(&e.value, out);
}

std::vector<PhpValue*> AllValues(PhpSession* session) {
  std::vector<PhpValue*> values;
  for (PhpEntry& var : session->vars) Collect(&var.value, &values);
  return values;
}

// A key for a new element of `entries`: the next integer, as PHP gives
// `$a[] = ...`, or a short string.
PhpValue NewKey(const std::vector<PhpEntry>& entries, Rng& rng) {
  int64_t next = 0;
  for (const PhpEntry& e : entries) {
    if (e.key.type == Type::kInt && e.key.int_value >= next &&
        e.key.int_value < std::numeric_limits<int64_t>::max()) {
      next = e.key.int_value + 1;
    }
  }
  if (!OneIn(rng, 3)) return IntKey(next);
  PhpValue key;
  key.type = Type::kString;
  key.text = "k" + std::to_string(entries.size());
  return key;
}

// A new value: a scalar of any type, an empty array, or `donor`.
PhpValue NewValue(const PhpValue& donor, Rng& rng) {
  PhpValue v;
  switch (Pick(rng, 7)) {
    case 0:
      break;  // N;
    case 1:
      v.type = Type::kBool;
      v.bool_value = OneIn(rng, 2);
      break;
    case 2:
      v.type = Type::kInt;
      v.int_value = kInts[Pick(rng, std::size(kInts))];
      break;
    case 3:
      v.type = Type::kFloat;
      v.text = kFloats[Pick(rng, std::size(kFloats))];
      break;
    case 4:
      v.type = Type::kString;
      v.text = "x";
      break;
    case 5:
      v.type = Type::kArray;
      break;
    default:
      return donor;
  }
  return v;
}

// ---------------------------------------------------------------- edits
// Each edits the value `v` (one of the session's; `donor` is a copy of
// another, or of the same) and returns false when it does not apply.

bool Wrap(PhpValue& v, const PhpValue&, Rng&) {
  PhpValue inner = std::move(v);
  v = PhpValue();
  v.type = Type::kArray;
  v.entries.push_back({IntKey(0), std::move(inner)});
  return true;
}

bool AddElement(PhpValue& v, const PhpValue& donor, Rng& rng) {
  if (v.type != Type::kArray && v.type != Type::kObject) return false;
  PhpValue key = NewKey(v.entries, rng);
  if (v.type == Type::kObject && key.type == Type::kInt) {
    key.type = Type::kString;
    key.text = "p";
  }
  PhpValue value = NewValue(donor, rng);
  v.entries.insert(v.entries.begin() + Pick(rng, v.entries.size() + 1),
                   {std::move(key), std::move(value)});
  return true;
}

bool DropElement(PhpValue& v, const PhpValue&, Rng& rng) {
  if (v.entries.empty()) return false;
  v.entries.erase(v.entries.begin() + Pick(rng, v.entries.size()));
  return true;
}

bool Replace(PhpValue& v, const PhpValue& donor, Rng& rng) {
  v = NewValue(donor, rng);
  return true;
}

bool AlterKey(PhpValue& v, const PhpValue&, Rng& rng) {
  if (v.entries.empty()) return false;
  PhpValue& key = v.entries[Pick(rng, v.entries.size())].key;
  if (key.type == Type::kInt) {
    key.int_value = kInts[Pick(rng, std::size(kInts))];
  } else {
    MutateBytes(&key.text);
  }
  return true;
}

// The scalar's own bytes: a number, a flag, a string, a class name.
bool AlterScalar(PhpValue& v, const PhpValue&, Rng& rng) {
  switch (v.type) {
    case Type::kBool:
      v.bool_value = !v.bool_value;
      return true;
    case Type::kInt:
    case Type::kReference:
      if (OneIn(rng, 2) || v.int_value == std::numeric_limits<int64_t>::max()) {
        v.int_value = kInts[Pick(rng, std::size(kInts))];
      } else {
        ++v.int_value;
      }
      if (v.type == Type::kReference && v.int_value < 1) v.int_value = 1;
      return true;
    case Type::kFloat:
      v.text = kFloats[Pick(rng, std::size(kFloats))];
      return true;
    case Type::kString:
    case Type::kEnum:
      MutateBytes(&v.text);
      return true;
    case Type::kObject:
    case Type::kCustomObject:
      MutateBytes(OneIn(rng, 2) ? &v.class_name : &v.text);
      return true;
    default:
      return false;
  }
}

using Edit = bool (*)(PhpValue&, const PhpValue&, Rng&);
constexpr Edit kEdits[] = {Wrap,    AddElement, DropElement,
                           Replace, AlterKey,   AlterScalar};

// Session edits: a variable duplicated (under another name), dropped or
// renamed; the other handler format.
void EditVars(PhpSession& session, Rng& rng) {
  std::vector<PhpEntry>& vars = session.vars;
  const size_t n = vars.size();
  switch (n == 0 ? 0 : Pick(rng, 4)) {
    case 0: {
      PhpEntry var = n == 0 ? PhpEntry{} : vars[Pick(rng, n)];
      var.key.text = KeyText(var.key) + "2";
      var.key.type = Type::kString;
      vars.insert(vars.begin() + Pick(rng, n + 1), std::move(var));
      return;
    }
    case 1:
      vars.erase(vars.begin() + Pick(rng, n));
      return;
    case 2: {
      PhpValue& key = vars[Pick(rng, n)].key;
      key.text = KeyText(key);  // an int key of php_serialize as a name
      key.type = Type::kString;
      MutateBytes(&key.text);
      return;
    }
    default:
      session.format = session.format == PhpSessionFormat::kPhp
                           ? PhpSessionFormat::kPhpSerialize
                           : PhpSessionFormat::kPhp;
      return;
  }
}

// One edit to the session: to one of its values mostly.
void EditSession(PhpSession& session, Rng& rng) {
  std::vector<PhpValue*> values = AllValues(&session);
  if (values.empty() || OneIn(rng, 8)) return EditVars(session, rng);
  // A copy: the edit may move or replace the value it was copied from.
  const PhpValue donor = *values[Pick(rng, values.size())];
  PhpValue& target = *values[Pick(rng, values.size())];
  for (int tries = 0; tries < 8; ++tries) {
    if (kEdits[Pick(rng, std::size(kEdits))](target, donor, rng)) return;
  }
}

// How far inputs may grow (fuzz/mutator_growth.h): from a little above
// the longest seed (121 bytes).
::sessionkit::fuzz::GrowthLimit g_growth(256);

size_t LengthLimit(size_t size, size_t max_size) {
  return g_growth.Next(size, max_size);
}

using ::sessionkit::fuzz::Emit;

Result<PhpSession> Decode(const uint8_t* data, size_t size) {
  return ParsePhpSessionAnyFormat({reinterpret_cast<const char*>(data), size});
}

}  // namespace

std::string SerializePhpSession(const PhpSession& session) {
  std::string out;
  if (session.format == PhpSessionFormat::kPhpSerialize) {
    out += "a:";
    SerializeEntries(session.vars, &out);
    return out;
  }
  for (const PhpEntry& var : session.vars) {
    out += KeyText(var.key) + "|";
    Serialize(var.value, &out);
  }
  return out;
}

size_t MutatePhpPayload(uint8_t* data, size_t size, size_t max_size,
                        unsigned seed) {
  Rng rng(seed);
  const size_t limit = LengthLimit(size, max_size);
  if (!OneIn(rng, 4)) {
    if (Result<PhpSession> session = Decode(data, size); session.ok()) {
      EditSession(*session, rng);
      if (size_t n = Emit(SerializePhpSession(*session), data, limit)) {
        return n;
      }
    }
  }
  return LLVMFuzzerMutate(data, size, limit);
}

size_t CrossOverPhpPayloads(const uint8_t* data1, size_t size1,
                            const uint8_t* data2, size_t size2, uint8_t* out,
                            size_t max_out_size, unsigned seed) {
  Rng rng(seed);
  Result<PhpSession> a = Decode(data1, size1);
  Result<PhpSession> b = Decode(data2, size2);
  if (!a.ok() || !b.ok() || b->vars.empty()) return 0;
  const PhpEntry& var = b->vars[Pick(rng, b->vars.size())];
  std::vector<PhpValue*> values = AllValues(&*a);
  if (values.empty() || OneIn(rng, 2)) {
    a->vars.insert(a->vars.begin() + Pick(rng, a->vars.size() + 1), var);
  } else {
    std::vector<PhpValue*> theirs = AllValues(&*b);
    *values[Pick(rng, values.size())] = *theirs[Pick(rng, theirs.size())];
  }
  return Emit(SerializePhpSession(*a), out,
              LengthLimit(std::max(size1, size2), max_out_size));
}

}  // namespace sessionkit::cli::fuzz
