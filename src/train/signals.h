// Stop requests from signals: SIGINT, SIGTERM and SIGUSR1 (what SLURM sends before a time
// limit) ask the trainer to finish its step, save and exit 0; a second SIGINT exits at once.
#pragma once

namespace dltrain::train {

void install_stop_handlers();
bool stop_requested();
// The signal that asked to stop ("SIGTERM", ...), or "" when none did.
const char* stop_signal_name();
// For tests: ask to stop as if a signal had arrived.
void request_stop(int signal_number);
void clear_stop();

}  // namespace dltrain::train
