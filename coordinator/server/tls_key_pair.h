#pragma once
// The TLS files given to the coordinator, checked before gRPC sees them: gRPC
// reports a key that does not belong to the certificate only as a server that
// failed to start, which reads like an address in use.

#include <string>

#include "absl/status/status.h"

namespace align::coordinator {

// InvalidArgument naming the flag and file: no PEM certificate in `cert_pem`,
// no PEM private key in `key_pem`, or a key that does not match the
// certificate's public key.
absl::Status CheckTlsKeyPair(const std::string& cert_pem, const std::string& cert_file, const std::string& key_pem,
                             const std::string& key_file);

}  // namespace align::coordinator
