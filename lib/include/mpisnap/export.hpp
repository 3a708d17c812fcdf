// MPISNAP_API marks what the shared library exports. The library is built with hidden visibility
// (lib/CMakeLists.txt): besides the intercepted MPI_* functions, only the classes and functions of
// the public headers that carry this mark are visible to programs, so that a library meant to be
// preloaded into other people's programs neither exports its internals nor binds to theirs.
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define MPISNAP_API __attribute__((visibility("default")))
#else
#define MPISNAP_API
#endif
