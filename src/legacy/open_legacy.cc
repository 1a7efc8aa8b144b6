// OpenLegacySource: a legacy spec to the source of its old handler.
#include <memory>
#include <utility>

#include "legacy/legacy_sources.h"
#include "legacy/legacy_spec.h"
#include "sessionkit/legacy.h"

namespace sessionkit {

Result<std::unique_ptr<LegacySource>> OpenLegacySource(std::string_view spec,
                                                       Env* env) {
  auto parsed = legacy::ParseLegacySpec(spec);
  if (!parsed.ok()) return parsed.status();
  Result<std::unique_ptr<LegacySource>> source =
      Status::Internal("unreachable");
  switch (parsed->kind) {
    case legacy::LegacyKind::kFiles:
      return legacy::NewFilesSource(std::move(parsed).value(), env);
    case legacy::LegacyKind::kPhpRedis:
    case legacy::LegacyKind::kCmRedis:
      source = legacy::NewRedisSource(std::move(parsed).value());
      break;
    case legacy::LegacyKind::kPhpMemcached:
      source = legacy::NewMemcachedSource(std::move(parsed).value());
      break;
    case legacy::LegacyKind::kPdoMysql:
    case legacy::LegacyKind::kPdoPgsql:
      source = legacy::NewPdoSource(std::move(parsed).value(), env);
      break;
  }
  if (!source.ok() && source.status().IsInvalidArgument() &&
      source.status().message().find("legacy") == std::string::npos) {
    return Status::InvalidArgument("bad legacy spec: " +
                                   source.status().message());
  }
  return source;
}

}  // namespace sessionkit
