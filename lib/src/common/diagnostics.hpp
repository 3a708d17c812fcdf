// How mpisnap speaks to the user. Every line starts "mpisnap: "; a line about this rank names it
// ("mpisnap: rank R: "), a line about the job as a whole (rank 0's commit summaries, restart
// notices) does not. The runtime sets the rank once MPI is up; the components below it, which know
// no rank, speak through the same functions, so every message names its rank the same way.
#pragma once

#include <cstdint>
#include <string>

#include <mpisnap/error.hpp>

namespace mpisnap::diag {

void set_rank(int rank) noexcept;  // -1: not known yet (before MPI_Init)
// "mpisnap: rank R: ", or "mpisnap: " while the rank is not known.
std::string rank_prefix();
// One line on stderr about this rank: rank_prefix() + what.
void warn(const std::string& what);
// One line on stderr about the job: "mpisnap: " + what.
void say(const std::string& what);
// An error about this rank, to throw: its text is rank_prefix() + what.
Error error(const std::string& what);
// The text of an error raised where no rank is known ("mpisnap: <what>", e.g. from storage), with
// this rank named; a text that names a rank already is returned as it is.
std::string with_rank(const std::string& text);
// `v` with `digits` digits after the point (for the lines above).
std::string fixed(double v, int digits);
// This process's executable, without its directory (a job's identity: the checkpoint records it).
std::string program_name();
// A byte count for people: "512 B", "1.5 KiB", "64.0 MiB", "1.02 GiB".
std::string bytes(std::uint64_t n);

}  // namespace mpisnap::diag
