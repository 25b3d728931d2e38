// Fault injection for the reliability tests. DLTRAIN_FAILPOINT=MOMENT[#N][:SIGNAL] makes the
// process send itself SIGNAL (SIGTERM, SIGINT, SIGUSR1 or SIGKILL; SIGTERM when not given) the
// N-th time (the first when not given) it reaches MOMENT, so that a test can aim a signal where
// timing cannot: `step` (a training step's forward and backward pass done, the optimizer's
// update not yet), `validation` (a validation batch done), `save` (a checkpoint's bytes written,
// the file not yet committed). Without the variable a failpoint costs a comparison.
#pragma once

namespace dltrain {

void failpoint(const char* moment);

}  // namespace dltrain
