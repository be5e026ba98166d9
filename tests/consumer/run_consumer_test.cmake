# Builds tests/consumer against kiln (MODE=package: the installed tree of
# KILN_BUILD; MODE=subdirectory: KILN_SOURCE via add_subdirectory) and runs it.
function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer test: command failed (${rc}): ${ARGV}")
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK})
set(consumer_src ${KILN_SOURCE}/tests/consumer)
if(MODE STREQUAL "package")
  run(${CMAKE_COMMAND} --install ${KILN_BUILD} --prefix ${WORK}/prefix)
  run(${CMAKE_COMMAND} -S ${consumer_src} -B ${WORK}/build -G ${GENERATOR}
      -DCMAKE_BUILD_TYPE=Release -DKILN_CONSUMER_MODE=package -DCMAKE_PREFIX_PATH=${WORK}/prefix)
else()
  # kiln builds again inside the consumer, its CUDA backend too where a toolkit is
  # found; for one architecture only, since the main build compiles the full list, and
  # with no build type (no optimisation): what is tested is that a vendored kiln
  # configures, builds and links; the main build covers Release. This compiles in about
  # two thirds of the time Release takes.
  run(${CMAKE_COMMAND} -S ${consumer_src} -B ${WORK}/build -G ${GENERATOR}
      -DCMAKE_BUILD_TYPE= -DKILN_CONSUMER_MODE=subdirectory -DKILN_SOURCE_DIR=${KILN_SOURCE}
      -DCMAKE_CUDA_ARCHITECTURES=90)
endif()
run(${CMAKE_COMMAND} --build ${WORK}/build --parallel 2)
run(${WORK}/build/consumer)
