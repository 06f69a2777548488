#include "support/test_pki.h"

#include <fstream>

#include "support/tether_server.h"

namespace tether::test {

TestPki::TestPki(std::string dir) : dir_(std::move(dir)) {
  std::string output;
  ok_ = run_command("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
                    " -subj '/CN=tether test CA' -keyout " + dir_ + "/ca.key -out " + dir_ + "/ca.pem",
                    &output) == 0;
}

bool TestPki::issue(const std::string& name, const std::string& common_name, int serial, std::string* output) const {
  std::ofstream(dir_ + "/" + name + ".ext") << "subjectAltName=DNS:" << common_name << "\n";
  std::string base = dir_ + "/" + name;
  return run_command("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj '/CN=" + common_name +
                         "' -keyout " + base + ".key -out " + base + ".csr && openssl x509 -req -in " + base +
                         ".csr -CA " + ca() + " -CAkey " + dir_ + "/ca.key -set_serial " + std::to_string(serial) +
                         " -days 2 -extfile " + base + ".ext -out " + base + ".pem",
                     output) == 0;
}

}  // namespace tether::test
