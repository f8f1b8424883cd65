#include "auth/principal.h"

#include <algorithm>

namespace overseer::auth {

bool IsKnownScope(std::string_view scope) {
  return std::find(kAllScopes.begin(), kAllScopes.end(), scope) != kAllScopes.end();
}

bool Principal::HasScope(std::string_view scope) const {
  return std::any_of(scopes.begin(), scopes.end(),
                     [scope](const std::string& s) { return s == scope; });
}

}  // namespace overseer::auth
