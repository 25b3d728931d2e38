// dltrain: trains deep-learning models from YAML specs. This file only wires the CLI: global
// options, subcommands, and the one place where errors become messages and exit codes
// (0 ok, 1 runtime failure, 2 usage or spec error).
#include <c10/util/Exception.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>
#include <new>

#include "commands.h"
#include "runtime.h"
#include "train/cuda_switches.h"
#include "util/error.h"
#include "util/memory.h"

int main(int argc, char** argv) {
  using namespace dltrain;
  CLI::App app{"dltrain: train deep-learning models from declarative YAML specs", "dltrain"};
  app.require_subcommand(0, 1);
  int verbose = 0;
  bool quiet = false;
  int threads = 0;
  bool version = false;
  app.add_flag("-v,--verbose", verbose, "More detail (debug messages)");
  app.add_flag("-q,--quiet", quiet, "Only warnings and errors");
  app.add_option("--threads", threads, "Compute threads (default: all cores)")->check(CLI::NonNegativeNumber);
  app.add_flag("--version", version, "Print versions (dltrain, LibTorch, OpenCV, CUDA) and threads");

  cli::Action action;
  cli::setup_fit(app, action, std::vector<std::string>(argv, argv + argc));
  cli::setup_check(app, action);
  cli::setup_summary(app, action);
  cli::setup_graph(app, action);
  cli::setup_layers(app, action);
  cli::setup_kinds(app, action);
  cli::setup_schema(app, action);
  cli::setup_eval(app, action);
  cli::setup_plot(app, action);
  cli::setup_predict(app, action);
  cli::setup_export(app, action);
  cli::setup_pack(app, action);
  cli::setup_sweep(app, action);
  cli::setup_runs(app, action);
  cli::setup_bench(app, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  try {
    configure_allocator();
    cli::setup_logging(verbose, quiet);
    for (const std::string& line : train::apply_cuda_switches()) spdlog::info("{}", line);
    cli::setup_threads(threads);
    if (version) {
      std::cout << cli::version_report();
      return 0;
    }
    if (!action) {
      std::cout << app.help();
      return 2;
    }
    return action();
  } catch (const ErrorList& list) {
    for (const auto& e : list.errors()) std::cerr << e.report() << "\n";
    if (list.errors().size() > 1) std::cerr << list.errors().size() << " errors\n";
    return 2;
  } catch (const Error& e) {
    std::cerr << e.report() << "\n";
    return e.kind() == ErrorKind::Spec ? 2 : 1;
  } catch (const c10::Error& e) {
    std::cerr << "error: " << plain_torch_message(e.what_without_backtrace()) << "\n";
    return 1;
  } catch (const std::filesystem::filesystem_error& e) {
    std::cerr << "error: " << e.path1().string() << ": " << e.code().message() << "\n";
    return 1;
  } catch (const std::bad_alloc&) {
    std::cerr << "error: out of memory\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
