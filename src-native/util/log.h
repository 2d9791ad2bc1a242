// Capture of libbpf's print output.
//
// libbpf has one process-wide print callback. We install it once and route each message
// to the LogCapture active on the calling thread (open runs on the JS thread, load on a
// worker thread), so every operation gets its own log and nothing reaches stderr unless
// EBPF_DEBUG is set in the environment.
#pragma once

#include <string>

namespace ebpf {

void InstallLibbpfPrint();

class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  const std::string& text() const { return text_; }
  void Append(const char* s, size_t n) { text_.append(s, n); }

 private:
  std::string text_;
  LogCapture* previous_;
};

// Verifier output between libbpf's "BEGIN PROG LOAD LOG" / "END PROG LOAD LOG" markers,
// or an empty string when the log holds none.
std::string ExtractVerifierLog(const std::string& log);

// The last `lines` lines of a log, without libbpf's "libbpf: " prefixes and without the
// verifier log section.
std::string TailLines(const std::string& log, size_t lines);

}  // namespace ebpf
