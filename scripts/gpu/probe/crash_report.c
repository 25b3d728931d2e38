// LD_PRELOAD=libcrash_report.so PROGRAM ...: when PROGRAM dies of SIGSEGV, SIGBUS, SIGILL, SIGFPE
// or SIGABRT, prints to stderr the signal, the fault address, the crashing thread (its id and
// name) and its frames as library+offset (symbol), then re-raises the signal with its default
// action, so the exit status and core dump are unchanged. Depends on libc alone; installs itself
// from a constructor before the program's main. scripts/gpu/run.sh preloads it for every process.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

static const int kSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
static const char* const kNames[] = {"SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT"};

static void say(const char* text, int length) {
  if (length > 0) (void)!write(STDERR_FILENO, text, (size_t)length);
}

// "library+0xoffset (symbol)" for a code address.
static void say_frame(const char* label, void* address) {
  char line[1024];
  Dl_info info;
  int length;
  if (dladdr(address, &info) && info.dli_fname) {
    length = snprintf(line, sizeof line, "crash_report: %s %s+0x%lx (%s)\n", label, info.dli_fname,
                      (unsigned long)((uintptr_t)address - (uintptr_t)info.dli_fbase),
                      info.dli_sname ? info.dli_sname : "?");
  } else {
    length = snprintf(line, sizeof line, "crash_report: %s %p (in no loaded library)\n", label, address);
  }
  say(line, length < (int)sizeof line ? length : (int)sizeof line - 1);
}

static void on_crash(int signal_number, siginfo_t* info, void* context) {
  const char* name = "signal";
  for (size_t i = 0; i < sizeof kSignals / sizeof kSignals[0]; ++i)
    if (kSignals[i] == signal_number) name = kNames[i];
  char thread_name[17] = {0};
  prctl(PR_GET_NAME, thread_name, 0, 0, 0);
  char line[512];
  int length = snprintf(line, sizeof line, "crash_report: %s (%d), fault address %p, thread %ld '%s' of process %d\n",
                        name, signal_number, info->si_addr, (long)syscall(SYS_gettid), thread_name, (int)getpid());
  say(line, length);
#if defined(__x86_64__)
  say_frame("pc", (void*)((ucontext_t*)context)->uc_mcontext.gregs[REG_RIP]);
#endif
  void* frames[64];
  const int count = backtrace(frames, 64);
  for (int i = 0; i < count; ++i) {
    char label[16];
    snprintf(label, sizeof label, "#%d", i);
    say_frame(label, frames[i]);
  }
  signal(signal_number, SIG_DFL);  // SA_RESETHAND did this already; kept for a handler re-installed by hand
  raise(signal_number);
}

__attribute__((constructor)) static void install_crash_report(void) {
  void* warm_up[1];
  backtrace(warm_up, 1);                   // loads the unwinder (libgcc_s) now, not inside the handler
  static char alternate_stack[64 * 1024];  // a stack overflow still gets its report
  stack_t stack = {.ss_sp = alternate_stack, .ss_size = sizeof alternate_stack};
  sigaltstack(&stack, NULL);
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = on_crash;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  for (size_t i = 0; i < sizeof kSignals / sizeof kSignals[0]; ++i) sigaction(kSignals[i], &action, NULL);
}
