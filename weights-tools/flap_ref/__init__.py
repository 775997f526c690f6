"""PyTorch reference of FLAP as flap-webgpu defines it (DESIGN §2). The TypeScript model in src/models/ mirrors
these modules file by file; weights-tools/README.md describes the model, the configs and the naming."""
