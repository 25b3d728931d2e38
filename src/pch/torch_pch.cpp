// Carries the precompiled LibTorch header that every torch-using dltrain target reuses.
