// What the browser tests need on the machine: node, Debian's chromium (or $CHROMIUM) and
// puppeteer-core under tests/browser/node_modules (scripts/install-deps.sh installs them). A
// test asserts browser_available(): a missing tool is a failure, not a skip.
#pragma once

namespace tether::test {

bool browser_available();

}  // namespace tether::test
