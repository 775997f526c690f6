/**
 * The activations a kernel can fuse into its epilogue (matmul, conv2d; shaders/common/activate.wgsl), with
 * PyTorch's formulas: `gelu` in its erf form, `gelu_tanh` the tanh approximation.
 */
export type Activation = 'none' | 'silu' | 'gelu' | 'gelu_tanh' | 'relu';
