// Trains tests/crash_training.hpp's model forever, writing a checkpoint after
// every step to argv[1]; the crash test kills it with SIGKILL at random moments.
#include "crash_training.hpp"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  kiln::set_num_threads(1);
  kiln::test::CrashTraining training;
  for (int steps = 1;; ++steps) {
    training.step();
    training.save(argv[1], steps);
  }
}
