// paddock-warm: the workload of a warm sandbox ([pool] warm). The spawner starts a sandbox
// ahead of any run with this helper as its command (copied in, read-only); it waits on stdin
// for the run that takes the sandbox:
//
//   "PDKW", a u32 payload length (little-endian), then the payload: the argument count in
//   decimal, NUL, each argument, NUL, the count of environment entries, NUL, each NAME=value, NUL
//   (sandbox::encode_warm_request)
//
// and execs that command with exactly that environment, in place: the run's process is the
// sandbox's workload, as after a cold start. It reads exactly the request, so what follows on
// stdin (the run's own stdin) is the command's. It prints nothing and exits 0 when stdin closes
// before a request. Static and dependency-free, like paddock-probe.
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

extern char** environ;

namespace {

constexpr std::uint32_t kMaxPayload = 1U << 20;  // sandbox::kMaxWarmPayload

/// Reads exactly n bytes; false at EOF or on an error.
bool read_exactly(char* buf, std::size_t n) {
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(0, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    got += static_cast<std::size_t>(r);
  }
  return true;
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "paddock-warm: %s\n", what);
  std::_Exit(127);
}

/// The next NUL-terminated field of [*p, end), or nullptr.
char* next_field(char** p, char* end) {
  char* start = *p;
  char* nul = static_cast<char*>(std::memchr(start, '\0', static_cast<std::size_t>(end - start)));
  if (nul == nullptr) return nullptr;
  *p = nul + 1;
  return start;
}

bool parse_count(const char* s, std::size_t* out) {
  if (*s == '\0') return false;
  std::size_t v = 0;
  for (; *s != '\0'; ++s) {
    if (*s < '0' || *s > '9' || v > kMaxPayload) return false;
    v = v * 10 + static_cast<std::size_t>(*s - '0');
  }
  *out = v;
  return true;
}

}  // namespace

int main() {
  char header[8];
  if (!read_exactly(header, sizeof header)) return 0;  // closed before a run came
  if (std::memcmp(header, "PDKW", 4) != 0) fail("not a warm request");
  std::uint32_t n = 0;
  for (int i = 0; i < 4; ++i) {
    n |= static_cast<std::uint32_t>(static_cast<unsigned char>(header[4 + i])) << (8 * i);
  }
  if (n == 0 || n > kMaxPayload) fail("bad request length");
  char* payload = static_cast<char*>(std::malloc(n));
  if (payload == nullptr || !read_exactly(payload, n)) fail("truncated request");
  char* p = payload;
  char* end = payload + n;
  std::size_t argc = 0;
  const char* f = next_field(&p, end);
  if (f == nullptr || !parse_count(f, &argc) || argc == 0 || argc > n) fail("bad command");
  char** argv = static_cast<char**>(std::calloc(argc + 1, sizeof(char*)));
  for (std::size_t i = 0; i < argc; ++i) {
    argv[i] = next_field(&p, end);
    if (argv[i] == nullptr) fail("truncated command");
  }
  std::size_t envc = 0;
  f = next_field(&p, end);
  if (f == nullptr || !parse_count(f, &envc) || envc > n) fail("bad environment");
  char** envp = static_cast<char**>(std::calloc(envc + 1, sizeof(char*)));
  for (std::size_t i = 0; i < envc; ++i) {
    envp[i] = next_field(&p, end);
    if (envp[i] == nullptr) fail("truncated environment");
  }
  if (p != end) fail("trailing bytes in the request");
  // execvp searches the PATH of the environment it gets, as bwrap's own execvp does after
  // --setenv.
  environ = envp;
  ::execvp(argv[0], argv);
  // The same words and status as bwrap when a cold start's command cannot be executed.
  const int err = errno;
  std::fprintf(stderr, "bwrap: execvp %s: %s\n", argv[0], std::strerror(err));
  return 1;
}
