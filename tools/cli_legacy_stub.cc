// Until the old handlers' formats are in this build: OpenLegacySource says
// so, and `sessionkit migrate` from a legacy spec fails with that message.
// Replaced by the real OpenLegacySource when the formats land.
#include "sessionkit/legacy.h"

namespace sessionkit {

Result<std::unique_ptr<LegacySource>> OpenLegacySource(std::string_view spec,
                                                       Env* env) {
  (void)spec;
  (void)env;
  return Status::NotSupported("legacy formats are not in this build");
}

}  // namespace sessionkit
