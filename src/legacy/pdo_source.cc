#include "legacy/legacy_sources.h"

namespace sessionkit::legacy {

Result<std::unique_ptr<LegacySource>> NewPdoSource(LegacySpec spec, Env*) {
  return Status::NotSupported(spec.redacted +
                              ": PdoSessionHandler tables are not readable "
                              "by this build");
}

}  // namespace sessionkit::legacy
