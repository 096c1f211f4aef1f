# paddock_project_options: applied to every target the project builds (not to dependencies).
add_library(paddock_project_options INTERFACE)
target_compile_options(paddock_project_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wformat=2 -Wnon-virtual-dtor -Wcast-align -Wunused -Werror)
if(PADDOCK_SANITIZE)
  target_compile_options(paddock_project_options INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(paddock_project_options INTERFACE -fsanitize=address,undefined)
endif()
if(PADDOCK_HARDEN)
  target_compile_options(paddock_project_options INTERFACE
    -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE)
  target_link_options(paddock_project_options INTERFACE
    -pie -Wl,-z,relro,-z,now,-z,noexecstack)
endif()
