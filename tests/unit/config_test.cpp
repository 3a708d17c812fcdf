// Config and TestHooks: every MPISNAP_* variable parsed strictly, in one place.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include <mpisnap/config.hpp>

#include "common/test_hooks.hpp"

namespace mpisnap {
namespace {

// Sets one variable for the scope of a test and restores what was there.
class EnvVar {
 public:
  EnvVar(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) {
      had_ = true;
      old_ = old;
    }
    if (value)
      setenv(name, value, 1);
    else
      unsetenv(name);
  }
  ~EnvVar() {
    if (had_)
      setenv(name_, old_.c_str(), 1);
    else
      unsetenv(name_);
  }

 private:
  const char* name_;
  bool had_ = false;
  std::string old_;
};

// The error message of `f`, or "" when it did not throw.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Config, TriggersOnByDefault) {
  EnvVar t("MPISNAP_TRIGGERS", nullptr);
  EXPECT_TRUE(Config::defaults().triggers);
}

TEST(Config, TriggersOffInEverySpelling) {
  for (const char* v : {"0", "no", "off", "false"}) {
    EnvVar t("MPISNAP_TRIGGERS", v);
    EXPECT_FALSE(Config::defaults().triggers) << v;
  }
  for (const char* v : {"1", "yes", "on", "true"}) {
    EnvVar t("MPISNAP_TRIGGERS", v);
    EXPECT_TRUE(Config::defaults().triggers) << v;
  }
}

TEST(Config, TriggersJunkIsAnErrorNamingTheVariable) {
  EnvVar t("MPISNAP_TRIGGERS", "maybe");
  const std::string e = error_of([] { Config::defaults(); });
  EXPECT_NE(e.find("MPISNAP_TRIGGERS='maybe'"), std::string::npos) << e;
  EXPECT_NE(e.find("boolean"), std::string::npos) << e;
}

TEST(Config, ProgramSettingSurvivesUnsetEnvironment) {
  EnvVar t("MPISNAP_TRIGGERS", nullptr);
  Config c;
  c.triggers = false;
  c.apply_environment();
  EXPECT_FALSE(c.triggers);
  EnvVar on("MPISNAP_TRIGGERS", "1");
  c.apply_environment();
  EXPECT_TRUE(c.triggers);  // the environment overrides the program, as for every variable
}

TEST(Config, EveryVariableRejectsJunkByName) {
  for (const char* var : {"MPISNAP_EVERY", "MPISNAP_INTERVAL", "MPISNAP_SIGNALS", "MPISNAP_EXIT_SIGNAL", "MPISNAP_KEEP",
                          "MPISNAP_VERBOSE", "MPISNAP_REUSE_BUFFERS", "MPISNAP_DIRECT_IO", "MPISNAP_FRESH_IF_CORRUPT",
                          "MPISNAP_MISPLACED_GRACE", "MPISNAP_TRIGGERS", "MPISNAP_FRESH", "MPISNAP_EXCEPTIONS", "MPISNAP_IGNORE_IDENTITY",
                          "MPISNAP_DEADLOCK"}) {
    EnvVar v(var, "x7");
    const std::string e = error_of([] { Config::defaults(); });
    EXPECT_NE(e.find(std::string(var) + "='x7'"), std::string::npos) << var << ": " << e;
  }
}

TEST(TestHooks, OffByDefault) {
  EnvVar a("MPISNAP_PRELOAD_SESSION", nullptr), b("MPISNAP_EMULATE_RECEIVES", nullptr), c("MPISNAP_TEST_CHAOS", nullptr),
      d("MPISNAP_TEST_FAULT", nullptr);
  const TestHooks h = TestHooks::from_environment();
  EXPECT_FALSE(h.preload_session);
  EXPECT_FALSE(h.emulate_receives);
  EXPECT_EQ(h.chaos_seed, 0u);
  EXPECT_FALSE(h.faults_set);
}

TEST(TestHooks, ParsedStrictly) {
  {
    EnvVar a("MPISNAP_EMULATE_RECEIVES", "yes"), c("MPISNAP_TEST_CHAOS", "42"), d("MPISNAP_TEST_FAULT", "write:eio");
    const TestHooks h = TestHooks::from_environment();
    EXPECT_TRUE(h.emulate_receives);
    EXPECT_EQ(h.chaos_seed, 42u);
    EXPECT_TRUE(h.faults_set);
    EXPECT_EQ(h.faults, "write:eio");
  }
  {
    EnvVar c("MPISNAP_TEST_CHAOS", "seven");
    EXPECT_NE(error_of([] { TestHooks::from_environment(); }).find("MPISNAP_TEST_CHAOS='seven'"), std::string::npos);
  }
  {
    EnvVar a("MPISNAP_PRELOAD_SESSION", "sure");
    EXPECT_NE(error_of([] { TestHooks::from_environment(); }).find("MPISNAP_PRELOAD_SESSION='sure'"), std::string::npos);
  }
}

}  // namespace
}  // namespace mpisnap
