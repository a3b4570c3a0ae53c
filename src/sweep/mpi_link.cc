#include "sweep/mpi_link.h"

#include <cstdlib>
#include <vector>

#ifdef BILMOD_HAVE_MPI
#include <mpi.h>
#endif

namespace bilmod::mpi {

bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"}) {
    const char* value = std::getenv(name);
    if (value != nullptr && *value != 0) return true;
  }
  return false;
}

#ifdef BILMOD_HAVE_MPI

namespace {
bool g_started = false;
}

bool compiled_in() { return true; }

Status init(World* world) {
  *world = World{};
  if (!launched_by_mpi()) return Status::ok();
  int provided = 0;
  // One thread calls MPI: the dispatcher loop.
  if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SINGLE, &provided) != MPI_SUCCESS)
    return Status::runtime("MPI_Init failed: is this the mpirun of the MPI bilmod was built with?");
  g_started = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &world->rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world->size);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world->rank, MPI_INFO_NULL, &node);
  MPI_Comm_size(node, &world->local_size);
  MPI_Comm_free(&node);
  return Status::ok();
}

void finalize() {
  if (g_started) MPI_Finalize();
  g_started = false;
}

void abort(int code) {
  if (g_started) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

void send(int dest, int tag, const std::string& payload) {
  MPI_Send(payload.data(), static_cast<int>(payload.size()), MPI_CHAR, dest, tag, MPI_COMM_WORLD);
}

namespace {
void receive_probed(const MPI_Status& probed, std::string* payload) {
  int count = 0;
  MPI_Get_count(&probed, MPI_CHAR, &count);
  payload->assign(static_cast<size_t>(count), '\0');
  MPI_Recv(payload->data(), count, MPI_CHAR, probed.MPI_SOURCE, probed.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
}
}  // namespace

bool try_receive(int* source, int* tag, std::string* payload) {
  int flag = 0;
  MPI_Status probed;
  MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &probed);
  if (!flag) return false;
  *source = probed.MPI_SOURCE;
  *tag = probed.MPI_TAG;
  receive_probed(probed, payload);
  return true;
}

void receive(int source, int tag, std::string* payload) {
  MPI_Status probed;
  MPI_Probe(source, tag, MPI_COMM_WORLD, &probed);
  receive_probed(probed, payload);
}

void broadcast(std::string* payload) {
  if (!g_started) return;
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  long long size = static_cast<long long>(payload->size());
  MPI_Bcast(&size, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
  if (rank != 0) payload->assign(static_cast<size_t>(size), '\0');
  MPI_Bcast(payload->data(), static_cast<int>(size), MPI_CHAR, 0, MPI_COMM_WORLD);
}

int max_all(int value) {
  if (!g_started) return value;
  int result = value;
  MPI_Allreduce(&value, &result, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return result;
}

#else  // a build without MPI: one process, nothing to send

bool compiled_in() { return false; }
Status init(World* world) {
  *world = World{};
  return Status::ok();
}
void finalize() {}
void abort(int code) { std::exit(code); }
void send(int, int, const std::string&) {}
bool try_receive(int*, int*, std::string*) { return false; }
void receive(int, int, std::string*) {}
void broadcast(std::string*) {}
int max_all(int value) { return value; }

#endif

}  // namespace bilmod::mpi
