"""BPF sources; the build puts the generated ``*_skel.py`` modules here."""
