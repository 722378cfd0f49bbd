# Warnings as errors for ctml's own code (third-party headers are included as SYSTEM).
function(ctml_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror -Wno-unused-parameter)
endfunction()
