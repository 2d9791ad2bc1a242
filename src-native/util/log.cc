#include "log.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace ebpf {
namespace {

thread_local LogCapture* current_capture = nullptr;

// How libbpf frames a verifier log in its output.
const char kLogBegin[] = "-- BEGIN PROG LOAD LOG --";
const char kLogEnd[] = "-- END PROG LOAD LOG --";

void Print(enum libbpf_print_level level, const char* format, va_list args);

// Called by libbpf (C): nothing may throw through it.
int PrintToCapture(enum libbpf_print_level level, const char* format, va_list args) noexcept {
  try {
    Print(level, format, args);
  } catch (...) {
    // Out of memory while formatting a log line: the line is dropped.
  }
  return 0;
}

void Print(enum libbpf_print_level level, const char* format, va_list args) {
  va_list copy;
  va_copy(copy, args);
  char small[512];
  int n = vsnprintf(small, sizeof(small), format, copy);
  va_end(copy);
  if (n < 0) return;
  std::string message;
  if (static_cast<size_t>(n) < sizeof(small)) {
    message.assign(small, static_cast<size_t>(n));
  } else {
    std::vector<char> big(static_cast<size_t>(n) + 1);
    vsnprintf(big.data(), big.size(), format, args);
    message.assign(big.data(), static_cast<size_t>(n));
  }
  if (current_capture != nullptr) {
    current_capture->Append(message.data(), message.size());
  }
  static const bool debug = std::getenv("EBPF_DEBUG") != nullptr;
  if (debug && (level != LIBBPF_DEBUG || std::getenv("EBPF_DEBUG")[0] == '2')) {
    fwrite(message.data(), 1, message.size(), stderr);
  }
}

}  // namespace

void InstallLibbpfPrint() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(PrintToCapture); });
}

LogCapture::LogCapture() : previous_(current_capture) { current_capture = this; }

LogCapture::~LogCapture() { current_capture = previous_; }

std::string ExtractVerifierLog(const std::string& log) {
  size_t b = log.find(kLogBegin);
  if (b == std::string::npos) return std::string();
  b += sizeof(kLogBegin) - 1;
  if (b < log.size() && log[b] == '\n') b++;
  size_t e = log.find(kLogEnd, b);
  return log.substr(b, e == std::string::npos ? std::string::npos : e - b);
}

std::string TailLines(const std::string& full, size_t lines) {
  // Without the verifier's own log (reported apart): libbpf's lines around it matter here.
  std::string log = full;
  size_t b = log.find(kLogBegin);
  if (b != std::string::npos) {
    size_t e = log.find(kLogEnd, b);
    log.erase(b, e == std::string::npos ? std::string::npos : e + sizeof(kLogEnd) - 1 - b);
  }
  std::vector<std::string> all;
  size_t start = 0;
  while (start < log.size()) {
    size_t nl = log.find('\n', start);
    std::string line = log.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    start = nl == std::string::npos ? log.size() : nl + 1;
    static const std::string prefix = "libbpf: ";
    if (line.compare(0, prefix.size(), prefix) == 0) line.erase(0, prefix.size());
    if (!line.empty()) all.push_back(line);
  }
  std::string out;
  size_t first = all.size() > lines ? all.size() - lines : 0;
  for (size_t i = first; i < all.size(); i++) {
    if (!out.empty()) out += '\n';
    out += all[i];
  }
  return out;
}

}  // namespace ebpf
