// A differentiable sum over the processes of a job: forward all-reduces the tensor, backward
// all-reduces its gradient (each rank's output depends on every rank's input). What
// synchronised batch normalisation (train.distributed.sync_batch_norm) reduces statistics with.
#pragma once

#include <torch/types.h>

#include "dist/group.h"

namespace dltrain::dist {

// Blocks for both all-reduces. Every rank must call it in the same order (every rank runs the
// same model on a non-empty batch).
torch::Tensor sum_over_replicas(Group& group, const torch::Tensor& x);

}  // namespace dltrain::dist
