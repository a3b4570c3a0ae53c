// The few MPI calls a distributed sweep needs, behind plain functions so the rest of the sweep has no #ifdef:
// built without MPI (BILMOD_MPI off, or no MPI found) they describe a world of one process.
// MPI is started only when the process was launched by mpirun/srun (their environment variables say so), so a
// plain `bilmod sweep` never touches MPI and needs no launcher.
#pragma once
#include <string>

#include "util/status.h"

namespace bilmod::mpi {

// Message tags of the dispatcher protocol (sweep/dispatcher.h).
enum Tag : int { kRequest = 1, kAssign = 2, kResult = 3, kDone = 4 };

bool compiled_in();
// OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_RANK or SLURM's PMI: more than one process was started for this sweep.
bool launched_by_mpi();

struct World {
  int rank = 0;
  int size = 1;
  int local_size = 1;  // ranks on this node (they share its cores)
};
// MPI_Init when launched by mpirun; a world of one otherwise.
Status init(World* world);
void finalize();
[[noreturn]] void abort(int code);

void send(int dest, int tag, const std::string& payload);
// One waiting message from any rank, if there is one (never blocks).
bool try_receive(int* source, int* tag, std::string* payload);
// Blocks until a message with `tag` arrives from `source`.
void receive(int source, int tag, std::string* payload);
// Rank 0's payload, on every rank.
void broadcast(std::string* payload);
// Every rank's `value` combined: the largest one.
int max_all(int value);

}  // namespace bilmod::mpi
