"""A sample app that ships a BPF program built by bpfskel's hatchling hook."""
