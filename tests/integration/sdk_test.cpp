// The module SDK as a module author uses it: install tether into a prefix, build the example
// module out of tree against it (CMake package and pkg-config), and load it.
#include <gtest/gtest.h>
#include <signal.h>

#include "support/http_client.h"
#include "support/tether_server.h"

using namespace tether::test;

TEST(Sdk, ExampleModuleBuildsOutOfTreeAgainstTheInstalledSdkAndServes) {
  TetherServer server(2);
  const std::string prefix = server.dir() + "/prefix";
  std::string output;
  ASSERT_EQ(run_command("cmake --install " TETHER_BUILD_DIR " --prefix " + prefix, &output), 0) << output;
  ASSERT_EQ(run_command("test -f " + prefix + "/include/tether/module.h", &output), 0) << output;

  // 1. CMake: find_package(tether-module) and the tether::module target.
  const std::string build = server.dir() + "/hello-build";
  ASSERT_EQ(run_command("cmake -S " TETHER_SOURCE_DIR "/examples/hello-module -B " + build +
                            " -DCMAKE_PREFIX_PATH=" + prefix + " -DCMAKE_BUILD_TYPE=Release && cmake --build " + build,
                        &output),
            0)
      << output;

  // 2. pkg-config, with nothing but the installed .pc file.
  std::string pc_dir;
  ASSERT_EQ(run_command("dirname $(find " + prefix + " -name tether-module.pc)", &pc_dir), 0) << pc_dir;
  pc_dir.pop_back();
  ASSERT_EQ(run_command("PKG_CONFIG_PATH=" + pc_dir + " cc -shared -fvisibility=hidden $(PKG_CONFIG_PATH=" + pc_dir +
                            " pkg-config --cflags tether-module) " TETHER_SOURCE_DIR
                            "/examples/hello-module/hello.c -o " + server.dir() + "/hello-pc.so",
                        &output),
            0)
      << output;

  server.write_config(server.default_config() + "[modules.hello]\npath = \"" + build +
                      "/hello.so\"\ngreeting = \"Hi\"\n[[route]]\npath = \"/hello/*\"\nhandler = \"hello\"\n");
  ASSERT_TRUE(server.start()) << server.error_log();
  auto answer = http_get(server.port(), "/hello/world");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(answer->body, "Hi, world!\n");

  // The pkg-config build is a valid module too.
  std::string config = server.default_config() + "[modules.hello]\npath = \"" + server.dir() +
                       "/hello-pc.so\"\n[[route]]\npath = \"/hello/*\"\nhandler = \"hello\"\n";
  server.write_config(config);
  EXPECT_EQ(run_command(std::string(TETHER_BINARY) + " -t -c " + server.config_path(), &output), 0) << output;
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for_log("reload complete: generation 2", 10s)) << server.error_log();
  auto second = http_get(server.port(), "/hello/");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->body, "Hello, world!\n");
}
