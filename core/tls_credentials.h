// Reads the certificate and key files a config names into memory and checks them with OpenSSL:
// each must parse, and each key must match its certificate. The master does this when it loads
// the config (so `tether -t` and reloads report a bad file, and a root-only key works after the
// workers dropped privileges); workers then build TLS contexts from the PEM text in memory.
#pragma once

#include <vector>

#include "core/config.h"
#include "core/config_parser.h"

namespace tether {

// Fills cert_pem/key_pem of every TLS certificate of `config`; errors name the file.
void load_tls_credentials(Config& config, std::vector<ConfigError>* errors);

}  // namespace tether
