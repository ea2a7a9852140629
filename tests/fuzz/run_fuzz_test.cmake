# ctest driver for safetensors_fuzz: fuzzes a fresh copy of the seed corpus (so
# the source tree is never written and every run starts from the same inputs)
# and reports how many inputs libFuzzer executed.
#   cmake -DFUZZER=... -DSEEDS=... -DWORK=... -DRUNS=... -DDICT=... -P run_fuzz_test.cmake
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
file(GLOB seeds "${SEEDS}/*")
file(COPY ${seeds} DESTINATION "${WORK}")

string(TIMESTAMP started "%s")
execute_process(
  COMMAND "${FUZZER}" -runs=${RUNS} -seed=1 -max_len=4096 -timeout=10 -rss_limit_mb=2048
          -dict=${DICT} -print_final_stats=1 "${WORK}"
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE out)
string(TIMESTAMP finished "%s")
math(EXPR seconds "${finished} - ${started}")

message("${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "safetensors_fuzzer failed (exit ${rc}); the crashing input is in the working directory as crash-*")
endif()
if(out MATCHES "Done ([0-9]+) runs")
  message("safetensors_fuzz: libFuzzer executed ${CMAKE_MATCH_1} inputs in ${seconds} s")
else()
  message(FATAL_ERROR "safetensors_fuzzer exited 0 without reporting its run count")
endif()
