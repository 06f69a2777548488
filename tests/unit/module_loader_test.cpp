// The loader's error paths, with real shared objects built by the test suite.
#include "worker/host/module_loader.h"

#include <gtest/gtest.h>
#include <tether/module.h>

#include "core/config_parser.h"

using tether::ConfigError;
using tether::load_modules;
using tether::parse_config_text;

namespace {

const std::string kDir = TETHER_TEST_MODULES_DIR;

struct Loaded {
  std::vector<std::unique_ptr<tether::LoadedModule>> modules;
  std::vector<ConfigError> errors;
  std::string all_errors() const {
    std::string text;
    for (const auto& e : errors) text += e.to_string() + "\n";
    return text;
  }
};

Loaded load(const std::string& toml) {
  auto parsed = parse_config_text("[[listen]]\naddress = \"127.0.0.1:1\"\n" + toml, "m.toml");
  EXPECT_TRUE(parsed.errors.empty()) << parsed.errors.front().to_string();
  Loaded result;
  static std::vector<tether::ConfigPtr> keep;  // configs outlive the modules' settings
  keep.push_back(parsed.config);
  result.modules = load_modules(*parsed.config, &result.errors);
  return result;
}

std::string probe(const std::string& file, const std::string& settings = "") {
  return "[modules.probe]\npath = \"" + kDir + "/" + file + "\"\n" + settings;
}

}  // namespace

TEST(ModuleLoader, LoadsAModuleAndCreatesItsConfigs) {
  Loaded l = load(probe("probe_v1.so", "greeting = \"hi \"\n") +
                  "[[route]]\npath = \"/v\"\nhandler = \"probe\"\n[route.probe]\naction = \"defer\"\n");
  ASSERT_TRUE(l.errors.empty()) << l.all_errors();
  ASSERT_EQ(l.modules.size(), 1u);
  EXPECT_EQ(l.modules[0]->name(), "probe");
  EXPECT_NE(l.modules[0]->config(), nullptr);
  EXPECT_NE(l.modules[0]->route_config(0), nullptr);
}

TEST(ModuleLoader, AMissingFileReportsDlerrorAndNamesTheFile) {
  Loaded l = load(probe("nowhere.so"));
  ASSERT_EQ(l.errors.size(), 1u);
  EXPECT_TRUE(l.modules.empty());
  EXPECT_EQ(l.errors[0].where.line, 3u);
  EXPECT_NE(l.errors[0].message.find(kDir + "/nowhere.so: cannot load module: "), std::string::npos) << l.all_errors();
  EXPECT_NE(l.errors[0].message.find("No such file or directory"), std::string::npos) << l.all_errors();
}

TEST(ModuleLoader, ASharedObjectWithoutTheEntrySymbolIsRefused) {
  Loaded l = load(probe("not_a_module.so"));
  ASSERT_EQ(l.errors.size(), 1u);
  EXPECT_NE(l.errors[0].message.find("not_a_module.so: not a tether module: no symbol tether_module_entry"),
            std::string::npos)
      << l.all_errors();
}

TEST(ModuleLoader, ADifferentAbiMajorIsRefusedNamingBothVersions) {
  Loaded l = load(probe("probe_abi2.so"));
  ASSERT_EQ(l.errors.size(), 1u);
  EXPECT_NE(l.errors[0].message.find("module ABI 2." + std::to_string(TETHER_MODULE_ABI_MINOR) + " is incompatible with this server's ABI 1." + std::to_string(TETHER_MODULE_ABI_MINOR)), std::string::npos)
      << l.all_errors();
}

TEST(ModuleLoader, ATableNamedOtherThanTheModuleIsRefused) {
  Loaded l = load("[modules.other]\npath = \"" + kDir + "/probe_v1.so\"\n");
  ASSERT_EQ(l.errors.size(), 1u);
  EXPECT_NE(l.errors[0].message.find("module calls itself \"probe\", not \"other\""), std::string::npos) << l.all_errors();
}

TEST(ModuleLoader, SettingsErrorsPointAtTheKey) {
  Loaded l = load(probe("probe_v1.so", "greeting = 5\ncolour = \"red\"\n") +
                  "[[route]]\npath = \"/v\"\nhandler = \"probe\"\n[route.probe]\naction = \"explode\"\n");
  EXPECT_TRUE(l.modules.empty());
  std::string all = l.all_errors();
  EXPECT_NE(all.find("m.toml:6:1: unknown key \"colour\" in [modules.probe] (" + kDir + "/probe_v1.so)"), std::string::npos)
      << all;
  EXPECT_NE(all.find("m.toml:11:10: \"action\": is not an action probe knows in [route.probe] of route \"/v\" (" + kDir +
                     "/probe_v1.so)"),
            std::string::npos)
      << all;
}

TEST(ModuleLoader, WrongTypeInModuleSettingsIsReportedOnce) {
  Loaded l = load(probe("probe_v1.so", "greeting = 5\n"));
  ASSERT_EQ(l.errors.size(), 1u) << l.all_errors();
  EXPECT_EQ(l.errors[0].to_string(),
            "m.toml:5:12: \"greeting\" must be a string in [modules.probe] (" + kDir + "/probe_v1.so)");
}
