#include "support/browser.h"

#include <string>

#include "support/tether_server.h"

namespace tether::test {

bool browser_available() {
  std::string out;
  return run_command(std::string("command -v node && test -x ${CHROMIUM:-/usr/bin/chromium} && test -d ") +
                         TETHER_SOURCE_DIR "/tests/browser/node_modules/puppeteer-core",
                     &out) == 0;
}

}  // namespace tether::test
