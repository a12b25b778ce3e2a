"""Build time: everything that turns a BPF object into a generated module."""
