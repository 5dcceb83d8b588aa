#pragma once
// How many CUDA devices this process can use (0 when there is no driver or no GPU; never throws).
namespace qg {
int cuda_device_count() noexcept;
}
