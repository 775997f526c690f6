"""Training of flap-mini on the procedural head world (CPU, resumable, seeded). See weights-tools/README.md."""
