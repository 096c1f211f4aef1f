# paddock_warnings: the warning set of every target the project builds (not dependencies).
# Warnings are errors only with PADDOCK_WERROR (ON in every preset of CMakePresets.json, so in
# development and CI); a plain `cmake -DCMAKE_BUILD_TYPE=Release` build, as packagers run it with
# whatever compiler they have, warns but does not stop.
add_library(paddock_warnings INTERFACE)
target_compile_options(paddock_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wformat=2 -Wnon-virtual-dtor -Wcast-align -Wunused)
if(PADDOCK_WERROR)
  target_compile_options(paddock_warnings INTERFACE -Werror)
endif()

# paddock_project_options: warnings plus the sanitizer/hardening flags of the build. The static
# probe helpers run inside sandboxes and use only paddock_warnings (ASan cannot link -static).
add_library(paddock_project_options INTERFACE)
target_link_libraries(paddock_project_options INTERFACE paddock_warnings)
if(PADDOCK_SANITIZE)
  target_compile_options(paddock_project_options INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(paddock_project_options INTERFACE -fsanitize=address,undefined)
endif()
if(PADDOCK_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "PADDOCK_FUZZ needs clang (libFuzzer); use the fuzz preset")
  endif()
  # Coverage for libFuzzer in every project target, plus ASan and UBSan to turn silent memory
  # errors into crashes the fuzzer reports.
  target_compile_options(paddock_project_options INTERFACE
    -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
    -fno-sanitize-recover=undefined)
  target_link_options(paddock_project_options INTERFACE -fsanitize=address,undefined)
endif()
if(PADDOCK_HARDEN)
  target_compile_options(paddock_project_options INTERFACE
    -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE)
  target_link_options(paddock_project_options INTERFACE
    -pie -Wl,-z,relro,-z,now,-z,noexecstack)
endif()
