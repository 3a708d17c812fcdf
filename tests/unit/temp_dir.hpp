// A fresh directory under /tmp for one test, removed with everything in it afterwards.
#pragma once

#include <stdlib.h>

#include <stdexcept>
#include <string>

#include "storage/fs.hpp"

namespace mpisnap::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& stem) {
    std::string tmpl = "/tmp/mpisnap-" + stem + "-XXXXXX";
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp " + tmpl + " failed");
    path_ = tmpl;
  }
  ~TempDir() { fs::remove_tree(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

}  // namespace mpisnap::testing
