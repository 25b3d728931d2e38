#include "dist/replica_sum.h"

#include <torch/autograd.h>

namespace dltrain::dist {
namespace {

torch::Tensor reduced(Group& group, const torch::Tensor& x) {
  torch::Tensor out = x.detach().clone().contiguous();
  group.sum(out);
  return out;
}

struct SumOverReplicas : torch::autograd::Function<SumOverReplicas> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, Group* group) {
    ctx->saved_data["group"] = reinterpret_cast<int64_t>(group);
    return reduced(*group, x);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    Group* group = reinterpret_cast<Group*>(ctx->saved_data["group"].toInt());
    return {reduced(*group, grads[0]), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor sum_over_replicas(Group& group, const torch::Tensor& x) { return SumOverReplicas::apply(x, &group); }

}  // namespace dltrain::dist
