#pragma once
// Who asks the coordinator for something: the name of the token the call
// carried (a submitted job's owner) and whether that token may act on every
// job (an admin: token, or a coordinator running without authentication).

#include <string>

namespace align::coordinator {

struct Requester {
  std::string name;
  bool admin = false;
};

}  // namespace align::coordinator
