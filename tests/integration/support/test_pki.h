// A throw-away certificate authority and certificates, made with the openssl command line.
#pragma once

#include <string>

namespace tether::test {

class TestPki {
 public:
  explicit TestPki(std::string dir);  // creates dir/ca.pem and dir/ca.key
  // Writes dir/<name>.pem and dir/<name>.key for `common_name` (also its DNS name), signed by
  // the CA with `serial`. Returns false (and *output) if openssl failed.
  bool issue(const std::string& name, const std::string& common_name, int serial, std::string* output) const;

  std::string ca() const { return dir_ + "/ca.pem"; }
  std::string cert(const std::string& name) const { return dir_ + "/" + name + ".pem"; }
  std::string key(const std::string& name) const { return dir_ + "/" + name + ".key"; }
  bool ok() const { return ok_; }

 private:
  std::string dir_;
  bool ok_ = false;
};

}  // namespace tether::test
