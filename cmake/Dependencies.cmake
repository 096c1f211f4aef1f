# Every dependency comes from a Debian 12 package; dev.sh installs them.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(Boost 1.74 REQUIRED)            # Asio + Beast (header libraries, compiled once in asio_impl.cpp)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(spdlog 1.10 REQUIRED)
find_package(tomlplusplus 3 REQUIRED)
find_package(CLI11 2 REQUIRED)
find_package(OpenSSL 3 REQUIRED)             # libcrypto: sha256 for tokens and profile digests
pkg_check_modules(SECCOMP REQUIRED IMPORTED_TARGET libseccomp>=2.5)
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
pkg_check_modules(LIBARCHIVE REQUIRED IMPORTED_TARGET libarchive>=3.6)   # bundle archive intake
if(PADDOCK_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
endif()
