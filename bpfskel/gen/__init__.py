"""Build time: everything that turns a BPF object into a generated module.

The object reader (:mod:`.objfile`, ELF and BTF checks), the legacy arena
rename (:mod:`.legacy_arena`), the layout planner (:mod:`.layout`), the code
emitter (:mod:`.codegen`, :mod:`.generate`), the ``bpfskel inspect`` listing
(:mod:`.listing`), the toolchain (:mod:`.toolchain`, :mod:`.build`,
:mod:`.headertypes`, :mod:`.vmlinux`), the command line (:mod:`.cli`) and the
hatch build hook (:mod:`.hatch`).

**The rule: one direction of use.**  Modules here may import the runtime
(``bpfskel.*``: the shared BTF decoder, names, the embed codec and uapi
numbers, and the runtime's map classes whose names they emit).  Nothing
outside ``bpfskel.gen`` imports ``bpfskel.gen``, eagerly or lazily, except the
``python -m bpfskel`` entry point: a generated module, and an app that
imports it, never load the generator.  ``tests/test_architecture.py``
checks both the source (every import statement) and a real process
(``sys.modules`` after importing and opening a generated module).
"""
